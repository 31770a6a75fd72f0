"""Orders in another currency: invoiced in it, payments with their amount in euros."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from connector.config import load_config
from connector.exchange_rates import EcbRates
from connector.runtime import build
from connector.sandbox.http import LocalServer, Request, Response
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import ANNA, Item, woo_order
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
