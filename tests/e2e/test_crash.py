"""`connector sync` killed with SIGKILL at chosen and random moments, then restarted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from connector.sandbox.http import DropConnection
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import ANNA, FATIMA, JEROEN, LOTTE, PIETER, Item, woo_order
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import OrderState, Store
from tests.conftest import secrets_env, write_config
from tests.helpers import booked_exactly_once

SEED = int(os.environ.get("CRASH_SEED", "20261121"))
ROUNDS = int(os.environ.get("CRASH_ROUNDS", "16"))
EXTRA_ORDERS = 30
BOOKABLE = 8 + EXTRA_ORDERS  # the demo shop's orders that map cleanly, plus more of the same


def test_killed_sync_restarted_books_each_order_exactly_once(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    rng = random.Random(SEED)
    start = datetime.now(UTC) - timedelta(days=1)
    people = [ANNA, FATIMA, PIETER, LOTTE, JEROEN]
    for n in range(EXTRA_ORDERS):
        items = [Item("Koffiebonen Ethiopië 500g", "KB-ETH-500", 1 + n % 3, "12.95", 2),
                 Item("Moka pot 6 kops", "MP-6", 1, "34.95", 1)][: 1 + n % 2]  # fmt: skip
        order = woo_order(3000 + n, people[n % 5], items, "4.95", start + timedelta(minutes=n))
        shop.put_order(order, modified=start + timedelta(minutes=n))
    moneybird.rate_limit = 100_000  # the budget is not what this test is about
    config = write_config(
        tmp_path, shop.url, moneybird.api_url, moneybird.administration_id,
        mb_extra="rate_limit = 100000",
    )  # fmt: skip
    env = {**os.environ, **secrets_env(shop, moneybird)}
    plan: dict[str, object] = {}

    def kill_child() -> None:
        child = plan.get("child")
        if isinstance(child, subprocess.Popen) and child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            plan["killed"] = True

    def hook(method: str, path: str, applied: bool) -> None:
        if plan.get("mode") != "write":
            return
        if not applied:
            plan["writes"] = int(plan["writes"]) + 1  # type: ignore[call-overload]
        if plan["writes"] == plan["kill_at"] and applied == plan["after"]:
            plan["moments"].append(f"{method} {path} {'after' if applied else 'before'} apply")  # type: ignore[attr-defined]
            kill_child()
            raise DropConnection  # the dead process gets no answer

    moneybird.write_hook = hook
    moments: list[str] = []
    kills = 0
    for round_no in range(ROUNDS):
        mode = "write" if round_no % 3 != 2 else "timer"
        plan.update(mode=mode, writes=0, kill_at=rng.randint(1, 4), after=rng.random() < 0.6,
                    killed=False, moments=moments)  # fmt: skip
        child = _start(config, env)
        plan["child"] = child
        timer = None
        if mode == "timer":
            timer = threading.Timer(rng.uniform(0.5, 1.2), kill_child)
            timer.start()
        child.wait(timeout=120)
        if timer:
            timer.cancel()
        kills += bool(plan["killed"])
    plan["mode"] = None
    final = _start(config, env)
    _out, err = final.communicate(timeout=120)
    assert final.returncode == 0, f"seed {SEED}: {err}"
    assert kills >= ROUNDS // 2, f"seed {SEED}: only {kills} kills landed"

    booked_exactly_once(
        moneybird, BOOKABLE, paid=True, payments=1, why=f"seed {SEED}, kills at {moments}: "
    )

    # The local state agrees with Moneybird.
    store = Store(tmp_path / "state.db")
    try:
        by_ref = {i["reference"]: i for i in moneybird.invoices.values()}
        paid = store.orders({OrderState.PAID})
        assert len(paid) == BOOKABLE
        for record in paid:
            assert by_ref[record.reference or ""]["id"] == record.invoice_id
            assert record.intent is None
    finally:
        store.close()


def _start(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "connector", "sync", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_sync_in_summary_mode_makes_each_day_once(
    tmp_path: Path, moneybird: MoneybirdSandbox
) -> None:
    """Summary mode: SIGKILLs while the days' documents and payments are written; in the end
    every day is booked once, every consumer order is in exactly one day, every business order
    on its own invoice, and the days add up to the orders the shop has."""
    rng = random.Random(SEED + 1)
    shop = WooCommerceSandbox()
    start = datetime(2026, 10, 12, 7, tzinfo=UTC)
    people = [ANNA, FATIMA, PIETER, LOTTE, JEROEN]
    ways = [("mollie_wc_gateway_ideal", "iDEAL", "tr_x"), ("paypal", "PayPal", "PP-x")]
    totals: dict[str, str] = {}
    for n in range(40):
        items = [Item("Koffiebonen Ethiopië 500g", "KB-ETH-500", 1 + n % 3, "12.95", 2),
                 Item("Moka pot 6 kops", "MP-6", 1, "34.95", 1)][: 1 + n % 2]  # fmt: skip
        when = start + timedelta(hours=7 * n)  # about three a day, over twelve days
        order = woo_order(4000 + n, people[n % 5], items, "4.95", when, payment=ways[n % 2])
        shop.put_order(order, modified=when)
        totals[str(4000 + n)] = order["total"]
    shop.start()
    try:
        moneybird.rate_limit = 100_000
        config = write_config(
            tmp_path, shop.url, moneybird.api_url, moneybird.administration_id,
            extra='mode = "summary"\n', mb_extra="rate_limit = 100000",
        )  # fmt: skip
        env = {**os.environ, **secrets_env(shop, moneybird)}
        plan: dict[str, object] = {"writes": 0}

        def hook(method: str, path: str, applied: bool) -> None:
            if "external_sales_invoices" not in path or plan.get("done"):
                return
            if not applied:
                plan["writes"] = int(plan["writes"]) + 1  # type: ignore[call-overload]
            if plan["writes"] == plan["kill_at"] and applied == plan["after"]:
                child = plan["child"]
                assert isinstance(child, subprocess.Popen)
                os.kill(child.pid, signal.SIGKILL)
                plan["kills"] = int(plan.get("kills", 0)) + 1  # type: ignore[call-overload]
                raise DropConnection

        moneybird.write_hook = hook
        for _round in range(8):
            plan.update(writes=0, kill_at=rng.randint(1, 5), after=rng.random() < 0.6)
            child = _start(config, env)
            plan["child"] = child
            child.wait(timeout=120)
        plan["done"] = True
        final = _start(config, env)
        _out, err = final.communicate(timeout=120)
        assert final.returncode == 0, f"seed {SEED}: {err}"
        assert int(plan.get("kills", 0)) >= 4, "the kills did not land"  # type: ignore[call-overload]
    finally:
        shop.stop()

    days = list(moneybird.external_invoices.values())
    references = [d["reference"] for d in days]
    assert len(references) == len(set(references)), "a day booked twice"
    listed: list[str] = []
    for document in days:
        assert document["state"] == "paid", document["reference"]
        identifiers = [p["transaction_identifier"] for p in document["payments"]]
        assert len(identifiers) == len(set(identifiers)), "a payment registered twice"
        for detail in document["details"]:
            if detail["description"].startswith("Orders: "):
                listed += [e.split()[0] for e in detail["description"][8:].split(", ")]
    business = {str(4000 + n) for n in range(40) if n % 5 == 4}  # Jeroen's: their own invoices
    assert sorted(listed) == sorted(f"WC-{n}" for n in totals if n not in business)
    assert sorted(i["reference"] for i in moneybird.invoices.values()) == sorted(
        f"WC-{n}" for n in business
    )
    in_days = sum(Decimal(d["total_price_incl_tax"]) for d in days)
    assert in_days == sum(Decimal(t) for n, t in totals.items() if n not in business)
