"""Summary booking against per-order booking on the same generated year, against the
sandboxes on 127.0.0.1. Prints figures.

    python bench/bench_summary.py                  # 10,000 orders: a few minutes
    python bench/bench_summary.py --orders 2000    # quicker

A year of orders by 500 customers (about 27 a day, paid by iDEAL, PayPal or bank transfer),
once with no business customers and once with 10% (their orders keep invoices of their own).
Each is imported in summary mode with Moneybird's window shortened to 150 requests per 3 s;
the time at the real limit is projected from the requests (150 per 5 minutes). Per-order mode
is run on 300 orders of 15 customers (one new customer in twenty, as in the year) and
projected the same way. Every day's document is checked against its orders as the shop has
them: the total, and the VAT.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sandboxes import sandboxes  # noqa: E402
from connector.sandbox.moneybird import MoneybirdSandbox  # noqa: E402
from connector.sandbox.seed import Item, Person, woo_order  # noqa: E402
from connector.sync.history_import import run_import  # noqa: E402

LIMIT, WINDOW, REAL_WINDOW = 150, 3.0, 300.0
FIRST = datetime(2025, 12, 1, 8, tzinfo=UTC)
WAYS = [
    ("mollie_wc_gateway_ideal", "iDEAL", "tr_b"),
    ("paypal", "PayPal", "PP-b"),
    ("bacs", "Bankoverschrijving", ""),
]


def year(count: int, business_share: float) -> list[dict[str, Any]]:
    """`count` orders spread evenly over a year; every n-th a business customer's."""
    step = timedelta(days=365) / count
    every = round(1 / business_share) if business_share else 0
    orders = []
    for n in range(count):
        company = every and n % every == every - 1
        who = Person(
            f"Klant{n % 500}", "Bench", f"klant{n % 500}@example.nl", f"Straat {n % 500}",
            "3511 AB", "Utrecht", company="Bench B.V." if company else "",
            vat_number="NL853746333B01" if company else "",
        )  # fmt: skip
        items = [
            Item("Moka pot 6 kops", "MP-6", 1, "34.95", 1),
            Item("Koffiebonen Ethiopië 500g", "KB", 1 + n % 3, "12.95", 2),
        ][n % 2 :]
        orders.append(woo_order(50000 + n, who, items, "4.95", FIRST + step * n,
                                payment=WAYS[n % 3]))  # fmt: skip
    return orders


def run(orders: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    with sandboxes(orders, LIMIT, WINDOW, sync=f'mode = "{mode}"\n') as (runtime, mb, _shop):
        t0 = time.monotonic()
        report = run_import(runtime.engine(), FIRST - timedelta(days=1))
        elapsed = time.monotonic() - t0
    return {
        "booked": report.booked,
        "requests": report.moneybird_requests,
        "elapsed": elapsed,
        "days": len(mb.external_invoices),
        "invoices": len(mb.invoices),
        "mismatches": _mismatches(mb, orders),
        "429s": [s for *_, s in mb.requests].count(429),
    }


def _mismatches(mb: MoneybirdSandbox, orders: list[dict[str, Any]]) -> tuple[int, int, Decimal]:
    """Against its orders as the shop has them: days whose total differs (there must be
    none), days whose VAT differs (Moneybird rounds once over the day), the largest VAT gap."""
    by_reference = {f"WC-{o['number']}": o for o in orders}
    totals = vats = 0
    widest = Decimal(0)
    for document in mb.external_invoices.values():
        listed = [
            entry.split()[0]
            for detail in document["details"]
            if detail["description"].startswith("Orders: ")
            for entry in detail["description"][8:].split(", ")
        ]
        total = sum((Decimal(by_reference[r]["total"]) for r in listed), Decimal(0))
        vat = sum((Decimal(by_reference[r]["total_tax"]) for r in listed), Decimal(0))
        moneybird_vat = sum((Decimal(t["tax_amount"]) for t in document["tax_totals"]), Decimal(0))
        totals += Decimal(document["total_price_incl_tax"]) != total
        vats += moneybird_vat != vat
        widest = max(widest, abs(moneybird_vat - vat))
    return totals, vats, widest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10000)
    count = parser.parse_args().orders
    print(f"{count:,} orders over a year; Moneybird window {LIMIT} per {WINDOW:g} s (real: 5 min)")
    print(f"{'mode':<26} {'booked':>7} {'documents':>10} {'requests':>9} {'per order':>10} "
          f"{'real limit':>11} {'429s':>5}  days: total off / VAT rounded (widest)")  # fmt: skip
    for share in (0.0, 0.1):
        orders = year(count, share)
        label = f"summary, {share:.0%} business"
        r = run(orders, "summary")
        _line(label, r, count)
        # As many new customers as in the year (500 for 10,000 orders: one order in twenty):
        # 15 customers' 20 orders each.
        sample = [o for n, o in enumerate(orders) if n % 500 < 15][:300]
        p = run(sample, "per_order")
        _line(f"per order, {share:.0%} business", p, len(sample), projected_for=count)


def _line(label: str, r: dict[str, Any], count: int, projected_for: int | None = None) -> None:
    per_order = r["requests"] / max(count, 1)
    hours = per_order * (projected_for or count) / LIMIT * REAL_WINDOW / 3600
    documents = r["days"] + r["invoices"]
    off, rounded, widest = r["mismatches"]
    days = f"  {off} / {rounded} ({widest})" if r["days"] else f"  (first {count}, projected)"
    print(
        f"{label:<26} {r['booked']:>7} {documents:>10} {r['requests']:>9} {per_order:>10.3f} "
        f"{hours:>9.1f} h {r['429s']:>5}{days}"
    )


if __name__ == "__main__":
    main()
