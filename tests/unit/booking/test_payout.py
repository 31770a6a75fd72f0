"""A payout booked as a statement on the provider's account, with hand-worked figures.

The Mollie settlement: payments tr_1 100.00, tr_2 50.00, tr_3 25.50 (175.50); refund re_1 of
tr_1 20.00; chargeback chb_1 of tr_3 25.50; April's fees 4.00 + 21% VAT 0.84 = 4.84. Paid out:
175.50 - 20.00 - 25.50 - 4.84 = 125.16."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.booking.book import Parked
from connector.booking.payout import (
    Booked,
    Link,
    PayoutSettings,
    StatementDraft,
    StatementLine,
    Waits,
    book_payout,
)
from connector.payouts.records import PartKind, Payout, PayoutPart, check_payout

D = Decimal
PAID_OUT = datetime(2026, 4, 30, 22, 30, tzinfo=UTC)  # 1 May in Amsterdam
SOLD = datetime(2026, 4, 20, 10, tzinfo=UTC)
NOW = datetime(2026, 5, 2, tzinfo=UTC)
MOLLIE = PayoutSettings(
    financial_account_id="fa_mollie",
    transfer_ledger_id="led_transfer",
    fee_ledger_id="led_fees",
    fees_payable_ledger_id="led_fees_payable",
    chargeback_ledger_id="led_chargebacks",
)
SHOPIFY = PayoutSettings(
    financial_account_id="fa_shopify",
    transfer_ledger_id="led_transfer",
    fee_ledger_id="led_fees",
    fee_vat_ledger_id="led_vat",
)


def part(kind: PartKind, pid: str, gross: str, **extra: object) -> PayoutPart:
    return PayoutPart(kind=kind, provider_id=pid, gross=D(gross), date=SOLD, **extra)  # type: ignore[arg-type]


def mollie_payout() -> Payout:
    return check_payout(
        Payout(
            provider="mollie",
            payout_id="stl_1",
            reference="1234567.2604.01",
            currency="EUR",
            paid_out=PAID_OUT,
            net=D("125.16"),
            parts=(
                part(PartKind.PAYMENT, "tr_1", "100.00", order_reference="1001"),
                part(PartKind.PAYMENT, "tr_2", "50.00", order_reference="1002"),
                part(PartKind.PAYMENT, "tr_3", "25.50", order_reference="1003"),
                part(PartKind.REFUND, "re_1", "-20.00", payment_id="tr_1"),
                part(PartKind.CHARGEBACK, "chb_1", "-25.50", payment_id="tr_3"),
                PayoutPart(
                    kind=PartKind.FEE,
                    provider_id="stl_1.fees.202604",
                    gross=D("0"),
                    fee=D("4.84"),
                    fee_vat=D("0.84"),
                    date=PAID_OUT,
                    description="Mollie fees 2026-04 (invoice inv_1)",
                ),
            ),
        ),
        NOW,
    )


BOOKED = {
    "tr_1": Booked("SalesInvoice", "inv_1", payment_id="pay_1", payment_amount=D("100.00")),
    "tr_2": Booked("SalesInvoice", "inv_2"),  # not paid yet: the mutation pays it
    "tr_3": Booked("ExternalSalesInvoice", "inv_3", "pay_3", D("25.50")),
    "re_1": Booked("SalesInvoice", "cr_1"),
}


def by_id(draft: StatementDraft) -> dict[str, StatementLine]:
    return {line.transaction_id: line for line in draft.lines}


def test_a_mollie_settlement_returns_the_account_to_zero_and_links_every_line() -> None:
    draft = book_payout(mollie_payout(), BOOKED, MOLLIE)
    assert isinstance(draft, StatementDraft)
    assert draft.reference == "mollie stl_1"
    assert draft.financial_account_id == "fa_mollie"
    assert draft.date == date(2026, 5, 1)
    amounts = [line.amount for line in draft.lines]
    assert amounts == [
        D("100.00"), D("50.00"), D("25.50"), D("-20.00"), D("-25.50"), D("-4.84"), D("-125.16")
    ]  # fmt: skip
    balance = D("0.00")
    for amount in amounts[:-1]:
        balance += amount
    assert balance == D("125.16")  # what the provider paid out
    assert balance + amounts[-1] == D("0.00")
    lines = by_id(draft)
    assert lines["tr_1"].links == (Link("Payment", "pay_1", description=lines["tr_1"].message),)
    assert "order 1001" in lines["tr_1"].message
    tr_2 = lines["tr_2"].links[0]
    assert (tr_2.booking_type, tr_2.booking_id, tr_2.price) == ("SalesInvoice", "inv_2", D("50"))
    assert lines["tr_3"].links[0].booking_id == "pay_3"
    re_1 = lines["re_1"].links[0]
    assert (re_1.booking_type, re_1.booking_id, re_1.price) == ("SalesInvoice", "cr_1", D("20"))
    chb = lines["chb_1"].links[0]
    assert (chb.booking_type, chb.booking_id, chb.price_base) == (
        "LedgerAccount", "led_chargebacks", D("25.50"),
    )  # fmt: skip
    fees = lines["stl_1.fees.202604"]
    assert [(link.booking_id, link.price_base) for link in fees.links] == [
        ("led_fees_payable", D("4.84"))
    ]  # the VAT arrives with Mollie's invoice, booked against the fees payable
    assert "0.84" in fees.links[0].description
    payout_line = lines["stl_1"]
    assert payout_line.date == date(2026, 5, 1)
    assert [
        (link.booking_type, link.booking_id, link.price_base) for link in payout_line.links
    ] == [("LedgerAccount", "led_transfer", D("125.16"))]
    assert "1234567.2604.01" in payout_line.message


def test_an_order_not_booked_yet_waits_naming_it() -> None:
    booked = {k: v for k, v in BOOKED.items() if k != "tr_2"}
    result = book_payout(mollie_payout(), booked, MOLLIE)
    assert isinstance(result, Waits)
    assert result.part_ids == ("tr_2",)
    assert "tr_2" in result.reason and "order 1002" in result.reason


def test_a_chargeback_without_its_ledger_parks() -> None:
    no_ledger = PayoutSettings("fa_mollie", "led_transfer", "led_fees", "led_fees_payable")
    result = book_payout(mollie_payout(), BOOKED, no_ledger)
    assert isinstance(result, Parked)
    assert "chb_1" in result.reason and "chargebacks ledger" in result.reason


def test_a_registered_payment_of_another_amount_parks() -> None:
    booked = dict(BOOKED, tr_1=Booked("SalesInvoice", "inv_1", "pay_1", D("99.99")))
    result = book_payout(mollie_payout(), booked, MOLLIE)
    assert isinstance(result, Parked)
    assert "tr_1" in result.reason and "99.99" in result.reason


def shopify_payout() -> Payout:
    """Two charges of 60.50 and 30.25 with fees 1.82 (tax 0.32) and 0.91 (tax 0.16), a refund
    of 10.00 without a fee: 90.75 - 10.00 - 2.73 = 78.02."""
    return check_payout(
        Payout(
            provider="shopify_payments",
            payout_id="9001",
            reference="9001",
            currency="EUR",
            paid_out=PAID_OUT,
            net=D("78.02"),
            parts=(
                part(PartKind.PAYMENT, "bt_1", "60.50", fee=D("1.82"), fee_vat=D("0.32")),
                part(PartKind.PAYMENT, "bt_2", "30.25", fee=D("0.91"), fee_vat=D("0.16")),
                part(PartKind.REFUND, "bt_3", "-10.00"),
            ),
        ),
        NOW,
    )


def test_shopify_fees_book_their_tax_as_a_second_ledger_part() -> None:
    booked = {
        "bt_1": Booked("SalesInvoice", "inv_1", "pay_1", D("60.50")),
        "bt_2": Booked("SalesInvoice", "inv_2", "pay_2", D("30.25")),
        "bt_3": Booked("SalesInvoice", "cr_1", "pay_3", D("10.00")),
    }
    draft = book_payout(shopify_payout(), booked, SHOPIFY)
    assert isinstance(draft, StatementDraft)
    assert [line.amount for line in draft.lines] == [
        D("60.50"), D("30.25"), D("-10.00"), D("-2.73"), D("-78.02")
    ]  # fmt: skip
    assert draft.total == D("0.00")
    fees = by_id(draft)["9001.fees"]
    assert fees.fee_ids == ("bt_1", "bt_2")
    assert [(link.booking_id, link.price_base) for link in fees.links] == [
        ("led_fees", D("2.25")),
        ("led_vat", D("0.48")),
    ]


def test_fee_tax_without_a_vat_ledger_parks() -> None:
    no_vat = PayoutSettings("fa_shopify", "led_transfer", "led_fees")
    booked = {pid: Booked("SalesInvoice", f"inv_{pid}") for pid in ("bt_1", "bt_2", "bt_3")}
    result = book_payout(shopify_payout(), booked, no_vat)
    assert isinstance(result, Parked)
    assert "VAT 0.48" in result.reason


def test_summary_mode_a_days_orders_are_one_line_on_its_document() -> None:
    booked = dict(BOOKED)
    booked["tr_1"] = booked["tr_2"] = Booked("SalesInvoice", "day_0420")
    draft = book_payout(mollie_payout(), booked, MOLLIE)
    assert isinstance(draft, StatementDraft)
    day = by_id(draft)["tr_1"]
    assert day.part_ids == ("tr_1", "tr_2")
    assert day.amount == D("150.00")
    assert day.links[0].booking_id == "day_0420" and day.links[0].price == D("150.00")
    assert draft.total == D("0.00")
    assert len(draft.lines) == 6


def links_cover(line: StatementLine, booked: dict[str, Booked]) -> bool:
    """Whether a line's links account for its whole amount."""
    total = D(0)
    for link in line.links:
        if link.booking_type == "Payment":
            total += next(
                b.payment_amount or D(0) for b in booked.values() if b.payment_id == link.booking_id
            )
        else:
            total += (link.price if link.price is not None else link.price_base) or D(0)
    return total == abs(line.amount)


CENTS = st.integers(min_value=1, max_value=100_000).map(lambda c: D(c) / 100)


@st.composite
def payouts(draw: st.DrawFn) -> tuple[Payout, dict[str, Booked]]:
    parts: list[PayoutPart] = []
    booked: dict[str, Booked] = {}
    kinds = draw(
        st.lists(
            st.sampled_from([PartKind.PAYMENT, PartKind.REFUND, PartKind.CHARGEBACK]),
            min_size=1,
            max_size=12,
        )
    )
    days = draw(
        st.lists(
            st.sampled_from(["day_1", "day_2", None]), min_size=len(kinds), max_size=len(kinds)
        )
    )
    for index, (kind, day) in enumerate(zip(kinds, days, strict=True)):
        gross = draw(CENTS) * (1 if kind is PartKind.PAYMENT else -1)
        fee = draw(st.sampled_from([D(0), D("0.29"), D("1.21")]))
        vat = draw(st.sampled_from([None, cents_of(fee)]))
        pid = f"p_{index}"
        parts.append(
            PayoutPart(kind, pid, gross, SOLD + timedelta(hours=index), fee=fee, fee_vat=vat)
        )
        if kind is PartKind.CHARGEBACK:
            continue
        if day is None or kind is PartKind.REFUND:
            paid = draw(st.booleans())
            booked[pid] = Booked(
                "SalesInvoice",
                f"inv_{pid}",
                f"pay_{pid}" if paid else None,
                abs(gross) if paid else None,
            )
        else:
            booked[pid] = Booked("SalesInvoice", day)
    if draw(st.booleans()):
        parts.append(
            PayoutPart(PartKind.FEE, "month_fee", D(0), PAID_OUT, fee=draw(CENTS), fee_vat=None)
        )
    net = sum((p.net for p in parts), D(0))
    payout = Payout("mollie", "stl_p", "ref.1", "EUR", PAID_OUT, net, tuple(parts))
    return check_payout(payout, NOW), booked


def cents_of(fee: Decimal) -> Decimal:
    return (fee * D("21") / D("121")).quantize(D("0.01"))


@settings(max_examples=200, deadline=None)
@given(payouts(), st.sampled_from([MOLLIE, replace(SHOPIFY, chargeback_ledger_id="led_cb")]))
def test_any_payout_adds_up_to_zero_and_books_every_part_once(
    drawn: tuple[Payout, dict[str, Booked]], setup: PayoutSettings
) -> None:
    payout, booked = drawn
    draft = book_payout(payout, booked, setup)
    assert isinstance(draft, StatementDraft)
    assert draft.total == D("0.00")
    moved = [pid for line in draft.lines for pid in line.part_ids]
    assert sorted(moved) == sorted(p.provider_id for p in payout.parts if p.gross != 0)
    fees = [pid for line in draft.lines for pid in line.fee_ids]
    assert sorted(fees) == sorted(p.provider_id for p in payout.parts if p.fee != 0)
    ids = [line.transaction_id for line in draft.lines]
    assert len(ids) == len(set(ids))
    for line in draft.lines:
        assert line.amount != 0
        assert links_cover(line, booked), line


def test_a_days_payments_and_refund_on_its_registered_payment_are_one_movement() -> None:
    """Summary mode, a day paid by the connector itself: its payment is the day's net on the
    provider's account (100.00 + 50.00 - 20.00 = 130.00). A payout holding all of that day's
    parts moves 130.00 as one line linked to that payment (before, payments and refund were
    two lines, each compared with the whole payment, and the payout parked)."""
    day = Booked("ExternalSalesInvoice", "doc_day", "pay_day", D("130.00"))
    booked = {"tr_1": day, "tr_2": day, "re_1": day,
              "tr_3": Booked("ExternalSalesInvoice", "doc_other", "pay_other", D("25.50"))}  # fmt: skip
    draft = book_payout(mollie_payout(), booked, MOLLIE)
    assert isinstance(draft, StatementDraft), draft
    [line] = [x for x in draft.lines if x.links[0].booking_id == "pay_day"]
    assert line.amount == D("130.00")
    assert set(line.part_ids) == {"tr_1", "tr_2", "re_1"}
    assert draft.total == D("0.00")
    # The same day's payment of another amount (a part of the day in another payout): parked.
    short = {**booked, "tr_1": replace(day, payment_amount=D("150.00")),
             "tr_2": replace(day, payment_amount=D("150.00")),
             "re_1": replace(day, payment_amount=D("150.00"))}  # fmt: skip
    parked = book_payout(mollie_payout(), short, MOLLIE)
    assert isinstance(parked, Parked)
    assert "moved 130.00, but the payment registered on ExternalSalesInvoice doc_day is 150.00" in (
        parked.reason
    )
