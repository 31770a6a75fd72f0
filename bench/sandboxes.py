"""The set-up the bench scripts share: a seeded Moneybird sandbox and a WooCommerce sandbox with
the given orders, both on 127.0.0.1, and a runtime configured against them (the demo's config,
Moneybird's request budget as given), all stopped again afterwards."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.admin.demo import write_demo_config  # noqa: E402
from connector.config import load_config  # noqa: E402
from connector.runtime import Runtime, build  # noqa: E402
from connector.sandbox.moneybird import MoneybirdSandbox  # noqa: E402
from connector.sandbox.seed import seed_moneybird, seed_shop  # noqa: E402
from connector.sandbox.woocommerce import WooCommerceSandbox  # noqa: E402


@contextmanager
def sandboxes(
    orders: list[dict[str, Any]],
    rate_limit: int,
    rate_window: float,
    sync: str = "",
    edit: Callable[[str], str] = lambda text: text,
    moneybird: Callable[[MoneybirdSandbox], None] = lambda _mb: None,
) -> Iterator[tuple[Runtime, MoneybirdSandbox, WooCommerceSandbox]]:
    """`sync`: lines added to the config's [sync]; `edit`: any other change to its text;
    `moneybird`: more set-up of the Moneybird sandbox before it starts (contacts, say)."""
    mb = MoneybirdSandbox(rate_limit=rate_limit, rate_window=rate_window)
    seed_moneybird(mb)
    moneybird(mb)
    shop = WooCommerceSandbox()
    seed_shop(shop, orders)
    mb.start()
    shop.start()
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    runtime = None
    try:
        path = write_demo_config(folder, shop.url, mb, ROOT / "mappings")
        text = path.read_text().replace(
            f'api_url = "{mb.api_url}"',
            f'api_url = "{mb.api_url}"\nrate_limit = {rate_limit}\n'
            f"rate_window_seconds = {rate_window}",
        )
        path.write_text(edit(text.replace("[sync]\n", f"[sync]\n{sync}")))
        env = {
            "MONEYBIRD_TOKEN": mb.token,
            "WOOCOMMERCE_CONSUMER_KEY": shop.consumer_key,
            "WOOCOMMERCE_CONSUMER_SECRET": shop.consumer_secret,
        }
        runtime = build(load_config(path, environ=env))
        yield runtime, mb, shop
    finally:
        if runtime is not None:
            runtime.close()
        shop.stop()
        mb.stop()
