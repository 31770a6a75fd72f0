"""Property-based: across the orders WooCommerce can produce, booking either yields an invoice
equal to the order (total and VAT per rate, within the rounding policy) or parks the order with
a readable reason. Nothing raises. HYPOTHESIS_PROFILE=long runs many more examples."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from connector.booking.book import BookingSettings, Parked, book
from connector.booking.invoice import InvoiceDraft, Totals
from connector.booking.mappings import LedgerRule, Mappings, TaxRule
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.errors import OrderDataError
from connector.moneybird.documents import invoice_body
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import Item, Person, woo_order
from connector.shops.woocommerce.parse import order_from_woocommerce

settings.register_profile(
    "ci", max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

RATES = {
    "21": MoneybirdTaxRate("21", "21% btw", Decimal("21.0"), "sales_invoice", True),
    "9": MoneybirdTaxRate("9", "9% btw", Decimal("9.0"), "sales_invoice", True),
    "0": MoneybirdTaxRate("0", "0% btw", Decimal("0.0"), "sales_invoice", True),
}
MAPPINGS = Mappings(
    tax=(
        TaxRule(shop_rate_id="1", tax_rate_id="21"),
        TaxRule(shop_rate_id="2", tax_rate_id="9"),
        TaxRule(percentage="0", tax_rate_id="0"),
    ),
    ledger=(LedgerRule(ledger_account_id="8000"),),
)
TOLERANCE = Decimal("0.02")

names = st.one_of(
    st.text(min_size=0, max_size=80),
    st.sampled_from(
        ["Ship Your Idea &ndash; Black", "Caf&eacute; cr&egrave;me", "<b>Vet</b>", "😀" * 40]
    ),
)
prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=2)
items = st.lists(
    st.builds(
        Item,
        name=names,
        sku=st.text(max_size=12),
        qty=st.integers(1, 500),
        unit_price=prices.map(str),
        rate_id=st.sampled_from([1] * 10 + [2] * 8 + [3]),
    ),
    min_size=1,
    max_size=25,
)
fees = st.lists(
    st.tuples(
        names,
        st.decimals(min_value=Decimal("-50"), max_value=Decimal("50"), places=2).map(str),
        st.sampled_from([1, 2]),
    ),
    max_size=3,
)
people = st.builds(
    Person,
    first=names,
    last=names,
    email=st.sampled_from(["", "x@example.nl", "NOT AN EMAIL", " Mixed@Case.NL "]),
    address=names,
    postcode=st.text(max_size=10),
    city=names,
    country=st.sampled_from(["NL", "DE", "", "XX", "nl"]),
)


@st.composite
def orders(draw: Any) -> dict[str, Any]:
    payload = woo_order(
        draw(st.integers(1, 10**9)),
        draw(people),
        draw(items),
        str(draw(st.decimals(min_value=Decimal("0"), max_value=Decimal("50"), places=2))),
        datetime(2026, 6, 1, 12, 0, tzinfo=UTC),
        prices_include_tax=draw(st.booleans()),
        coupon=draw(
            st.one_of(
                st.none(), st.tuples(st.just("KORTING"), st.sampled_from([5, 10, 33, 50, 100]))
            )
        ),
        fees=draw(fees),
        list_rate_percent=True,
    )
    payload["currency"] = draw(st.sampled_from(["EUR", "EUR", "EUR", "USD", "JPY", "eur"]))
    return payload


def moneybird_totals(draft: InvoiceDraft) -> Totals:
    """What the (independently written) Moneybird sandbox computes for the request body."""
    mb = MoneybirdSandbox.__new__(MoneybirdSandbox)  # its arithmetic only, no server
    mb.administration_id, mb.tax_rates = (
        "1",
        [
            {
                "id": r.id,
                "percentage": str(r.percentage),
                "tax_rate_type": "sales_invoice",
                "active": True,
            }
            for r in RATES.values()
        ],
    )
    import itertools

    mb._ids = itertools.count(1)
    mb.exchange_rates = {}
    body = invoice_body(draft, "1")["sales_invoice"]
    rows = [
        (
            d,
            next(r for r in mb.tax_rates if r["id"] == d["tax_rate_id"]),
            Decimal(d["amount"]),
            Decimal(d["price"]),
        )
        for d in body["details_attributes"]
    ]
    invoice = mb._invoice_from(body, {}, rows, body["prices_are_incl_tax"])
    return Totals(
        Decimal(invoice["total_price_incl_tax"]),
        {t["tax_rate_id"]: Decimal(t["tax_amount"]) for t in invoice["tax_totals"]},
    )


@given(orders(), st.booleans())
def test_an_order_is_booked_exactly_or_parked_with_a_reason(
    payload: dict[str, Any], discount_lines: bool
) -> None:
    order = order_from_woocommerce(payload)
    result = book(
        order,
        MAPPINGS,
        RATES,
        BookingSettings(discount_lines=discount_lines, currencies=("EUR", "USD")),
    )
    if isinstance(result, Parked):
        assert result.reason and result.reason.strip() == result.reason
        event("parked: " + result.reason.split(":")[0][:40])
        return
    event("booked")
    assert isinstance(result, InvoiceDraft)
    if result.prices_are_incl_tax != order.prices_include_tax:
        # The other basis only when on it Moneybird's arithmetic reproduces the shop exactly.
        assert any("booked with prices" in n for n in result.notes)
        assert moneybird_totals(result) == result.shop_totals
        event("booked on the other basis, exact")
    assert result.shop_totals.total_incl_tax == order.total
    for line in result.lines:
        assert line.price == line.price.quantize(Decimal("0.01")) and line.amount > 0
    # What Moneybird computes equals what booking predicted, and is within the rounding
    # policy of the shop: the total and the VAT per rate.
    actual = moneybird_totals(result)
    assert actual == result.predicted
    assert abs(actual.total_incl_tax - order.total) <= TOLERANCE
    for rate_id, vat in result.shop_totals.vat_by_rate.items():
        assert abs(actual.vat_by_rate.get(rate_id, Decimal(0)) - vat) <= TOLERANCE
    if actual.total_incl_tax != order.total or any(
        actual.vat_by_rate.get(k, Decimal(0)) != v
        for k, v in result.shop_totals.vat_by_rate.items()
    ):
        assert any("tolerance" in n for n in result.notes), result.notes  # said, not hidden
    if order.prices_include_tax:
        assert actual.total_incl_tax == order.total  # gross is always what the customer paid


def mangle(payload: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """Shop data as it sometimes arrives: fields missing, wrong types, odd values."""
    target = data.draw(st.sampled_from(["top", "line", "tax_line", "billing"]))
    holder: dict[str, Any]
    if target == "line" and payload["line_items"]:
        holder = payload["line_items"][0]
    elif target == "tax_line" and payload["tax_lines"]:
        holder = payload["tax_lines"][0]
    elif target == "billing":
        holder = payload["billing"]
    else:
        holder = payload
    key = data.draw(st.sampled_from(sorted(holder)))
    holder[key] = data.draw(
        st.one_of(
            st.none(),
            st.just(""),
            st.text(max_size=5),
            st.integers(),
            st.floats(allow_nan=True),
            st.lists(st.integers(), max_size=2),
            st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        )
    )
    return payload


@given(orders(), st.data())
def test_bad_shop_data_never_raises_anything_but_a_clear_order_error(
    payload: dict[str, Any], data: st.DataObject
) -> None:
    payload = mangle(payload, data)
    try:
        order = order_from_woocommerce(payload)
    except OrderDataError as exc:
        assert "unreadable" in str(exc)
        return
    result = book(order, MAPPINGS, RATES, BookingSettings())
    assert isinstance(result, (InvoiceDraft, Parked))
