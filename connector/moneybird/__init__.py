"""Moneybird's API: the client (the one home of its wire format) and its pacing."""
