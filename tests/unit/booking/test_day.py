"""Summary booking's day document: the sum of its orders, on the basis Moneybird agrees with.

Hand-worked day (prices incl. VAT): order A, a 12.10 product at 21% (VAT 2.10), paid by
iDEAL; order B, a 10.90 product at 9% (VAT 0.90) and 6.05 shipping at 21% (VAT 1.05), iDEAL;
order C, a 24.20 product at 21% (VAT 4.20), bank transfer. The day: 21% 36.30 on products and
6.05 on shipping (42.35 incl., 7.35 VAT: 35.00 net), 9% 10.90 (0.90 VAT); 53.25 in all;
iDEAL 29.05 and the bank 24.20.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from connector.booking.day import DayShare, day_draft, individual_reason, share_of
from connector.booking.invoice import InvoiceDraft, InvoiceLine, PaymentPlan, Totals
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.order import Address, Customer, LineKind, Order

D = Decimal
DAY = date(2026, 11, 29)
R21, R9 = "2100", "900"
PRODUCTS, LOW, SHIPPING = "8000", "8010", "8050"
IDEAL, BANK = "f-ideal", "f-bank"
RATES = {
    R21: MoneybirdTaxRate(R21, "21% btw", D(21), "sales_invoice", True),
    R9: MoneybirdTaxRate(R9, "9% btw", D(9), "sales_invoice", True),
}


def draft(
    key: str,
    lines: list[tuple[str, str, str]],
    vat: dict[str, str],
    paid: list[tuple[str, str]],
    incl: bool = True,
) -> InvoiceDraft:
    """A booked order: (ledger, rate, amount) lines on its basis, the shop's VAT per rate."""
    invoice_lines = tuple(
        InvoiceLine(LineKind.PRODUCT, "x", D(1), D(amount), rate, ledger)
        for ledger, rate, amount in lines
    )
    gross = sum((line.total for line in invoice_lines), D(0))
    total = gross if incl else gross + sum((D(v) for v in vat.values()), D(0))
    shop = Totals(total, {rate: D(v) for rate, v in vat.items()})
    return InvoiceDraft(
        order_key=key, reference=f"WC-{key}", invoice_date=DAY, currency="EUR",
        prices_are_incl_tax=incl, lines=invoice_lines, shop_totals=shop, predicted=shop,
        payments=tuple(PaymentPlan(D(a), DAY, "t", account) for account, a in paid),
    )  # fmt: skip


def the_day() -> list[DayShare]:
    return [
        share_of(draft("A", [(PRODUCTS, R21, "12.10")], {R21: "2.10"}, [(IDEAL, "12.10")]), DAY),
        share_of(
            draft(
                "B",
                [(LOW, R9, "10.90"), (SHIPPING, R21, "6.05")],
                {R9: "0.90", R21: "1.05"},
                [(IDEAL, "16.95")],
            ),
            DAY,
        ),
        share_of(draft("C", [(PRODUCTS, R21, "24.20")], {R21: "4.20"}, [(BANK, "24.20")]), DAY),
    ]


def test_a_day_is_the_sum_of_its_orders_on_the_exact_basis() -> None:
    day = day_draft("WC-2026-11-29", DAY, the_day(), RATES, "Webshopverkopen 29-11-2026")
    assert day.exact and day.prices_are_incl_tax and day.notes == ()
    amounts = {(ln.ledger_account_id, ln.tax_rate_id): ln.price for ln in day.lines if ln.price}
    assert amounts == {
        (PRODUCTS, R21): D("36.30"),
        (SHIPPING, R21): D("6.05"),
        (LOW, R9): D("10.90"),
    }
    assert day.shop_totals == Totals(D("53.25"), {R21: D("7.35"), R9: D("0.90")})
    assert day.predicted == day.shop_totals
    assert [(p.financial_account_id, p.amount) for p in day.payments] == [
        (BANK, D("24.20")), (IDEAL, D("29.05"))
    ]  # fmt: skip
    assert {p.transaction_identifier for p in day.payments} == {
        "WC-2026-11-29/f-bank", "WC-2026-11-29/f-ideal"
    }  # fmt: skip
    # Every order can be traced on the document: a line of no amount lists them.
    [listing] = [ln for ln in day.lines if not ln.price]
    assert listing.description == "Orders: WC-A 12.10, WC-B 16.95, WC-C 24.20"
    assert day.orders == ("A", "B", "C")


def test_an_order_booked_excl_vat_joins_with_its_vat_spread_over_its_ledgers() -> None:
    # 10.00 and 5.00 net at 21%, 3.15 VAT: 2.10 and 1.05 of it, so 12.10 and 6.05 incl.
    share = share_of(
        draft("E", [(PRODUCTS, R21, "10.00"), (SHIPPING, R21, "5.00")], {R21: "3.15"},
              [(IDEAL, "18.15")], incl=False),
        DAY,
    )  # fmt: skip
    assert share.net == {(PRODUCTS, R21): D("10.00"), (SHIPPING, R21): D("5.00")}
    assert share.gross == {(PRODUCTS, R21): D("12.10"), (SHIPPING, R21): D("6.05")}
    assert share.total == D("18.15")
    # An odd cent goes to the larger line: 0.64 over 1.00 and 2.00 is 0.21 and 0.43.
    odd = share_of(
        draft("F", [(PRODUCTS, R21, "2.00"), (SHIPPING, R21, "1.00")], {R21: "0.64"},
              [(IDEAL, "3.64")], incl=False),
        DAY,
    )  # fmt: skip
    assert odd.gross == {(PRODUCTS, R21): D("2.43"), (SHIPPING, R21): D("1.21")}
    assert DayShare.from_json(odd.to_json()) == odd


def test_when_no_basis_is_exact_the_closest_is_taken_and_the_difference_said() -> None:
    # Ten orders of 0.02 net at 21%: the shop charged 0.00 VAT on each (0.0042 rounds away).
    # The day, 0.20 net, would be 0.04 VAT excl. and, as 0.20 incl., 0.03: incl. is closest.
    shares = [
        share_of(draft(f"T{n}", [(PRODUCTS, R21, "0.02")], {}, [(IDEAL, "0.02")], incl=False), DAY)
        for n in range(10)
    ]
    day = day_draft("WC-2026-11-29", DAY, shares, RATES, "Webshopverkopen")
    assert not day.exact and day.prices_are_incl_tax
    assert day.shop_totals.total_incl_tax == D("0.20") and day.predicted.vat_by_rate == {
        R21: D("0.03")
    }
    assert day.notes == ("VAT at 21% btw: Moneybird +0.03 against the orders' sum",)


def test_who_keeps_an_invoice_of_their_own() -> None:
    home = Address(country="NL")
    consumer = Order(
        shop="woocommerce", order_id="1", number="1", status="completed", currency="EUR",
        prices_include_tax=True, total=D("10"), paid_at=datetime(2026, 11, 29, tzinfo=UTC),
        modified_at=datetime(2026, 11, 29, tzinfo=UTC),
        customer=Customer("a@example.nl", home), lines=(),
    )  # fmt: skip
    from dataclasses import replace

    assert individual_reason(consumer) is None
    assert (
        individual_reason(replace(consumer, customer=Customer("b@x.de", Address(country="DE"))))
        is None
    )
    business = replace(
        consumer, customer=Customer("c@x.be", Address(country="BE"), vat_number="BE0123")
    )
    assert "ICP listing" in (individual_reason(business) or "")
    export = replace(consumer, customer=Customer("d@x.us", Address(country="US")))
    assert "export to US" in (individual_reason(export) or "")
    assert "in USD" in (individual_reason(replace(consumer, currency="USD")) or "")
    assert "asked for an invoice" in (
        individual_reason(replace(consumer, invoice_requested=True)) or ""
    )


def test_a_long_day_lists_its_orders_on_several_lines() -> None:
    shares = [
        share_of(
            draft(f"{n:04d}", [(PRODUCTS, R21, "1.21")], {R21: "0.21"}, [(IDEAL, "1.21")]), DAY
        )
        for n in range(45)
    ]
    day = day_draft("WC-2026-11-29", DAY, shares, RATES, "Webshopverkopen")
    listings = [ln for ln in day.lines if ln.description.startswith("Orders: ")]
    assert len(listings) == 2 and all(ln.price == 0 for ln in listings)
    assert listings[1].description.startswith("Orders: WC-0040 1.21")
    # 45 x 1.21 = 54.45 incl., 9.45 VAT: exact on both bases, incl. taken.
    assert day.exact and day.shop_totals.vat_by_rate == {R21: D("9.45")}


def test_the_ledger_table_can_keep_an_order_on_its_own() -> None:
    from dataclasses import replace

    from connector.booking.mappings import LedgerRule, Mappings
    from connector.order import OrderLine

    tables = Mappings(
        tax=(),
        ledger=(
            LedgerRule(kind="product", sku="SUB-*", ledger_account_id="8100", individual=True),
            LedgerRule(kind="any", ledger_account_id="8000"),
        ),
    )
    line = OrderLine(LineKind.PRODUCT, "Koffie-abonnement", D(1), D(10), D("0.90"), "2",
                     sku="SUB-12")  # fmt: skip
    order = Order(
        shop="woocommerce", order_id="1", number="1", status="completed", currency="EUR",
        prices_include_tax=True, total=D("10.90"), paid_at=datetime(2026, 11, 29, tzinfo=UTC),
        modified_at=datetime(2026, 11, 29, tzinfo=UTC),
        customer=Customer("a@example.nl", Address(country="NL")), lines=(line,),
    )  # fmt: skip
    assert "ledger table books 'Koffie-abonnement'" in (individual_reason(order, tables) or "")
    beans = replace(line, sku="KB-1", description="Koffiebonen")
    assert individual_reason(replace(order, lines=(beans,)), tables) is None


def test_a_change_after_the_day_is_the_difference_and_nothing_when_amounts_stand() -> None:
    """Order B (10.90 at 9% + 6.05 shipping at 21%, iDEAL) later has its shipping dropped and
    a second 10.90 product added, paid 4.85 more by iDEAL: 21.80 at 9% (VAT 1.80). The change:
    +10.90 at 9% (+0.90 VAT), -6.05 shipping at 21% (-1.05 VAT), +4.85 in all."""
    from connector.booking.day import booked_share, correction_share

    b = the_day()[1]
    now = share_of(
        draft("B", [(LOW, R9, "21.80")], {R9: "1.80"}, [(IDEAL, "21.80")]), date(2026, 12, 3)
    )
    change = correction_share(now, b, "B:C1", "WC-B-C1", date(2026, 12, 3))
    assert change is not None
    assert change.total == D("4.85") and change.reference == "WC-B-C1"
    assert change.gross == {(LOW, R9): D("10.90"), (SHIPPING, R21): D("-6.05")}
    assert change.net == {(LOW, R9): D("10.00"), (SHIPPING, R21): D("-5.00")}
    assert change.vat == {R9: D("0.90"), R21: D("-1.05")}
    assert change.payments == {IDEAL: D("4.85")}
    # The order and its change together are the order as it is now; seen again, no change.
    both = booked_share(b, [change])
    assert (both.total, both.gross, both.vat) == (D("21.80"), {(LOW, R9): D("21.80")},
                                                  {R9: D("1.80")})  # fmt: skip
    assert correction_share(now, both, "B:C2", "WC-B-C2", DAY) is None
    # A note or a status changed: nothing the books show moved.
    assert correction_share(b, b, "B:C1", "WC-B-C1", DAY) is None
