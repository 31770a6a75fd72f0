"""Refund booking, pure: shop refund + booked invoice -> credit draft, figures worked by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from connector.booking.book import BookingSettings, Parked, book
from connector.booking.credit import CreditDraft, book_refund, line_map, original_from_draft
from connector.booking.invoice import InvoiceDraft
from connector.config import load_config
from connector.errors import ConfigError
from connector.money import split
from connector.moneybird.documents import credit_edit_body
from connector.order import LineKind, Order, Refund, RefundLine
from connector.shops.woocommerce.parse import refund_from_woocommerce
from tests.unit.booking.test_book import (
    EUR,
    NL,
    R9,
    R21,
    RATES,
    fixture,
    line,
    order,
    shipping,
    tax_line,
)

D = Decimal
WHEN = datetime(2026, 10, 20, 23, 30, tzinfo=UTC)  # 21 October in Amsterdam


def excl_order() -> Order:
    """Tax-exclusive: a lamp 100.00 + 21.00 VAT (line 11), tea 10.00 + 0.90 (line 12),
    shipping 5.00 + 1.05 (line 99); total 137.95."""
    return order(
        "137.95",
        [line(11, "Lamp", 1, "100.00", "21.00", "100.00", "21.00", 1),
         line(12, "Thee", 2, "10.00", "0.90", "10.00", "0.90", 2, "reduced-rate")],
        [shipping("5.00", "1.05", 1)],
        [tax_line(1, "21", "21.00", "1.05"), tax_line(2, "9", "0.90")],
        incl=False,
    )  # fmt: skip


def credit_for(o: Order, refund: Refund, settings: BookingSettings = EUR):  # type: ignore[no-untyped-def]
    o = replace(o, refunds=(refund,))
    draft = book(o, NL, RATES, settings)
    assert isinstance(draft, InvoiceDraft)
    return book_refund(o, refund, original_from_draft(draft), line_map(draft), RATES, NL, settings)


def test_a_refunded_line_of_a_tax_exclusive_invoice_goes_back_gross_at_its_rate() -> None:
    refund = Refund("77", WHEN, D("121.00"), lines=(
        RefundLine("11", LineKind.PRODUCT, "Lamp", D(1), D("100.00"), D("21.00")),))  # fmt: skip
    credit = credit_for(excl_order(), refund)
    assert isinstance(credit, CreditDraft) and not credit.full
    assert [(ln.description, ln.total, ln.tax_rate_id, ln.ledger_account_id)
            for ln in credit.lines] == [("Lamp", D("-121.00"), R21, "8000")]  # fmt: skip
    # 121.00 incl. 21%: VAT 21.00, as the shop refunded.
    assert credit.expected.total_incl_tax == D("-121.00")
    assert credit.expected.vat_by_rate == {R21: D("-21.00")}
    [payout] = credit.payments
    assert payout.amount == D("-121.00")
    assert str(payout.payment_date) == "2026-10-21"
    assert credit.reference == "WC-4242-R77"
    duplicate = {"details": [{"id": "5", "price": "0.0"}, {"id": "6", "price": "9"}]}
    body = credit_edit_body(credit, duplicate)
    details = body["sales_invoice"]["details_attributes"]
    assert details[0] == {"id": "6", "_destroy": True}  # the duplicated line; the heading stays
    assert details[1]["amount"] == "-1" and details[1]["price"] == "121.00"
    assert body["sales_invoice"]["prices_are_incl_tax"] is True


def test_an_amount_only_refund_on_one_configured_ledger_and_rate() -> None:
    settings = BookingSettings(
        refund_amount_only="fixed", refund_ledger_account_id="8095", refund_tax_rate_id=R21
    )
    credit = credit_for(excl_order(), Refund("78", WHEN, D("12.10"), "Coulance"), settings)
    assert isinstance(credit, CreditDraft)
    assert [(ln.description, ln.total, ln.tax_rate_id, ln.ledger_account_id)
            for ln in credit.lines] == [("Terugbetaling: Coulance", D("-12.10"), R21, "8095")]  # fmt: skip
    assert credit.expected.vat_by_rate == {R21: D("-2.10")}  # 12.10 x 21/121


def test_a_full_refund_keeps_the_duplicate() -> None:
    credit = credit_for(excl_order(), Refund("79", WHEN, D("137.95")))
    assert isinstance(credit, CreditDraft) and credit.full and credit.lines == ()
    # Negated original: 21% over 105.00 = 22.05, 9% over 10.00 = 0.90.
    assert credit.expected.total_incl_tax == D("-137.95")
    assert credit.expected.vat_by_rate == {R21: D("-22.05"), R9: D("-0.90")}


@pytest.mark.parametrize(
    ("refund", "reason"),
    [
        (Refund("80", WHEN, D("200.00")), "more than the order total 137.95"),
        (Refund("81", WHEN, D("5.00"), lines=(
            RefundLine("404", LineKind.PRODUCT, "Ghost", D(1), D("4.13"), D("0.87")),)),
         "refunded line 'Ghost' (shop line 404) is not on invoice WC-4242"),
        (Refund("82", WHEN, D("1.00"), lines=(
            RefundLine("11", LineKind.PRODUCT, "Lamp", D(1), D("100.00"), D("21.00")),)),
         "the refunded lines add up to 121.00, more than the refund of 1.00"),
        (Refund("83", WHEN, D("0.00")), "refund amount 0.00 is not positive"),
    ],
)  # fmt: skip
def test_refunds_that_do_not_add_up_park_with_the_reason(refund: Refund, reason: str) -> None:
    result = credit_for(excl_order(), refund)
    assert isinstance(result, Parked) and reason in result.reason


def test_split_puts_the_leftover_cent_on_the_largest_share() -> None:
    assert split(D("10.00"), [D("1"), D("1"), D("1")]) == [D("3.34"), D("3.33"), D("3.33")]
    assert split(D("0.01"), [D("40.94"), D("25.90")]) == [D("0.01"), D("0.00")]


def test_woocommerce_docs_refunds_parse() -> None:
    amount_only, by_line = (
        refund_from_woocommerce(r) for r in fixture("docs_refunds_list_order_723.json")
    )
    assert (amount_only.refund_id, amount_only.amount, amount_only.lines) == ("726", D("10.00"), ())
    assert amount_only.created_at == datetime(2017, 3, 21, 20, 7, 11, tzinfo=UTC)
    [refunded] = by_line.lines
    assert (refunded.line_id, refunded.quantity, refunded.net, refunded.tax) == (
        "311",
        D(1),
        D("9.00"),
        D("0.00"),
    )


def test_fixed_amount_only_refunds_need_a_ledger_and_a_rate(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[shop]\nplatform = "woocommerce"\nurl = "https://shop.example"\n'
                    '[moneybird]\nadministration_id = "1"\n[refunds]\namount_only = "fixed"\n')  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={}, mappings_optional=True, require_secrets=False)
    assert "refunds" in str(raised.value) and "ledger_account_id and tax_rate_id" in str(
        raised.value
    )
