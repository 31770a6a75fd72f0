"""Shared test fixtures: sandboxes on 127.0.0.1 and a config pointing at them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.config import Config, load_config
from connector.runtime import Runtime, build
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import demo_orders, seed_moneybird, seed_shop
from connector.sandbox.woocommerce import WooCommerceSandbox

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
# The services' own API descriptions the tests hold the connector to (contracts/README.md).
CONTRACTS = ROOT / "contracts"


def require_contract(path: Path, what: str) -> None:
    """The contract is part of the repository: without it the checkout is incomplete, and a
    test that cannot compare fails rather than passing unchecked."""
    if not path.is_file():
        pytest.fail(f"{what} not found at {path}: contracts/ is part of the repository")


# The sandboxes' orders are days old: tests book them as history from this day unless they
# test the first start themselves (by setting `start` or leaving it out with start=None).
HISTORY_START = "start = 2000-01-01"


def write_config(
    folder: Path,
    shop_url: str,
    api_url: str,
    admin: str,
    extra: str = "",
    mb_extra: str = "",
    history_start: str = HISTORY_START,
) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f"""[shop]
platform = "woocommerce"
url = "{shop_url}"
timeout_seconds = 10

[moneybird]
administration_id = "{admin}"
api_url = "{api_url}"
timeout_seconds = 10
{mb_extra}

[state]
path = "state.db"

[sync]
statuses = ["completed"]
{"" if "start =" in extra else history_start}
{extra}
[mappings]
tax = "{ROOT / "mappings" / "tax.toml"}"
ledger = "{ROOT / "mappings" / "ledger.toml"}"
payment = "{ROOT / "mappings" / "payment.toml"}"
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def moneybird() -> Iterator[MoneybirdSandbox]:
    mb = MoneybirdSandbox()
    seed_moneybird(mb)
    mb.start()
    yield mb
    mb.stop()


@pytest.fixture
def shop() -> Iterator[WooCommerceSandbox]:
    woo = WooCommerceSandbox()
    seed_shop(woo, demo_orders(datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)))
    woo.start()
    yield woo
    woo.stop()


def secrets_env(shop: WooCommerceSandbox, mb: MoneybirdSandbox) -> dict[str, str]:
    return {
        "MONEYBIRD_TOKEN": mb.token,
        "WOOCOMMERCE_CONSUMER_KEY": shop.consumer_key,
        "WOOCOMMERCE_CONSUMER_SECRET": shop.consumer_secret,
    }


@pytest.fixture
def config(tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox) -> Config:
    path = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    return load_config(path, environ=secrets_env(shop, moneybird))


@pytest.fixture
def runtime(config: Config) -> Iterator[Runtime]:
    rt = build(config)
    rt.shop._sleep = lambda _s: None  # no real back-off waits in tests
    rt.client._sleep = lambda _s: None
    yield rt
    rt.close()


SHOPIFY_SCHEMA = CONTRACTS / "shopify" / "admin_2026-10.json.gz"


@pytest.fixture
def shopify() -> Iterator[Any]:
    """The Shopify sandbox with the demo orders, its queries checked against the schema."""
    require_contract(SHOPIFY_SCHEMA, "Shopify Admin schema")
    from connector.sandbox.shopify import ShopifySandbox
    from connector.sandbox.shopify_seed import seed_shopify, shopify_demo_orders

    # A bucket that refills fast enough never to throttle, unless a test asks for it.
    sandbox = ShopifySandbox(schema_path=SHOPIFY_SCHEMA, restore_rate=1_000_000)
    seed_shopify(
        sandbox, shopify_demo_orders(datetime.now(UTC).replace(microsecond=0) - timedelta(days=2))
    )
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(autouse=True)
def _secrets_of_this_test_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Redaction remembers every secret a process used; each test starts with none, so one
    test's (a token like "bad") never blanks another's text."""
    from connector import redact as redaction

    monkeypatch.setattr(redaction, "_KNOWN", [])
