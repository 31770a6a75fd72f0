"""Books paid webshop orders into Moneybird as paid sales invoices."""

__version__ = "0.1.0"
