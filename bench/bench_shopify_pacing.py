"""Reading a Shopify history against the sandbox's cost bucket (Shopify's standard: 1,000
points, 50 restored a second): round trips, how many came back THROTTLED, the points the
queries really cost, and the time. By pages, with the connector pacing itself from the cost
of each successful answer and without; and by one bulk operation (what an import does), whose
time here leaves out how long Shopify takes to gather the file (the sandbox has it at once,
after one poll). Prints figures.

    python bench/bench_shopify_pacing.py              # 120 orders of 3 lines
    python bench/bench_shopify_pacing.py --orders 1000
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.sandbox.seed import ANNA  # noqa: E402
from connector.sandbox.shopify import ShopifySandbox  # noqa: E402
from connector.sandbox.shopify_seed import Product, seed_shopify, shopify_order  # noqa: E402
from connector.shops.shopify.shop import ShopifyShop  # noqa: E402

START = datetime(2026, 1, 5, 9, tzinfo=UTC)


def read(count: int, pace: bool, bulk: bool) -> dict[str, float]:
    sandbox = ShopifySandbox(restore_rate=50.0)
    products = [
        Product("Koffiebonen", "KB", "12.95", 9),
        Product("Moka pot", "MP", "34.95", 21),
        Product("Filters", "KF", "3.49", 21),
    ]
    orders = [
        shopify_order(3000 + n, ANNA, products, "4.95", START + timedelta(hours=n))
        for n in range(count)
    ]
    seed_shopify(sandbox, orders)
    sandbox.start()
    try:
        shop = ShopifyShop(
            url=sandbox.url, api_version="2026-10", access_token=sandbox.access_token
        )
        shop.pace, shop.bulk = pace, bulk
        t0 = time.monotonic()
        seen = sum(len(page) for page, _total in shop.orders_between(START, None))
        elapsed = time.monotonic() - t0
    finally:
        sandbox.stop()
    return {
        "orders": seen,
        "round_trips": shop.requests,
        "throttled": shop.throttled,
        "points": shop.points,
        "seconds": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=120)
    count = parser.parse_args().orders
    print(f"{count} orders of 3 lines; bucket 1,000 points, 50 restored a second")
    print(f"{'':<22} {'orders':>7} {'round trips':>12} {'throttled':>10} {'points':>8} {'s':>6}")
    ways = {
        "pages, throttled": (False, False),
        "pages, paced": (True, False),
        "one bulk operation": (True, True),
    }
    for label, (pace, bulk) in ways.items():
        r = read(count, pace, bulk)
        share = r["throttled"] / max(r["round_trips"], 1)
        print(
            f"{label:<22} {r['orders']:>7.0f} {r['round_trips']:>12.0f} "
            f"{r['throttled']:>5.0f} ({share:>3.0%}) {r['points']:>8.0f} {r['seconds']:>6.1f}"
        )


if __name__ == "__main__":
    main()
