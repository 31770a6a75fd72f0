"""Moneybird's format, written from booking's drafts and read from its answers."""

from __future__ import annotations

from decimal import Decimal

from connector.booking.book import book
from connector.booking.invoice import InvoiceDraft
from connector.moneybird.documents import invoice_body, original_of, totals_of
from tests.unit.booking.test_book import EUR, NL, R9, R21, RATES, coupon_order


def test_request_body_carries_amounts_as_decimal_strings() -> None:
    draft = book(coupon_order(), NL, RATES, EUR)
    assert isinstance(draft, InvoiceDraft)
    body = invoice_body(draft, "555")["sales_invoice"]
    assert body["contact_id"] == "555"
    assert body["prices_are_incl_tax"] is True
    assert body["details_attributes"][3] == {
        "description": "Korting",
        "amount": "1",
        "price": "-6.90",
        "tax_rate_id": R21,
        "ledger_account_id": "8090",
    }


def test_an_answer_is_read_into_totals_and_the_original_a_refund_credits() -> None:
    # A Moneybird answer as its API documents it: amounts as strings, two rates, prices incl.
    answer = {
        "invoice_id": "2026-0007", "currency": "EUR", "total_price_incl_tax": "66.75",
        "tax_totals": [
            {"tax_rate_id": R21, "taxable_amount": "50.00", "tax_amount": "10.50"},
            {"tax_rate_id": R9, "taxable_amount": "5.73", "tax_amount": "0.52"},
        ],
        "details": [
            {"tax_rate_id": R21, "ledger_account_id": "8000", "amount_decimal": "2.0", "price": "24.20"},
            {"tax_rate_id": R21, "ledger_account_id": "8050", "amount_decimal": "1.0", "price": "12.10"},
            {"tax_rate_id": R9, "ledger_account_id": "8000", "amount_decimal": "1.0", "price": "6.25"},
        ],
    }  # fmt: skip
    D = Decimal
    assert totals_of(answer).total_incl_tax == D("66.75")
    assert totals_of(answer).vat_by_rate == {R21: D("10.50"), R9: D("0.52")}
    original = original_of(answer)
    assert (original.number, original.currency) == ("2026-0007", "EUR")
    # Per rate incl. VAT: 50.00 + 10.50 and 5.73 + 0.52.
    assert original.gross_by_rate == {R21: D("60.50"), R9: D("6.25")}
    # Per rate and ledger: 2 x 24.20 and 1 x 12.10 at 21%, 6.25 at 9%.
    assert original.ledgers == {
        R21: {"8000": D("48.40"), "8050": D("12.10")},
        R9: {"8000": D("6.25")},
    }
