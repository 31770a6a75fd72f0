"""What a month's reconciliation costs, against the sandboxes on 127.0.0.1. Prints figures.

    python bench/bench_reconcile.py              # 100, 500 and 1,000 orders in a month
    python bench/bench_reconcile.py --orders 200

The month is booked first (an import, with Moneybird's window opened wide so it takes seconds),
then reconciled with Moneybird's real budget counted: the figure is Moneybird requests per
reconciliation, the part of the 150 per 5 minutes it takes from the passes.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_import import orders  # noqa: E402
from bench.sandboxes import sandboxes  # noqa: E402
from connector.sync.history_import import run_import  # noqa: E402
from connector.sync.reconcile import Month, reconcile  # noqa: E402

MONTH = Month(2026, 9)


def run(count: int) -> dict[str, float]:
    # Spread over the month: one order every `step` minutes from the 1st, 08:00 UTC.
    start = datetime(2026, 9, 1, 8, tzinfo=UTC)
    step = max(1, (28 * 24 * 60) // count)
    payloads = orders(count, 40000, True, start)
    for n, payload in enumerate(payloads):
        moment = start + timedelta(minutes=n * step)
        for key in ("date_created_gmt", "date_modified_gmt", "date_paid_gmt", "date_completed_gmt"):
            payload[key] = moment.strftime("%Y-%m-%dT%H:%M:%S")
    with sandboxes(
        payloads,
        1_000_000,
        1.0,
        edit=lambda text: text.replace("start = ", "start = 2026-08-01 # ", 1),
    ) as (runtime, mb, _shop):
        report = run_import(runtime.engine(), start - timedelta(days=1))
        mb.requests.clear()
        t0 = time.monotonic()
        result = reconcile(runtime.engine(), MONTH)
        elapsed = time.monotonic() - t0
    return {
        "booked": report.booked,
        "orders": result.orders,
        "findings": len(result.findings),
        "requests": len(mb.requests),
        "seconds": elapsed,
        "error": 1.0 if result.error else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, action="append")
    counts = parser.parse_args().orders or [100, 500, 1000]
    print(
        f"{'orders':>7} {'booked':>7} {'findings':>9} {'requests':>9} {'per 100':>8} {'seconds':>8}"
    )
    for count in counts:
        f = run(count)
        print(
            f"{count:>7} {f['booked']:>7.0f} {f['findings']:>9.0f} {f['requests']:>9.0f} "
            f"{100 * f['requests'] / count:>8.1f} {f['seconds']:>8.1f}"
            + ("  (incomplete)" if f["error"] else "")
        )


if __name__ == "__main__":
    main()
