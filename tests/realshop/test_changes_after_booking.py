"""A booked real shop (HPOS, prices incl. VAT) that goes on changing: refunds made as the
order page's refund form makes them, read back through the shop-wide refunds list; an order
edited after it was booked; and then the month reconciled.
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
    """One of Pieter's two teas returned (2 x 6.45 less 15%: 10.06 net + 0.91 VAT), as the
    refund form computes it: per unit 5.03211 net and 0.455 VAT, 5.49 returned."""
    refund = scn.api.refund_as_the_form_does(
        scn.shop.seeded_order(PIETER), "TH-EG", 1, "Retour: 1 van 2 thee"
    )
    scn.sync()
    return refund


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
    later_refunds: tuple[list[str], dict[str, Any], dict[str, Any]],
    edited: tuple[dict[str, Any], list[tuple[str, str]]],
) -> None:
    for month in scn.months():
        code, report = scn.reconcile(month)
        assert (code, report["outcome"]) == (0, "agrees"), (month, report["differences"])
