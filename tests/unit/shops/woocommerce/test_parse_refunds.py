"""A WooCommerce refund read as the money that went back: when a refunded line's `total_tax`
and the sum of its `taxes[].total` disagree (the shop keeps the refunded tax unrounded and
rounds the two differently), the line's VAT is the one that makes the lines add up to the
refund's `amount`; when neither does, `total_tax` as before.

The real answer is the one recorded from WooCommerce 10.0.2 (tests/fixtures/realshop/): 1 of 2
teas refunded as the refund form computes it, 5.03 + 0.455 VAT, paid back 5.49, its line
answering `total_tax` -0.45 beside `taxes[0].total` -0.46.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.order import LineKind
from connector.shops.woocommerce.parse import refund_from_woocommerce

D = Decimal
RECORDED = Path(__file__).parents[3] / "fixtures" / "realshop"


def recorded_partial_quantity_refund(variant: str) -> dict[str, Any]:
    answers = json.loads((RECORDED / f"{variant}.json").read_text())
    [refund] = answers["refunds-of-order-partial-quantity"]["body"]
    return refund


@pytest.mark.parametrize("variant", ["hpos_incl", "posts_incl"])
def test_the_real_partial_quantity_refund_is_read_as_the_money_returned(variant: str) -> None:
    payload = recorded_partial_quantity_refund(variant)
    [item] = payload["line_items"]
    # The shape this test is about, as the real shop answered it.
    assert (payload["amount"], item["total_tax"], item["taxes"][0]["total"]) == (
        "5.49", "-0.45", "-0.46",
    )  # fmt: skip
    refund = refund_from_woocommerce(payload)
    [line] = refund.lines
    assert (line.line_id, line.kind, line.quantity) == ("18", LineKind.PRODUCT, D(1))
    # 5.03 + 0.46 = 5.49: the cent on the line where the shop's own tax data puts it.
    assert (line.net, line.tax) == (D("5.03"), D("0.46"))
    assert refund.amount == refund.lines_total == D("5.49")


def item(line_id: int, net: str, total_tax: str, taxes: list[str]) -> dict[str, Any]:
    """A refunded product line as WooCommerce answers it (amounts positive here, negated)."""
    return {
        "id": 900 + line_id, "name": f"Line {line_id}", "quantity": -1,
        "total": f"-{net}", "total_tax": f"-{total_tax}",
        "taxes": [{"id": 2, "total": f"-{t}", "subtotal": f"-{t}"} for t in taxes],
        "meta_data": [{"key": "_refunded_item_id", "value": str(line_id)}],
    }  # fmt: skip


def refund(amount: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"id": 77, "date_created_gmt": "2026-10-20T10:00:00", "amount": amount,
            "reason": "", "line_items": list(items), "shipping_lines": [], "fee_lines": []}  # fmt: skip


def taxes_of(payload: dict[str, Any]) -> list[Decimal]:
    return [line.tax for line in refund_from_woocommerce(payload).lines]


def test_total_tax_stays_when_it_is_what_adds_up_to_the_amount() -> None:
    assert taxes_of(refund("5.48", item(18, "5.03", "0.45", ["0.46"]))) == [D("0.45")]


def test_the_taxes_make_the_amount_over_several_lines_only_the_disagreeing_line_moves() -> None:
    payload = refund(
        "21.49",
        item(17, "13.22", "2.78", ["2.78"]),  # agrees: 16.00
        item(18, "5.03", "0.45", ["0.46"]),  # 5.49 by its taxes
    )
    assert taxes_of(payload) == [D("2.78"), D("0.46")]


def test_when_neither_adds_up_the_total_tax_is_kept_and_the_rest_is_the_amounts_own() -> None:
    # 5.49 for the tea and 10.00 more without lines: 15.49. Neither reading of the line makes
    # it; the remainder is booked by the refund booking's own rules, as before.
    assert taxes_of(refund("15.49", item(18, "5.03", "0.45", ["0.46"]))) == [D("0.45")]


def test_unrounded_taxes_that_make_no_amount_leave_total_tax() -> None:
    # `?dp=` answers: -0.455 makes 5.485, not 5.49; total_tax makes 5.48: neither.
    assert taxes_of(refund("5.49", item(18, "5.03", "0.455", ["0.455"]))) == [D("0.455")]


def test_a_line_without_taxes_keeps_its_total_tax() -> None:
    # No `taxes` to read: the line's total_tax is all there is, whatever the amount.
    assert taxes_of(refund("5.03", item(18, "5.03", "0.45", []))) == [D("0.45")]


def cents(least: int = 0) -> st.SearchStrategy[Decimal]:
    return st.integers(min_value=least, max_value=100_000).map(lambda c: D(c).scaleb(-2))


slips = st.sampled_from([D("-0.01"), D(0), D("0.01")])


@given(
    st.lists(st.tuples(cents(1), cents(), slips), min_size=1, max_size=5),
    st.booleans(),
)
def test_the_lines_add_up_to_the_amount_whichever_of_the_two_the_shop_paid_back(
    lines: list[tuple[Decimal, Decimal, Decimal]], by_taxes: bool
) -> None:
    """Each line: net, total_tax, and how far its taxes[] are off. The amount is what one of
    the two readings adds up to; the refund read adds up to it, preferring total_tax."""
    items = [
        item(n, f"{net:.2f}", f"{tax:.2f}", [f"{abs(tax + slip):.2f}"])
        for n, (net, tax, slip) in enumerate(lines, start=1)
        if tax + slip >= 0
    ]
    if not items:
        return
    by_total_tax = sum((-D(i["total"]) - D(i["total_tax"]) for i in items), D(0))
    by_their_taxes = sum((-D(i["total"]) - D(i["taxes"][0]["total"]) for i in items), D(0))
    amount = by_their_taxes if by_taxes else by_total_tax
    read = refund_from_woocommerce(refund(f"{amount:.2f}", *items))
    assert read.lines_total == amount
    if amount == by_total_tax:
        assert [ln.tax for ln in read.lines] == [-D(i["total_tax"]) for i in items]
