"""The WooCommerce adapter and the Moneybird client replayed from vcrpy cassettes.

The cassettes in cassettes/ were recorded against the sandboxes (RECORD_CASSETTES=1 starts
them on fixed loopback ports and records anew); normally they replay with record_mode="none",
so no server runs and no request leaves the process. Secrets are filtered out when recording.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import vcr

from connector.errors import AuthError
from connector.moneybird.client import MoneybirdClient, Rejected
from connector.moneybird.rate_limit import RateLimiter
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import MB_RATE_9, MB_RATE_21, demo_orders, seed_moneybird, seed_shop
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.shops.woocommerce.shop import WooCommerceShop
from tests.conftest import ROOT

RECORD = os.environ.get("RECORD_CASSETTES") == "1"
WOO_PORT, MB_PORT = 18531, 18532
WOO_URL = f"http://127.0.0.1:{WOO_PORT}"
MB_URL = f"http://127.0.0.1:{MB_PORT}/api/v2"
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)  # fixed, so recordings are reproducible
OAUTH = ["oauth_consumer_key", "oauth_signature", "oauth_nonce", "oauth_timestamp",
         "oauth_signature_method", "consumer_key", "consumer_secret"]  # fmt: skip

recorder = vcr.VCR(
    cassette_library_dir=str(ROOT / "cassettes"),
    record_mode="all" if RECORD else "none",
    match_on=["method", "scheme", "host", "port", "path", "query"],
    filter_headers=["authorization"],
    filter_query_parameters=OAUTH,
    decode_compressed_response=True,
)


@pytest.fixture
def servers() -> Iterator[None]:
    """Only when recording: the sandboxes the cassettes are recorded from."""
    if not RECORD:
        yield
        return
    shop = WooCommerceSandbox(port=WOO_PORT)
    shop.clock_offset = START + timedelta(days=5) - datetime.now(UTC)
    seed_shop(shop, demo_orders(START))
    mb = MoneybirdSandbox(port=MB_PORT)
    seed_moneybird(mb)
    shop.start()
    mb.start()
    yield
    shop.stop()
    mb.stop()


def woo(key: str = "ck_sandbox_key", secret: str = "cs_sandbox_secret") -> WooCommerceShop:
    return WooCommerceShop(WOO_URL, key, secret, ["completed"], sleep=lambda _s: None)


def moneybird(token: str = "sandbox-moneybird-token") -> MoneybirdClient:
    return MoneybirdClient(MB_URL, "123456789", token, limiter=RateLimiter(), sleep=lambda _s: None)


# --- WooCommerce --------------------------------------------------------------------------------


def test_woocommerce_first_poll_reads_all_completed_orders(servers: None) -> None:
    with recorder.use_cassette("woocommerce_first_poll.yaml"):
        poll = woo().changed_orders(None)
        orders = poll.orders  # the pages are read as they are asked for
    numbers = sorted(o["number"] for o in orders)
    # Order 1008 is still processing and is not asked for.
    assert numbers == ["1001", "1002", "1003", "1004", "1005", "1006", "1007", "1009", "1010"]
    # The watermark comes from the shop's Date header (its clock ran 5 days ahead of START).
    assert poll.shop_time.date() == (START + timedelta(days=5)).date()
    assert poll.shop_time.tzinfo is not None


def test_woocommerce_incremental_poll_uses_modified_after(servers: None) -> None:
    since = START + timedelta(hours=40)  # after orders 1001..1008 were last modified
    with recorder.use_cassette("woocommerce_incremental_poll.yaml") as cassette:
        orders = woo().changed_orders(since).orders
    assert sorted(o["number"] for o in orders) == ["1009", "1010"]
    listing = [r for r in cassette.requests if r.path.endswith("/orders") and r.method == "GET"]
    query = dict(listing[0].query)
    assert query["modified_after"] == "2026-11-03T01:00:00"
    assert query["dates_are_gmt"] == "true"
    assert query["status"] == "completed,refunded"  # refunded: to catch full refunds
    assert all(name not in query for name in OAUTH)  # nothing secret in the cassette


def test_woocommerce_order_without_rate_percent_looks_the_rate_up(servers: None) -> None:
    with recorder.use_cassette("woocommerce_order_1002.yaml"):
        shop = woo()
        payload = shop.order("1002")
        assert payload is not None
        order = shop.to_order(payload)
        missing = shop.order("999999")
    assert order.tax_rates["2"].percentage == Decimal("9.0000")
    assert order.total == Decimal("215.00")
    assert order.customer.vat_number == "NL853746333B01"
    assert missing is None


def test_woocommerce_wrong_keys_are_an_authentication_error(servers: None) -> None:
    with recorder.use_cassette("woocommerce_wrong_keys.yaml"), pytest.raises(AuthError) as info:
        _ = woo("ck_wrong", "cs_wrong").changed_orders(None).orders
    assert "Sorry, you cannot list resources" in str(info.value)
    assert "query_string_auth" in str(info.value)
    assert "cs_wrong" not in str(info.value)


# --- Moneybird ----------------------------------------------------------------------------------


def test_moneybird_booking_round_trip(servers: None) -> None:
    with recorder.use_cassette("moneybird_round_trip.yaml"):
        client = moneybird()
        rates = {r["id"]: r for r in client.tax_rates()}
        versions = client.contact_versions()
        known = client.contacts_by_ids([v["id"] for v in versions])
        contact = client.create_contact({"firstname": "Anna", "lastname": "de Vries",
                                         "customer_id": "WEB-TEST1",
                                         "send_invoices_to_email": "anna@example.nl"})  # fmt: skip
        invoice = client.create_invoice({"sales_invoice": {
            "contact_id": contact["id"], "reference": "WC-9001", "invoice_date": "2026-11-02",
            "currency": "EUR", "prices_are_incl_tax": True,
            "details_attributes": [
                {"description": "Moka pot", "amount": "1", "price": "34.95",
                 "tax_rate_id": MB_RATE_21, "ledger_account_id": "410000000000008000"},
                {"description": "Koffiebonen", "amount": "2", "price": "12.95",
                 "tax_rate_id": MB_RATE_9, "ledger_account_id": "410000000000008010"}]}})  # fmt: skip
        sent = client.send_invoice(invoice["id"], "Manual")
        payment = client.create_payment(invoice["id"], {"payment_date": "2026-11-02",
                                                        "price": "60.85",
                                                        "transaction_identifier": "tr_1"})  # fmt: skip
        found = client.invoice_by_reference("WC-9001")
        missing = client.invoice_by_reference("WC-0000")
    assert rates[MB_RATE_21]["tax_rate_type"] == "sales_invoice"
    assert [c["customer_id"] for c in known] == ["1001"]
    assert invoice["state"] == "draft" and invoice["invoice_id"] is None
    # 34.95 incl. 21%: 6.0657 -> 6.07 VAT; 25.90 incl. 9%: 2.1385 -> 2.14 VAT.
    assert invoice["total_price_incl_tax"] == "60.85"
    assert {t["tax_rate_id"]: t["tax_amount"] for t in invoice["tax_totals"]} == {
        MB_RATE_21: "6.07", MB_RATE_9: "2.14",
    }  # fmt: skip
    assert sent["state"] == "open" and sent["invoice_id"]
    assert payment["price"] == "60.85"
    assert found is not None and found["state"] == "paid"
    assert missing is None


def test_moneybird_validation_error_is_rejected_with_its_message(servers: None) -> None:
    with recorder.use_cassette("moneybird_rejected.yaml"), pytest.raises(Rejected) as info:
        moneybird().create_contact({"customer_id": "1001", "firstname": "Jeroen"})
    assert "customer_id is already in use" in str(info.value)


def test_moneybird_revoked_token(servers: None) -> None:
    with recorder.use_cassette("moneybird_revoked_token.yaml"), pytest.raises(AuthError):
        moneybird("revoked").tax_rates()


# --- Shopify ------------------------------------------------------------------------------------

SHOPIFY_PORT = 18533


@pytest.fixture
def shopify_server() -> Iterator[None]:
    """Only when recording: the Shopify sandbox holding Shopify's own example order."""
    if not RECORD:
        yield
        return
    import json as _json

    from connector.sandbox.shopify import ShopifySandbox

    sandbox = ShopifySandbox(port=SHOPIFY_PORT, restore_rate=1_000_000)
    example = _json.loads(
        (ROOT / "tests/fixtures/shopify/order_450789469.graphql.json").read_text()
    )
    example.pop("_source")
    example["lineItems"] = example["lineItems"]["nodes"]
    example["shippingLines"] = example["shippingLines"]["nodes"]
    sandbox.put_order(example, updated=datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    sandbox.clock_offset = START + timedelta(days=5) - datetime.now(UTC)
    sandbox.start()
    yield
    sandbox.stop()


shopify_recorder = vcr.VCR(
    cassette_library_dir=str(ROOT / "cassettes"),
    record_mode="all" if RECORD else "none",
    match_on=["method", "scheme", "host", "port", "path", "body"],
    filter_headers=["x-shopify-access-token", "authorization"],
    decode_compressed_response=True,
)


def test_shopify_adapter_reads_shopifys_example_order(shopify_server: None) -> None:
    from connector.shops.shopify.shop import ShopifyShop

    with shopify_recorder.use_cassette("shopify_example_order.yaml") as cassette:
        shop = ShopifyShop(f"http://127.0.0.1:{SHOPIFY_PORT}", "2026-10", access_token="shpat_sandbox_token",
                           sleep=lambda _s: None)  # fmt: skip
        poll = shop.changed_orders(START)
        orders = poll.orders
        again = shop.order("450789469")
        shop.close()
    assert [shop.summary(p).number for p in orders] == ["1001"]
    assert again is not None
    order = shop.to_order(orders[0])
    assert order.total == Decimal("598.94") and order.currency == "USD"
    assert [ln.net for ln in order.lines] == [
        Decimal("195.66"),
        Decimal("195.67"),
        Decimal("195.67"),
        Decimal(0),
    ]
    assert shop.summary(orders[0]).waiting is None  # PARTIALLY_REFUNDED counts as paid
    # The watermark comes from Shopify's Date header; the query filtered on updated_at.
    assert poll.shop_time.date() == (START + timedelta(days=5)).date()
    bodies = [r.body.decode() for r in cassette.requests]
    assert "updated_at:>'2026-11-01T09:00:00Z'" in bodies[1]
    assert all("shpat_sandbox_token" not in str(r.headers) for r in cassette.requests)
