"""WooCommerce REST v3 order JSON -> the shop-neutral Order. Pure; no HTTP here.

Line amounts in WooCommerce are excluding VAT whatever `prices_include_tax` says; coupons are
already folded into line totals (`subtotal - total` is the discount); the VAT per rate the
shop charged is `tax_lines[].tax_total + shipping_tax_total`.
"""

from __future__ import annotations

import fnmatch
import html
import math
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from connector import invoice_texts
from connector.defaults import GIFT_CARD_FEE_NAMES, VAT_NUMBER_KEYS
from connector.errors import OrderDataError
from connector.money import ZERO, parse
from connector.order import (
    Address,
    Customer,
    LineKind,
    ListedRefund,
    Order,
    OrderLine,
    Payment,
    Refund,
    RefundLine,
    ShopTaxRate,
    oldest_first,
)
from connector.shops import checks
from connector.shops import text as shop_text

SHOP = "woocommerce"
BASE_TOTAL_KEY = "_order_total_base_currency"  # the order total in the shop's base currency
SHOP_CONVERSION = "euro amount as the shop's currency plugin converted the order total"
GIFT_CARD_METHOD = "gift_card"  # the payment table's method for paying with a gift card


# Names of negative, untaxed fee lines that gift-card plugins use for a card paid with
# (`gift_cards.fee_names` replaces the list); matched without regard to case.
def read_gmt(value: str) -> datetime:
    """WooCommerce `_gmt` fields are UTC without a zone suffix (ValueError if not a date)."""
    parsed = datetime.fromisoformat(value.replace("Z", ""))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_gmt(payload: dict[str, Any], field: str) -> datetime | None:
    """The order's (or refund's) `field`, a plausible date or None; else OrderDataError."""
    return checks.moment(payload.get(field), field, read_gmt)


def gmt_stamp(value: object) -> datetime | None:
    """A `_gmt` date for reading the list by: None when it is not a plausible date."""
    return checks.stamp(value, read_gmt)


def rate_id(tax_line: dict[str, Any]) -> str:
    """A tax line's rate id; a tax line without one cannot be tied to a rate."""
    found = tax_line.get("rate_id")
    if found in (None, "") or isinstance(found, dict | list | bool):
        raise OrderDataError(f"a tax line has no usable rate_id ({checks.shown(found)})")
    return str(found)


def rate_ids_used(payload: dict[str, Any]) -> set[str]:
    return {rate_id(t) for t in _dicts(payload.get("tax_lines"), "tax_lines")}


def percentages_listed(payload: dict[str, Any]) -> dict[str, Decimal]:
    """Newer shops put `rate_percent` on each tax line; older ones need GET /taxes/{id}."""
    found: dict[str, Decimal] = {}
    for tax_line in _dicts(payload.get("tax_lines"), "tax_lines"):
        if tax_line.get("rate_percent") not in (None, ""):
            found[rate_id(tax_line)] = parse(tax_line["rate_percent"], "rate_percent")
    return found


def _dicts(value: object, field: str) -> list[dict[str, Any]]:
    """A list of objects, as a field of the order holds them (none when absent)."""
    if value in (None, "", []):
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise OrderDataError(f"{field} is not a list of objects ({checks.shown(value)})")
    return value


def order_from_woocommerce(
    payload: dict[str, Any],
    percentages: dict[str, Decimal] | None = None,
    refunds: list[dict[str, Any]] | None = None,
    vat_number_keys: tuple[str, ...] = VAT_NUMBER_KEYS,
    gift_card_fees: tuple[str, ...] = GIFT_CARD_FEE_NAMES,
    invoice_request_keys: tuple[str, ...] = (),
) -> Order:
    """`refunds`: the order's refunds in full (`GET /orders/{id}/refunds`), as read (None: not
    read); those the order lists and the shop did not return are kept as unread.
    `invoice_request_keys`: order meta keys by which a customer asks for an invoice."""
    with checks.reading():
        order = _order(payload, percentages or {}, vat_number_keys, gift_card_fees)
        meta = {str(m.get("key")): str(m.get("value")) for m in payload.get("meta_data") or []}
        listed = _listed_refunds(payload)
    if shop_text.asks(meta, invoice_request_keys):
        order = replace(order, invoice_requested=True)
    if refunds is None:
        return order
    parsed = sorted(
        (refund_from_woocommerce(r) for r in refunds if not _deleted(r)),
        key=lambda r: oldest_first(r.created_at, r.refund_id),
    )
    returned = {r.refund_id for r in parsed}
    unread = tuple(r for r in listed if r.refund_id not in returned)
    return replace(order, refunds=tuple(parsed), refunds_unread=unread)


def _deleted(refund: object) -> bool:
    """WooCommerce's trace of a deleted refund: id 0 (with an amount of -0.00); no refund."""
    return isinstance(refund, dict) and str(refund.get("id")).strip() in ("0", "")


def _listed_refunds(payload: dict[str, Any]) -> tuple[ListedRefund, ...]:
    """The refunds the order lists (`refunds: [{id, total, reason}]`), amounts positive."""
    return tuple(
        ListedRefund(str(r["id"]), -parse(r.get("total") or "0", "refund total"))
        for r in _dicts(payload.get("refunds"), "refunds")
        if "id" in r and not _deleted(r)
    )


def _order(
    payload: dict[str, Any],
    percentages: dict[str, Decimal],
    vat_number_keys: tuple[str, ...],
    gift_card_fees: tuple[str, ...],
) -> Order:
    known = {**percentages, **percentages_listed(payload)}
    tax_rates: dict[str, ShopTaxRate] = {}
    for tax_line in _dicts(payload.get("tax_lines"), "tax_lines"):
        rate = rate_id(tax_line)
        vat = parse(tax_line.get("tax_total"), "tax_total") + parse(
            tax_line.get("shipping_tax_total"), "shipping_tax_total"
        )
        previous = tax_rates.get(rate)
        if previous is not None:
            vat += previous.vat_total
        tax_rates[rate] = ShopTaxRate(
            rate_id=rate,
            percentage=known.get(rate),
            label=str(tax_line.get("label") or tax_line.get("rate_code") or ""),
            vat_total=vat,
            compound=tax_line.get("compound") in (True, 1, "1", "yes", "true"),
        )

    lines: list[OrderLine] = []
    for item in payload.get("line_items") or []:
        line_rate, extra = _rates_of(item, tax_rates)
        lines.append(
            OrderLine(
                kind=LineKind.PRODUCT,
                description=_text(item.get("name")) or invoice_texts.PRODUCT,
                quantity=parse(item.get("quantity"), "quantity"),
                net=parse(item.get("total"), "total"),
                tax=parse(item.get("total_tax"), "total_tax"),
                rate_id=line_rate,
                extra_rate_ids=extra,
                net_before_discount=parse(item.get("subtotal"), "subtotal"),
                tax_before_discount=parse(item.get("subtotal_tax"), "subtotal_tax"),
                sku=str(item.get("sku") or ""),
                tax_class=str(item.get("tax_class") or ""),
                line_id=str(item.get("id") or ""),
            )
        )
    for ship in payload.get("shipping_lines") or []:
        lines.append(
            _charge(LineKind.SHIPPING, ship, "method_title", invoice_texts.SHIPPING, tax_rates)
        )
    gift_cards = _gift_cards_used(payload)
    for fee in payload.get("fee_lines") or []:
        if _is_gift_card_fee(fee, gift_card_fees):
            gift_cards.append(_gift_card_fee(payload, fee))
            continue
        lines.append(_charge(LineKind.FEE, fee, "name", invoice_texts.FEE, tax_rates))

    modified = parse_gmt(payload, "date_modified_gmt") or parse_gmt(payload, "date_created_gmt")
    if modified is None:
        raise ValueError("no date_modified_gmt")
    main = _main_payment(payload)
    converted = main.amount_base is not None
    # With gift cards the shop's total is what was left to pay after them: the invoice is for
    # the whole, the gift cards and the rest each a payment.
    payments = (*gift_cards, main) if gift_cards or converted else ()
    total = main.amount + sum((g.amount for g in gift_cards), ZERO)
    return Order(
        shop=SHOP,
        data_notes=shop_text.note(payload),
        order_id=str(payload["id"]),
        number=str(payload.get("number") or payload["id"]),
        status=str(payload.get("status") or ""),
        currency=str(payload.get("currency") or "").upper(),
        prices_include_tax=bool(payload.get("prices_include_tax")),
        total=total,
        paid_at=parse_gmt(payload, "date_paid_gmt"),
        modified_at=modified,
        customer=_customer(payload, vat_number_keys),
        lines=tuple(lines),
        tax_rates=tax_rates,
        payment_method=str(payload.get("payment_method") or ""),
        payment_method_title=str(payload.get("payment_method_title") or ""),
        transaction_id=str(payload.get("transaction_id") or ""),
        coupon_codes=tuple(str(c.get("code", "")) for c in payload.get("coupon_lines") or []),
        payments=payments,
        exchange_rate_note=SHOP_CONVERSION if converted else "",
    )


def _gift_cards_used(payload: dict[str, Any]) -> list[Payment]:
    """Gift cards paid with, as WooCommerce Gift Cards lists them (`gift_cards`: id, code,
    amount used); the order's total is already less their amounts."""
    used = []
    for card in payload.get("gift_cards") or []:
        amount = parse(card.get("amount"), "gift card amount")
        if amount != ZERO:
            card_id = card.get("id") or card["code"]
            used.append(
                Payment(
                    GIFT_CARD_METHOD, amount, f"woocommerce-{payload['id']}-gift-card-{card_id}"
                )
            )
    return used


def _is_gift_card_fee(fee: dict[str, Any], names: tuple[str, ...]) -> bool:
    """A negative fee without VAT named like a gift card: a card paid with, not a discount."""
    name = _text(fee.get("name")).lower()
    return (
        parse(fee.get("total"), "fee total") < ZERO
        and parse(fee.get("total_tax"), "fee total_tax") == ZERO
        and any(fnmatch.fnmatchcase(name, glob.lower()) for glob in names)
    )


def _gift_card_fee(payload: dict[str, Any], fee: dict[str, Any]) -> Payment:
    return Payment(
        method=GIFT_CARD_METHOD,
        amount=-parse(fee.get("total"), "fee total"),
        transaction_id=f"woocommerce-{payload['id']}-gift-card-fee-{fee.get('id')}",
    )


def _main_payment(payload: dict[str, Any]) -> Payment:
    """What the order's payment method paid: the shop's total. In another currency, with its
    euro amount where the multi-currency plugin kept the total in the shop's base currency
    (Aelia Currency Switcher: `_order_total_base_currency`): the shop's own conversion."""
    meta = {m.get("key"): m.get("value") for m in payload.get("meta_data") or []}
    base = meta.get(BASE_TOTAL_KEY)
    unconverted = base in (None, "") or str(payload.get("currency") or "").upper() == "EUR"
    return Payment(
        method=str(payload.get("payment_method") or ""),
        amount=parse(payload.get("total"), "total"),
        transaction_id=str(payload.get("transaction_id") or ""),
        amount_base=None if unconverted else parse(base, BASE_TOTAL_KEY),
    )


def refund_from_woocommerce(payload: dict[str, Any]) -> Refund:
    """One refund (`GET /orders/{id}/refunds` or the shop-wide `/refunds`). Its line amounts are
    negative and excluding VAT; `_refunded_item_id` names the order line refunded. A refund
    without lines is an amount-only refund."""
    refund_id = payload.get("id") if isinstance(payload, dict) else None
    with checks.reading(f"refund {refund_id!r}"):
        return _refund(payload)


def _refund(payload: dict[str, Any]) -> Refund:
    created = parse_gmt(payload, "date_created_gmt")
    if created is None:
        raise ValueError("no date_created_gmt")
    lines: list[RefundLine] = []
    by_taxes: list[Decimal] = []  # each line's VAT as its `taxes[]` add up
    groups = (
        (LineKind.PRODUCT, "line_items", "name"),
        (LineKind.SHIPPING, "shipping_lines", "method_title"),
        (LineKind.FEE, "fee_lines", "name"),
    )
    for kind, key, name_key in groups:
        for item in payload.get(key) or []:
            refunded = next(
                (
                    str(m.get("value"))
                    for m in item.get("meta_data") or []
                    if m.get("key") == "_refunded_item_id"
                ),
                "",
            )
            net = -parse(item.get("total"), f"refund {key} total")
            tax = -parse(item.get("total_tax"), f"refund {key} total_tax")
            if not refunded:
                raise ValueError(f"a refunded {kind.value} line does not say which line it refunds")
            entries = [t for t in item.get("taxes") or [] if isinstance(t, dict)]
            by_taxes.append(
                -sum((parse(t.get("total"), f"refund {key} tax") for t in entries), ZERO)
                if entries
                else tax
            )
            lines.append(
                RefundLine(
                    line_id=refunded,
                    kind=kind,
                    description=_text(item.get(name_key)) or kind.value,
                    quantity=abs(parse(item.get("quantity", 1), "refund quantity")),
                    net=net,
                    tax=tax,
                )
            )
    amount = parse(payload.get("amount"), "refund amount")
    lines = _as_paid_back(lines, by_taxes, amount)
    return Refund(
        refund_id=str(payload["id"]),
        created_at=created,
        amount=amount,
        reason=_text(payload.get("reason")),
        lines=tuple(ln for ln in lines if ln.net != ZERO or ln.tax != ZERO),
    )


def _as_paid_back(
    lines: list[RefundLine], by_taxes: list[Decimal], amount: Decimal
) -> list[RefundLine]:
    """The refunded lines with the VAT that makes them add up to the money paid back.

    WooCommerce keeps a refunded line's tax as entered (half a cent, for one of two items of an
    odd-cent line) and rounds it twice: `total_tax` by its tax rounding mode (half down when
    prices include VAT), `taxes[].total` half up. The refund's `amount` went back to the
    customer; the refund form added each field rounded to cents by its script, so within one
    refund one line may have been paid back at its `taxes[]` figure and another at its
    `total_tax`. Each line takes one of its two readings so that together they make the amount:
    as few lines as can be at their `taxes[]` figure (`total_tax` wherever it is ambiguous),
    first the lines whose half cent the form's script rounds to the `taxes[]` figure, then in
    the refund's order. When no choice makes the amount, the lines stay at `total_tax` and the
    difference is the refund booking's to settle, as for any refund."""
    gap = amount - sum((ln.net + ln.tax for ln in lines), ZERO)
    movable = [n for n, ln in enumerate(lines) if by_taxes[n] != ln.tax]
    if gap == ZERO or not movable:
        return lines
    movable.sort(key=lambda n: not _form_paid_taxes(lines[n].tax, by_taxes[n]))
    # The fewest lines moved that close the gap, earliest in that order: over the sums the
    # moved lines can reach (a cent each, so a few per line), never over every combination.
    best: dict[Decimal, tuple[int, ...]] = {ZERO: ()}
    for position, n in enumerate(movable):
        step = by_taxes[n] - lines[n].tax
        for reached, chosen in list(best.items()):
            candidate = (*chosen, position)
            held = best.get(reached + step)
            if held is None or (len(candidate), candidate) < (len(held), held):
                best[reached + step] = candidate
        if len(best) > _MOST_SUMS:  # figures far from the cent: no choice worth searching for
            return lines
    closing = best.get(gap)
    if closing is None:
        return lines
    moved = {movable[position] for position in closing}
    return [replace(ln, tax=by_taxes[n]) if n in moved else ln for n, ln in enumerate(lines)]


_MOST_SUMS = 4096
_HALF_CENT = Decimal("0.005")


def _form_paid_taxes(total_tax: Decimal, by_taxes: Decimal) -> bool:
    """Whether the refund form most likely paid this line back at its `taxes[]` figure: the two
    readings a cent apart are the two roundings of the half cent between them, and the form's
    script (accounting.js, `Math.round(x * 100) / 100` on IEEE doubles) rounds that half cent
    up or down by how the double falls."""
    low, high = sorted((total_tax, by_taxes))
    if high - low != Decimal("0.01") or low < ZERO:
        return False
    rounded_up = math.floor(float(low + _HALF_CENT) * 100 + 0.5) > low * 100
    return (high if rounded_up else low) == by_taxes


def refund_ids(payload: dict[str, Any]) -> tuple[str, ...]:
    """The refunds an order payload lists (`refunds: [{id, total, reason}]`), without the
    traces of deleted ones (id 0)."""
    return tuple(
        str(r["id"])
        for r in payload.get("refunds") or []
        if isinstance(r, dict) and "id" in r and not _deleted(r)
    )


def _charge(
    kind: LineKind,
    data: dict[str, Any],
    name_key: str,
    fallback: str,
    tax_rates: dict[str, ShopTaxRate],
) -> OrderLine:
    """A shipping or fee line: one unit at its total (fees may be negative)."""
    rate_id, extra = _rates_of(data, tax_rates)
    return OrderLine(
        kind=kind,
        description=_text(data.get(name_key)) or fallback,
        quantity=Decimal(1),
        net=parse(data.get("total"), f"{kind.value} total"),
        tax=parse(data.get("total_tax"), f"{kind.value} total_tax"),
        rate_id=rate_id,
        extra_rate_ids=extra,
        tax_class=str(data.get("tax_class") or ""),
        line_id=str(data.get("id") or ""),
    )


def _rates_of(
    line: dict[str, Any], tax_rates: dict[str, ShopTaxRate]
) -> tuple[str | None, tuple[str, ...]]:
    """The shop tax rate a line was taxed at; more than one charged rate is reported as extra."""
    entries = [t for t in line.get("taxes") or [] if "id" in t]
    charged = [str(t["id"]) for t in entries if parse(t.get("total"), "tax") != ZERO]
    if charged:
        return charged[0], tuple(charged[1:])
    # A 0% shop rate still names its id; use it when the order lists that rate (several:
    # taxes charged together whose amounts on this line came to nothing).
    listed = [str(t["id"]) for t in entries if str(t["id"]) in tax_rates]
    return (listed[0] if listed else None), tuple(listed[1:])


def _text(value: object) -> str:
    return html.unescape(str(value or "")).strip()


def _address(data: dict[str, Any] | None) -> Address:
    data = data or {}
    return Address(
        company=_text(data.get("company")),
        first_name=_text(data.get("first_name")),
        last_name=_text(data.get("last_name")),
        address1=_text(data.get("address_1")),
        address2=_text(data.get("address_2")),
        postcode=_text(data.get("postcode")),
        city=_text(data.get("city")),
        country=_text(data.get("country")).upper(),
    )


def _customer(payload: dict[str, Any], vat_number_keys: tuple[str, ...]) -> Customer:
    billing = payload.get("billing") or {}
    shipping = _address(payload.get("shipping"))
    meta = {
        m.get("key"): m["value"].strip()
        for m in payload.get("meta_data") or []
        if isinstance(m.get("value"), str) and m["value"].strip()
    }
    vat_number = next((meta[key] for key in vat_number_keys if key in meta), "")
    return Customer(
        email=str(billing.get("email") or "").strip(),
        billing=_address(billing),
        shipping=shipping if (shipping.address1 or shipping.country) else None,
        vat_number=vat_number,
    )
