"""A booked real shop (HPOS, prices incl. VAT) that goes on changing: partial-quantity refunds
made as the order page's refund form makes them and per unit of the figures the API shows, of
one line and of two, read back through the shop-wide refunds list; an order edited after it was
booked; and then the month reconciled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from connector.shops.woocommerce.shop import WooCommerceShop
from tests.realshop.harness import RealShop
from tests.realshop.scenario import (
    FATIMA,
    FATIMA_AGAIN,
    PIETER,
    SANNE_CHECKOUT,
    Scenario,
    judge,
    rounding,
)

D = Decimal


@pytest.fixture(scope="module")
def scn(shop_hpos_incl: RealShop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    with pytest.MonkeyPatch.context() as mp:
        scenario = Scenario(shop_hpos_incl, tmp_path_factory.mktemp("changes"), mp)
        try:
            scenario.sync()
            yield scenario
        finally:
            scenario.close()


@pytest.fixture(scope="module")
def partial(scn: Scenario) -> dict[str, Any]:
    """One of Pieter's two teas returned (2 x 6.45 less 15%: 10.06 net + 0.91 VAT) per unit of
    the figures the API shows: 5.03 net and 0.455 VAT, 5.49 returned."""
    refund = scn.api.refund_per_unit_of_the_figures_shown(
        scn.shop.seeded_order(PIETER), {"TH-EG": 1}, "Retour: 1 van 2 thee"
    )
    scn.sync()
    return refund


@pytest.fixture(scope="module")
def second_tea(scn: Scenario, partial: dict[str, Any]) -> dict[str, Any]:
    """Pieter's other tea returned by the refund form, from the figures the shop holds for the
    line (10.06422 net + 0.90578 VAT): per unit 5.03211 and 0.45289, 5.03 + 0.45 returned."""
    refund = scn.api.refund_as_the_form_does(
        scn.shop.seeded_order(PIETER), {"TH-EG": 1}, "Retour: 2 van 2 thee"
    )
    scn.sync()
    return refund


@pytest.fixture(scope="module")
def two_lines(scn: Scenario) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two orders of 2 x 16.96 at 21% and 2 x 25.88 at 9% (odd-cent nets: 28.03 + 5.89 and
    47.49 + 4.27), booked; then 1 of each line returned, on the one per unit of the figures
    shown (14.015 + 2.945 and 23.745 + 2.135), on the other by the refund form."""
    person = {"first_name": "Rik", "last_name": "Vos", "address_1": "Kerkstraat 2",
              "postcode": "1017 GB", "city": "Amsterdam", "country": "NL"}  # fmt: skip
    for sku, price, tax_class in (("TWEE-A", "16.96", ""), ("TWEE-B", "25.88", "reduced-rate")):
        scn.api.post(
            "products",
            {"name": f"Proef {sku}", "regular_price": price, "sku": sku, "tax_class": tax_class},
        )
    products = {p["sku"]: p["id"] for p in scn.api.get("products", per_page=100)}
    made = [
        scn.api.post(
            "orders",
            {"status": "completed", "set_paid": True, "payment_method": "bacs",
             "payment_method_title": "Bankoverschrijving",
             "billing": {**person, "email": "rik.vos@example.nl"}, "shipping": person,
             "line_items": [{"product_id": products["TWEE-A"], "quantity": 2},
                            {"product_id": products["TWEE-B"], "quantity": 2}]},
        )["id"]
        for _ in range(2)
    ]  # fmt: skip
    scn.sync()
    both = {"TWEE-A": 1, "TWEE-B": 1}
    shown = scn.api.refund_per_unit_of_the_figures_shown(made[0], both, "Retour: 1 van elk")
    form = scn.api.refund_as_the_form_does(made[1], both, "Retour: 1 van elk")
    scn.sync()
    return shown, form


@pytest.fixture(scope="module")
def later_refunds(scn: Scenario) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    """A whole order and an amount only, refunded after both were booked; which endpoints the
    connector read to find them."""
    whole = scn.api.refund_whole_order(scn.shop.seeded_order(FATIMA_AGAIN), "Niet geleverd")
    goodwill = scn.api.refund_amount(scn.shop.seeded_order(SANNE_CHECKOUT), "2.50", "Coulance")
    read: list[str] = []
    original: Callable[..., Any] = WooCommerceShop._get

    def recording(self: WooCommerceShop, endpoint: str, params: dict[str, Any]) -> Any:
        read.append(endpoint)
        return original(self, endpoint, params)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(WooCommerceShop, "_get", recording)
        scn.sync()
    return read, whole, goodwill


@pytest.fixture(scope="module")
def edited(scn: Scenario) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A booked order edited in the shop's admin (a note and a phone number: not its money);
    what the next pass wrote."""
    order_id = scn.shop.seeded_order(FATIMA)  # her first order: a coupon, shipping
    before = scn.invoice(order_id)
    scn.api.put(
        f"orders/{order_id}",
        {"customer_note": "Graag bij de buren", "billing": {"phone": "06-12345678"}},
    )
    scn.mb.received.clear()
    scn.sync()
    return before, scn.writes()


def test_a_partial_quantity_refund_is_credited_the_money_returned(
    scn: Scenario, partial: dict[str, Any]
) -> None:
    # The shop's own answer, as it is: the refund line's rounded VAT and its tax entry part.
    line = partial["line_items"][0]
    assert partial["amount"] == "5.49"
    assert (line["total"], line["total_tax"], line["taxes"][0]["total"]) == (
        "-5.03",
        "-0.45",
        "-0.46",
    )
    order = scn.api.get(f"orders/{scn.shop.seeded_order(PIETER)}")
    credit = scn.documents()[f"WC-{order['number']}-R{partial['id']}"]
    assert D(credit["total_price_incl_tax"]) == D("-5.49")
    assert rounding(credit) == 0
    assert judge(scn) == []


def test_a_partial_quantity_refund_by_the_form_is_credited_the_money_returned(
    scn: Scenario, second_tea: dict[str, Any]
) -> None:
    # The form's fields round to the line's own figures: nothing parts.
    line = second_tea["line_items"][0]
    assert second_tea["amount"] == "5.48"
    assert (line["total"], line["total_tax"], line["taxes"][0]["total"]) == (
        "-5.03",
        "-0.45",
        "-0.45",
    )
    order = scn.api.get(f"orders/{scn.shop.seeded_order(PIETER)}")
    credit = scn.documents()[f"WC-{order['number']}-R{second_tea['id']}"]
    assert D(credit["total_price_incl_tax"]) == D("-5.48")
    assert rounding(credit) == 0


def test_a_refund_of_two_partial_lines_is_credited_the_money_returned(
    scn: Scenario, two_lines: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    shown, form = two_lines

    def figures(refund: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [
            (li["total"], li["total_tax"], li["taxes"][0]["total"]) for li in refund["line_items"]
        ]

    # The shop's own answers. Per unit of the figures shown, one line was paid back by its
    # taxes[] (2.945 rounded up by the form's script) and the other by its total_tax (2.135
    # rounded down): 42.85, where the lines' total_tax make 42.84 and their taxes[] 42.86.
    assert shown["amount"] == "42.85"
    assert figures(shown) == [("-14.02", "-2.94", "-2.95"), ("-23.75", "-2.13", "-2.14")]
    # By the form, from the unrounded figures (14.016529 + 2.943471, 23.743303 + 2.136697).
    assert form["amount"] == "42.84"
    assert figures(form) == [("-14.02", "-2.94", "-2.94"), ("-23.74", "-2.14", "-2.14")]
    docs = scn.documents()
    for refund in (shown, form):
        [credit] = [d for ref, d in docs.items() if ref.endswith(f"-R{refund['id']}")]
        # The credit in Moneybird is the money the real shop returned, to the cent.
        assert D(credit["total_price_incl_tax"]) == -D(refund["amount"])
        assert rounding(credit) == 0
    assert [p for p in judge(scn) if f"-R{shown['id']}" in p or f"-R{form['id']}" in p] == []


def test_refunds_after_booking_are_found_in_the_shop_wide_list(
    scn: Scenario,
    later_refunds: tuple[list[str], dict[str, Any], dict[str, Any]],
    partial: dict[str, Any],
) -> None:
    read, whole, goodwill = later_refunds
    assert "refunds" in read  # GET /refunds, WooCommerce 9+
    fatima = scn.api.get(f"orders/{scn.shop.seeded_order(FATIMA_AGAIN)}")
    assert fatima["status"] == "refunded"
    docs = scn.documents()
    assert D(docs[f"WC-{fatima['number']}-R{whole['id']}"]["total_price_incl_tax"]) == -D(
        fatima["total"]
    )
    sanne = scn.shop.seeded_order(SANNE_CHECKOUT)
    assert D(docs[f"WC-{sanne}-R{goodwill['id']}"]["total_price_incl_tax"]) == D("-2.50")
    # Everything else as the shop has it (the partial refund is the test above's).
    assert [p for p in judge(scn) if f"-R{partial['id']}" not in p] == []


def test_an_order_edited_after_booking_is_not_booked_again(
    scn: Scenario, edited: tuple[dict[str, Any], list[tuple[str, str]]]
) -> None:
    before, writes = edited
    assert writes == []
    after = scn.documents()[before["reference"]]
    assert (after["id"], after["total_price_incl_tax"]) == (
        before["id"],
        before["total_price_incl_tax"],
    )


def test_the_month_reconciles(
    scn: Scenario,
    partial: dict[str, Any],
    second_tea: dict[str, Any],
    two_lines: tuple[dict[str, Any], dict[str, Any]],
    later_refunds: tuple[list[str], dict[str, Any], dict[str, Any]],
    edited: tuple[dict[str, Any], list[tuple[str, str]]],
) -> None:
    for month in scn.months():
        code, report = scn.reconcile(month)
        assert (code, report["outcome"]) == (0, "agrees"), (month, report["differences"])
