"""Shopify's rates in use (it has no list of its rates), read from orders' tax lines as
booking reads them: for `mappings suggest` and `config check`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connector.admin.shop_rates import rate_in_use_label
from connector.shops.shopify.shop import _rates_of

SINCE = datetime(2026, 1, 1, tzinfo=UTC)


def node(n: int, *taxes: tuple[str, float | None], country: str = "IN") -> dict[str, Any]:
    return {"id": f"gid://shopify/Order/{n}", "name": f"#{n}",
            "taxLines": [{"title": t, "ratePercentage": p} for t, p in taxes],
            "shippingAddress": {"countryCodeV2": country}}  # fmt: skip


def test_one_order_with_sgst_and_cgst_is_one_order_at_their_rate() -> None:
    found = _rates_of(iter([node(1001, ("SGST", 6.0), ("CGST", 6.0)),
                            node(1002, ("SGST", 6.0), ("CGST", 6.0))]),
                      SINCE, True, "vat_number")  # fmt: skip
    [rate] = found.rates
    assert found.orders == 2
    assert (rate.rate_id, rate.percentage, rate.together) == ("6", 6, 2)
    assert rate_in_use_label(rate) == (
        "6% twice on a line ('SGST / CGST', together 12%) to IN, consumers (2 orders, e.g. #1001)"
    )


def test_a_tax_line_without_a_percentage_is_left_out_as_booking_leaves_it() -> None:
    found = _rates_of(iter([node(1003, ("BTW", None), country="NL"),
                            node(1004, ("BTW", None), ("BTW 21%", 21.0), country="NL")]),
                      SINCE, True, "vat_number")  # fmt: skip
    assert [(r.rate_id, r.percentage, r.orders, r.example) for r in found.rates] == [
        (None, 0, 1, "1003"),  # no rate at all: an order without VAT
        ("21", 21, 1, "1004"),
    ]
