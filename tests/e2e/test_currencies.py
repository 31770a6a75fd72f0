"""Orders in another currency: invoiced in it, payments with their amount in euros."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from connector.config import load_config
from connector.lookups.ecb import EcbRates
from connector.runtime import build
from connector.sandbox.http import LocalServer, Request, Response
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import ANNA, FIN_MOLLIE, Item, woo_order
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import OrderState
from tests.conftest import secrets_env, write_config

D = Decimal


def ecb_xml(days: dict[date, dict[str, str]]) -> bytes:
    cubes = "".join(
        f'<Cube time="{day.isoformat()}">'
        + "".join(f'<Cube currency="{c}" rate="{r}"/>' for c, r in rates.items())
        + "</Cube>"
        for day, rates in sorted(days.items(), reverse=True)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><gesmes:Envelope '
        'xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
        'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">'
        f"<gesmes:subject>Reference rates</gesmes:subject><Cube>{cubes}</Cube></gesmes:Envelope>"
    ).encode()


class FakeEcb:
    """The ECB's rate files on 127.0.0.1; `down` answers 503."""

    def __init__(self, days: dict[date, dict[str, str]]) -> None:
        self.days = days
        self.down = False
        self.asked: list[str] = []
        self.server = LocalServer(self.handle)

    def handle(self, req: Request) -> Response:
        self.asked.append(req.path)
        if self.down:
            return Response(503, {"error": "unavailable"})
        return Response(200, raw=ecb_xml(self.days), content_type="text/xml")


def test_the_rate_is_that_of_the_paid_date_or_the_last_publication_before_it() -> None:
    friday, monday = date(2026, 11, 13), date(2026, 11, 16)
    ecb = FakeEcb({friday: {"USD": "1.0512", "GBP": "0.8760"}, monday: {"USD": "1.0530"}})
    with ecb.server:
        rates = EcbRates(ecb.server.url)
        assert rates.per_euro("USD", date(2026, 11, 15)) == (D("1.0512"), friday)  # a Sunday
        assert rates.per_euro("usd", monday) == (D("1.0530"), monday)
        assert rates.per_euro("JPY", monday) is None
    assert ecb.asked == ["/eurofxref-hist-90d.xml"]  # read once


def usd_config(tmp_path: Path, shop: WooCommerceSandbox, mb: MoneybirdSandbox, extra: str = ""):  # type: ignore[no-untyped-def]
    path = write_config(tmp_path, shop.url, mb.api_url, mb.administration_id,
                        extra='currencies = ["EUR", "USD"]\n' + extra)  # fmt: skip
    return load_config(path, environ=secrets_env(shop, mb))


def usd_order(order_id: int, when: datetime, meta: list[dict[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """A lamp 121.00 incl. 21% (VAT 21.00) and no shipping, paid in US dollars."""
    order = woo_order(order_id, ANNA, [Item("Lamp", "L", 1, "121.00", 1)], "0", when)
    order["currency"] = "USD"
    order["meta_data"] = [*order["meta_data"], *meta]
    return order


def invoice_for(mb: MoneybirdSandbox, reference: str) -> dict[str, Any]:
    return next(i for i in mb.invoices.values() if i["reference"] == reference
                and not i.get("original_sales_invoice_id"))  # fmt: skip


def test_the_shops_own_conversion_is_the_payments_euro_amount(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    shop.orders.clear()
    meta = [{"id": 1, "key": "_order_total_base_currency", "value": "114.73"}]
    shop.put_order(usd_order(1040, datetime.now(UTC) - timedelta(hours=1), meta))
    rt = build(usd_config(tmp_path, shop, moneybird))
    try:
        assert rt.engine().run_pass().booked == 1
    finally:
        rt.close()
    invoice = invoice_for(moneybird, "WC-1040")
    assert invoice["currency"] == "USD" and invoice["state"] == "paid"
    assert D(invoice["total_price_incl_tax"]) == D("121.00")
    [payment] = invoice["payments"]
    assert (D(payment["price"]), D(payment["price_base"])) == (D("121.00"), D("114.73"))


def test_ecb_rates_for_payment_and_refund_and_an_outage_waits(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    paid = datetime.now(UTC) - timedelta(days=3)
    local = paid.astimezone(ZoneInfo("Europe/Amsterdam")).date()
    ecb = FakeEcb({
        local - timedelta(days=1): {"USD": "1.0400"},
        local: {"USD": "1.1000"},
        local + timedelta(days=1): {"USD": "1.2500"},
    })  # fmt: skip
    shop.orders.clear()
    shop.put_order(usd_order(1041, paid))
    with ecb.server:
        config = usd_config(tmp_path, shop, moneybird,
                            f'exchange_rates = "ecb"\necb_url = "{ecb.server.url}"\n')  # fmt: skip
        rt = build(config)
        try:
            ecb.down = True
            report = rt.engine().run_pass()
            assert (report.booked, report.parked, report.failed) == (0, 0, 1)
            waiting = rt.store.order("woocommerce:1041")
            assert waiting is not None and waiting.state == OrderState.FAILED
            assert "ECB's exchange rates could not be read" in (waiting.last_error or "")
            ecb.down = False
            assert rt.engine().run_pass().booked == 1
            # 121.00 USD at 1.1000 per euro: 110.00 euros.
            invoice = invoice_for(moneybird, "WC-1041")
            [payment] = invoice["payments"]
            assert (D(payment["price"]), D(payment["price_base"])) == (D("121.00"), D("110.00"))
            booked = rt.store.order("woocommerce:1041")
            assert booked is not None and "ECB rate" in (booked.notes or "")

            # A refund of 60.50 the next day: 60.50 / 1.2500 = 48.40 euros back.
            lamp = shop.orders[1041]["line_items"][0]["id"]
            shop.refund(1041, items=[(lamp, 1, "50.00", "10.50")], when=paid + timedelta(days=1))
            assert rt.engine().run_pass().refunds_booked == 1
        finally:
            rt.close()
    [credit] = [i for i in moneybird.invoices.values() if i.get("original_sales_invoice_id")]
    assert credit["currency"] == "USD" and credit["state"] == "paid"
    [payout] = credit["payments"]
    assert (D(payout["price"]), D(payout["price_base"])) == (D("-60.50"), D("-48.40"))


def test_a_foreign_currency_without_euro_amounts_is_parked(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    shop.orders.clear()
    shop.put_order(usd_order(1042, datetime.now(UTC) - timedelta(hours=1)))
    rt = build(usd_config(tmp_path, shop, moneybird))
    try:
        assert rt.engine().run_pass().parked == 1
        parked = rt.store.order("woocommerce:1042")
        assert parked is not None
        assert "exchange_rates = 'ecb'" in (parked.park_reason or "")
    finally:
        rt.close()
    assert not moneybird.invoices


# --- Shopify: a euro shop, a customer who paid in US dollars -----------------------------------


def both(usd: str, eur: str) -> dict[str, Any]:
    """A Shopify amount: the customer's money (USD) and Shopify's conversion (EUR shop money)."""
    return {"presentmentMoney": {"amount": usd, "currencyCode": "USD"},
            "shopMoney": {"amount": eur, "currencyCode": "EUR"}}  # fmt: skip


def dollar_order(number: int, created: datetime) -> dict[str, Any]:
    """A lamp 40.00 USD incl. 21% (VAT round(40.00 x 21/121 = 6.942) = 6.94) and shipping 6.05
    USD (VAT 1.05): 46.05 USD. Shopify's euro shop money at 0.90: lamp 36.00 (VAT 6.25),
    shipping 5.45 (VAT 0.95), total 41.45 EUR."""
    from connector.sandbox.shopify_seed import shopify_order

    order = shopify_order(number, ANNA, [], "0", created)
    order["presentmentCurrencyCode"] = "USD"
    order["lineItems"] = [{
        "id": f"gid://shopify/LineItem/{number}01", "title": "Lamp", "sku": "L", "quantity": 1,
        "isGiftCard": False, "originalUnitPriceSet": both("40.00", "36.00"),
        "discountAllocations": [],
        "taxLines": [{"title": "BTW 21%", "rate": 0.21, "ratePercentage": 21.0,
                      "priceSet": both("6.94", "6.25")}],
    }]  # fmt: skip
    order["shippingLines"] = [{
        "id": f"gid://shopify/ShippingLine/{number}0", "title": "PostNL",
        "discountedPriceSet": both("6.05", "5.45"),
        "taxLines": [{"title": "BTW 21%", "rate": 0.21, "ratePercentage": 21.0,
                      "priceSet": both("1.05", "0.95")}],
    }]  # fmt: skip
    order["taxLines"] = [{"title": "BTW 21%", "rate": 0.21, "ratePercentage": 21.0,
                          "priceSet": both("7.99", "7.20")}]  # fmt: skip
    order["totalPriceSet"] = both("46.05", "41.45")
    order["transactions"][0]["amountSet"] = both("46.05", "41.45")
    return order


def as_graphql(order: dict[str, Any]) -> dict[str, Any]:
    """The seeded order as a query returns it (connections have nodes)."""
    return {**order, "lineItems": {"pageInfo": {"hasNextPage": False}, "nodes": order["lineItems"]},
            "shippingLines": {"nodes": order["shippingLines"]}}  # fmt: skip


def test_shopify_books_shop_money_unless_the_customers_currency_is_enabled() -> None:
    from connector.shops.shopify.parse import order_from_shopify

    payload = as_graphql(dollar_order(2301, datetime(2026, 11, 2, 9, tzinfo=UTC)))
    in_euros = order_from_shopify(payload)
    assert (in_euros.currency, in_euros.total) == ("EUR", D("41.45"))
    assert [(ln.net, ln.tax) for ln in in_euros.lines] == [
        (D("29.75"), D("6.25")),  # 36.00 - 6.25
        (D("4.50"), D("0.95")),  # 5.45 - 0.95
    ]
    [payment] = in_euros.payments
    assert (payment.amount, payment.amount_base) == (D("41.45"), None)

    in_dollars = order_from_shopify(payload, invoice_currencies=("EUR", "USD"))
    assert (in_dollars.currency, in_dollars.total) == ("USD", D("46.05"))
    assert [(ln.net, ln.tax) for ln in in_dollars.lines] == [
        (D("33.06"), D("6.94")),  # 40.00 - 6.94
        (D("5.00"), D("1.05")),  # 6.05 - 1.05
    ]
    assert in_dollars.tax_rates["21"].vat_total == D("7.99")
    [payment] = in_dollars.payments
    assert (payment.amount, payment.amount_base) == (D("46.05"), D("41.45"))
    assert "Shopify converted" in in_dollars.exchange_rate_note


def test_a_non_euro_shop_money_is_no_euro_amount() -> None:
    from connector.shops.shopify.parse import order_from_shopify

    payload = as_graphql(dollar_order(2302, datetime(2026, 11, 2, 9, tzinfo=UTC)))
    payload["currencyCode"] = "GBP"
    for money_set in (payload["totalPriceSet"], payload["transactions"][0]["amountSet"]):
        money_set["shopMoney"]["currencyCode"] = "GBP"
    order = order_from_shopify(payload, invoice_currencies=("GBP", "USD"))
    assert order.currency == "USD"
    assert order.payments[0].amount_base is None  # pounds are not euros: ECB or parked


def test_shopify_order_in_the_customers_currency_with_shopifys_euro_amounts(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    from tests.e2e.test_shopify import shopify_config

    paid = datetime.now(UTC) - timedelta(hours=2)
    shopify.orders.clear()
    shopify.put_order(dollar_order(2303, paid))
    # Even with the ECB as rate source, Shopify's own conversion is used: the ECB is not asked.
    ecb = FakeEcb({})
    with ecb.server:
        sync = f'currencies = ["EUR", "USD"]\nexchange_rates = "ecb"\necb_url = "{ecb.server.url}"'
        rt = build(shopify_config(tmp_path, shopify, moneybird, sync=sync))
        try:
            assert rt.engine().run_pass().booked == 1
            invoice = invoice_for(moneybird, "SH-2303")
            assert invoice["currency"] == "USD" and invoice["state"] == "paid"
            assert D(invoice["total_price_incl_tax"]) == D("46.05")
            # 46.05 x 21/121 = 7.992 -> 7.99, as the shop charged (6.94 + 1.05).
            assert [D(t["tax_amount"]) for t in invoice["tax_totals"]] == [D("7.99")]
            [payment] = invoice["payments"]
            assert (D(payment["price"]), D(payment["price_base"])) == (D("46.05"), D("41.45"))
            booked = rt.store.order("shopify:5002303")
            assert booked is not None and "Shopify converted" in (booked.notes or "")

            # The lamp back: 40.00 USD (VAT 6.94); Shopify's euros at the order's ratio:
            # 40.00 x 41.45 / 46.05 = 36.0043 -> 36.00.
            shopify.refund("gid://shopify/Order/5002303",
                           items=[("gid://shopify/LineItem/230301", 1, "40.00", "6.94")])  # fmt: skip
            assert rt.engine().run_pass().refunds_booked == 1
        finally:
            rt.close()
    assert ecb.asked == []
    [credit] = [i for i in moneybird.invoices.values() if i.get("original_sales_invoice_id")]
    assert credit["currency"] == "USD" and credit["state"] == "paid"
    assert D(credit["total_price_incl_tax"]) == D("-40.00")
    [payout] = credit["payments"]
    assert (D(payout["price"]), D(payout["price_base"])) == (D("-40.00"), D("-36.00"))


def test_shopify_order_in_dollars_books_in_euros_by_default(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    from tests.e2e.test_shopify import shopify_config

    shopify.orders.clear()
    shopify.put_order(dollar_order(2304, datetime.now(UTC) - timedelta(hours=2)))
    rt = build(shopify_config(tmp_path, shopify, moneybird))
    try:
        assert rt.engine().run_pass().booked == 1
    finally:
        rt.close()
    # Dollars enabled afterwards: a refund read in dollars against the euro invoice is parked,
    # never booked in the wrong currency.
    shopify.refund("gid://shopify/Order/5002304", amount="10.00", note="goodwill")
    rt = build(shopify_config(tmp_path, shopify, moneybird, sync='currencies = ["EUR", "USD"]'))
    try:
        assert rt.engine().run_pass().refunds_parked == 1
        [refund] = rt.store.refunds(order_key="shopify:5002304")
        assert "read in USD but invoice" in (refund.park_reason or "")
    finally:
        rt.close()
    invoice = invoice_for(moneybird, "SH-2304")
    assert invoice["currency"] == "EUR" and D(invoice["total_price_incl_tax"]) == D("41.45")
    # 41.45 x 21/121 = 7.1938 -> 7.19: Moneybird's VAT on the gross; the shop's 6.25 + 0.95
    # = 7.20 is within a cent and booked as the shop charged it.
    assert [D(t["tax_amount"]) for t in invoice["tax_totals"]] == [D("7.19")]
    [payment] = invoice["payments"]
    assert (D(payment["price"]), payment["financial_account_id"]) == (D("41.45"), FIN_MOLLIE)
