"""Shopify Admin GraphQL order -> the shop-neutral Order. Pure; no HTTP here.

Amounts are the shop's money (`shopMoney`), unless the customer paid in another currency
(`presentmentCurrencyCode`) that invoices may be in (`sync.currencies`): then the order is read
in the customer's money (`presentmentMoney`), and each payment and refund keeps Shopify's own
conversion into euro shop money as its euro amount.

Line amounts include VAT when the order's `taxesIncluded` is true; the VAT on a line is its
`taxLines` (computed after discounts); shipping uses `discountedPriceSet`, which already has
cart-level shipping discounts taken off, so they are not subtracted again.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from connector import invoice_texts
from connector.errors import OrderDataError
from connector.money import BASE_CURRENCY, ZERO, parse
from connector.order import (
    Address,
    Customer,
    LineKind,
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

SHOP = "shopify"
SHOPIFY_CONVERSION = "euro amounts as Shopify converted the customer's payment (shop money)"
PAID_STATUSES = {"PAID", "PARTIALLY_REFUNDED", "REFUNDED"}
PAYMENT_KINDS = {"SALE", "CAPTURE"}
SHOP_MONEY, CUSTOMER_MONEY = "shopMoney", "presentmentMoney"
CURRENCY_FIELDS = {SHOP_MONEY: "currencyCode", CUSTOMER_MONEY: "presentmentCurrencyCode"}


def gid_number(gid: str) -> str:
    """'gid://shopify/Order/450789469' -> '450789469'."""
    return str(gid).rsplit("/", 1)[-1]


def read_time(value: str) -> datetime:
    """Shopify's ISO 8601 DateTime (ValueError if not a date)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_time(value: object, field: str) -> datetime | None:
    """A plausible date or None; else OrderDataError naming the field and value."""
    return checks.moment(value, field, read_time)


def rate_key(percentage: object) -> str:
    """Shopify has no tax rate ids; a rate is known by its percentage ('21', '9', '8.875').
    It arrives as a float: four decimals are kept, float noise is not."""
    value = parse(percentage, "ratePercentage").quantize(Decimal("0.0001"))
    return f"{value.normalize():f}"


def order_from_shopify(
    payload: dict[str, Any],
    vat_number_attribute: str = "vat_number",
    invoice_currencies: Collection[str] = (),
    invoice_request_keys: tuple[str, ...] = (),
) -> Order:
    """`invoice_currencies`: the currencies invoices may be in; an order the customer paid in
    one of them (other than the shop's) is read in that currency. `invoice_request_keys`: the
    note attributes by which a customer asks for an invoice."""
    with checks.reading():
        order = _order(payload, vat_number_attribute, _side(payload, invoice_currencies))
        attributes = {
            str(a.get("key")): str(a.get("value")) for a in payload.get("customAttributes") or []
        }
    if shop_text.asks(attributes, invoice_request_keys):
        order = replace(order, invoice_requested=True)
    return order


def _side(payload: dict[str, Any], invoice_currencies: Collection[str]) -> str:
    """Which of Shopify's two amounts the order is read in: the shop's money, or the
    customer's when it is another currency invoices may be in."""
    shop = str(payload["currencyCode"]).upper()
    customer = str(payload.get("presentmentCurrencyCode") or shop).upper()
    wanted = {c.upper() for c in invoice_currencies}
    return CUSTOMER_MONEY if customer != shop and customer in wanted else SHOP_MONEY


def _money(money_set: dict[str, Any] | None, field: str, side: str = SHOP_MONEY) -> Decimal:
    if not money_set:
        return ZERO
    return parse(money_set[side]["amount"], field)


def _euros(money_set: dict[str, Any] | None, side: str) -> Decimal | None:
    """Shopify's own conversion of an amount read in the customer's money: its shop money,
    when the shop's currency is the euro."""
    if side != CUSTOMER_MONEY or not money_set:
        return None
    shop_money = money_set[SHOP_MONEY]
    if str(shop_money.get("currencyCode") or "").upper() != BASE_CURRENCY:
        return None
    return parse(shop_money["amount"], "shop money")


def _tax_lines(item: dict[str, Any], side: str) -> list[tuple[str, Decimal, str]]:
    return [
        (
            rate_key(t["ratePercentage"]),
            _money(t["priceSet"], "tax", side),
            str(t.get("title") or ""),
        )
        for t in item.get("taxLines") or []
        if t.get("ratePercentage") is not None
    ]


def _rate_of(taxes: list[tuple[str, Decimal, str]]) -> tuple[str | None, tuple[str, ...]]:
    charged = [key for key, amount, _title in taxes if amount != ZERO]
    if not charged:
        return None, ()
    return charged[0], tuple(charged[1:])


def _order(payload: dict[str, Any], vat_attribute: str, side: str) -> Order:
    incl = bool(payload["taxesIncluded"])
    tax_rates: dict[str, ShopTaxRate] = {}
    for key, amount, title in _tax_lines(payload, side):
        previous = tax_rates.get(key)
        total = amount + (previous.vat_total if previous else ZERO)
        # One percentage under several titles (SGST 6% and CGST 6%): all of them named.
        titles = previous.label.split(" / ") if previous and previous.label else []
        label = " / ".join(dict.fromkeys([*titles, title] if title else titles))
        tax_rates[key] = ShopTaxRate(key, Decimal(key), label, total)

    lines: list[OrderLine] = []
    for item in payload["lineItems"]["nodes"]:
        qty = Decimal(int(item["quantity"]))
        before = _money(item["originalUnitPriceSet"], "price", side) * qty
        discount = sum(
            (
                _money(d["allocatedAmountSet"], "discount", side)
                for d in item["discountAllocations"]
            ),
            ZERO,
        )
        taxes = _tax_lines(item, side)
        rate_id, extra = _rate_of(taxes)
        tax = sum((amount for _k, amount, _t in taxes), ZERO)
        after = before - discount
        lines.append(
            OrderLine(
                kind=LineKind.PRODUCT,
                description=str(item.get("title") or invoice_texts.PRODUCT).strip(),
                quantity=qty,
                net=after - tax if incl else after,
                tax=tax,
                rate_id=rate_id,
                extra_rate_ids=extra,
                # Shopify gives the VAT after discounts only; keeping it on both sides makes the
                # discount line carry exactly the discount the customer got.
                net_before_discount=before - tax if incl else before,
                tax_before_discount=tax,
                sku=str(item.get("sku") or ""),
                is_gift_card=bool(item.get("isGiftCard")),
                line_id=gid_number(item["id"]) if item.get("id") else "",
            )
        )
    for ship in payload["shippingLines"]["nodes"]:
        taxes = _tax_lines(ship, side)
        rate_id, extra = _rate_of(taxes)
        tax = sum((amount for _k, amount, _t in taxes), ZERO)
        price = _money(ship["discountedPriceSet"], "shipping", side)
        lines.append(
            OrderLine(
                kind=LineKind.SHIPPING,
                description=str(ship.get("title") or invoice_texts.SHIPPING),
                quantity=Decimal(1),
                net=price - tax if incl else price,
                tax=tax,
                rate_id=rate_id,
                extra_rate_ids=extra,
                line_id=gid_number(ship["id"]) if ship.get("id") else "",
            )
        )

    status = str(payload.get("displayFinancialStatus") or "")
    payment = _payment(payload)
    paid_at = paid_time(payload)
    modified = parse_time(payload["updatedAt"], "updatedAt")
    if modified is None:
        raise OrderDataError("the order has no updatedAt")
    return Order(
        shop=SHOP,
        data_notes=shop_text.note(payload),
        order_id=gid_number(payload["id"]),
        number=str(payload["name"]).lstrip("#"),
        status=status,
        currency=str(payload[CURRENCY_FIELDS[side]]).upper(),
        prices_include_tax=incl,
        total=_money(payload["totalPriceSet"], "totalPrice", side),
        paid_at=paid_at,
        modified_at=modified,
        customer=_customer(payload, vat_attribute),
        lines=tuple(lines),
        tax_rates=tax_rates,
        payment_method=str(payment.get("gateway") or "") if payment else "",
        transaction_id=f"shopify-{gid_number(payment['id'])}" if payment else "",
        payments=tuple(_transaction(t, side) for t in _payments(payload)),
        exchange_rate_note=SHOPIFY_CONVERSION if side == CUSTOMER_MONEY else "",
        refunds=tuple(
            sorted(
                (_refund(r, incl, side) for r in payload.get("refunds") or []),
                key=lambda r: oldest_first(r.created_at, r.refund_id),
            )
        ),
    )


def _refund(data: dict[str, Any], incl: bool, side: str) -> Refund:
    """A refund's line amounts include VAT when the order's prices do (as its lines do)."""
    lines: list[RefundLine] = []
    for key in ("refundLineItems", "refundShippingLines"):
        if ((data.get(key) or {}).get("pageInfo") or {}).get("hasNextPage"):
            raise ValueError(f"refund {data.get('id')} has more refunded lines than were read")
    for item in (data.get("refundLineItems") or {}).get("nodes") or []:
        subtotal = _money(item.get("subtotalSet"), "refund subtotal", side)
        tax = _money(item.get("totalTaxSet"), "refund tax", side)
        line = item.get("lineItem") or {}
        lines.append(
            RefundLine(
                line_id=gid_number(line["id"]),
                kind=LineKind.PRODUCT,
                description=str(line.get("title") or invoice_texts.PRODUCT),
                quantity=Decimal(int(item.get("quantity") or 0)),
                net=subtotal - tax if incl else subtotal,
                tax=tax,
            )
        )
    for ship in (data.get("refundShippingLines") or {}).get("nodes") or []:
        subtotal = _money(ship.get("subtotalAmountSet"), "refund shipping", side)
        tax = _money(ship.get("taxAmountSet"), "refund shipping tax", side)
        lines.append(
            RefundLine(
                line_id=gid_number((ship.get("shippingLine") or {})["id"]),
                kind=LineKind.SHIPPING,
                description=invoice_texts.SHIPPING,
                quantity=Decimal(1),
                net=subtotal - tax if incl else subtotal,
                tax=tax,
            )
        )
    created = parse_time(data.get("createdAt"), "refund createdAt")
    if created is None:
        raise ValueError("refund without createdAt")
    return Refund(
        refund_id=gid_number(data["id"]),
        created_at=created,
        amount=_money(data.get("totalRefundedSet"), "totalRefunded", side),
        reason=str(data.get("note") or "").strip(),
        lines=tuple(line for line in lines if line.net or line.tax),
        amount_base=_euros(data.get("totalRefundedSet"), side),
        payouts=tuple(
            _transaction(t, side)
            for t in sorted(
                ((data.get("transactions") or {}).get("nodes") or []),
                key=lambda t: (len(gid_number(t["id"])), gid_number(t["id"])),  # by number
            )
            if t.get("kind") == "REFUND" and t.get("status") == "SUCCESS"
        ),
    )


def _transaction(data: dict[str, Any], side: str) -> Payment:
    """A payment or refund transaction: its gateway, amount and Shopify's euro amount."""
    return Payment(
        method=str(data.get("gateway") or ""),
        amount=_money(data.get("amountSet"), "transaction amount", side),
        transaction_id=f"shopify-{gid_number(data['id'])}",
        amount_base=_euros(data.get("amountSet"), side),
    )


def _payments(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The successful sales and captures that paid the order: one payment each."""
    return [
        t
        for t in payload.get("transactions") or []
        if t.get("kind") in PAYMENT_KINDS and t.get("status") == "SUCCESS"
    ]


def paid_time(payload: dict[str, Any]) -> datetime | None:
    """When a paid order was paid: its payment's time, else when Shopify processed it."""
    if payload.get("displayFinancialStatus") not in PAID_STATUSES:
        return None
    payment = _payment(payload)
    paid = payment.get("processedAt") if payment else None
    return parse_time(paid, "payment processedAt") or parse_time(
        payload.get("processedAt"), "processedAt"
    )


def _payment(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The main way of paying (not a gift card; the latest, for captures): refunds go back
    through it."""
    done = _payments(payload)
    non_gift = [t for t in done if t.get("gateway") != "gift_card"]
    chosen = non_gift or done
    return chosen[-1] if chosen else None


def _address(data: dict[str, Any] | None) -> Address:
    data = data or {}
    return Address(
        company=str(data.get("company") or "").strip(),
        first_name=str(data.get("firstName") or "").strip(),
        last_name=str(data.get("lastName") or "").strip(),
        address1=str(data.get("address1") or "").strip(),
        address2=str(data.get("address2") or "").strip(),
        postcode=str(data.get("zip") or "").strip(),
        city=str(data.get("city") or "").strip(),
        country=str(data.get("countryCodeV2") or "").upper(),
    )


def _customer(payload: dict[str, Any], vat_attribute: str) -> Customer:
    customer = payload.get("customer") or {}
    billing = _address(payload.get("billingAddress"))
    if not (billing.first_name or billing.last_name or billing.company):
        billing = Address(
            first_name=str(customer.get("firstName") or ""),
            last_name=str(customer.get("lastName") or ""),
            address1=billing.address1, address2=billing.address2, postcode=billing.postcode,
            city=billing.city, country=billing.country,
        )  # fmt: skip
    shipping = _address(payload.get("shippingAddress")) if payload.get("shippingAddress") else None
    return Customer(
        email=str(payload.get("email") or customer.get("email") or "").strip(),
        billing=billing,
        shipping=shipping,
        vat_number=_vat_number(payload, vat_attribute),
    )


def _vat_number(payload: dict[str, Any], vat_attribute: str) -> str:
    """The first place that gives one: the B2B company location's tax registration, the
    configured metafield on the order or its customer, the order's note attribute."""
    company = payload.get("purchasingEntity") or {}
    settings = (company.get("location") or {}).get("taxSettings") or {}
    found = [
        settings.get("taxRegistrationId"),
        (payload.get("vatNumberField") or {}).get("value"),
        ((payload.get("customer") or {}).get("vatNumberField") or {}).get("value"),
        *(
            a.get("value")
            for a in payload.get("customAttributes") or []
            if str(a.get("key", "")).lower() == vat_attribute.lower()
        ),
    ]
    return next((str(v).strip() for v in found if v and str(v).strip()), "")


def buyer(payload: dict[str, Any], vat_attribute: str = "vat_number") -> Customer:
    """The customer as booking reads them (addresses, VAT number), from any read of an order
    that has those fields (the rates read for `mappings suggest`, too)."""
    return _customer(payload, vat_attribute)
