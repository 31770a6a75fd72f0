"""Shopify Payments payouts: the queries against Shopify's 2026-10 Admin schema, the pure parse
on hand-written balance transactions, and the provider reading the Shopify sandbox through the
shop's own GraphQL client.

The sandbox's demo (shopify_payments_demo_orders, seed_shopify_payments), fees 1.9% + 0.25:
payout 1: #2001 66.80 (fee 1.2692 + 0.25 = 1.52), #2006 25.00 (0.725 -> 0.73), #2007 44.90
(1.1031 -> 1.10): 136.70 - 3.35 = 133.35; payout 2: #2008 18.90 (0.61), #2009 45.19 (1.10861
-> 1.11), #2001's shipping refunded -5.95: 64.09 - 1.72 - 5.95 = 56.42.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connector.errors import ShopError
from connector.payouts.records import PartKind, Payout, PayoutDataError, RefusedPayout
from connector.payouts.shopify_payments import (
    ORDER_FEES,
    PAYOUT_TRANSACTIONS,
    PAYOUTS,
    QUERIES,
    ShopifyPaymentsProvider,
    fee_orders,
    order_fees_query,
    parse_payout,
    stated_fees,
)
from tests.conftest import SHOPIFY_SCHEMA, require_contract

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
PAYOUT_GID = "gid://shopify/ShopifyPaymentsPayout/555"
EARLY = datetime(2020, 1, 1, tzinfo=UTC)


# --- the GraphQL contract -------------------------------------------------------------------


def test_every_query_validates_against_the_full_2026_10_schema_and_the_shipped_cut() -> None:
    require_contract(SHOPIFY_SCHEMA, "Shopify Admin schema")
    from graphql import parse, validate

    from connector.sandbox.shopify import load_schema, requested_cost

    full = load_schema(SHOPIFY_SCHEMA)
    shipped = load_schema()
    documents = {**QUERIES, "one order's fees": order_fees_query(1)}
    assert set(QUERIES.values()) == {PAYOUTS, PAYOUT_TRANSACTIONS, ORDER_FEES}
    for name, document in documents.items():
        for schema in (full, shipped):
            errors = validate(schema, parse(document))
            assert errors == [], f"{name}: {[e.message for e in errors]}"
        # Well under Shopify's 1,000-point cap for a single query.
        assert requested_cost(full, parse(document), {}) < 700, name
    # The validator does refuse what the schema lacks: a balance transaction has no order
    # transaction to select fees on, which is why the fees are read on the orders.
    wrong = PAYOUT_TRANSACTIONS.replace("sourceOrderTransactionId", "orderTransaction { id }")
    assert validate(full, parse(wrong))
    with pytest.raises(ValueError):
        order_fees_query(0)


# --- the pure parse, on hand-written figures --------------------------------------------------


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currencyCode": "EUR"}


def payout(net: str = "99.14", **changes: Any) -> dict[str, Any]:
    node = {
        "id": PAYOUT_GID,
        "legacyResourceId": "555",
        "issuedAt": "2026-11-18T04:00:00Z",
        "status": "PAID",
        "transactionType": "DEPOSIT",
        "externalTraceId": "ST-7QX1",
        "net": money(net),
    }
    return node | changes


def transaction(
    number: int,
    kind: str,
    amount: str,
    fee: str,
    net: str,
    *,
    source: tuple[str, str | None] = ("CHARGE", None),
    order: int | None = None,
    order_transaction: str | None = None,
    test: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/ShopifyPaymentsBalanceTransaction/{number}",
        "type": kind,
        "test": test,
        "transactionDate": "2026-11-17T10:00:00Z",
        "adjustmentReason": reason,
        "sourceType": source[0],
        "sourceId": source[1],
        "sourceOrderTransactionId": order_transaction,
        "amount": money(amount),
        "fee": money(fee),
        "net": money(net),
        "associatedOrder": {"id": f"gid://shopify/Order/{order}", "name": f"#{order - 4000}"}
        if order
        else None,
        "associatedPayout": {"id": PAYOUT_GID},
    }


def transactions() -> list[dict[str, Any]]:
    """Two charges (one with 0.37 tax in its 2.15 fee, one whose amount Shopify writes without
    its trailing zero), a refund, an adjustment, a dispute taken back with its 15.00 fee, and
    the payout's own transfer: 97.85 + 49.29 - 20.00 - 3.00 - 25.00 = 99.14."""
    return [
        transaction(1, "CHARGE", "100.00", "2.15", "97.85", order=6001, order_transaction="8001"),
        transaction(2, "CHARGE", "50.5", "1.21", "49.29", order=6002, order_transaction="8002"),
        transaction(
            3,
            "REFUND",
            "-20.00",
            "0.00",
            "-20.00",
            source=("REFUND", "9001"),
            order=6001,
            order_transaction="8003",
        ),
        transaction(
            4,
            "ADJUSTMENT",
            "-3.00",
            "0.00",
            "-3.00",
            source=("ADJUSTMENT", None),
            reason="Shipping label",
        ),
        transaction(
            5,
            "ADJUSTMENT",
            "-10.00",
            "15.00",
            "-25.00",
            source=("DISPUTE", "77"),
            order=6002,
            order_transaction="8002",
        ),
        transaction(6, "TRANSFER", "-99.14", "0.00", "-99.14", source=("TRANSFER", "555")),
    ]


def fees_stated() -> dict[str, list[object]]:
    """What the orders' transactions state: 1.78 + 0.37 tax on the first charge; the second
    charge's 1.21 without tax. The dispute names the second charge's order transaction, but
    those fees are the charge's: the dispute's 15.00 has no tax stated."""
    answer = {
        "o0": {"id": "gid://shopify/Order/6001", "transactions": [
            {"id": "gid://shopify/OrderTransaction/8001",
             "fees": [{"amount": money("1.78"), "taxAmount": money("0.37")}]},
            {"id": "gid://shopify/OrderTransaction/8003", "fees": []}]},
        "o1": {"id": "gid://shopify/Order/6002", "transactions": [
            {"id": "gid://shopify/OrderTransaction/8002",
             "fees": [{"amount": money("1.00"), "taxAmount": money("0")},
                      {"amount": money("0.21"), "taxAmount": money("0.00")}]}]},
        "o2": None,  # an order Shopify no longer has
    }  # fmt: skip
    return stated_fees(answer)


def test_a_payout_parses_to_parts_that_add_up_to_what_reached_the_bank() -> None:
    parsed = parse_payout(payout(), transactions(), fees_stated(), NOW)

    assert parsed.provider == "shopify_payments"
    assert parsed.payout_id == "555"
    assert parsed.reference == "ST-7QX1"  # the transfer's reference number
    assert parsed.currency == "EUR"
    assert parsed.paid_out == datetime(2026, 11, 18, 4, tzinfo=UTC)
    assert parsed.net == Decimal("99.14")
    kinds = [part.kind for part in parsed.parts]
    assert kinds == [PartKind.PAYMENT, PartKind.PAYMENT, PartKind.REFUND, PartKind.OTHER,
                     PartKind.CHARGEBACK]  # fmt: skip
    assert parsed.total(PartKind.PAYMENT) == Decimal("150.50")
    assert parsed.total(PartKind.REFUND) == Decimal("-20.00")
    assert parsed.total(PartKind.CHARGEBACK) == Decimal("-10.00")
    assert parsed.total(PartKind.OTHER) == Decimal("-3.00")
    assert parsed.total(PartKind.FEE) == Decimal("18.36")  # 2.15 + 1.21 + 15.00
    assert parsed.parts_net == Decimal("99.14")


def test_each_part_carries_its_ids_and_its_fee_tax() -> None:
    first, second, refund, other, dispute = parse_payout(
        payout(), transactions(), fees_stated(), NOW
    ).parts
    assert (first.provider_id, first.order_reference, first.payment_id) == ("1", "6001", "8001")
    assert (first.fee, first.fee_vat) == (Decimal("2.15"), Decimal("0.37"))
    assert first.date == datetime(2026, 11, 17, 10, tzinfo=UTC)
    assert first.description == "Shopify Payments charge order #2001"
    assert (second.gross, second.fee, second.fee_vat) == (
        Decimal("50.50"), Decimal("1.21"), Decimal("0.00"),
    )  # fmt: skip
    assert (refund.refund_reference, refund.payment_id, refund.order_reference) == (
        "9001", "8003", "6001",
    )  # fmt: skip
    assert refund.fee_vat is None  # no fee, none stated
    assert other.description == "Shopify Payments adjustment: Shipping label"
    assert other.order_reference is None
    assert dispute.fee == Decimal("15.00")
    assert dispute.fee_vat is None  # Shopify states no tax for it: not made up
    assert all(part.provider_id != "6" for part in (first, second, refund, other, dispute))


def test_the_reference_is_the_payout_number_when_shopify_has_no_trace_id() -> None:
    for trace in (None, "", "two words"):
        parsed = parse_payout(payout(externalTraceId=trace), transactions(), {}, NOW)
        assert parsed.reference == "555"


def test_the_orders_whose_fees_are_read_are_those_whose_transactions_took_a_fee() -> None:
    assert fee_orders(transactions()) == ["gid://shopify/Order/6001", "gid://shopify/Order/6002"]
    assert fee_orders([transactions()[2]]) == []  # a refund without a fee: nothing to read


def test_a_test_mode_transaction_refuses_the_payout() -> None:
    items = transactions()
    items[1]["test"] = True
    with pytest.raises(PayoutDataError, match=r"1 test-mode transaction.*2.*book it by hand"):
        parse_payout(payout(), items, fees_stated(), NOW)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p, t, f: p.update(net=money("99.15")),
         "parts add up to 99.14, not to the 99.15"),
        (lambda p, t, f: t.pop(1), "parts add up to 49.85"),
        (lambda p, t, f: p.update(status="SCHEDULED"), "'SCHEDULED', not paid out yet"),
        (lambda p, t, f: p.update(transactionType="WITHDRAWAL"), "book it by hand"),
        (lambda p, t, f: p.update(net={"amount": "99.14", "currencyCode": "USD"}),
         "only EUR is booked"),
        (lambda p, t, f: t[0].update(net=money("97.84")), "is not its net 97.84"),
        (lambda p, t, f: t[0].update(fee=money("2.155"), net=money("97.845")),
         "not in whole cents"),
        (lambda p, t, f: t[0].update(associatedPayout={"id": "gid://shopify/ShopifyPaymentsPayout/1"}),
         "belongs to payout"),
        (lambda p, t, f: t[0].update(type="REFUND"), "refund 1 amount 100.00 adds to"),
        (lambda p, t, f: t[0].update(transactionDate="2026-11-17T10:00:00"), "no time zone"),
        (lambda p, t, f: t[0].update(sourceOrderTransactionId="tx-1"), "is not a Shopify id"),
        # The fees' amounts alone make up the fee, yet tax is stated: which is it.
        (lambda p, t, f: f["8001"][0].update(amount=money("2.15")), "which part is tax"),
        (lambda p, t, f: f["8001"][0].update(taxAmount={"amount": "0.37", "currencyCode": "USD"}),
         "only EUR"),
        (lambda p, t, f: t.append(copy.deepcopy(t[0])), "appears twice"),
    ],
)  # fmt: skip
def test_what_cannot_be_booked_as_it_is_is_refused_naming_why(change: Any, reason: str) -> None:
    node, items, fees = payout(), transactions(), fees_stated()
    change(node, items, fees)
    with pytest.raises(PayoutDataError, match=_escaped(reason)):
        parse_payout(node, items, fees, NOW)


def _escaped(text: str) -> str:
    import re

    return ".*".join(re.escape(piece) for piece in text.split(".*"))


# --- the provider against the Shopify sandbox ---------------------------------------------------


@pytest.fixture
def payments() -> Iterator[Any]:
    """The Shopify sandbox with the demo orders paid through Shopify Payments (not paid out)."""
    require_contract(SHOPIFY_SCHEMA, "Shopify Admin schema")
    from connector.sandbox.shopify import ShopifySandbox
    from connector.sandbox.shopify_seed import seed_shopify, shopify_payments_demo_orders

    sandbox = ShopifySandbox(schema_path=SHOPIFY_SCHEMA, restore_rate=1_000_000)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    seed_shopify(sandbox, shopify_payments_demo_orders(start))
    sandbox.start()
    yield sandbox
    sandbox.stop()


def provider(sandbox: Any) -> tuple[ShopifyPaymentsProvider, Any]:
    from connector.shops.shopify.shop import ShopifyShop

    shop = ShopifyShop(sandbox.url, "2026-10", access_token=sandbox.access_token)
    return ShopifyPaymentsProvider(shop.graphql), shop


def booked(found: list[Payout | RefusedPayout]) -> list[Payout]:
    assert all(isinstance(item, Payout) for item in found), found
    return [item for item in found if isinstance(item, Payout)]


def test_the_demo_payouts_are_read_whole_with_their_fees_in_few_queries(payments: Any) -> None:
    from connector.sandbox.shopify_seed import seed_shopify_payments

    seed_shopify_payments(payments)
    reader, shop = provider(payments)
    first, second = booked(list(reader.payouts(EARLY)))

    assert (first.payout_id, first.reference, first.net) == ("80000001", "SP-1", Decimal("133.35"))
    assert [(p.order_reference, p.gross, p.fee) for p in first.parts] == [
        ("5002001", Decimal("66.80"), Decimal("1.52")),
        ("5002006", Decimal("25.00"), Decimal("0.73")),
        ("5002007", Decimal("44.90"), Decimal("1.10")),
    ]
    assert (second.payout_id, second.net) == ("80000002", Decimal("56.42"))
    assert second.total(PartKind.PAYMENT) == Decimal("64.09")
    assert second.total(PartKind.FEE) == Decimal("1.72")
    (refund,) = [part for part in second.parts if part.kind is PartKind.REFUND]
    order_refund = payments.orders["gid://shopify/Order/5002001"]["refunds"][0]
    assert refund.gross == Decimal("-5.95")
    assert refund.refund_reference == order_refund["id"].rsplit("/", 1)[1]
    assert refund.order_reference == "5002001"
    # The sandbox states no tax on the fees (its default rate 0): stated as 0.00, not unknown.
    assert first.fee_vat == Decimal("0.00")
    # One page of payouts, and per payout one page of transactions and one of fees: no
    # request per transaction.
    assert reader.queries == 5
    assert shop.requests == 5
    assert all(
        "shopifyPaymentsAccount" in query or "ShopifyPaymentsFees" in query
        for query, _ in payments.queries
    )


def test_the_tax_shopify_states_on_its_fees_is_the_fee_vat(payments: Any) -> None:
    from connector.sandbox.shopify_seed import seed_shopify_payments

    payments.payments_fee_tax_rate = Decimal("0.21")
    seed_shopify_payments(payments, refund=False)
    reader, _shop = provider(payments)
    first = booked(list(reader.payouts(EARLY)))[0]
    # 1.52 + 0.32 tax, 0.73 + 0.15, 1.10 + 0.23: 136.70 - 4.05 = 132.65.
    assert [(p.fee, p.fee_vat) for p in first.parts] == [
        (Decimal("1.84"), Decimal("0.32")),
        (Decimal("0.88"), Decimal("0.15")),
        (Decimal("1.33"), Decimal("0.23")),
    ]
    assert first.fee_vat == Decimal("0.70")
    assert first.net == Decimal("132.65")


def test_only_paid_payouts_since_the_moment_asked_for_oldest_first(payments: Any) -> None:
    from connector.sandbox.shopify_seed import seed_shopify_payments

    _first, second = seed_shopify_payments(payments)
    payments.payments_adjustment("4.00", "Goodwill credit")
    scheduled = payments.pay_out(status="SCHEDULED")
    reader, _shop = provider(payments)

    issued = datetime.fromisoformat(second["issuedAt"].replace("Z", "+00:00"))
    assert [p.payout_id for p in booked(list(reader.payouts(issued)))] == ["80000002"]
    later = issued + timedelta(seconds=1)
    assert [p.payout_id for p in booked(list(reader.payouts(later)))] == []
    assert [p.payout_id for p in booked(list(reader.payouts(EARLY)))] == ["80000001", "80000002"]
    scheduled["status"] = "PAID"  # deposited since
    found = booked(list(reader.payouts(EARLY)))
    assert [p.payout_id for p in found] == ["80000001", "80000002", "80000003"]
    (other,) = found[2].parts
    assert (other.kind, other.gross, other.description) == (
        PartKind.OTHER, Decimal("4.00"), "Shopify Payments adjustment: Goodwill credit",
    )  # fmt: skip


def test_payouts_and_their_transactions_are_read_over_every_page(payments: Any) -> None:
    payments.shopify_payments = True
    payments.scopes = (*payments.scopes, "read_shopify_payments_payouts")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    for number in range(230):  # one payout of 230 transactions: three pages of them
        payments.payments_adjustment(f"{number + 1}.00", f"credit {number}", when=start)
    payments.pay_out(start + timedelta(minutes=1))
    for number in range(52):  # then 52 payouts: two pages of them
        moment = start + timedelta(minutes=2 + number)
        payments.payments_adjustment("1.25", f"small credit {number}", when=moment)
        payments.pay_out(moment)
    reader, _shop = provider(payments)

    found = booked(list(reader.payouts(EARLY)))
    assert len(found) == 53
    big = found[0]
    assert len(big.parts) == 230 and len({p.provider_id for p in big.parts}) == 230
    assert big.net == Decimal(230 * 231 / 2).quantize(Decimal("0.01"))  # 1 + 2 + … + 230
    assert [p.net for p in found[1:]] == [Decimal("1.25")] * 52
    assert [p.paid_out for p in found] == sorted(p.paid_out for p in found)
    # 2 pages of payouts, 3 + 52 pages of transactions, no fees to read.
    assert reader.queries == 57


def test_a_test_transaction_refuses_its_payout_and_the_others_are_read(payments: Any) -> None:
    payments.shopify_payments = True
    payments.scopes = (*payments.scopes, "read_shopify_payments_payouts")
    for transaction in payments.orders["gid://shopify/Order/5002005"]["transactions"]:
        transaction["gateway"] = "shopify_payments"
    payments.payments_charge("gid://shopify/Order/5002001")
    payments.payments_charge("gid://shopify/Order/5002005")  # the demo's test order
    payments.pay_out()
    payments.payments_adjustment("2.00", "credit")
    payments.pay_out()
    reader, _shop = provider(payments)

    refused, fine = list(reader.payouts(EARLY))
    assert isinstance(refused, RefusedPayout)
    assert refused.payout_id == "80000001"
    assert "1 test-mode transaction" in refused.reason
    assert isinstance(fine, Payout) and fine.net == Decimal("2.00")


def test_without_the_payouts_scope_or_an_account_shopify_refuses_and_says_so(
    payments: Any,
) -> None:
    reader, shop = provider(payments)
    assert shop.payouts_scope_granted() is False
    payments.shopify_payments = True
    with pytest.raises(ShopError, match="read_shopify_payments_payouts"):
        list(reader.payouts(EARLY))
    payments.scopes = (*payments.scopes, "read_shopify_payments_payouts")
    assert shop.payouts_scope_granted() is True
    assert list(reader.payouts(EARLY)) == []
    payments.shopify_payments = False
    with pytest.raises(ShopError, match="no Shopify Payments account"):
        list(reader.payouts(EARLY))


# --- what is refused and what passes ----------------------------------------------------------


def answering(pages: dict[str, Any]) -> Any:
    """A GraphQL transport that answers each document by its operation's name."""

    def run(document: str, variables: Any) -> Any:
        for name, answer in pages.items():
            if f"query {name}(" in document:
                if isinstance(answer, Exception):
                    raise answer
                return answer
        raise AssertionError(document)

    return run


def connection(field: str, nodes: list[Any]) -> dict[str, Any]:
    page = {"nodes": nodes, "pageInfo": {"hasNextPage": False, "endCursor": None}}
    return {"shopifyPaymentsAccount": {field: page}}


def test_a_payout_date_utc_cannot_hold_refuses_that_payout_only() -> None:
    hostile = payout(legacyResourceId="554", issuedAt="9999-12-31T23:59:59-01:00")
    reader = ShopifyPaymentsProvider(
        answering(
            {
                "ShopifyPaymentsPayouts": connection("payouts", [hostile, payout()]),
                "ShopifyPaymentsPayoutTransactions": connection(
                    "balanceTransactions", transactions()
                ),
                "ShopifyPaymentsFees": {},
            }
        ),
        now=NOW,
    )

    refused, fine = reader.payouts(EARLY)

    assert isinstance(refused, RefusedPayout) and refused.payout_id == "554"
    assert "issuedAt '9999-12-31T23:59:59-01:00' cannot be a payout's" in refused.reason
    assert refused.paid_out is None  # its date is what is wrong
    assert isinstance(fine, Payout) and fine.net == Decimal("99.14")
    with pytest.raises(PayoutDataError, match="cannot be a payout's"):
        parse_payout(payout(issuedAt="0001-01-01T00:30:00+01:00"), transactions(), {}, NOW)


def test_a_refused_payout_carries_its_date() -> None:
    reader = ShopifyPaymentsProvider(
        answering(
            {
                "ShopifyPaymentsPayouts": connection("payouts", [payout(net="99.15")]),
                "ShopifyPaymentsPayoutTransactions": connection(
                    "balanceTransactions", transactions()
                ),
                "ShopifyPaymentsFees": {},
            }
        ),
        now=NOW,
    )
    (refused,) = reader.payouts(EARLY)
    assert isinstance(refused, RefusedPayout)
    assert "add up to 99.14, not to the 99.15 paid out" in refused.reason
    assert refused.paid_out == datetime(2026, 11, 18, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    "answer",
    [
        ShopError("Shopify answered 502"),
        {"shopifyPaymentsAccount": {"balanceTransactions": "<html>"}},
        {"shopifyPaymentsAccount": {"balanceTransactions": {"nodes": ["x"]}}},
    ],
)
def test_transactions_that_cannot_be_read_end_the_read_for_the_pass_not_refuse(
    answer: Any,
) -> None:
    reader = ShopifyPaymentsProvider(
        answering(
            {
                "ShopifyPaymentsPayouts": connection("payouts", [payout()]),
                "ShopifyPaymentsPayoutTransactions": answer,
            }
        ),
        now=NOW,
    )
    with pytest.raises(ShopError) as caught:
        list(reader.payouts(EARLY))
    assert not isinstance(caught.value, PayoutDataError)
