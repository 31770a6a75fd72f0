"""Demo orders for the Shopify sandbox, computed the way Shopify does.

Per line, VAT is charged after discounts: tax-inclusive shops take
round((price x qty - discounts) x r / (1 + r)), tax-exclusive ones round(net x r); shipping is
taxed on its discounted price. Amounts are EUR shop money.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connector.sandbox.seed import ANNA, ANNA_AGAIN, FATIMA, JEROEN, LOTTE, PIETER, SOPHIE, Person
from connector.sandbox.shopify import PAYMENTS_GATEWAY, PAYOUTS_SCOPE, ShopifySandbox

C = Decimal("0.01")


def order_gid(number: int) -> str:
    """The Shopify id of the demo order named #number."""
    return f"gid://shopify/Order/{5_000_000 + number}"


def _r(value: Decimal) -> Decimal:
    return value.quantize(C, ROUND_HALF_UP)


def _money(amount: Decimal, currency: str = "EUR") -> dict[str, Any]:
    money = {"amount": f"{amount:.2f}", "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": money}


@dataclass(frozen=True)
class Product:
    title: str
    sku: str
    price: str
    rate: int  # percent
    qty: int = 1
    discount: str = "0"  # amount taken off this line
    gift_card: bool = False


def shopify_order(
    number: int,
    person: Person,
    products: list[Product],
    shipping: str,
    created: datetime,
    *,
    incl: bool = True,
    shipping_discount: str = "0",
    status: str = "PAID",
    test: bool = False,
    gateway: str = "mollie",
    vat_number: str = "",
) -> dict[str, Any]:
    taxes: dict[int, Decimal] = {}
    lines, net_total, gross_total = [], Decimal(0), Decimal(0)
    for n, p in enumerate(products):
        r = Decimal(p.rate)
        after = Decimal(p.price) * p.qty - Decimal(p.discount)
        tax = _r(after * r / (100 + r)) if incl else _r(after * r / 100)
        if p.gift_card:
            tax = Decimal(0)
        taxes[p.rate] = taxes.get(p.rate, Decimal(0)) + tax
        gross_total += after if incl else after + tax
        lines.append(
            {
                "id": f"gid://shopify/LineItem/{number * 100 + n}",
                "title": p.title,
                "sku": p.sku,
                "quantity": p.qty,
                "isGiftCard": p.gift_card,
                "originalUnitPriceSet": _money(Decimal(p.price)),
                "discountAllocations": [{"allocatedAmountSet": _money(Decimal(p.discount))}]
                if Decimal(p.discount)
                else [],
                "taxLines": []
                if p.gift_card
                else [
                    {
                        "title": f"BTW {p.rate}%",
                        "rate": p.rate / 100,
                        "ratePercentage": float(p.rate),
                        "priceSet": _money(tax),
                    }
                ],
            }
        )
    ship_rate = max((p.rate for p in products if not p.gift_card), default=21)
    ship_price = Decimal(shipping) - Decimal(shipping_discount)
    ship_tax = Decimal(0)
    ship_lines = []
    if Decimal(shipping):
        r = Decimal(ship_rate)
        ship_tax = _r(ship_price * r / (100 + r)) if incl else _r(ship_price * r / 100)
        if ship_tax:
            taxes[ship_rate] = taxes.get(ship_rate, Decimal(0)) + ship_tax
        gross_total += ship_price if incl else ship_price + ship_tax
        ship_lines.append(
            {
                "id": f"gid://shopify/ShippingLine/{number}0",
                "title": "PostNL standaard",
                "discountedPriceSet": _money(ship_price),
                "taxLines": [
                    {
                        "title": f"BTW {ship_rate}%",
                        "rate": ship_rate / 100,
                        "ratePercentage": float(ship_rate),
                        "priceSet": _money(ship_tax),
                    }
                ]
                if ship_tax
                else [],
            }
        )
    del net_total
    address = {
        "firstName": person.first,
        "lastName": person.last,
        "company": person.company or None,
        "address1": person.address,
        "address2": None,
        "zip": person.postcode,
        "city": person.city,
        "countryCodeV2": person.country,
    }
    processed = created + timedelta(minutes=1)
    paid = status in ("PAID", "PARTIALLY_REFUNDED", "REFUNDED")
    stamp = processed.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": order_gid(number),
        "name": f"#{number}",
        "createdAt": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "processedAt": stamp,
        "updatedAt": stamp,
        "test": test,
        "cancelledAt": None,
        "displayFinancialStatus": status,
        "displayFulfillmentStatus": "UNFULFILLED",
        "currencyCode": "EUR",
        "presentmentCurrencyCode": "EUR",
        "taxesIncluded": incl,
        "email": person.email,
        "customAttributes": [{"key": "vat_number", "value": vat_number}] if vat_number else [],
        "customer": {
            "email": person.email.strip().lower(),
            "firstName": person.first,
            "lastName": person.last,
        },
        "billingAddress": address,
        "shippingAddress": address,
        "totalPriceSet": _money(gross_total),
        "taxLines": [
            {
                "title": f"BTW {rate}%",
                "rate": rate / 100,
                "ratePercentage": float(rate),
                "priceSet": _money(amount),
            }
            for rate, amount in sorted(taxes.items())
            if amount
        ],
        "lineItems": lines,
        "shippingLines": ship_lines,
        "transactions": [
            {
                "id": f"gid://shopify/OrderTransaction/{9_000_000 + number}",
                "kind": "SALE",
                "status": "SUCCESS",
                "gateway": gateway,
                "processedAt": stamp,
                "amountSet": _money(gross_total),
            }
        ]
        if paid
        else [],
    }


BEANS = Product("Koffiebonen Ethiopië 500g", "KB-ETH-500", "12.95", 9)
MOKA = Product("Moka pot 6 kops", "MP-6", "34.95", 21)


def shopify_demo_orders(start: datetime) -> list[dict[str, Any]]:
    """Eight orders: tax-inclusive EUR with 21% and 9%, a discount, free shipping by discount,
    a tax-exclusive business order, a pending payment, a test order, a gift card sale, a German
    order at 19% no rule maps, and one with more lines than a page holds."""

    def at(hours: float) -> datetime:
        return start + timedelta(hours=hours)

    wafels = [
        Product(f"Stroopwafels {taste}", f"SW-{n}", "3.27", 9)
        for n, taste in enumerate(
            [
                "naturel",
                "karamel",
                "honing",
                "kaneel",
                "chocolade",
                "vanille",
                "koffie",
                "speculaas",
                "noten",
                "kokos",
                "citroen",
                "gember",
            ]
        )
    ]
    return [
        shopify_order(2001, ANNA, [Product(**{**BEANS.__dict__, "qty": 2}), MOKA], "5.95", at(0)),
        shopify_order(
            2002,
            FATIMA,
            [Product("Melkopschuimer", "MS-1", "49.00", 21, discount="4.90")],
            "5.95",
            at(2),
            shipping_discount="5.95",
            gateway="paypal",
        ),
        shopify_order(
            2003,
            JEROEN,
            [Product("Espresso blend 1kg", "EB-1000", "19.72", 9, qty=10)],
            "0",
            at(4),
            incl=False,
            gateway="bank_transfer",
            vat_number=JEROEN.vat_number,
        ),
        shopify_order(2004, PIETER, [MOKA], "5.95", at(6), status="PENDING"),
        shopify_order(2005, LOTTE, [BEANS], "5.95", at(7), test=True),
        shopify_order(
            2006, LOTTE, [Product("Cadeaubon", "GIFT-25", "25.00", 0, gift_card=True)], "0", at(8)
        ),
        shopify_order(
            2007, SOPHIE, [Product("Moka pot 6 kops", "MP-6", "34.95", 19)], "9.95", at(9)
        ),
        shopify_order(2008, ANNA_AGAIN, [BEANS], "5.95", at(10)),
        shopify_order(2009, FATIMA, wafels, "5.95", at(12)),
    ]


def seed_shopify(shop: ShopifySandbox, orders: list[dict[str, Any]]) -> None:
    for order in orders:
        moment = datetime.fromisoformat(order["updatedAt"].replace("Z", "+00:00"))
        shop.put_order(order, updated=moment)


def shopify_payments_demo_orders(start: datetime) -> list[dict[str, Any]]:
    """The demo orders with every payment Mollie took made through Shopify Payments instead."""
    orders = shopify_demo_orders(start)
    for order in orders:
        for transaction in order["transactions"]:
            if transaction["gateway"] == "mollie":
                transaction["gateway"] = PAYMENTS_GATEWAY
    return orders


def seed_shopify_payments(shop: ShopifySandbox, refund: bool = True) -> list[dict[str, Any]]:
    """Shopify Payments payouts for the orders in the sandbox paid through it (test orders
    left out, as Shopify does): the first half of them paid out half an hour after the last
    of them, then, with `refund`, the shipping of the first order refunded, and the rest paid
    out with that refund now. Fees at the sandbox's rate, so each payout adds up exactly."""
    shop.shopify_payments = True
    shop.scopes = tuple(dict.fromkeys((*shop.scopes, PAYOUTS_SCOPE)))
    paid = sorted(
        (
            order
            for order in shop.orders.values()
            if not order.get("test")
            and any(
                t["gateway"] == PAYMENTS_GATEWAY
                and t["kind"] == "SALE"
                and t["status"] == "SUCCESS"
                for t in order.get("transactions") or []
            )
        ),
        key=lambda order: (order["processedAt"], order["id"]),
    )
    if not paid:
        raise ValueError("no order in the sandbox was paid through Shopify Payments")
    first, rest = paid[: (len(paid) + 1) // 2], paid[(len(paid) + 1) // 2 :]
    for order in first:
        shop.payments_charge(order["id"])
    last = datetime.fromisoformat(first[-1]["processedAt"].replace("Z", "+00:00"))
    payouts = [shop.pay_out(last + timedelta(minutes=30), trace_id=f"SP-{len(shop.payouts) + 1}")]
    for order in rest:
        shop.payments_charge(order["id"])
    refunded = paid[0]
    if refund and refunded["shippingLines"]:
        line = refunded["shippingLines"][0]
        taxes = line["taxLines"]
        tax = taxes[0]["priceSet"]["shopMoney"]["amount"] if taxes else "0.00"
        price = line["discountedPriceSet"]["shopMoney"]["amount"]
        made = shop.refund(refunded["id"], shipping=[(0, price, tax)], note="shipping refunded")
        shop.payments_refund(refunded["id"], made)
    if rest or refund:
        payouts.append(shop.pay_out(trace_id=f"SP-{len(shop.payouts) + 1}"))
    return payouts
