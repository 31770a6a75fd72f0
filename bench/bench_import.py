"""Benchmarks for the history import, against the sandboxes on 127.0.0.1. Prints figures.

    python bench/bench_import.py            # about a minute
    python bench/bench_import.py --quick    # fewer orders, for a smoke run
    python bench/bench_import.py --window 30 --repeat 3 --imports-only   # 429s at a 30 s window

The Moneybird rate window is shortened (150 requests per 3 s instead of per 300 s) so the run
exercises the same pacing 100 times faster; the figures scale back by that factor.
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sandboxes import sandboxes  # noqa: E402
from connector.admin.demo import write_demo_config  # noqa: E402
from connector.booking.book import BookingSettings, book  # noqa: E402
from connector.mapping_files import load_mappings  # noqa: E402
from connector.moneybird.documents import rates_from_response  # noqa: E402
from connector.sandbox.http import Request, Response  # noqa: E402
from connector.sandbox.moneybird import MoneybirdSandbox  # noqa: E402
from connector.sandbox.seed import Item, Person, seed_moneybird, seed_shop, woo_order  # noqa: E402
from connector.sandbox.woocommerce import WooCommerceSandbox, _error  # noqa: E402
from connector.shops.woocommerce.parse import order_from_woocommerce  # noqa: E402
from connector.sync.history_import import run_import  # noqa: E402

LIMIT, WINDOW = 150, 3.0
REAL_WINDOW = 300.0


def person(n: int, known: bool) -> Person:
    kind = "vaste" if known else "nieuw"
    return Person(f"Klant{n}", kind, f"{kind}{n}@example.nl", f"Straat {n}", "1234 AB", "Utrecht")


def orders(count: int, first_id: int, known: bool, start: datetime) -> list[dict[str, Any]]:
    out = []
    for n in range(count):
        items = [
            Item("Moka pot 6 kops", "MP-6", 1, "34.95", 1),
            Item("Koffiebonen Ethiopië 500g", "KB", 1 + n % 3, "12.95", 2),
        ][: 1 + n % 2]
        who = person(n % 20 if known else first_id + n, known)
        out.append(woo_order(first_id + n, who, items, "4.95", start + timedelta(minutes=n)))
    return out


def max_in_window(times: list[float], window: float) -> int:
    best, left = 0, 0
    for right, moment in enumerate(times):
        while times[left] <= moment - window:
            left += 1
        best = max(best, right - left + 1)
    return best


def utilisation(times: list[float]) -> float:
    """Requests made in each whole window while work remained, over what the limit allows in
    those windows (the last, partly used window is where the work ran out, not the budget)."""
    whole = int((times[-1] - times[0]) // WINDOW)
    if whole == 0:
        return 1.0
    end = times[0] + whole * WINDOW
    return sum(1 for t in times if t < end) / (LIMIT * whole)


def import_run(count: int, known: bool, document: str = "sales_invoice") -> dict[str, float]:
    start = datetime.now(UTC) - timedelta(days=30)

    def known_contacts(mb: MoneybirdSandbox) -> None:
        for n in range(20 if known else 0):
            p = person(n, True)
            mb.add_contact(firstname=p.first, lastname=p.last, send_invoices_to_email=p.email)

    payloads = orders(count, 20000 if known else 30000, known, start)
    with sandboxes(payloads, LIMIT, WINDOW, sync=f'document = "{document}"\n',
                   moneybird=known_contacts) as (runtime, mb, _shop):  # fmt: skip
        t0 = time.monotonic()
        report = run_import(runtime.engine(), start - timedelta(days=1))
        elapsed = time.monotonic() - t0
    times = sorted(t for t, *_ in mb.requests)
    statuses = [s for *_, s in mb.requests]
    return {
        "booked": report.booked,
        "requests": report.moneybird_requests,
        "per_order": report.moneybird_requests / max(report.booked, 1),
        "max_window": max_in_window(times, WINDOW),
        "429s": statuses.count(429),
        "elapsed": elapsed,
        "utilisation": utilisation(times),
    }


def engine_throughput(count: int) -> float:
    mappings = load_mappings(
        ROOT / "mappings/tax.toml", ROOT / "mappings/ledger.toml", ROOT / "mappings/payment.toml"
    )
    mb = MoneybirdSandbox()
    seed_moneybird(mb)
    rates = rates_from_response(mb.tax_rates)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    samples = [order_from_woocommerce(o) for o in orders(50, 1, False, start)]
    parsed = [samples[n % 50] for n in range(count)]
    settings = BookingSettings()
    t0 = time.perf_counter()
    for order in parsed:
        book(order, mappings, rates, settings)
    return count / (time.perf_counter() - t0)


class SyntheticShop(WooCommerceSandbox):
    """Serves `total` orders made on the fly from a few templates: a 100,000-order history
    without holding it in memory here either."""

    total: int = 0

    def _list(self, req: Request) -> Response:
        per_page, page = int(req.query.get("per_page", "10")), int(req.query.get("page", "1"))
        if not 1 <= per_page <= 100:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        # As WP_Query: an offset, when given, wins over the page number.
        first = int(req.query["offset"]) if "offset" in req.query else (page - 1) * per_page
        rows = []
        for index in range(first, min(first + per_page, self.total)):
            order = copy.deepcopy(self.templates[index % len(self.templates)])
            order["id"] = order["number"] = 100000 + index
            order["number"] = str(order["id"])
            rows.append(order)
        pages = -(-self.total // per_page)
        return Response(200, rows, {"X-WP-Total": str(self.total), "X-WP-TotalPages": str(pages)})


def dry_run_memory(count: int) -> tuple[float, float]:
    mb = MoneybirdSandbox(rate_limit=10**9)
    seed_moneybird(mb)
    shop = SyntheticShop()
    seed_shop(shop, [])
    shop.templates = orders(40, 1, False, datetime(2026, 3, 1, tzinfo=UTC))
    shop.total = count
    mb.start()
    shop.start()
    folder = Path(tempfile.mkdtemp(prefix="bench-dry-"))
    try:
        path = write_demo_config(folder, shop.url, mb, ROOT / "mappings")
        env = {
            **os.environ,
            "MONEYBIRD_TOKEN": mb.token,
            "WOOCOMMERCE_CONSUMER_KEY": shop.consumer_key,
            "WOOCOMMERCE_CONSUMER_SECRET": shop.consumer_secret,
        }
        t0 = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "connector",
                "import",
                "--since",
                "2020-01-01",
                "--dry-run",
                "--report",
                str(folder / "report"),
                "--config",
                str(path),
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
        )
        elapsed = time.monotonic() - t0
    finally:
        shop.stop()
        mb.stop()
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the connector process
    return peak_kb / 1024, elapsed


def main() -> None:
    global WINDOW
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--window", type=float, default=WINDOW, help="the shortened window, s")
    parser.add_argument("--repeat", type=int, default=1, help="run each import this often")
    parser.add_argument("--imports-only", action="store_true")
    args = parser.parse_args()
    WINDOW = args.window
    count = 60 if args.quick else 200
    print(
        f"Moneybird window shortened to {LIMIT} requests per {WINDOW:g} s (real: per {REAL_WINDOW:g} s)"
    )
    runs = [(True, "sales_invoice"), (False, "sales_invoice"), (True, "external_sales_invoice")]
    for known, document in runs * args.repeat:
        r = import_run(count, known, document)
        who = "known contacts" if known else "new contacts  "
        if document != "sales_invoice":
            who = "external invoices, known contacts"
        print(
            f"import, {who}: {r['booked']} booked, {r['requests']} requests = {r['per_order']:.2f} per order; "
            f"most in any window {r['max_window']} (limit {LIMIT}); 429s {r['429s']}; "
            f"{r['elapsed']:.1f} s; budget utilisation {r['utilisation']:.0%}"
        )
    if args.imports_only:
        return
    rate = engine_throughput(5000 if args.quick else 20000)
    print(f"booking engine: {rate:,.0f} orders/s (pure CPU, one core)")
    big = 10000 if args.quick else 100000
    peak, seconds = dry_run_memory(big)
    print(
        f"dry run of {big:,} orders (streamed over HTTP): peak memory {peak:.0f} MB, {seconds:.0f} s"
    )
    per_order = 3.0
    for n in (1000, 10000):
        hours = n * per_order / LIMIT * REAL_WINDOW / 3600
        print(
            f"projected real import of {n:,} orders with known contacts: {hours:.1f} h "
            f"({per_order:.0f} requests each at {LIMIT} per {REAL_WINDOW / 60:.0f} min)"
        )


if __name__ == "__main__":
    main()
