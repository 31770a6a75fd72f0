"""Outside references booking may ask about: VIES (VAT numbers) and the ECB (rates)."""
