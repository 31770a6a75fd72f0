"""The sync engine: a pass, an order's steps, refunds, the write path, contacts, import."""
