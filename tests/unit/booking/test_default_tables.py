"""The default tables in mappings/ as a typical Dutch webshop gets them: every rule and guard."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connector.booking.book import BookingSettings, Parked, book
from connector.booking.invoice import InvoiceDraft
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.mapping_files import load_mappings
from connector.sandbox.seed import (
    FIN_BANK,
    FIN_GIFT_CARDS,
    FIN_MOLLIE,
    FIN_PAYPAL,
    FIN_STRIPE,
    LEDGER_HIGH,
    LEDGER_LOW,
    LEDGER_SHIPPING,
    MB_RATE_0,
    MB_RATE_9,
    MB_RATE_21,
    MB_RATE_DE_OSS,
    MB_RATE_EXPORT,
    MB_RATE_ICP,
)
from tests.conftest import ROOT
from tests.unit.booking.test_book import line, order, shipping, tax_line
from tests.unit.booking.test_vat_rules import german_consumer, zero_rated

D = Decimal
TABLES = load_mappings(
    ROOT / "mappings" / "tax.toml",
    ROOT / "mappings" / "ledger.toml",
    ROOT / "mappings" / "payment.toml",
)
RATES = {
    r.id: r
    for r in [
        MoneybirdTaxRate(MB_RATE_21, "21% btw", D("21.0"), "sales_invoice", True),
        MoneybirdTaxRate(MB_RATE_9, "9% btw", D("9.0"), "sales_invoice", True),
        MoneybirdTaxRate(MB_RATE_0, "0% btw", D("0.0"), "sales_invoice", True),
        MoneybirdTaxRate(MB_RATE_ICP, "0% ICP", D("0.0"), "sales_invoice", True),
        MoneybirdTaxRate(MB_RATE_EXPORT, "0% export", D("0.0"), "sales_invoice", True),
        MoneybirdTaxRate(MB_RATE_DE_OSS, "19% DE", D("19.0"), "sales_invoice", True, "DE"),
    ]
}


def booked(result: InvoiceDraft | Parked) -> list[tuple[str, str, str]]:
    assert isinstance(result, InvoiceDraft), getattr(result, "reason", "")
    return [(ln.description, ln.tax_rate_id, ln.ledger_account_id) for ln in result.lines]


def test_dutch_consumer_high_and_low_rate_and_shipping() -> None:
    # Mok 12.10 (10.00 + 2.10 at 21%), beans 10.90 (10.00 + 0.90 at 9%, reduced-rate class),
    # shipping 5.00 + 1.05 at 21%: 29.05.
    o = order(
        "29.05",
        [line(1, "Mok", 1, "10.00", "2.10", "10.00", "2.10", 1),
         line(2, "Bonen", 1, "10.00", "0.90", "10.00", "0.90", 2, tax_class="reduced-rate")],
        [shipping("5.00", "1.05", 1)],
        [tax_line(1, "21", "2.10", "1.05"), tax_line(2, "9", "0.90")],
    )  # fmt: skip
    assert booked(book(o, TABLES, RATES, BookingSettings())) == [
        ("Mok", MB_RATE_21, LEDGER_HIGH),
        ("PostNL", MB_RATE_21, LEDGER_SHIPPING),
        ("Bonen", MB_RATE_9, LEDGER_LOW),
    ]


def test_untaxed_line_within_the_netherlands_is_dutch_zero() -> None:
    result = book(zero_rated("NL"), TABLES, RATES, BookingSettings())
    assert {rate for _d, rate, _l in booked(result)} == {MB_RATE_0}


def test_eu_business_with_a_valid_vat_number_is_intra_community() -> None:
    result = book(zero_rated("BE", "BE0403170701"), TABLES, RATES, BookingSettings())
    assert {rate for _d, rate, _l in booked(result)} == {MB_RATE_ICP}


@pytest.mark.parametrize(
    ("country", "vat_number", "reason"),
    [
        # A Belgian consumer charged no VAT: not ICP (no number), not Dutch 0% (not NL).
        ("BE", "", "no tax rule maps no VAT for a consumer in BE"),
        ("BE", "BE0403170702", "needs a valid EU VAT number, not 'BE0403170702'"),
        ("BE", "NL004495445B01", "from NL, the shop's own country"),
    ],
)
def test_zero_rate_without_its_conditions_is_parked(
    country: str, vat_number: str, reason: str
) -> None:
    result = book(zero_rated(country, vat_number), TABLES, RATES, BookingSettings())
    assert isinstance(result, Parked) and reason in result.reason


def test_outside_the_eu_is_export() -> None:
    for country in ("US", "CH", "NO"):
        result = book(zero_rated(country), TABLES, RATES, BookingSettings())
        assert {rate for _d, rate, _l in booked(result)} == {MB_RATE_EXPORT}, country


def test_eu_consumer_at_a_foreign_rate_is_parked_until_oss_is_set_up() -> None:
    # The OSS rules are commented out by default: a German 19% is no rule's.
    result = book(german_consumer(), TABLES, RATES, BookingSettings())
    assert isinstance(result, Parked)
    assert "no tax rule maps shop rate 7 'BTW 19%' (19%) for a consumer in DE" in result.reason


@pytest.mark.parametrize(
    ("method", "account"),
    [
        ("mollie_wc_gateway_ideal", FIN_MOLLIE),
        ("mollie", FIN_MOLLIE),
        ("stripe_ideal", FIN_STRIPE),
        ("paypal", FIN_PAYPAL),
        ("ppcp-gateway", FIN_PAYPAL),
        ("bacs", FIN_BANK),
        ("bank_transfer", FIN_BANK),
        ("gift_card", FIN_GIFT_CARDS),
        ("cod", None),  # cash on delivery: no rule, registered without an account
    ],
)
def test_payment_methods_land_on_their_clearing_accounts(method: str, account: str | None) -> None:
    assert TABLES.financial_account_for(method) == account
