"""Pure booking, with figures worked out by hand."""
