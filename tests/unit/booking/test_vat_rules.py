"""Destination rules and their guards: OSS, intra-community supply (ICP) and export."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from connector.booking.book import BookingSettings, Parked, book
from connector.booking.invoice import InvoiceDraft
from connector.booking.mappings import Mappings, TaxRule
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.booking.vat_rules import in_region, vat_number_country
from tests.unit.booking.test_book import LEDGER, R21, line, order, shipping, tax_line

D = Decimal
ICP, EXPORT, ZERO_NL, DE_OSS = "2", "3", "1", "190"
RATES = {
    R21: MoneybirdTaxRate(R21, "21% btw", D("21.0"), "sales_invoice", True),
    ZERO_NL: MoneybirdTaxRate(ZERO_NL, "0% btw", D("0.0"), "sales_invoice", True),
    ICP: MoneybirdTaxRate(ICP, "0% ICP", D("0.0"), "sales_invoice", True),
    EXPORT: MoneybirdTaxRate(EXPORT, "0% export", D("0.0"), "sales_invoice", True),
    DE_OSS: MoneybirdTaxRate(DE_OSS, "19% DE (OSS)", D("19.0"), "sales_invoice", True, "DE"),
}
TABLE = Mappings(
    tax=(
        TaxRule(shop_rate_id="1", tax_rate_id=R21),
        TaxRule(
            percentage="19", country="DE", customer="consumer", treatment="oss", tax_rate_id=DE_OSS
        ),
        TaxRule(
            percentage="0",
            customer="business",
            country="EU",
            treatment="icp",
            note="ICP",
            tax_rate_id=ICP,
        ),
        TaxRule(
            percentage="0", country="non-EU", treatment="export", note="export", tax_rate_id=EXPORT
        ),
        TaxRule(percentage="0", country="NL", tax_rate_id=ZERO_NL),
    ),
    ledger=LEDGER,
)


def zero_rated(country: str, vat_number: str = ""):  # type: ignore[no-untyped-def]
    """A 100.00 lamp and 5.00 shipping, no VAT charged, delivered to `country`."""
    meta = [{"key": "_billing_vat_number", "value": vat_number}] if vat_number else []
    return order(
        "105.00",
        [line(11, "Lamp", 1, "100.00", "0.00", "100.00", "0.00", None)],
        [shipping("5.00", "0.00", None)],
        [],
        incl=False,
        shipping={"country": country, "address_1": "Rue 1"},
        meta_data=meta,
    )


def german_consumer():  # type: ignore[no-untyped-def]
    """Incl. 19% German VAT: a lamp 119.00 (100.00 + 19.00)."""
    return order(
        "119.00",
        [line(11, "Lamp", 1, "100.00", "19.00", "100.00", "19.00", 7)],
        [],
        [tax_line(7, "19", "19.00")],
        shipping={"country": "DE", "address_1": "Torstr. 1"},
    )


def rate_of(result: InvoiceDraft | Parked) -> str:
    assert isinstance(result, InvoiceDraft), getattr(result, "reason", "")
    return result.lines[0].tax_rate_id


def test_regions_and_vat_numbers() -> None:
    assert in_region("EU", "BE") and not in_region("EU", "CH") and in_region("NON-EU", "US")
    assert not in_region("NON-EU", "")  # no country known is not "outside the EU"
    assert vat_number_country("BE 0403.170.701") == "BE"
    assert vat_number_country("EL094259216") == "GR"
    assert vat_number_country("BE0403170702") is None  # check digits wrong


def test_eu_business_with_a_valid_vat_number_gets_intra_community_zero() -> None:
    assert rate_of(book(zero_rated("BE", "BE0403170701"), TABLE, RATES, BookingSettings())) == ICP


@pytest.mark.parametrize(
    ("country", "vat_number", "reason"),
    [
        ("BE", "BE0403170702", "ICP: intra-community 0% needs a valid EU VAT number"),
        ("BE", "NL853746333B01", "ICP: the VAT number NL853746333B01 is from NL"),
        ("BE", "", "no tax rule maps"),  # a consumer: the ICP rule does not even match
    ],
)
def test_intra_community_zero_is_refused_without_its_conditions(
    country: str, vat_number: str, reason: str
) -> None:
    result = book(zero_rated(country, vat_number), TABLE, RATES, BookingSettings())
    assert isinstance(result, Parked) and reason in result.reason


def test_export_zero_only_outside_the_eu() -> None:
    assert rate_of(book(zero_rated("US"), TABLE, RATES, BookingSettings())) == EXPORT
    assert rate_of(book(zero_rated("NL"), TABLE, RATES, BookingSettings())) == ZERO_NL
    # A wrongly configured export rule for everyone still refuses an EU delivery.
    sloppy = Mappings(
        tax=(TaxRule(percentage="0", treatment="export", note="export", tax_rate_id=EXPORT),),
        ledger=LEDGER,
    )
    result = book(zero_rated("FR"), sloppy, RATES, BookingSettings())
    assert isinstance(result, Parked)
    assert "export: export 0% is for deliveries outside the EU, not FR" in result.reason


def test_oss_rate_only_when_registered_for_oss() -> None:
    off = book(german_consumer(), TABLE, RATES, BookingSettings())
    assert isinstance(off, Parked) and "an OSS rate needs [vat] oss = true" in off.reason
    on = book(german_consumer(), TABLE, RATES, BookingSettings(oss=True))
    assert rate_of(on) == DE_OSS
    assert isinstance(on, InvoiceDraft) and on.predicted.vat_by_rate == {DE_OSS: D("19.00")}


def test_an_oss_rate_for_another_country_is_refused() -> None:
    table = Mappings(
        tax=(TaxRule(percentage="19", tax_rate_id=DE_OSS, note="DE OSS"),), ledger=LEDGER
    )
    german = german_consumer()
    to_austria = replace(german.customer, shipping=replace(german.customer.shipping, country="AT"))
    austrian = replace(german, customer=to_austria)
    result = book(austrian, table, RATES, BookingSettings(oss=True))
    assert isinstance(result, Parked)
    assert "the OSS rate is for DE, the order goes to AT" in result.reason


def mixed_basket(incl: bool = True):  # type: ignore[no-untyped-def]
    """Demo order 1001: moka pot 34.95 (28.88 + 6.07 at 21%), 2 x beans 25.90 (23.76 + 2.14
    at 9%), shipping 5.99 (4.95 + 1.04, charged at 21%); total 66.84."""
    return order(
        "66.84",
        [line(1, "Moka pot", 1, "28.88", "6.07", "28.88", "6.07", 1),
         line(2, "Bonen", 2, "23.76", "2.14", "23.76", "2.14", 2, "reduced-rate")],
        [shipping("4.95", "1.04", 1)],
        [tax_line(1, "21", "6.07", "1.04"), tax_line(2, "9", "2.14")],
        incl=incl,
    )  # fmt: skip


def test_shipping_vat_split_by_the_value_of_the_goods() -> None:
    from tests.unit.booking.test_book import NL, R9
    from tests.unit.booking.test_book import RATES as NL_RATES

    draft = book(mixed_basket(), NL, NL_RATES, BookingSettings(shipping_vat="split_by_goods_value"))
    assert isinstance(draft, InvoiceDraft)
    # Goods excl. VAT: 28.88 at 21%, 23.76 at 9% (of 52.64). Shipping 5.99 -> 3.29 + 2.70.
    shipping_lines = sorted(
        (ln.price, ln.tax_rate_id) for ln in draft.lines if ln.kind == "shipping"
    )
    assert shipping_lines == [(D("2.70"), R9), (D("3.29"), R21)]
    # 21%: (34.95 + 3.29) x 21/121 = 6.64; 9%: (25.90 + 2.70) x 9/109 = 2.36; total unchanged.
    assert draft.shop_totals.vat_by_rate == {R21: D("6.64"), R9: D("2.36")}
    assert draft.predicted.vat_by_rate == {R21: D("6.64"), R9: D("2.36")}
    assert draft.predicted.total_incl_tax == D("66.84") == draft.payments[0].amount
    # As charged (the default): the shop's 21% on all shipping.
    as_charged = book(mixed_basket(), NL, NL_RATES, BookingSettings())
    assert isinstance(as_charged, InvoiceDraft)
    assert as_charged.predicted.vat_by_rate == {R21: D("7.11"), R9: D("2.14")}


def test_split_shipping_vat_refuses_prices_excluding_vat() -> None:
    from tests.unit.booking.test_book import NL
    from tests.unit.booking.test_book import RATES as NL_RATES

    result = book(mixed_basket(incl=False), NL, NL_RATES,
                  BookingSettings(shipping_vat="split_by_goods_value"))  # fmt: skip
    assert isinstance(result, Parked) and "needs prices including VAT" in result.reason


def test_refunded_split_shipping_goes_back_in_the_same_shares() -> None:
    from datetime import UTC, datetime

    from connector.booking.credit import CreditDraft, book_refund, line_map, original_from_draft
    from connector.order import LineKind, Refund, RefundLine
    from tests.unit.booking.test_book import NL, R9
    from tests.unit.booking.test_book import RATES as NL_RATES

    settings = BookingSettings(shipping_vat="split_by_goods_value")
    refund = Refund("5", datetime(2026, 10, 6, tzinfo=UTC), D("5.99"), lines=(
        RefundLine("99", LineKind.SHIPPING, "PostNL", D(1), D("4.95"), D("1.04")),))  # fmt: skip
    o = replace(mixed_basket(), refunds=(refund,))
    draft = book(o, NL, NL_RATES, settings)
    assert isinstance(draft, InvoiceDraft)
    credit = book_refund(
        o, refund, original_from_draft(draft), line_map(draft), NL_RATES, NL, settings
    )
    assert isinstance(credit, CreditDraft)
    assert sorted((ln.total, ln.tax_rate_id) for ln in credit.lines) == [
        (D("-3.29"), R21), (D("-2.70"), R9)
    ]  # fmt: skip
