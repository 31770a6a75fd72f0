"""Shopify orders read and booked, with figures worked out by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from connector.booking.book import BookingSettings, Parked, book
from connector.booking.invoice import InvoiceDraft
from connector.booking.mappings import LedgerRule, Mappings, TaxRule
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.shops.shopify.parse import order_from_shopify
from tests.conftest import FIXTURES

D = Decimal
R21, R9, R6, R0 = "21", "9", "6", "1"
RATES = {
    R0: MoneybirdTaxRate(R0, "0% btw", D("0.0"), "sales_invoice", True),
    R21: MoneybirdTaxRate(R21, "21% btw", D("21.0"), "sales_invoice", True),
    R9: MoneybirdTaxRate(R9, "9% btw", D("9.0"), "sales_invoice", True),
    R6: MoneybirdTaxRate(R6, "State tax 6%", D("6.0"), "sales_invoice", True),
}
MAPPINGS = Mappings(
    tax=(
        TaxRule(percentage="21", country="NL", tax_rate_id=R21),
        TaxRule(percentage="9", country="NL", tax_rate_id=R9),
        TaxRule(percentage="6", country="US", tax_rate_id=R6),
    ),
    ledger=(
        LedgerRule(kind="product", ledger_account_id="8000"),
        LedgerRule(kind="shipping", ledger_account_id="8050"),
        LedgerRule(kind="discount", ledger_account_id="8090"),
    ),
)


def test_shopify_docs_example_parses_and_its_inconsistent_vat_parks_it() -> None:
    # Shopify's REST example order 450789469, converted to the GraphQL shape. It is internally
    # inconsistent: 6% State Tax of 3.98 per line on lines of 195.66/195.67 after discount.
    payload = json.loads((FIXTURES / "shopify" / "order_450789469.graphql.json").read_text())
    order = order_from_shopify(payload)
    assert (order.number, order.currency, order.prices_include_tax) == ("1001", "USD", False)
    assert order.total == D("598.94")
    assert [
        (ln.description, ln.quantity, ln.net, ln.tax, ln.rate_id) for ln in order.lines[:3]
    ] == [
        ("IPod Nano - 8gb", D(1), D("195.66"), D("3.98"), "6"),
        ("IPod Nano - 8gb", D(1), D("195.67"), D("3.98"), "6"),
        ("IPod Nano - 8gb", D(1), D("195.67"), D("3.98"), "6"),
    ]
    assert order.lines[3].description == "Free Shipping" and order.lines[3].net == D(0)
    assert order.tax_rates["6"].vat_total == D("11.94")
    # Partially refunded counts as paid; the paid moment is the successful capture.
    assert order.paid_at == datetime(2005, 8, 5, 14, 22, 51, tzinfo=UTC)
    assert order.transaction_id == "shopify-801038806" and order.payment_method == "bogus"
    assert order.customer.email == "bob.norman@mail.example.com"
    assert order.customer.billing.country == "US"
    result = book(order, MAPPINGS, RATES, BookingSettings(currencies=("USD",)))
    # 587.00 net x 6% = 35.22 VAT, not 11.94: 23.28 more, on the VAT and the total.
    assert isinstance(result, Parked)
    assert "a total 23.28 off the shop's" in result.reason
    assert "VAT at 'State tax 6%' 23.28 off the shop's" in result.reason


def money(amount: str) -> dict[str, Any]:
    return {"shopMoney": {"amount": amount, "currencyCode": "EUR"}}


def tax(rate: float, amount: str) -> dict[str, Any]:
    return {"title": f"BTW {rate:g}%", "ratePercentage": rate, "priceSet": money(amount)}


def dutch_order(
    incl: bool, lines: list[dict], shipping: list[dict], taxes: list[dict], total: str, **extra: Any
) -> dict[str, Any]:
    payload = {
        "id": "gid://shopify/Order/77", "name": "#1077", "updatedAt": "2026-11-02T09:00:00Z",
        "processedAt": "2026-11-02T08:59:00Z", "test": False, "cancelledAt": None,
        "displayFinancialStatus": "PAID", "displayFulfillmentStatus": "UNFULFILLED",
        "currencyCode": "EUR", "taxesIncluded": incl, "email": "Anna@Example.nl",
        "customAttributes": [], "customer": {"email": "anna@example.nl", "firstName": "Anna", "lastName": "de Vries"},
        "billingAddress": {"firstName": "Anna", "lastName": "de Vries", "company": None, "address1": "Prinsengracht 263",
                           "address2": None, "zip": "1016 GV", "city": "Amsterdam", "countryCodeV2": "NL"},
        "shippingAddress": None, "totalPriceSet": money(total), "taxLines": taxes,
        "lineItems": {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": lines},
        "shippingLines": {"nodes": shipping},
        "transactions": [{"id": "gid://shopify/OrderTransaction/5", "kind": "SALE", "status": "SUCCESS",
                          "gateway": "mollie", "processedAt": "2026-11-02T08:59:30Z", "amountSet": money(total)}],
    }  # fmt: skip
    payload.update(extra)
    return payload


def test_tax_inclusive_order_with_a_discount_books_exactly() -> None:
    # 2 x 12.95 at 9%: 25.90, VAT round(25.90 x 9/109 = 2.1385) = 2.14
    # 34.95 at 21% less 3.50 discount: 31.45, VAT round(31.45 x 21/121 = 5.4583) = 5.46
    # shipping 4.95 at 21%: VAT round(0.8591) = 0.86; total 25.90 + 31.45 + 4.95 = 62.30
    payload = dutch_order(
        True,
        [{"id": "l1", "title": "Koffiebonen", "sku": "KB", "quantity": 2, "isGiftCard": False,
          "originalUnitPriceSet": money("12.95"), "discountAllocations": [], "taxLines": [tax(9.0, "2.14")]},
         {"id": "l2", "title": "Moka pot", "sku": "MP", "quantity": 1, "isGiftCard": False,
          "originalUnitPriceSet": money("34.95"),
          "discountAllocations": [{"allocatedAmountSet": money("3.50")}], "taxLines": [tax(21.0, "5.46")]}],
        [{"title": "PostNL", "discountedPriceSet": money("4.95"), "taxLines": [tax(21.0, "0.86")]}],
        [tax(9.0, "2.14"), tax(21.0, "6.32")],
        "62.30",
    )  # fmt: skip
    order = order_from_shopify(payload)
    assert order.customer.email == "Anna@Example.nl"
    draft = book(order, MAPPINGS, RATES, BookingSettings())
    assert isinstance(draft, InvoiceDraft)
    assert draft.reference == "WC-1077"  # the template is the config's; see the e2e test for SH-
    assert [
        (ln.description, f"{ln.amount:f}", f"{ln.price:.2f}", ln.tax_rate_id) for ln in draft.lines
    ] == [
        ("Koffiebonen", "2", "12.95", R9),
        ("Moka pot", "1", "34.95", R21),
        ("PostNL", "1", "4.95", R21),
        ("Korting", "1", "-3.50", R21),
    ]
    # Moneybird: 21% on 36.40 gross = 6.3174 -> 6.32; 9% on 25.90 = 2.14.
    assert draft.predicted.vat_by_rate == {R21: D("6.32"), R9: D("2.14")}
    assert draft.predicted.total_incl_tax == D("62.30") == draft.shop_totals.total_incl_tax
    assert draft.payments[0].transaction_identifier == "shopify-5"


def test_tax_exclusive_business_order_books_exactly() -> None:
    # 10 x 19.72 net at 9%: 197.20, VAT round(17.748) = 17.75, total 214.95.
    payload = dutch_order(
        False,
        [{"id": "l1", "title": "Espresso blend 1kg", "sku": "EB", "quantity": 10, "isGiftCard": False,
          "originalUnitPriceSet": money("19.72"), "discountAllocations": [], "taxLines": [tax(9.0, "17.75")]}],
        [],
        [tax(9.0, "17.75")],
        "214.95",
        customAttributes=[{"key": "VAT_number", "value": "NL853746333B01"}],
    )  # fmt: skip
    order = order_from_shopify(payload)
    assert order.customer.vat_number == "NL853746333B01"
    draft = book(order, MAPPINGS, RATES, BookingSettings())
    assert isinstance(draft, InvoiceDraft)
    assert draft.prices_are_incl_tax is False
    assert [(f"{ln.amount:f}", f"{ln.price:.2f}") for ln in draft.lines] == [("10", "19.72")]
    assert draft.predicted.total_incl_tax == D("214.95")
    assert draft.predicted.vat_by_rate == {R9: D("17.75")}


def test_gift_card_sale_parks() -> None:
    payload = dutch_order(
        True,
        [{"id": "l1", "title": "Cadeaubon", "sku": "GIFT", "quantity": 1, "isGiftCard": True,
          "originalUnitPriceSet": money("25.00"), "discountAllocations": [], "taxLines": []}],
        [], [], "25.00",
    )  # fmt: skip
    result = book(order_from_shopify(payload), MAPPINGS, RATES, BookingSettings())
    assert isinstance(result, Parked) and "gift card" in result.reason


def gift_and_mug() -> dict[str, Any]:
    """A 25.00 gift card (no VAT) and a mug 12.10 (10.00 + 2.10 at 21%): 37.10 paid."""
    return dutch_order(
        True,
        [{"id": "gid://shopify/LineItem/1", "title": "Cadeaubon", "sku": "GIFT", "quantity": 1,
          "isGiftCard": True, "originalUnitPriceSet": money("25.00"), "discountAllocations": [],
          "taxLines": []},
         {"id": "gid://shopify/LineItem/2", "title": "Mok", "sku": "MOK", "quantity": 1,
          "isGiftCard": False, "originalUnitPriceSet": money("12.10"), "discountAllocations": [],
          "taxLines": [tax(21.0, "2.10")]}],
        [], [tax(21.0, "2.10")], "37.10",
    )  # fmt: skip


def test_gift_card_sale_as_a_liability_without_vat() -> None:
    settings = BookingSettings(
        gift_card_sale="liability", gift_card_ledger_account_id="1600", gift_card_tax_rate_id=R0
    )
    draft = book(order_from_shopify(gift_and_mug()), MAPPINGS, RATES, settings)
    assert isinstance(draft, InvoiceDraft), getattr(draft, "reason", "")
    assert sorted((ln.description, ln.price, ln.tax_rate_id, ln.ledger_account_id)
                  for ln in draft.lines) == [
        ("Cadeaubon", D("25.00"), R0, "1600"), ("Mok", D("12.10"), R21, "8000"),
    ]  # fmt: skip
    assert draft.predicted.vat_by_rate == {R21: D("2.10"), R0: D("0.00")}
    assert draft.predicted.total_incl_tax == D("37.10") == draft.payments[0].amount


def test_gift_card_sale_left_off_the_invoice() -> None:
    draft = book(
        order_from_shopify(gift_and_mug()), MAPPINGS, RATES, BookingSettings(gift_card_sale="skip")
    )
    assert isinstance(draft, InvoiceDraft), getattr(draft, "reason", "")
    assert [ln.description for ln in draft.lines] == ["Mok"]
    # The invoice and its payment are the mug only; the gift card is booked elsewhere.
    assert draft.predicted.total_incl_tax == D("12.10") == draft.payments[0].amount
    assert any("left off the invoice" in n for n in draft.notes)


def test_gift_card_liability_needs_a_zero_rate() -> None:
    settings = BookingSettings(
        gift_card_sale="liability", gift_card_ledger_account_id="1600", gift_card_tax_rate_id=R21
    )
    result = book(order_from_shopify(gift_and_mug()), MAPPINGS, RATES, settings)
    assert isinstance(result, Parked) and "is not an active 0% sales tax rate" in result.reason


def test_sgst_and_cgst_of_6_percent_park_naming_both_then_book_at_12() -> None:
    """Shopify knows a rate by its percentage only: SGST 6% and CGST 6% on a line are rate
    "6" twice. The park reason names both, and following it (a 12% rate, 6% mapped to it)
    books the order: 500.00 excl. + 30.00 + 30.00 = 560.00."""
    line = {"id": "l1", "title": "Masala chai", "sku": "CH", "quantity": 2, "isGiftCard": False,
            "originalUnitPriceSet": money("250.00"), "discountAllocations": [],
            "taxLines": [{"title": "SGST", "ratePercentage": 6.0, "priceSet": money("30.00")},
                         {"title": "CGST", "ratePercentage": 6.0, "priceSet": money("30.00")}]}  # fmt: skip
    payload = dutch_order(False, [line], [], line["taxLines"], "560.00")
    payload["billingAddress"]["countryCodeV2"] = "IN"
    order = order_from_shopify(payload)
    assert order.tax_rates["6"].label == "SGST / CGST"
    parked = book(order, MAPPINGS, RATES, BookingSettings())
    assert isinstance(parked, Parked)
    assert parked.reason.startswith(
        "line 'Masala chai' carries shop rate 6 'SGST / CGST' (6%) twice together (12%), but "
        "one Moneybird invoice line takes one tax rate: make one Moneybird sales tax rate of "
        "12% and map each of these shop rates to it in the tax table"
    ), parked.reason
    r12 = MoneybirdTaxRate("12", "GST 12%", D("12.0"), "sales_invoice", True)
    followed = Mappings((TaxRule(percentage="6", country="IN", tax_rate_id="12"),),
                        MAPPINGS.ledger)  # fmt: skip
    draft = book(order, followed, {**RATES, "12": r12}, BookingSettings())
    assert isinstance(draft, InvoiceDraft), draft
    assert draft.predicted.vat_by_rate == {"12": D("60.00")}
    assert draft.predicted.total_incl_tax == D("560.00")
