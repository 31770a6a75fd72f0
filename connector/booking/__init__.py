"""Pure booking: an Order and the tables become invoice and credit drafts. No I/O."""
