"""Payment providers' payouts: what each provider paid to the bank, and the parts of it, read
into shop-neutral records (`records.py`) behind one small interface (`provider.py`), one module a
provider. See docs/payouts.md.
"""
