"""Moneybird's sales tax rates as booking needs them: checked, never matched by name."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class MoneybirdTaxRate:
    id: str
    name: str
    percentage: Decimal
    tax_rate_type: str
    active: bool
    country: str | None = None

    @property
    def usable_for_sales(self) -> bool:
        return self.active and self.tax_rate_type == "sales_invoice"
