"""Realistic Dutch demo data: a coffee webshop on WooCommerce and its Moneybird administration.

`woo_order` computes orders the way WooCommerce does (VAT per line, rounded per line; shipping
taxed at the highest rate in the basket; coupons folded into line totals) so the sandbox serves
orders whose figures hang together like a real shop's, in the shape WooCommerce 10 answers them
(tests/fixtures/realshop/ holds the real shop's answers; tests/test_sandbox_contract.py compares).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.woocommerce import WooCommerceSandbox

C = Decimal("0.01")
SHOP_URL = "https://koffie.example"  # the demo shop's address in its orders' links

# Moneybird ids of the demo administration; mappings/*.toml refer to these.
MB_RATE_21 = "400000000000000021"
MB_RATE_9 = "400000000000000009"
MB_RATE_0 = "400000000000000001"
MB_RATE_ICP = "400000000000000002"  # 0% intra-community supply
MB_RATE_EXPORT = "400000000000000003"  # 0% export outside the EU
MB_RATE_DE_OSS = "400000000000000190"  # 19% Germany, One-Stop Shop
MB_RATE_21_PURCHASE = "400000000000000121"
MB_RATE_OLD = "400000000000000019"
LEDGER_HIGH = "410000000000008000"
LEDGER_LOW = "410000000000008010"
LEDGER_SHIPPING = "410000000000008050"
LEDGER_FEES = "410000000000008060"
LEDGER_DISCOUNT = "410000000000008090"
FIN_MOLLIE = "420000000000000001"
FIN_BANK = "420000000000000002"
FIN_PAYPAL = "420000000000000003"
FIN_STRIPE = "420000000000000004"
FIN_GIFT_CARDS = "420000000000000005"  # gift cards sold and not yet redeemed (a liability)

# WooCommerce tax rates of the demo shop: id -> (country, percentage, name, class)
SHOP_RATES = {
    1: ("NL", "21.0000", "BTW hoog", "standard"),
    2: ("NL", "9.0000", "BTW laag", "reduced-rate"),
    3: ("DE", "19.0000", "MwSt", "standard"),
    4: ("", "0.0000", "Nultarief", "zero-rate"),  # exempt-from-VAT sales (EU businesses, export)
}


def _r(value: Decimal) -> Decimal:
    return value.quantize(C, ROUND_HALF_UP)


def _trimmed(value: Decimal | int) -> str:
    """As WooCommerce stores a coupon line's discount: to the cent, trailing zeros dropped."""
    text = f"{_r(Decimal(value)):.2f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _percent(rate: str) -> int | float:
    """A tax line's `rate_percent` as WooCommerce writes it: a whole number without decimals."""
    value = Decimal(rate)
    return int(value) if value == value.to_integral_value() else float(value)


def _meta(meta_id: int, key: str, value: str) -> dict[str, Any]:
    """An order item's meta as the REST API shows it, with its display form."""
    return {"id": meta_id, "key": key, "value": value, "display_key": key, "display_value": value}


IMAGE = {"id": "", "src": ""}  # a product without an image


@dataclass(frozen=True)
class Item:
    name: str
    sku: str
    qty: int
    unit_price: str  # incl. VAT when the shop's prices include tax
    rate_id: int


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    email: str
    address: str
    postcode: str
    city: str
    country: str = "NL"
    company: str = ""
    vat_number: str = ""


def woo_order(
    order_id: int,
    person: Person,
    items: list[Item],
    shipping_net: str,
    created: datetime,
    *,
    prices_include_tax: bool = True,
    coupon: tuple[str, int] | None = None,
    fees: Sequence[tuple[str, str, int]] = (),
    status: str = "completed",
    paid: bool = True,
    payment: tuple[str, str, str] = ("mollie_wc_gateway_ideal", "iDEAL", ""),
    list_rate_percent: bool = True,
) -> dict[str, Any]:
    pct = {rid: Decimal(r[1]) for rid, r in SHOP_RATES.items()}
    line_items: list[dict[str, Any]] = []
    per_rate_tax: dict[int, Decimal] = {}
    ship_tax_by_rate: dict[int, Decimal] = {}
    next_id = order_id * 10
    for item in items:
        p = pct[item.rate_id]
        gross_or_net = Decimal(item.unit_price) * item.qty
        discount = _r(gross_or_net * coupon[1] / 100) if coupon else Decimal(0)
        after = gross_or_net - discount
        if prices_include_tax:
            sub_tax_raw = gross_or_net * p / (100 + p)
            tax_raw = after * p / (100 + p)
            subtotal, total = gross_or_net - _r(sub_tax_raw), after - _r(tax_raw)
        else:
            subtotal, total = gross_or_net, after
            sub_tax_raw, tax_raw = subtotal * p / 100, total * p / 100
        next_id += 1
        line_items.append({
            "id": next_id, "name": item.name, "product_id": 100 + len(line_items),
            "variation_id": 0, "quantity": item.qty, "tax_class": SHOP_RATES[item.rate_id][3]
            if SHOP_RATES[item.rate_id][3] != "standard" else "",
            "subtotal": f"{subtotal:.2f}", "subtotal_tax": f"{_r(sub_tax_raw):.2f}",
            "total": f"{total:.2f}", "total_tax": f"{_r(tax_raw):.2f}",
            # Each rate's VAT is kept unrounded and shown to the cent (the API's `dp`, 2).
            "taxes": [{"id": item.rate_id, "total": f"{_r(tax_raw):.2f}", "subtotal": f"{_r(sub_tax_raw):.2f}"}],  # noqa: E501
            "meta_data": [], "sku": item.sku, "price": float(total / item.qty), "image": IMAGE,
            "parent_name": None,
        })  # fmt: skip
        per_rate_tax[item.rate_id] = per_rate_tax.get(item.rate_id, Decimal(0)) + _r(tax_raw)
    fee_lines: list[dict[str, Any]] = []
    for name, fee_net, fee_rate in fees:
        fee_tax = _r(Decimal(fee_net) * pct[fee_rate] / 100)
        next_id += 1
        fee_lines.append({
            "id": next_id, "name": name, "tax_class": "", "tax_status": "taxable", "amount": "",
            "total": fee_net, "total_tax": f"{fee_tax:.2f}",
            "taxes": [{"id": fee_rate, "total": f"{fee_tax:.2f}", "subtotal": ""}],
            "meta_data": [],
        })  # fmt: skip
        per_rate_tax[fee_rate] = per_rate_tax.get(fee_rate, Decimal(0)) + fee_tax
    # WooCommerce's default: shipping is taxed at the highest rate among the basket's items.
    ship_rate = max({i.rate_id for i in items}, key=lambda rid: pct[rid])
    ship_net = Decimal(shipping_net)
    ship_tax = _r(ship_net * pct[ship_rate] / 100)
    if ship_net:
        ship_tax_by_rate[ship_rate] = ship_tax
    next_id += 1
    # Made at the checkout: the shipping line lists what it carries.
    carried = ", ".join(f"{i.name} &times; {i.qty}" for i in items)
    shipping_lines = [{
        "id": next_id, "method_title": "PostNL pakket" if ship_net else "Gratis verzending",
        "method_id": "flat_rate" if ship_net else "free_shipping", "instance_id": "",
        "total": f"{ship_net:.2f}", "total_tax": f"{ship_tax:.2f}",
        # Free shipping too names the rate it would be taxed at.
        "taxes": [{"id": ship_rate, "total": f"{ship_tax:.2f}", "subtotal": ""}],
        "tax_status": "taxable", "meta_data": [_meta(order_id * 7 + 5, "Items", carried)],
    }]  # fmt: skip
    tax_lines: list[dict[str, Any]] = []
    for rate_id in sorted(set(per_rate_tax) | set(ship_tax_by_rate)):
        next_id += 1
        country, rate, name, _cls = SHOP_RATES[rate_id]
        line: dict[str, Any] = {
            "id": next_id, "rate_code": f"{country}-{name.upper().replace(' ', ' ')}-1",
            "rate_id": rate_id, "label": name, "compound": False,
            "tax_total": f"{per_rate_tax.get(rate_id, Decimal(0)):.2f}",
            "shipping_tax_total": f"{ship_tax_by_rate.get(rate_id, Decimal(0)):.2f}",
            "meta_data": [],
        }  # fmt: skip
        if list_rate_percent:
            line["rate_percent"] = _percent(rate)
        tax_lines.append(line)
    net = sum((Decimal(li["total"]) for li in line_items), Decimal(0)) + ship_net
    net += sum((Decimal(f["total"]) for f in fee_lines), Decimal(0))
    tax = sum(per_rate_tax.values(), Decimal(0)) + sum(ship_tax_by_rate.values(), Decimal(0))
    discount_total = sum(Decimal(li["subtotal"]) - Decimal(li["total"]) for li in line_items)
    discount_tax = sum(Decimal(li["subtotal_tax"]) - Decimal(li["total_tax"]) for li in line_items)
    local = ZoneInfo("Europe/Amsterdam")
    paid_at = created + timedelta(minutes=2)
    order_key = f"wc_order_{order_id:x}demo"
    billing = {
        "first_name": person.first, "last_name": person.last, "company": person.company,
        "address_1": person.address, "address_2": "", "city": person.city, "state": "",
        "postcode": person.postcode, "country": person.country, "email": person.email,
        "phone": "",
    }  # fmt: skip
    meta = [{"id": order_id * 7, "key": "_wc_order_attribution_source_type", "value": "typein"}]
    if person.vat_number:
        meta.append(
            {"id": order_id * 7 + 1, "key": "_billing_vat_number", "value": person.vat_number}
        )

    def fmt_local(moment: datetime) -> str:
        return moment.astimezone(local).strftime("%Y-%m-%dT%H:%M:%S")

    def fmt_gmt(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")

    return {
        "id": order_id, "parent_id": 0, "number": str(order_id),
        "order_key": order_key, "created_via": "store-api", "version": "10.0.2",
        "status": status, "currency": "EUR",
        "date_created": fmt_local(created), "date_created_gmt": fmt_gmt(created),
        "date_modified": fmt_local(paid_at), "date_modified_gmt": fmt_gmt(paid_at),
        "discount_total": f"{discount_total:.2f}", "discount_tax": f"{discount_tax:.2f}",
        "shipping_total": f"{ship_net:.2f}", "shipping_tax": f"{ship_tax:.2f}",
        "cart_tax": f"{sum(per_rate_tax.values(), Decimal(0)):.2f}",
        "total": f"{net + tax:.2f}", "total_tax": f"{tax:.2f}",
        "prices_include_tax": prices_include_tax, "customer_id": 0,
        "customer_ip_address": "", "customer_user_agent": "", "customer_note": "",
        "billing": billing,
        "shipping": {k: v for k, v in billing.items() if k != "email"},
        "payment_method": payment[0], "payment_method_title": payment[1],
        "transaction_id": payment[2] if paid else "",
        "date_paid": fmt_local(paid_at) if paid else None,
        "date_paid_gmt": fmt_gmt(paid_at) if paid else None,
        "date_completed": fmt_local(paid_at) if status == "completed" else None,
        "date_completed_gmt": fmt_gmt(paid_at) if status == "completed" else None,
        "cart_hash": "", "meta_data": meta, "line_items": line_items, "tax_lines": tax_lines,
        "shipping_lines": shipping_lines, "fee_lines": fee_lines,
        "coupon_lines": [{"id": order_id * 3, "code": coupon[0].lower(),
                          "discount": _trimmed(discount_total),
                          "discount_tax": _trimmed(discount_tax),
                          "meta_data": [_meta(order_id * 7 + 3, "coupon_info", json.dumps(
                              [order_id, coupon[0].lower(), "percent", coupon[1]],
                              separators=(",", ":")))],
                          "discount_type": "percent", "nominal_amount": coupon[1],
                          "free_shipping": False}]
        if coupon else [],
        "refunds": [],
        "payment_url": f"{SHOP_URL}/checkout/order-pay/{order_id}/?pay_for_order=true"
                       f"&key={order_key}",
        "is_editable": status in ("pending", "on-hold", "auto-draft"),
        "needs_payment": not paid and status in ("pending", "failed"),
        "needs_processing": True, "currency_symbol": "€",
    }  # fmt: skip


ANNA = Person(
    "Anna", "de Vries", "anna.devries@example.nl", "Prinsengracht 263", "1016 GV", "Amsterdam"
)
ANNA_AGAIN = Person(
    "Anna", "de Vries", " Anna.deVries@Example.NL ", "Prinsengracht 263", "1016 GV", "Amsterdam"
)
JEROEN = Person(
    "Jeroen",
    "Bakker",
    "jeroen@bakkerij-bakker.example",
    "Dorpsstraat 12",
    "3421 AB",
    "Oudewater",
    company="Bakkerij Bakker B.V.",
    vat_number="NL853746333B01",
)
FATIMA = Person(
    "Fatima", "El Amrani", "fatima.elamrani@example.com", "Oudegracht 150", "3511 AZ", "Utrecht"
)
PIETER = Person("Pieter", "Jansen", "p.jansen@example.org", "Grote Markt 1", "9711 LV", "Groningen")
SOPHIE = Person(
    "Sophie", "Müller", "sophie.mueller@example.de", "Torstraße 49", "10119", "Berlin", country="DE"
)
LOTTE = Person("Lotte", "Visser", "lotte.visser@example.nl", "Melkmarkt 5", "8011 MC", "Zwolle")

BEANS = ("Koffiebonen Ethiopië 500g", "KB-ETH-500", "12.95", 2)
MOKA = ("Moka pot 6 kops", "MP-6", "34.95", 1)


def demo_orders(start: datetime) -> list[dict[str, Any]]:
    """Ten orders over a few days: 21% and 9%, shipping, coupons, a fee, repeat customers,
    a business customer already known in Moneybird, one German order whose 19% rate no rule
    maps, and one order still processing (not selected)."""

    def at(hours: float) -> datetime:
        return start + timedelta(hours=hours)

    def item(spec: tuple[str, str, str, int], qty: int) -> Item:
        return Item(spec[0], spec[1], qty, spec[2], spec[3])

    mollie = ("mollie_wc_gateway_ideal", "iDEAL", "tr_WDqYK6vllg")
    return [
        woo_order(1001, ANNA, [item(BEANS, 2), item(MOKA, 1)], "4.95", at(0),
                  payment=(*mollie[:2], "tr_7UhSN1zuXS")),
        woo_order(1002, JEROEN, [Item("Espresso blend 1kg", "EB-1000", 10, "21.50", 2)], "0",
                  at(3), payment=("bacs", "Bankoverschrijving", "")),
        woo_order(1003, FATIMA, [Item("Melkopschuimer", "MS-1", 1, "49.00", 1),
                                 Item("Barista kop (set van 2)", "BK-2", 1, "19.95", 1)],
                  "4.95", at(7), coupon=("WELKOM10", 10), payment=(*mollie[:2], "tr_3kQ9aZ")),
        woo_order(1004, ANNA_AGAIN, [Item("Koffiefilters nr. 4 (100 st.)", "KF-4", 3, "3.49", 1)],
                  "4.95", at(20), payment=("paypal", "PayPal", "9XK12345AB678901C")),
        woo_order(1005, PIETER, [Item("Handkoffiemolen", "HM-1", 1, "59.95", 1),
                                 Item("Thee Earl Grey 100g", "TH-EG", 2, "6.45", 2)],
                  "6.95", at(26), coupon=("ZOMER15", 15), payment=(*mollie[:2], "tr_p8Lm2Q")),
        woo_order(1006, SOPHIE, [Item("Moka pot 6 kops", "MP-6", 1, "34.95", 3)], "9.95", at(30),
                  payment=(*mollie[:2], "tr_De19Xx")),
        woo_order(1007, LOTTE, [Item("Cadeaubox koffie", "CB-1", 1, "24.95", 2)], "4.95", at(33),
                  fees=[("Cadeauverpakking", "2.07", 1)], payment=(*mollie[:2], "tr_Gft7Ww")),
        woo_order(1008, PIETER, [item(BEANS, 1)], "4.95", at(40), status="processing",
                  payment=(*mollie[:2], "tr_Pr0cSs")),
        woo_order(1009, FATIMA, [Item("Stroopwafels (pak)", "SW-8", 6, "2.99", 2), item(BEANS, 1)],
                  "4.95", at(45), payment=(*mollie[:2], "tr_Sw6Pk9")),
        woo_order(1010, JEROEN, [Item("Espresso blend 1kg", "EB-1000", 4, "21.50", 2)], "0",
                  at(50), coupon=("VASTE-KLANT", 5), payment=("bacs", "Bankoverschrijving", "")),
    ]  # fmt: skip


def seed_shop(shop: WooCommerceSandbox, orders: list[dict[str, Any]]) -> None:
    for rate_id, (country, rate, name, cls) in SHOP_RATES.items():
        shop.tax_rates[rate_id] = {
            "id": rate_id, "country": country, "state": "", "postcode": "", "city": "",
            "postcodes": [], "cities": [], "rate": rate, "name": name, "priority": 1,
            "compound": False, "shipping": True, "order": rate_id, "class": cls,
        }  # fmt: skip
    shop.payment_gateways[:] = [
        {"id": gid, "title": title, "description": "", "order": n, "enabled": enabled,
         "method_title": title, "method_description": "", "settings": {}}
        for n, (gid, title, enabled) in enumerate([
            ("bacs", "Bankoverschrijving", True), ("cheque", "Cheque", False),
            ("cod", "Rembours", False), ("paypal", "PayPal", True),
            ("mollie_wc_gateway_ideal", "iDEAL", True),
            ("mollie_wc_gateway_creditcard", "Creditcard", True),
        ])
    ]  # fmt: skip
    for order in orders:
        modified = datetime.fromisoformat(order["date_modified_gmt"]).replace(tzinfo=UTC)
        shop.put_order(order, modified=modified)


# The ledgers a bookkeeper makes before turning [payouts] on (docs/payouts.md).
LEDGER_TRANSFERS = "460000000000000901"  # payouts on their way to the bank
LEDGER_FEES_PAYABLE = "460000000000000902"  # Mollie's fees, until its monthly invoice


def seed_payout_ledgers(mb: MoneybirdSandbox) -> None:
    """A transfer ledger ("Betalingen onderweg", a current asset) and a fees-payable ledger
    ("Nog te betalen Mollie-kosten", a current liability), as the README's setup asks."""

    def ledger(lid: str, name: str, code: str, kind: str) -> dict[str, Any]:
        return {"id": lid, "administration_id": int(mb.administration_id), "name": name,
                "account_type": kind, "account_id": code, "parent_id": None,
                "allowed_document_types": []}  # fmt: skip

    mb.ledger_accounts += [
        ledger(LEDGER_TRANSFERS, "Betalingen onderweg", "1999", "current_assets"),
        ledger(LEDGER_FEES_PAYABLE, "Nog te betalen Mollie-kosten", "1690", "current_liabilities"),
    ]


def seed_moneybird(mb: MoneybirdSandbox) -> None:
    def rate(
        rid: str, name: str, pct: str, kind: str = "sales_invoice", active: bool = True
    ) -> dict[str, Any]:
        return {"id": rid, "administration_id": int(mb.administration_id), "name": name,
                "percentage": pct, "tax_rate_type": kind, "show_tax": True, "active": active,
                "country": None, "created_at": "2026-01-01T00:00:00.000Z",
                "updated_at": "2026-01-01T00:00:00.000Z"}  # fmt: skip

    mb.tax_rates[:] = [
        rate(MB_RATE_21, "21% btw", "21.0"),
        rate(MB_RATE_9, "9% btw", "9.0"),
        rate(MB_RATE_0, "0% btw", "0.0"),
        rate(MB_RATE_ICP, "0% btw ICP (intracommunautair)", "0.0"),
        rate(MB_RATE_EXPORT, "0% btw export buiten de EU", "0.0"),
        {**rate(MB_RATE_DE_OSS, "19% Duitsland (OSS)", "19.0"), "country": "DE"},
        rate(MB_RATE_21_PURCHASE, "21% btw", "21.0", kind="purchase_invoice"),
        rate(MB_RATE_OLD, "6% btw (oud)", "6.0", active=False),
    ]

    def ledger(lid: str, name: str, code: str, kind: str = "revenue") -> dict[str, Any]:
        return {"id": lid, "administration_id": int(mb.administration_id), "name": name,
                "account_type": kind, "account_id": code, "parent_id": None,
                "allowed_document_types": ["sales_invoice"]}  # fmt: skip

    mb.ledger_accounts[:] = [
        ledger(LEDGER_HIGH, "Omzet hoog tarief", "8000"),
        ledger(LEDGER_LOW, "Omzet laag tarief", "8010"),
        ledger(LEDGER_SHIPPING, "Verzendkosten", "8050"),
        ledger(LEDGER_FEES, "Overige opbrengsten", "8060"),
        ledger(LEDGER_DISCOUNT, "Kortingen", "8090"),
    ]
    mb.financial_accounts[:] = [
        {
            "id": FIN_MOLLIE,
            "type": "PaymentServiceProvider",
            "name": "Mollie",
            "identifier": "Mollie",
            "currency": "EUR",
            "active": True,
        },
        {
            "id": FIN_BANK,
            "type": "FinancialAccount",
            "name": "Bankrekening",
            "identifier": "NL91ABNA0417164300",
            "currency": "EUR",
            "active": True,
        },
        {
            "id": FIN_PAYPAL,
            "type": "PaymentServiceProvider",
            "name": "PayPal",
            "identifier": "PayPal",
            "currency": "EUR",
            "active": True,
        },
        {
            "id": FIN_STRIPE,
            "type": "PaymentServiceProvider",
            "name": "Stripe",
            "identifier": "Stripe",
            "currency": "EUR",
            "active": True,
        },
        {
            "id": FIN_GIFT_CARDS,
            "type": "FinancialAccount",
            "name": "Cadeaubonnen (tussenrekening)",
            "identifier": "Cadeaubonnen",
            "currency": "EUR",
            "active": True,
        },
    ]
    mb.workflows[:] = [
        {
            "id": "430000000000000001",
            "type": "InvoiceWorkflow",
            "name": "Standaard",
            "default": True,
            "currency": "EUR",
            "language": "nl",
            "active": True,
            "prices_are_incl_tax": True,
        }
    ]
    mb.document_styles[:] = [
        {"id": "440000000000000001", "name": "Standaard huisstijl", "default": True}
    ]
    # A customer the bookkeeper already had in Moneybird: the connector must reuse this contact.
    mb.add_contact(
        company_name="Bakkerij Bakker B.V.", firstname="Jeroen", lastname="Bakker",
        address1="Dorpsstraat 12", zipcode="3421 AB", city="Oudewater", country="NL",
        send_invoices_to_email="Jeroen@Bakkerij-Bakker.example", tax_number="NL853746333B01",
        customer_id="1001",
    )  # fmt: skip
