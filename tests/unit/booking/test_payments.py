"""Payments: one per way the customer paid, each on its method's account; gift cards too."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.booking.book import BookingSettings, Parked, book
from connector.booking.invoice import InvoiceDraft
from connector.booking.mappings import Mappings, PaymentRule
from connector.booking.payments import PaymentProblem, payout_plans
from connector.order import Order, Payment, Refund
from connector.runtime import build
from connector.sandbox.moneybird import Fault, MoneybirdSandbox
from connector.sandbox.seed import ANNA, FIN_GIFT_CARDS, FIN_MOLLIE, FIN_PAYPAL
from connector.sandbox.shopify_seed import MOKA, shopify_order
from connector.shops.shopify.parse import order_from_shopify
from tests.e2e.test_shopify import shopify_config
from tests.unit.shops.shopify.test_parse import MAPPINGS, R21, RATES, dutch_order, money, tax

D = Decimal
TABLE = Mappings(
    tax=MAPPINGS.tax,
    ledger=MAPPINGS.ledger,
    payment=(
        PaymentRule(method="mollie*", financial_account_id=FIN_MOLLIE),
        PaymentRule(method="paypal", financial_account_id=FIN_PAYPAL),
        PaymentRule(method="gift_card", financial_account_id=FIN_GIFT_CARDS),
    ),
)


def paid_by(*transactions: tuple[str, str]) -> dict[str, Any]:
    """A lamp 60.00 incl. 21% (VAT 60 x 21/121 = 10.41), paid by these (gateway, amount)."""
    line = {"id": "l1", "title": "Lamp", "sku": "L", "quantity": 1, "isGiftCard": False,
            "originalUnitPriceSet": money("60.00"), "discountAllocations": [],
            "taxLines": [tax(21.0, "10.41")]}  # fmt: skip
    return dutch_order(
        True, [line], [], [tax(21.0, "10.41")], "60.00",
        transactions=[
            {"id": f"gid://shopify/OrderTransaction/{n}", "kind": "SALE", "status": "SUCCESS",
             "gateway": gateway, "processedAt": "2026-11-02T08:59:30Z", "amountSet": money(amount)}
            for n, (gateway, amount) in enumerate(transactions, start=6)
        ],
    )  # fmt: skip


def plans(result: InvoiceDraft | Parked) -> list[tuple[Decimal, str | None, str]]:
    assert isinstance(result, InvoiceDraft), getattr(result, "reason", "")
    return [(p.amount, p.financial_account_id, p.transaction_identifier) for p in result.payments]


def test_a_gift_card_and_a_card_are_two_payments_on_their_own_accounts() -> None:
    result = book(order_from_shopify(paid_by(("gift_card", "25.00"), ("mollie", "35.00"))),
                  TABLE, RATES, BookingSettings())  # fmt: skip
    assert plans(result) == [
        (D("25.00"), FIN_GIFT_CARDS, "shopify-6"),
        (D("35.00"), FIN_MOLLIE, "shopify-7"),
    ]
    # The invoice itself is the lamp at its full price: no discount line for the gift card.
    assert isinstance(result, InvoiceDraft)
    assert [(ln.description, ln.price, ln.tax_rate_id) for ln in result.lines] == [
        ("Lamp", D("60.00"), R21)
    ]


def test_two_providers_that_add_up_are_two_payments() -> None:
    result = book(order_from_shopify(paid_by(("paypal", "20.00"), ("mollie", "40.00"))),
                  TABLE, RATES, BookingSettings())  # fmt: skip
    assert plans(result) == [
        (D("20.00"), FIN_PAYPAL, "shopify-6"),
        (D("40.00"), FIN_MOLLIE, "shopify-7"),
    ]


def test_payments_that_cannot_be_told_apart_park_the_order() -> None:
    short = book(order_from_shopify(paid_by(("paypal", "20.00"), ("mollie", "30.00"))),
                 TABLE, RATES, BookingSettings())  # fmt: skip
    assert isinstance(short, Parked)
    assert "payments (paypal 20.00, mollie 30.00) do not add up to the 60.00" in short.reason
    too_much = book(order_from_shopify(paid_by(("gift_card", "70.00"))), TABLE, RATES,
                    BookingSettings())  # fmt: skip
    assert isinstance(too_much, Parked) and "gift cards paid 70.00" in too_much.reason
    no_account = Mappings(tax=TABLE.tax, ledger=TABLE.ledger, payment=TABLE.payment[:1])
    unmapped = book(order_from_shopify(paid_by(("gift_card", "25.00"), ("mollie", "35.00"))),
                    no_account, RATES, BookingSettings())  # fmt: skip
    assert isinstance(unmapped, Parked)
    assert "add a payment rule for method 'gift_card'" in unmapped.reason


def test_one_method_pays_the_rest_whatever_its_transaction_says() -> None:
    # A single provider: its payment is what the invoice asks (a cent of rounding included),
    # as before several payments were known.
    result = book(order_from_shopify(paid_by(("mollie", "59.99"))), TABLE, RATES,
                  BookingSettings())  # fmt: skip
    assert plans(result) == [(D("60.00"), FIN_MOLLIE, "shopify-6")]


def test_shopify_order_paid_with_gift_card_and_card_books_two_payments_once(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    # Moka pot 34.95 (VAT 6.07 at 21%) + shipping 5.95 (1.03): 40.90, of which 15.00 by card.
    created = datetime.now(UTC) - timedelta(hours=1)
    order = shopify_order(2201, ANNA, [MOKA], "5.95", created)
    sale = order["transactions"][0]
    order["transactions"] = [
        {**sale, "id": "gid://shopify/OrderTransaction/9902201", "gateway": "gift_card",
         "amountSet": {"shopMoney": {"amount": "15.00", "currencyCode": "EUR"}}},
        {**sale, "amountSet": {"shopMoney": {"amount": "25.90", "currencyCode": "EUR"}}},
    ]  # fmt: skip
    shopify.orders.clear()
    shopify.put_order(order)
    # The second payment's answer is lost: Moneybird is read and the payment found there
    # instead of being paid twice; the next pass pays nothing more.
    moneybird.faults.append(Fault("POST", r"sales_invoices/\d+/payments", "after_drop", skip=1))
    runtime = build(shopify_config(tmp_path, shopify, moneybird))
    try:
        assert runtime.engine().run_pass().booked == 1
        shopify.put_order({**order, "updatedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
        again = runtime.engine().run_pass()
        assert again.booked == 0 and again.failed == 0
    finally:
        runtime.close()
    [invoice] = [i for i in moneybird.invoices.values() if i["reference"] == "SH-2201"]
    assert invoice["state"] == "paid"
    assert D(invoice["total_price_incl_tax"]) == D("40.90")
    assert sorted((D(p["price"]), p["financial_account_id"]) for p in invoice["payments"]) == [
        (D("15.00"), FIN_GIFT_CARDS),
        (D("25.90"), FIN_MOLLIE),
    ]


# --- refunds: the money goes back the way the shop paid it back -------------------------------


def refund_of(amount: str, *payouts: tuple[str, str], base: str | None = None) -> Refund:
    return Refund(
        refund_id="31", created_at=datetime(2026, 11, 3, 10, tzinfo=UTC), amount=D(amount),
        amount_base=D(base) if base else None,
        payouts=tuple(Payment(method, D(paid), f"shopify-{n}")
                      for n, (method, paid) in enumerate(payouts, start=40)),
    )  # fmt: skip


def payouts(order: Order, refund: Refund) -> list[tuple[Decimal, str | None, str]]:
    found = payout_plans(order, refund, TABLE, date(2026, 11, 3))
    return [(p.amount, p.financial_account_id, p.transaction_identifier) for p in found]


def test_a_refund_back_onto_a_gift_card_and_a_card_is_two_payouts() -> None:
    order = order_from_shopify(paid_by(("gift_card", "25.00"), ("mollie", "35.00")))
    refund = refund_of("40.00", ("gift_card", "25.00"), ("mollie", "15.00"))
    assert payouts(order, refund) == [
        (D("-25.00"), FIN_GIFT_CARDS, "shopify-refund-31"),
        (D("-15.00"), FIN_MOLLIE, "shopify-refund-31-2"),
    ]
    # Without the shop saying how: all of it through the order's main method, as always.
    assert payouts(order, refund_of("40.00")) == [(D("-40.00"), FIN_MOLLIE, "shopify-refund-31")]


def test_refund_payouts_that_do_not_add_up_or_lack_an_account_park() -> None:
    order = order_from_shopify(paid_by(("gift_card", "25.00"), ("mollie", "35.00")))
    with pytest.raises(PaymentProblem, match=r"\(gift_card 25\.00, mollie 10\.00\) do not add up"):
        payouts(order, refund_of("40.00", ("gift_card", "25.00"), ("mollie", "10.00")))
    no_account = Mappings(tax=TABLE.tax, ledger=TABLE.ledger, payment=TABLE.payment[:1])
    refund = refund_of("40.00", ("gift_card", "25.00"), ("mollie", "15.00"))
    with pytest.raises(PaymentProblem, match=r"refunded 25\.00 with a gift card"):
        payout_plans(order, refund, no_account, date(2026, 11, 3))


def test_a_refunds_euro_amount_is_shared_over_its_payouts() -> None:
    # 40.00 USD back, 36.00 EUR by the rate source: 30.00 x 36.00/40.00 = 27.00, the rest 9.00.
    order = replace(order_from_shopify(paid_by(("mollie", "60.00"))), currency="USD")
    refund = refund_of("40.00", ("paypal", "30.00"), ("mollie", "10.00"), base="36.00")
    found = payout_plans(order, refund, TABLE, date(2026, 11, 3))
    assert [(p.amount, p.price_base) for p in found] == [
        (D("-30.00"), D("-27.00")),
        (D("-10.00"), D("-9.00")),
    ]


def test_shopify_refund_partly_back_onto_the_gift_card(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    # The 40.90 order of which 15.00 by gift card; the moka pot (34.95, VAT 6.07) comes back:
    # 15.00 onto the gift card, 19.95 to the card.
    created = datetime.now(UTC) - timedelta(hours=1)
    order = shopify_order(2202, ANNA, [MOKA], "5.95", created)
    sale = order["transactions"][0]
    order["transactions"] = [
        {**sale, "id": "gid://shopify/OrderTransaction/9902202", "gateway": "gift_card",
         "amountSet": {"shopMoney": {"amount": "15.00", "currencyCode": "EUR"}}},
        {**sale, "amountSet": {"shopMoney": {"amount": "25.90", "currencyCode": "EUR"}}},
    ]  # fmt: skip
    shopify.orders.clear()
    shopify.put_order(order)
    runtime = build(shopify_config(tmp_path, shopify, moneybird))
    try:
        assert runtime.engine().run_pass().booked == 1
        moka = order["lineItems"][0]["id"]
        shopify.refund(order["id"], items=[(moka, 1, "34.95", "6.07")],
                       payouts=[("gift_card", "15.00"), ("mollie", "19.95")])  # fmt: skip
        assert runtime.engine().run_pass().refunds_booked == 1
    finally:
        runtime.close()
    [credit] = [i for i in moneybird.invoices.values() if i.get("original_sales_invoice_id")]
    assert credit["state"] == "paid" and D(credit["total_price_incl_tax"]) == D("-34.95")
    assert sorted((D(p["price"]), p["financial_account_id"]) for p in credit["payments"]) == [
        (D("-19.95"), FIN_MOLLIE),
        (D("-15.00"), FIN_GIFT_CARDS),
    ]


# --- WooCommerce: gift cards paid with ---------------------------------------------------------


def lamp_order(order_id: int, **changes: Any) -> dict[str, Any]:
    """A lamp 121.00 incl. 21% (VAT 21.00), no shipping, paid by iDEAL through Mollie."""
    from connector.sandbox.seed import Item, woo_order

    created = datetime.now(UTC) - timedelta(hours=1)
    return {**woo_order(order_id, ANNA, [Item("Lamp", "L", 1, "121.00", 1)], "0", created),
            **changes}  # fmt: skip


def book_in_woocommerce(shop: Any, moneybird: MoneybirdSandbox, tmp_path: Path, payload: dict):  # type: ignore[no-untyped-def]
    from connector.config import load_config
    from tests.conftest import secrets_env, write_config

    shop.orders.clear()
    shop.put_order(payload)
    path = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    runtime = build(load_config(path, environ=secrets_env(shop, moneybird)))
    try:
        assert runtime.engine().run_pass().booked == 1
    finally:
        runtime.close()
    [invoice] = [i for i in moneybird.invoices.values() if i["reference"] == f"WC-{payload['id']}"]
    return invoice


def test_woocommerce_gift_cards_are_payments_on_the_gift_card_account(
    tmp_path: Path, shop: Any, moneybird: MoneybirdSandbox
) -> None:
    # WooCommerce Gift Cards lists the card; the shop's total (96.00) is what was left to pay.
    payload = lamp_order(1050, total="96.00",
                         gift_cards=[{"id": 43, "code": "AB12-CD34", "amount": 25}])  # fmt: skip
    invoice = book_in_woocommerce(shop, moneybird, tmp_path, payload)
    assert invoice["state"] == "paid" and D(invoice["total_price_incl_tax"]) == D("121.00")
    assert sorted((D(p["price"]), p["financial_account_id"]) for p in invoice["payments"]) == [
        (D("25.00"), FIN_GIFT_CARDS),
        (D("96.00"), FIN_MOLLIE),
    ]


def test_a_gift_card_fee_line_is_a_payment_not_a_negative_fee(
    tmp_path: Path, shop: Any, moneybird: MoneybirdSandbox
) -> None:
    # Plugins that show the card as a negative fee without VAT: the invoice is the lamp only.
    card = {"id": 9, "name": "Cadeaubon ABCD-1234", "tax_class": "", "tax_status": "none",
            "total": "-25.00", "total_tax": "0.00", "taxes": [], "meta_data": []}  # fmt: skip
    invoice = book_in_woocommerce(shop, moneybird, tmp_path,
                                  lamp_order(1051, total="96.00", fee_lines=[card]))  # fmt: skip
    assert [(d["description"], D(d["price"])) for d in invoice["details"]] == [
        ("Lamp", D("121.00"))
    ]
    assert D(invoice["total_price_incl_tax"]) == D("121.00")
    assert sorted((D(p["price"]), p["financial_account_id"]) for p in invoice["payments"]) == [
        (D("25.00"), FIN_GIFT_CARDS),
        (D("96.00"), FIN_MOLLIE),
    ]


def test_other_negative_fees_stay_fee_lines_and_a_card_may_pay_it_all() -> None:
    from connector.order import LineKind
    from connector.shops.woocommerce.parse import order_from_woocommerce

    discount = {"id": 9, "name": "Korting", "total": "-10.00", "total_tax": "0.00", "taxes": []}
    order = order_from_woocommerce(lamp_order(1052, total="111.00", fee_lines=[discount]))
    assert [ln.kind for ln in order.lines] == [LineKind.PRODUCT, LineKind.SHIPPING, LineKind.FEE]
    assert (order.total, order.payments) == (D("111.00"), ())
    # A taxed "gift card" fee is not a multi-purpose card: left a fee, never guessed a payment.
    taxed = {"id": 9, "name": "Gift card", "total": "-10.00", "total_tax": "-2.10",
             "taxes": [{"id": 1, "total": "-2.1", "subtotal": ""}]}  # fmt: skip
    order = order_from_woocommerce(lamp_order(1053, total="108.90", fee_lines=[taxed]))
    assert order.lines[-1].kind == LineKind.FEE and order.payments == ()

    # Paid in full by the card: one payment, the gift card's.
    paid_by_card = lamp_order(1054, total="0.00",
                              gift_cards=[{"id": 44, "code": "EF56", "amount": "121.00"}])  # fmt: skip
    result = book(order_from_woocommerce(paid_by_card), TABLE, RATES, BookingSettings())
    assert isinstance(result, InvoiceDraft)
    assert [(p.amount, p.financial_account_id) for p in result.payments] == [
        (D("121.00"), FIN_GIFT_CARDS)
    ]
