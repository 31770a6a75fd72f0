"""Whole passes, imports and commands against the sandboxes (marked e2e)."""
