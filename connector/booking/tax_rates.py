"""Moneybird's sales tax rates as booking needs them: checked, never matched by name."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from connector.money import parse


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


def rates_from_response(rows: list[dict[str, object]]) -> dict[str, MoneybirdTaxRate]:
    return {
        str(row["id"]): MoneybirdTaxRate(
            id=str(row["id"]),
            name=str(row.get("name") or ""),
            percentage=parse(row.get("percentage"), "percentage"),
            tax_rate_type=str(row.get("tax_rate_type") or ""),
            active=bool(row.get("active")),
            country=(str(row["country"]) if row.get("country") else None),
        )
        for row in rows
    }
