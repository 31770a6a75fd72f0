"""Pure booking: an Order plus the mapping tables becomes an invoice draft, or a parking reason.

No I/O here. Every decision that could book something wrong parks the order instead, with a
reason a bookkeeper can act on.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from connector import invoice_texts
from connector.booking.invoice import (
    InvoiceDraft,
    InvoiceLine,
    PaymentPlan,
    Totals,
    differences,
    predict,
)
from connector.booking.mappings import Mappings, TaxRule
from connector.booking.payments import PaymentProblem, payment_plans
from connector.booking.shipping_vat import split_shipping
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.booking.vat_rules import VIES_UNAVAILABLE, VatCheck, compact_vat_number, guard
from connector.defaults import GIFT_CARD_METHODS
from connector.money import ZERO, cents, fmt
from connector.order import LineKind, Order, OrderLine, ShopTaxRate

_UNSAFE = re.compile(r"[^A-Za-z0-9._~-]+")
NO_COUNTRY = (
    "no delivery country: the order has neither a shipping nor a billing address with a "
    "country, so its VAT cannot be decided; add the address in the shop, then `connector retry`"
)


@dataclass(frozen=True)
class BookingSettings:
    reference_template: str = "WC-{number}"
    rounding_tolerance: Decimal = Decimal("0.02")
    discount_lines: bool = True  # show coupons as negative lines per VAT rate
    currencies: tuple[str, ...] = ("EUR",)
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Amsterdam"))
    workflow_id: str | None = None
    document_style_id: str | None = None
    # Refunds without lines: "proportional" over the original's VAT rates, or "fixed" on the
    # ledger and tax rate below.
    refund_amount_only: str = "proportional"
    refund_ledger_account_id: str | None = None
    refund_tax_rate_id: str | None = None
    shop_country: str = "NL"  # where the shop is established: domestic VAT
    oss: bool = False  # registered for the EU One-Stop Shop: destination-country rates allowed
    shipping_vat: str = "as_charged"  # or "split_by_goods_value"
    gift_card_sale: str = "park"  # "liability" or "skip"
    gift_card_ledger_account_id: str | None = None
    gift_card_tax_rate_id: str | None = None
    gift_card_skus: tuple[str, ...] = ()  # sku globs that are gift cards (WooCommerce)
    vies_check: bool = False  # intra-community 0% only for numbers VIES knows
    refunds_net: bool = False  # refunds.before_booking = "net": refunds are lines incl. VAT
    # "exact": prices incl. or excl. VAT, whichever Moneybird reproduces the shop on exactly;
    # "shop": always the shop's own basis (the rounding policy settles what differs).
    invoice_basis: str = "exact"
    gift_card_methods: tuple[str, ...] = GIFT_CARD_METHODS  # payment methods that are gift cards


@dataclass(frozen=True)
class Parked:
    reason: str
    later: bool = False  # an outside service (VIES) did not answer: asking again may book it


class _Park(Exception):
    def __init__(self, reason: str, later: bool = False) -> None:
        super().__init__(reason)
        self.later = later


def reference_for(order: Order, template: str) -> str:
    """The invoice reference: the template filled in, made URL-safe (it is used in a path)."""
    return reference_of(template, order.number, order.order_id, order.shop)


def reference_of(template: str, number: str, order_id: str, shop: str) -> str:
    """The same, from the order's number, id and shop alone (an order that cannot be read)."""
    raw = template.format(number=number, id=order_id, shop=shop)
    return _UNSAFE.sub("-", raw).strip("-")


def book(
    order: Order,
    mappings: Mappings,
    rates: dict[str, MoneybirdTaxRate],
    settings: BookingSettings,
    vat_check: VatCheck | None = None,
) -> InvoiceDraft | Parked:
    """`vat_check`: VIES's answer about the customer's VAT number, when it was asked."""
    try:
        return _book(order, mappings, rates, settings, vat_check)
    except _Park as park:
        return Parked(str(park), park.later)
    except ArithmeticError:
        # Decimal overflow or precision loss: such amounts are not bookable as they stand.
        return Parked("the order's amounts are too large or too precise to book; check it")


@dataclass
class _Basket:
    """What is booked of an order: its lines, the Moneybird rate for each shop rate on them,
    the VAT the shop charged per shop rate, and the gift cards sold as invoice lines."""

    order: Order
    lines: list[OrderLine]
    rate_for: dict[str | None, MoneybirdTaxRate]
    shop_vat: dict[str | None, Decimal]
    gift_lines: list[InvoiceLine]


def _book(
    order: Order,
    mappings: Mappings,
    rates: dict[str, MoneybirdTaxRate],
    settings: BookingSettings,
    vat_check: VatCheck | None,
) -> InvoiceDraft:
    paid_at = _check_bookable(order, settings)
    order_lines = _lines_to_book(order)
    gift = _gift_cards_sold(order_lines, settings)
    gift_lines, gift_value = _gift_cards(gift, rates, settings)
    order_lines = [ln for ln in order_lines if ln not in gift]
    invoice_total = _invoiced(order, settings)
    # Lines taxed at several shop rates at once (SGST + CGST) are booked at their sum.
    order, order_lines, combined = _combine_taxes(order, order_lines)
    # 1. Each shop tax rate used on the order -> one Moneybird sales tax rate.
    rate_for = _rates_for(order, order_lines, mappings, rates, settings, vat_check, combined)
    # 2. Per shop rate: the VAT the shop charged, checked against its own lines and the total.
    shop_vat = _shop_vat(order, order_lines, rate_for, settings.rounding_tolerance)
    shop_net = sum((ln.net for ln in order_lines), ZERO) + (gift_value if gift_lines else ZERO)
    _check_total(invoice_total, shop_net + sum(shop_vat.values(), ZERO), settings)
    notes = _vies_note(settings, vat_check)
    if settings.shipping_vat == "split_by_goods_value":
        if not order.prices_include_tax:
            raise _Park(
                "shipping_vat = 'split_by_goods_value' needs prices including VAT (the gross "
                "the customer paid is split); this order's prices exclude VAT"
            )
        order_lines, shop_vat, split_notes = split_shipping(order_lines, shop_vat, rate_for)
        notes.extend(split_notes)
    basket = _Basket(order, order_lines, rate_for, shop_vat, gift_lines)
    # 3. Invoice lines, grouped per shop rate so rounding residue stays within its rate.
    percentages, shop_totals = _expected(basket, invoice_total)
    notes.extend(_gift_notes(gift_lines, gift, gift_value))
    incl, lines, predicted = _choose_basis(
        basket, mappings, rates, settings, percentages, shop_totals, notes
    )
    paid_on = paid_at.astimezone(settings.timezone).date()
    try:
        payments = planned_payments(order, mappings, settings)
    except PaymentProblem as problem:
        raise _Park(str(problem)) from None
    if order.exchange_rate_note and any(p.price_base is not None for p in payments):
        notes.append(order.exchange_rate_note)
    notes.extend(order.data_notes)
    return InvoiceDraft(
        order_key=order.key,
        reference=reference_for(order, settings.reference_template),
        invoice_date=paid_on,
        currency=order.currency,
        prices_are_incl_tax=incl,
        lines=tuple(lines),
        shop_totals=shop_totals,
        predicted=predicted,
        payments=payments,
        workflow_id=settings.workflow_id,
        document_style_id=settings.document_style_id,
        notes=tuple(notes),
    )


def _check_bookable(order: Order, settings: BookingSettings) -> datetime:
    """What makes an order unbookable before its lines are looked at; its paid moment."""
    if order.paid_at is None:
        raise _Park("order is not paid (no paid date)")
    if not order.currency:
        raise _Park("the order names no currency; the shop's data is incomplete: check the order")
    if order.currency not in settings.currencies:
        raise _Park(
            f"currency {order.currency} is not enabled: add it to sync.currencies (its payments "
            "then need euro amounts: the shop's own conversion, or sync.exchange_rates = 'ecb')"
        )
    if order.total < ZERO:
        raise _Park(f"order total {fmt(order.total)} is negative")
    return order.paid_at


def _lines_to_book(order: Order) -> list[OrderLine]:
    # "Free shipping" and zero fees carry nothing worth a 0.00 invoice line (nor a 0% rule).
    order_lines = [
        ln
        for ln in order.lines
        if not (ln.kind in (LineKind.SHIPPING, LineKind.FEE) and not ln.net and not ln.tax)
    ]
    if not order_lines:
        raise _Park("order has no lines")
    return order_lines


def _rates_for(
    order: Order,
    order_lines: list[OrderLine],
    mappings: Mappings,
    rates: dict[str, MoneybirdTaxRate],
    settings: BookingSettings,
    vat_check: VatCheck | None,
    combined: dict[str, tuple[str, ...]],
) -> dict[str | None, MoneybirdTaxRate]:
    """The Moneybird sales tax rate for each shop rate on the lines, where the goods go; for
    a combination of shop rates on one line, the one rate all of them map to."""
    customer = order.customer
    shipping = customer.shipping
    country = shipping.country if shipping and shipping.country else customer.billing.country
    rate_for: dict[str | None, MoneybirdTaxRate] = {}
    for line in order_lines:
        if line.rate_id in rate_for:
            continue
        members = combined.get(line.rate_id or "")
        if members is not None:
            rate_for[line.rate_id] = _map_combination(
                order, line, members, mappings, rates, country or "", settings, vat_check
            )
            continue
        rate_for[line.rate_id] = _map_rate(
            order, line.rate_id, mappings, rates, country or "", customer.is_business, settings,
            vat_check,
        )  # fmt: skip
    return rate_for


def _combine_taxes(
    order: Order, order_lines: list[OrderLine]
) -> tuple[Order, list[OrderLine], dict[str, tuple[str, ...]]]:
    """Lines taxed at more than one shop rate (India's SGST 6% + CGST 6%): one Moneybird line
    takes one tax rate, so each combination becomes one shop rate of the summed percentage
    and the VAT charged at its members, booked at the one Moneybird rate they all map to.
    A member rate also charged without the others cannot be told apart: parked."""
    combos = {
        (ln.rate_id, *ln.extra_rate_ids): ln
        for ln in order_lines
        if ln.extra_rate_ids and ln.rate_id is not None
    }
    if not combos:
        return order, order_lines, {}
    tax_rates = dict(order.tax_rates)
    combined: dict[str, tuple[str, ...]] = {}
    for members, first in combos.items():
        for other in order_lines:
            taxes = (other.rate_id, *other.extra_rate_ids)
            if taxes != members and set(taxes) & set(members):
                raise _Park(
                    f"{_rates_text(order, members)} are charged together on line "
                    f"'{first.description}' but not on line '{other.description}', so the VAT "
                    "of each line cannot be told apart: book the order by hand"
                )
        key = "+".join(str(m) for m in members)
        listed = [order.tax_rates.get(str(m)) for m in members]
        if any(r is None for r in listed):
            missing = next(str(m) for m, r in zip(members, listed, strict=True) if r is None)
            raise _Park(f"a line refers to shop tax rate {missing}, which the order does not list")
        known = [r for r in listed if r is not None]
        percentages = [r.percentage for r in known]
        distinct = {r.rate_id: r for r in known}  # one rate twice (Shopify: by percentage)
        tax_rates[key] = ShopTaxRate(
            rate_id=key,
            percentage=None if None in percentages else sum(
                (p for p in percentages if p is not None), ZERO
            ),
            label=" + ".join(r.label or str(r.rate_id) for r in known),
            vat_total=sum((r.vat_total for r in distinct.values()), ZERO),
        )  # fmt: skip
        combined[key] = tuple(str(m) for m in members)
    lines = [
        replace(ln, rate_id="+".join(str(m) for m in (ln.rate_id, *ln.extra_rate_ids)),
                extra_rate_ids=())
        if ln.extra_rate_ids and ln.rate_id is not None else ln
        for ln in order_lines
    ]  # fmt: skip
    return replace(order, tax_rates=tax_rates), lines, combined


def _rates_text(order: Order, members: tuple[str, ...]) -> str:
    """The rates charged together; one rate more than once (Shopify knows rates by their
    percentage: SGST 6% and CGST 6% are both "6") said with how often."""
    times = {1: "", 2: " twice"}
    return " and ".join(
        _rate_label(order, m) + times.get(n, f" {n} times") for m, n in Counter(members).items()
    )


def _map_combination(
    order: Order,
    line: OrderLine,
    members: tuple[str, ...],
    mappings: Mappings,
    rates: dict[str, MoneybirdTaxRate],
    country: str,
    settings: BookingSettings,
    vat_check: VatCheck | None,
) -> MoneybirdTaxRate:
    """The one Moneybird rate of the combination's summed percentage that every member maps
    to; otherwise parked with what to make and map."""
    combination = order.tax_rates[line.rate_id or ""]
    compound = [m for m in dict.fromkeys(members) if order.tax_rates[m].compound]
    if compound:
        # Charged on the price plus the others: no percentage of the price reproduces it (and
        # none Moneybird is known to accept, such as 5 + 9.975 x 1.05 = 15.47375%).
        raise _Park(
            f"line '{line.description}' carries {_rates_text(order, members)} together, and "
            f"{' and '.join(_rate_label(order, m) for m in compound)} "
            f"{'is' if len(compound) == 1 else 'are'} compound (charged on the price plus the "
            f"other taxes): no Moneybird tax rate reproduces that. {_by_hand(order, settings)}"
        )
    if combination.percentage is None:
        unknown = next(m for m in members if order.tax_rates[m].percentage is None)
        raise _Park(f"the percentage of {_rate_label(order, unknown)} is unknown")
    total = f"{combination.percentage.normalize():f}%"
    advice = (
        f"line '{line.description}' carries {_rates_text(order, members)} together ({total}), "
        f"but one Moneybird invoice line takes one tax rate: make one Moneybird sales tax rate "
        f"of {total} and map each of these shop rates to it in the tax table"
    )
    found: dict[str, MoneybirdTaxRate] = {}
    for member in dict.fromkeys(members):
        try:
            found[member] = _map_rate(
                order, member, mappings, rates, country, order.customer.is_business, settings,
                vat_check, combination.percentage,
            )  # fmt: skip
        except _Park as park:
            if park.later or str(park) == NO_COUNTRY:
                raise
            raise _Park(f"{advice} ({park})") from None
    chosen = {mb.id: mb for mb in found.values()}
    if len(chosen) > 1:
        mapped = ", ".join(f"shop rate {m} to '{mb.name}'" for m, mb in found.items())
        raise _Park(f"{advice} (the tax table maps {mapped})")
    return next(iter(chosen.values()))


def _by_hand(order: Order, settings: BookingSettings) -> str:
    """What to make in Moneybird so that `connector retry` adopts it as the order's invoice:
    what adoption checks (reference, date, total, customer), and finalized."""
    day = order.paid_at.astimezone(settings.timezone).date() if order.paid_at else None
    billing = order.customer.billing
    name = billing.company or f"{billing.first_name} {billing.last_name}".strip()
    contact = (
        f"with the address {order.customer.email}" if order.customer.email else f"named '{name}'"
    )
    return (
        "Book the order by hand in Moneybird: a sales invoice with reference "
        f"'{reference_for(order, settings.reference_template)}', dated {day}, for "
        f"{fmt(_invoiced(order, settings))}, on a contact {contact}, sent (or marked as sent); "
        f"then `connector retry {order.number}` takes it as this order's and registers the "
        "payment"
    )


def _shop_vat(
    order: Order,
    order_lines: list[OrderLine],
    rate_for: dict[str | None, MoneybirdTaxRate],
    tolerance: Decimal,
) -> dict[str | None, Decimal]:
    """Per shop rate, the VAT the shop charged, checked against the tax its lines carry."""
    shop_vat: dict[str | None, Decimal] = {}
    for rate_id in rate_for:
        lines_tax = sum((ln.tax for ln in order_lines if ln.rate_id == rate_id), ZERO)
        charged = order.tax_rates[rate_id].vat_total if rate_id is not None else ZERO
        if abs(lines_tax - charged) > tolerance:
            raise _Park(
                f"shop VAT at {_rate_label(order, rate_id)} is {fmt(charged)} but its lines "
                f"carry {fmt(lines_tax)}; the order does not add up"
            )
        shop_vat[rate_id] = charged
    return shop_vat


def _check_total(
    invoice_total: Decimal, computed_total: Decimal, settings: BookingSettings
) -> None:
    tolerance = settings.rounding_tolerance
    if abs(computed_total - invoice_total) > tolerance:
        raise _Park(
            f"order total {fmt(invoice_total)} differs from its lines plus VAT "
            f"{fmt(computed_total)} by more than the rounding tolerance {fmt(tolerance)}"
        )


def _vies_note(settings: BookingSettings, vat_check: VatCheck | None) -> list[str]:
    if not (settings.vies_check and vat_check is not None and vat_check.status == "valid"):
        return []
    proof = f", consultation {vat_check.consultation}" if vat_check.consultation else ""
    day = vat_check.checked_at.astimezone(settings.timezone).date().isoformat()
    return [f"VAT number {vat_check.number} valid in VIES on {day}{proof}"]


def _expected(basket: _Basket, invoice_total: Decimal) -> tuple[dict[str, Decimal], Totals]:
    """Each Moneybird rate's percentage, and the totals the invoice must show: the shop's total
    and, per Moneybird rate, the VAT the shop charged (0.00 for rates without VAT, as
    Moneybird's tax totals show them: like with like)."""
    percentages = {r.id: r.percentage for r in basket.rate_for.values()}
    expected_vat: dict[str, Decimal] = {}
    for rate_id, mb_rate in basket.rate_for.items():
        expected_vat[mb_rate.id] = expected_vat.get(mb_rate.id, ZERO) + basket.shop_vat[rate_id]
    for gift_line in basket.gift_lines:
        percentages[gift_line.tax_rate_id] = ZERO
        expected_vat.setdefault(gift_line.tax_rate_id, ZERO)
    return percentages, Totals(invoice_total, expected_vat)


def _gift_notes(
    gift_lines: list[InvoiceLine], gift: list[OrderLine], gift_value: Decimal
) -> list[str]:
    notes = [f"gift card sale {fmt(g.price)} booked as a liability, no VAT" for g in gift_lines]
    if gift and not gift_lines:
        notes.append(f"gift card sale {fmt(gift_value)} left off the invoice (gift_cards.sale)")
    return notes


def _lines_on(
    basket: _Basket, mappings: Mappings, settings: BookingSettings, incl: bool, absorb: bool
) -> tuple[list[InvoiceLine], list[str]]:
    """The invoice lines with prices incl. or excl. VAT; `absorb`: the rounding policy's cent
    onto the largest line of its rate (prices incl. VAT)."""
    built_lines: list[InvoiceLine] = []
    residue_notes: list[str] = []
    for rate_id, mb_rate in basket.rate_for.items():
        group = [ln for ln in basket.lines if ln.rate_id == rate_id]
        built = _lines_for_group(
            group, mb_rate.id, mappings, incl, settings.discount_lines, mb_rate.percentage
        )
        if incl and absorb:
            # The gross at this rate must be the shop's net + the shop's VAT at this rate.
            # Shops that round VAT on the subtotal leave a cent between that and the sum of
            # line gross amounts; it goes onto the largest line of the same rate.
            target = sum((ln.net for ln in group), ZERO) + basket.shop_vat[rate_id]
            residue = target - sum((ln.total for ln in built), ZERO)
            if residue:
                built = _absorb(built, residue)
                residue_notes.append(
                    f"{fmt(residue)} rounding residue at {_rate_label(basket.order, rate_id)} "
                    "added to the largest line of that rate"
                )
        built_lines.extend(built)
    return built_lines + basket.gift_lines, residue_notes


def _choose_basis(
    basket: _Basket,
    mappings: Mappings,
    rates: dict[str, MoneybirdTaxRate],
    settings: BookingSettings,
    percentages: dict[str, Decimal],
    shop_totals: Totals,
    notes: list[str],
) -> tuple[bool, list[InvoiceLine], Totals]:
    """Moneybird rounds VAT once per rate over the rate's total, on the basis the invoice names.
    Book on the basis on which that reproduces the shop's total and VAT per rate exactly (the
    shop's own first); only when neither does, the rounding policy. Notes what it did."""
    order = basket.order
    shop_basis = order.prices_include_tax
    # Split shipping and refunds netted on the invoice work on gross amounts: the shop's basis.
    fixed = (
        settings.invoice_basis == "shop"
        or settings.shipping_vat == "split_by_goods_value"
        or (settings.refunds_net and bool(order.refunds))
    )
    for incl in [shop_basis] if fixed else [shop_basis, not shop_basis]:
        lines, _ = _lines_on(basket, mappings, settings, incl, absorb=False)
        predicted = predict(tuple(lines), percentages, incl)
        if differences(predicted, shop_totals):
            continue
        if incl != shop_basis:
            mine, _ = _lines_on(basket, mappings, settings, shop_basis, absorb=False)
            off = describe_differences(
                differences(predict(tuple(mine), percentages, shop_basis), shop_totals), rates
            )
            notes.append(
                f"booked with prices {'incl.' if incl else 'excl.'} VAT: on the shop's own "
                f"basis Moneybird would compute {off}"
            )
        return incl, lines, predicted
    # The rounding policy, on the shop's own basis.
    lines, residue_notes = _lines_on(basket, mappings, settings, shop_basis, absorb=True)
    notes.extend(residue_notes)
    predicted = predict(tuple(lines), percentages, shop_basis)
    diffs = differences(predicted, shop_totals)
    tolerance = settings.rounding_tolerance
    too_big = {k: v for k, v in diffs.items() if abs(v) > tolerance}
    if too_big:
        raise _Park("Moneybird would compute " + describe_differences(too_big, rates))
    if diffs:
        notes.append("within rounding tolerance: " + describe_differences(diffs, rates))
    return shop_basis, lines, predicted


def _gift_cards(
    gift: list[OrderLine], rates: dict[str, MoneybirdTaxRate], settings: BookingSettings
) -> tuple[list[InvoiceLine], Decimal]:
    """Gift cards sold: a liability without VAT on the configured ledger, left off the invoice
    (gift_cards.sale = "skip"), or parked when neither is configured."""
    if not gift:
        return [], ZERO
    if any(ln.tax for ln in gift):
        raise _Park("a gift card line carries VAT; a multi-purpose voucher has none: check it")
    value = sum((ln.net + ln.tax for ln in gift), ZERO)
    if settings.gift_card_sale == "skip":
        return [], value
    if settings.gift_card_sale != "liability":
        raise _Park(
            "the order sells a gift card: that is a liability, not revenue (no VAT); set "
            "[gift_cards] sale = 'liability' (with a ledger and a 0% rate) or 'skip'"
        )
    rate = rates.get(settings.gift_card_tax_rate_id or "")
    if rate is None or not rate.usable_for_sales or rate.percentage != ZERO:
        raise _Park(
            f"gift_cards.tax_rate_id {settings.gift_card_tax_rate_id!r} is not an active 0% "
            "sales tax rate in Moneybird"
        )
    ledger = settings.gift_card_ledger_account_id or ""
    return [
        InvoiceLine(
            LineKind.PRODUCT, ln.description, Decimal(1), ln.net, rate.id, ledger, ln.line_id
        )
        for ln in gift
    ], value


def _gift_cards_sold(lines: Iterable[OrderLine], settings: BookingSettings) -> list[OrderLine]:
    return [
        ln
        for ln in lines
        if ln.is_gift_card or any(fnmatch.fnmatchcase(ln.sku, g) for g in settings.gift_card_skus)
    ]


def planned_payments(
    order: Order, mappings: Mappings, settings: BookingSettings
) -> tuple[PaymentPlan, ...]:
    """The payments the invoice gets, dated the paid day in the shop's time zone; raises
    PaymentProblem when they cannot be told apart. A gift card sale left off the invoice
    (gift_cards.sale = "skip") is left out of what is paid for it too."""
    if order.paid_at is None:
        raise PaymentProblem("order is not paid (no paid date)")
    paid_on = order.paid_at.astimezone(settings.timezone).date()
    return payment_plans(
        order, mappings, _invoiced(order, settings), paid_on, settings.gift_card_methods
    )


def _invoiced(order: Order, settings: BookingSettings) -> Decimal:
    """What the invoice asks: the order total, less gift cards sold and left off it."""
    if settings.gift_card_sale != "skip":
        return order.total
    return order.total - sum(
        (ln.net + ln.tax for ln in _gift_cards_sold(order.lines, settings)), ZERO
    )


def describe_differences(diffs: dict[str, Decimal], rates: dict[str, MoneybirdTaxRate]) -> str:
    parts = []
    for key, delta in diffs.items():
        if key == "total":
            parts.append(f"a total {fmt(delta)} off the shop's")
        else:
            name = rates[key].name if key in rates else key
            parts.append(f"VAT at '{name}' {fmt(delta)} off the shop's")
    return ", ".join(parts)


def _rate_label(order: Order, rate_id: str | None) -> str:
    if rate_id is None:
        return "no VAT"
    rate = order.tax_rates.get(rate_id)
    if rate is None:
        return f"shop rate {rate_id}"
    pct = f"{rate.percentage.normalize():f}%" if rate.percentage is not None else "unknown %"
    label = f" '{rate.label}'" if rate.label else ""
    return f"shop rate {rate_id}{label} ({pct})"


def _map_rate(
    order: Order,
    rate_id: str | None,
    mappings: Mappings,
    rates: dict[str, MoneybirdTaxRate],
    country: str,
    business: bool,
    settings: BookingSettings,
    vat_check: VatCheck | None,
    charged: Decimal | None = None,
) -> MoneybirdTaxRate:
    """`charged`: the percentage the Moneybird rate must have when it is not the shop rate's
    own (a rate charged together with others on a line: their sum)."""
    if rate_id is None:
        percentage: Decimal | None = ZERO
    else:
        shop_rate = order.tax_rates.get(rate_id)
        if shop_rate is None:
            raise _Park(f"a line refers to shop tax rate {rate_id}, which the order does not list")
        percentage = shop_rate.percentage
        if percentage is None:
            raise _Park(f"the percentage of {_rate_label(order, rate_id)} is unknown")
    who = "business" if business else "consumer"
    rules = mappings.tax_rules_for(rate_id, percentage, country, business)
    if not rules and not country:
        raise _Park(NO_COUNTRY)
    if not rules:
        raise _Park(
            f"no tax rule maps {_rate_label(order, rate_id)} for a {who} in {country}; "
            "add one to the tax table"
        )
    refused: list[str] = []
    for rule in rules:
        mb_rate = _checked_rate(
            order, rate_id, rule, rates, percentage if charged is None else charged
        )
        treatment = "oss" if mb_rate.country and rule.treatment == "domestic" else rule.treatment
        why_not = guard(
            treatment,
            country,
            order.customer.vat_number,
            settings.shop_country,
            settings.oss,
            mb_rate.country,
            _vies_status(order, settings, vat_check),
        )
        if why_not is None:
            return mb_rate
        refused.append(f"{rule.note or treatment + ' rule'}: {why_not}")
    if not country:
        raise _Park(NO_COUNTRY)
    raise _Park(
        f"no tax rule fits {_rate_label(order, rate_id)} for a {who} in {country} "
        f"({'; '.join(refused)})",
        later=any(VIES_UNAVAILABLE in reason for reason in refused),
    )


def _vies_status(order: Order, settings: BookingSettings, check: VatCheck | None) -> str | None:
    """What VIES said about this order's VAT number; "unavailable" when it should have been
    asked and was not (never booked at 0% on an unchecked number)."""
    if not settings.vies_check:
        return None
    if check is None or check.number != compact_vat_number(order.customer.vat_number):
        return "unavailable"
    return check.status


def _checked_rate(
    order: Order,
    rate_id: str | None,
    rule: TaxRule,
    rates: dict[str, MoneybirdTaxRate],
    percentage: Decimal | None,
) -> MoneybirdTaxRate:
    """The Moneybird rate a rule names, when it is an active sales rate of the shop's %."""
    mb_rate = rates.get(rule.tax_rate_id)
    if mb_rate is None:
        raise _Park(
            f"tax rule for {_rate_label(order, rate_id)} names Moneybird tax rate "
            f"{rule.tax_rate_id}, which does not exist in the administration"
        )
    if not mb_rate.usable_for_sales:
        kind = "inactive" if not mb_rate.active else f"of type {mb_rate.tax_rate_type}"
        raise _Park(
            f"tax rule for {_rate_label(order, rate_id)} names Moneybird tax rate "
            f"'{mb_rate.name}' ({mb_rate.id}), which is {kind}, not an active sales rate"
        )
    if mb_rate.percentage != percentage:
        raise _Park(
            f"tax rule maps {_rate_label(order, rate_id)} to Moneybird rate '{mb_rate.name}' "
            f"at {mb_rate.percentage.normalize():f}%; the percentages differ"
        )
    return mb_rate


def _lines_for_group(
    group: list[OrderLine],
    tax_rate_id: str,
    mappings: Mappings,
    incl: bool,
    discount_lines: bool,
    percentage: Decimal | None = None,
) -> list[InvoiceLine]:
    built: list[InvoiceLine] = []
    discount_total = ZERO
    discount_ledger: str | None = None
    for line in group:
        rule = mappings.ledger_for(line.kind, line.sku, line.tax_class, percentage, tax_rate_id)
        if rule is None:
            raise _Park(
                f"no ledger rule for {line.kind.value} line '{line.description}' "
                f"(sku '{line.sku}', tax class '{line.tax_class or 'standard'}'); add one to "
                "the ledger table"
            )
        net, tax = line.net, line.tax
        if (
            discount_lines
            and line.kind is LineKind.PRODUCT
            and line.net_before_discount is not None
            and line.net_before_discount != line.net
        ):
            before_tax = line.tax_before_discount if line.tax_before_discount is not None else tax
            discount_total += (line.net_before_discount - net) + (
                (before_tax - tax) if incl else ZERO
            )
            net, tax = line.net_before_discount, before_tax
            if discount_ledger is None:
                d_rule = mappings.ledger_for(
                    LineKind.DISCOUNT, line.sku, line.tax_class, percentage, tax_rate_id
                )
                if d_rule is None:
                    raise _Park("no ledger rule for discount lines; add a kind = 'discount' rule")
                discount_ledger = d_rule.ledger_account_id
        value = net + tax if incl else net
        built.append(_priced(line, value, tax_rate_id, rule.ledger_account_id))
    if discount_total and discount_ledger is not None:
        built.append(
            InvoiceLine(
                kind=LineKind.DISCOUNT,
                description=invoice_texts.DISCOUNT,
                amount=Decimal(1),
                price=-discount_total,
                tax_rate_id=tax_rate_id,
                ledger_account_id=discount_ledger,
            )
        )
    return built


def _priced(line: OrderLine, value: Decimal, tax_rate_id: str, ledger_id: str) -> InvoiceLine:
    """Quantity x unit price only when that multiplies back to the exact line amount."""
    qty = line.quantity
    if line.kind is LineKind.PRODUCT and qty > 0 and qty == qty.to_integral_value():
        unit = value / qty
        if cents(unit) * qty == value:
            return InvoiceLine(
                line.kind, line.description, qty, cents(unit), tax_rate_id, ledger_id, line.line_id
            )
    description = line.description
    if line.kind is LineKind.PRODUCT and qty != 1:
        description = f"{qty.normalize():f} x {line.description}"
    return InvoiceLine(
        line.kind, description, Decimal(1), value, tax_rate_id, ledger_id, line.line_id
    )


def _absorb(lines: list[InvoiceLine], residue: Decimal) -> list[InvoiceLine]:
    """Put a rounding residue on the largest line, re-pricing it as one unit so it stays exact."""
    index = max(range(len(lines)), key=lambda i: lines[i].total)
    line = lines[index]
    new_total = line.total + residue
    description = line.description
    if line.amount != 1:
        description = f"{line.amount.normalize():f} x {line.description}"
    lines = list(lines)
    lines[index] = InvoiceLine(
        line.kind,
        description,
        Decimal(1),
        new_total,
        line.tax_rate_id,
        line.ledger_account_id,
        line.line_id,
    )
    return lines
