"""`connector sync` with [payouts] on, killed with SIGKILL at random moments while it writes
the payouts' statements and links, then restarted: in the end every settlement is one
statement, every movement linked once, every invoice paid once, every bank line linked."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from connector.sandbox.http import DropConnection
from connector.sandbox.mollie import MollieSandbox
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import ANNA, FATIMA, FIN_BANK, FIN_MOLLIE, PIETER, Item, woo_order
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import PayoutState, Store
from tests.conftest import secrets_env, write_config
from tests.e2e.test_payouts_mollie import ledgers, payouts_block

SEED = int(os.environ.get("CRASH_SEED", "20261207"))
ROUNDS = int(os.environ.get("CRASH_ROUNDS", "12"))
ORDERS, PER_SETTLEMENT = 24, 6


@pytest.mark.parametrize("mode", ["per_order", "summary"])
def test_killed_sync_books_each_payout_once(
    tmp_path: Path, moneybird: MoneybirdSandbox, mode: str
) -> None:
    """Summary mode: the days' documents (settled at once) are paid by the payouts' movements,
    each exactly its total."""
    rng = random.Random(SEED + (mode == "summary"))
    shop, mollie = WooCommerceSandbox(), MollieSandbox()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    people = [ANNA, FATIMA, PIETER]
    for n in range(ORDERS):
        when = start + timedelta(minutes=30 * n)
        order = woo_order(5000 + n, people[n % 3], [Item("Moka pot 6 kops", "MP-6", 1 + n % 2,
                          "34.95", 1)], "4.95", when,
                          payment=("mollie_wc_gateway_ideal", "iDEAL", f"tr_crash{n:03d}"))  # fmt: skip
        shop.put_order(order, modified=when)
        mollie.add_payment(
            f"tr_crash{n:03d}", order["total"], 5000 + n, when, order_number=str(5000 + n)
        )
    shop.start()
    mollie.start()
    try:
        ledgers(moneybird)
        moneybird.rate_limit = 100_000
        config = write_config(
            tmp_path, shop.url, moneybird.api_url, moneybird.administration_id,
            extra=(f'mode = "{mode}"\n' + payouts_block(mollie)
                   + "\n[summary]\nsettle_days = 0\n"),
            mb_extra="rate_limit = 100000",
        )  # fmt: skip
        env = {**os.environ, **secrets_env(shop, moneybird), "MOLLIE_API_KEY": mollie.api_key}
        _run(config, env)  # the orders are booked first; then Mollie pays them out
        settlements: dict[str, str] = {}
        for k in range(ORDERS // PER_SETTLEMENT):
            ids = [f"tr_crash{n:03d}" for n in range(k * PER_SETTLEMENT, (k + 1) * PER_SETTLEMENT)]
            at = start + timedelta(minutes=30 * (k + 1) * PER_SETTLEMENT)
            settlement = mollie.settle(f"stl_crash{k}", f"REF-CRASH-{k}", ids, settled_at=at)
            settlements[settlement["id"]] = settlement["amount"]["value"]
            moneybird.add_bank_line(FIN_BANK, at.date(), settlement["amount"]["value"],
                                    f"Stichting Mollie Payments REF-CRASH-{k}")  # fmt: skip
        plan: dict[str, object] = {"child": None, "writes": 0, "kill_at": 0, "after": False}
        moments: list[str] = []

        def hook(method: str, path: str, applied: bool) -> None:
            if not path.startswith("financial_"):
                return
            if not applied:
                plan["writes"] = int(str(plan["writes"])) + 1
            if plan["writes"] == plan["kill_at"] and applied == plan["after"]:
                moments.append(f"{method} {path} {'after' if applied else 'before'}")
                child = plan["child"]
                if isinstance(child, subprocess.Popen) and child.poll() is None:
                    os.kill(child.pid, signal.SIGKILL)
                raise DropConnection

        moneybird.write_hook = hook
        for _ in range(ROUNDS):
            most = 8 if mode == "per_order" else 3  # summary mode writes a few per payout
            plan.update(writes=0, kill_at=rng.randint(1, most), after=rng.random() < 0.6)
            child = _popen(config, env)
            plan["child"] = child
            child.wait(timeout=120)
        moneybird.write_hook = None
        _run(config, env)
        assert len(moments) >= (ROUNDS // 2 if mode == "per_order" else 3), moments

        why = f"seed {SEED}, kills at {moments}"
        statements = [s for s in moneybird.financial_statements.values()
                      if s["financial_account_id"] == FIN_MOLLIE]  # fmt: skip
        assert sorted(s["reference"] for s in statements) == sorted(
            f"mollie {sid}" for sid in settlements
        ), why
        lines = [m for m in moneybird.financial_mutations.values()
                 if m["financial_account_id"] == FIN_MOLLIE]  # fmt: skip
        assert all(m["state"] == "processed" for m in lines), why
        assert all(len(m["payments"]) + len(m["ledger_account_bookings"]) == 1 for m in lines), why
        assert sum(Decimal(m["amount"]) for m in lines) == Decimal("0.00"), why
        if mode == "per_order":
            assert len(moneybird.invoices) == ORDERS
            assert all(len(i["payments"]) == 1 for i in moneybird.invoices.values()), why
        else:
            days = list(moneybird.external_invoices.values())
            assert days and not moneybird.invoices, why
            for day in days:  # paid by the movements, once: exactly its total
                paid = sum((Decimal(p["price"]) for p in day["payments"]), Decimal(0))
                assert paid == Decimal(day["total_price_incl_tax"]), (why, day["payments"])
        bank = [m for m in moneybird.financial_mutations.values()
                if m["financial_account_id"] == FIN_BANK]  # fmt: skip
        assert all(m["state"] == "processed" and len(m["ledger_account_bookings"]) == 1
                   for m in bank), why  # fmt: skip
        store = Store(tmp_path / "state.db")
        try:
            assert {r.state for r in store.payouts()} == {PayoutState.DONE}, why
            assert all(r.intent is None for r in store.payouts()), why
        finally:
            store.close()
    finally:
        shop.stop()
        mollie.stop()


def _popen(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "connector", "sync", "--config", str(config)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _run(config: Path, env: dict[str, str]) -> None:
    child = _popen(config, env)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, (out, err)
