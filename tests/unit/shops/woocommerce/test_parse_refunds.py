"""A WooCommerce refund read as the money that went back: when a refunded line's `total_tax`
and the sum of its `taxes[].total` disagree (the shop keeps the refunded tax as entered and
rounds the two differently), each line takes the VAT that makes the lines together add up to
the refund's `amount` (one line may have been paid back by one, the next by the other); when
no choice does, `total_tax` as before.

The real answers are recorded from WooCommerce 10.0.2 (tests/fixtures/realshop/): 1 of 2 teas
refunded with the line's figures to the cent divided per unit, 5.03 + 0.455 VAT, paid back
5.49, its line answering `total_tax` -0.45 beside `taxes[0].total` -0.46; and 1 of 2 of two
lines, paid back 42.85, one line by its `taxes[]`, the other by its `total_tax`.
"""

from __future__ import annotations

import itertools
import json
import math
from decimal import ROUND_HALF_DOWN, ROUND_HALF_UP, Decimal
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


# --- several lines, each paid back by one reading or the other ---------------------------------


def test_the_real_two_line_refund_is_read_as_the_money_returned() -> None:
    recorded = json.loads((RECORDED / "two_line_refund_hpos_incl.json").read_text())
    [payload] = recorded["refunds"]
    # As the real shop answered: neither reading of both lines makes 42.85 (42.84, 42.86).
    assert payload["amount"] == "42.85"
    assert [
        (i["total"], i["total_tax"], i["taxes"][0]["total"]) for i in payload["line_items"]
    ] == [
        ("-14.02", "-2.94", "-2.95"),
        ("-23.75", "-2.13", "-2.14"),
    ]
    refund = refund_from_woocommerce(payload)
    # The refund form's script rounded 2.945 up and 2.135 down: the 21% line by its taxes[],
    # the 9% line by its total_tax.
    assert [(ln.line_id, ln.net, ln.tax) for ln in refund.lines] == [
        ("80", D("14.02"), D("2.95")),
        ("81", D("23.75"), D("2.13")),
    ]
    assert refund.amount == refund.lines_total == D("42.85")


def test_the_line_the_form_rounded_up_takes_the_cent_whichever_is_listed_first() -> None:
    payload = refund(
        "42.85",
        item(81, "23.75", "2.13", ["2.14"]),  # 2.135: the script's double rounds it down
        item(80, "14.02", "2.94", ["2.95"]),  # 2.945: rounds up
    )
    assert taxes_of(payload) == [D("2.13"), D("2.95")]


def test_with_nothing_to_tell_lines_apart_the_first_listed_take_the_cent() -> None:
    payload = refund(
        "77.65",  # 3 x 25.88 and a cent
        item(1, "23.75", "2.13", ["2.14"]),
        item(2, "23.75", "2.13", ["2.14"]),
        item(3, "23.75", "2.13", ["2.14"]),
    )
    assert taxes_of(payload) == [D("2.14"), D("2.13"), D("2.13")]


def test_many_lines_are_read_without_trying_every_combination() -> None:
    # 400 lines a cent apart, 137 of them paid back by their taxes[]: 2^400 combinations.
    items = [item(n, "9.99", "0.45", ["0.46"]) for n in range(1, 401)]
    amount = D("10.44") * 400 + D("0.01") * 137
    read = refund_from_woocommerce(refund(f"{amount:.2f}", *items))
    assert read.lines_total == amount
    assert [ln.tax for ln in read.lines].count(D("0.46")) == 137


# The refund form (meta-boxes-order.js with accounting.js) on IEEE doubles, and WooCommerce's
# answer: each field kept as entered, `total` half up, `total_tax` by the shop's tax rounding
# (half down when prices include VAT), `taxes[].total` half up.


def script(value: float, places: int) -> float:
    return float(f"{math.floor(value * 10**places + 0.5) / 10**places:.{places}f}")


@st.composite
def form_refunds(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    incl = draw(st.booleans())
    items, fields = [], []
    for n in range(1, draw(st.integers(1, 5)) + 1):
        count = draw(st.integers(2, 4))
        refunded = draw(st.integers(1, count - 1))
        rate = draw(st.sampled_from([D(9), D(21)]))
        price = D(draw(st.integers(100, 5000))).scaleb(-2) * count
        if incl:
            tax = (price * rate / (100 + rate)).quantize(D("0.01"), ROUND_HALF_UP)
            net = price - tax
        else:
            net, tax = price, (price * rate / 100).quantize(D("0.01"), ROUND_HALF_UP)
        net_field = script(float(net) / count * refunded, 6)
        tax_field = script(float(tax) / count * refunded, 6)
        fields += [net_field, tax_field]
        entered = D(repr(net_field)), D(repr(tax_field))
        mode = ROUND_HALF_DOWN if incl else ROUND_HALF_UP
        items.append(
            {
                **item(n, f"{entered[0].quantize(D('0.01'), ROUND_HALF_UP)}", "0", []),
                "quantity": -refunded,
                "total_tax": f"-{entered[1].quantize(D('0.01'), mode)}",
                "taxes": [{"id": 2, "total": f"-{entered[1].quantize(D('0.01'), ROUND_HALF_UP)}"}],
            }
        )
    added = 0.0
    for value in fields:
        added += script(value, 2)
    return refund(f"{script(added, 2):.2f}", *items), incl


@given(form_refunds())
def test_a_refund_made_by_the_form_is_read_as_the_money_returned_when_any_reading_adds_up(
    made: tuple[dict[str, Any], bool],
) -> None:
    payload, _incl = made
    amount = D(payload["amount"])
    readings = [
        (-D(i["total"]), -D(i["total_tax"]), -D(i["taxes"][0]["total"]))
        for i in payload["line_items"]
    ]
    adding_up = [
        sum(n for n, _t, _x in readings) + sum(chosen)
        for chosen in itertools.product(*[(t, x) if t != x else (t,) for _n, t, x in readings])
    ]
    fewest = min(
        (
            sum(c != t for c, (_n, t, _x) in zip(chosen, readings, strict=True))
            for chosen in itertools.product(*[(t, x) if t != x else (t,) for _n, t, x in readings])
            if sum(n for n, _t, _x in readings) + sum(chosen) == amount
        ),
        default=None,
    )
    read = refund_from_woocommerce(payload)
    assert [ln.net for ln in read.lines] == [n for n, _t, _x in readings]
    assert all(ln.tax in (t, x) for ln, (_n, t, x) in zip(read.lines, readings, strict=True))
    if amount in adding_up:
        assert read.lines_total == amount
        # As few lines as can be away from their total_tax.
        moved = sum(ln.tax != t for ln, (_n, t, _x) in zip(read.lines, readings, strict=True))
        assert moved == fewest
    else:
        assert [ln.tax for ln in read.lines] == [t for _n, t, _x in readings]
