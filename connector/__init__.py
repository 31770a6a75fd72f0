"""Books paid webshop orders into Moneybird as paid sales invoices."""

__version__ = "0.2.0"
USER_AGENT = f"moneybird-shop-connector/{__version__}"  # on every request the connector makes
