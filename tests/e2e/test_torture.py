"""Crash torture: a sync of 60 orders SIGKILLed over and over, before and after each kind of
Moneybird write, with now and then an older copy of the state restored, until it finishes.
Every order must end booked exactly once.

The child is forked from this process (so it starts in milliseconds); it is killed from the
Moneybird sandbox the moment the chosen write arrives (before it is applied) or has been
applied (before the answer leaves). Seeded: CRASH_SEED reproduces a run; TORTURE_KILLS sets
how many kills to aim for (default 120).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import shutil
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from connector.sandbox.http import DropConnection
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import Item, Person, woo_order
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import OrderState, Store
from tests.conftest import HISTORY_START, ROOT, secrets_env, write_config

SEED = int(os.environ.get("CRASH_SEED", "5"))
KILLS = int(os.environ.get("TORTURE_KILLS", "120"))
EXTRA = 52
STATE_FILES = ("state.db", "state.db-wal", "state.db-shm")
TARGETS = [
    ("POST", r"contacts", False), ("POST", r"contacts", True),
    ("POST", r"sales_invoices", False), ("POST", r"sales_invoices", True),
    ("PATCH", r"sales_invoices/\d+/send_invoice", False),
    ("PATCH", r"sales_invoices/\d+/send_invoice", True),
    ("POST", r"sales_invoices/\d+/payments", False), ("POST", r"sales_invoices/\d+/payments", True),
]  # fmt: skip


def killer(plan: dict[str, Any], hits: Counter[tuple[str, str, bool]]) -> Any:
    """A sandbox write hook that SIGKILLs the child at the planned write (after `skip` of
    them), before or after Moneybird applies it, and counts the kills per target."""

    def hook(method: str, route: str, applied: bool) -> None:
        target = plan.get("target")
        if target is None or plan.get("killed"):
            return
        if method == target[0] and re.fullmatch(target[1], route) and applied == target[2]:
            if plan.get("skip", 0) > 0:
                plan["skip"] -= 1
                return
            os.kill(plan["pid"], signal.SIGKILL)
            plan["killed"] = True
            hits[target] += 1
            raise DropConnection

    return hook


def _child(config_path: str, env: dict[str, str]) -> None:
    os.environ.update(env)
    code = 1
    try:
        from connector.config import load_config
        from connector.runtime import build

        runtime = build(load_config(Path(config_path)))
        runtime.engine().run_pass()
        runtime.close()
        code = 0
    finally:
        os._exit(code)  # no pytest teardown in the child


def kill_passes(  # type: ignore[no-untyped-def]
    config: Path, env: dict[str, str], plan: dict[str, Any], hits: Counter, targets,
    kills: int, max_rounds: int, skip, more, before=lambda _round: None,
) -> int:  # fmt: skip
    """Passes in child processes, each killed at the next target write (after `skip()`
    writes of that kind), until `kills` kills landed; a pass that was not killed gets `more()`
    work, and `before(round)` runs ahead of each. How many passes ran."""
    fork = multiprocessing.get_context("fork")
    rounds = 0
    while sum(hits.values()) < kills and rounds < max_rounds:
        target = targets[rounds % len(targets)]
        before(rounds)
        rounds += 1
        plan.update(target=target, skip=skip(), killed=False)
        process = fork.Process(target=_child, args=(str(config), env))
        process.start()
        plan["pid"] = process.pid
        process.join(timeout=60)
        assert process.exitcode is not None, f"seed {SEED}: child hung"
        if not plan["killed"]:
            more()
    plan["target"] = None
    return rounds


def test_sixty_orders_survive_a_hundred_kills(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    rng = random.Random(SEED)
    start = datetime.now(UTC) - timedelta(days=1)
    added = {"n": 0}

    def add_orders(count: int) -> None:
        """New orders from new customers: more writes of every kind to kill during."""
        for n in range(added["n"], added["n"] + count):
            person = Person(
                f"Klant{n}", "Test", f"klant{n}@example.nl", f"Straat {n}", "1234 AB", "Utrecht"
            )
            items = [
                Item("Moka pot 6 kops", "MP-6", 1 + n % 2, "34.95", 1),
                Item("Koffiebonen Ethiopië 500g", "KB", 1 + n % 3, "12.95", 2),
            ][: 1 + n % 2]
            order = woo_order(4000 + n, person, items, "4.95", start + timedelta(minutes=n))
            shop.put_order(order, modified=datetime.now(UTC))
        added["n"] += count

    add_orders(EXTRA)
    moneybird.rate_limit = 1_000_000
    config = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id,
                          mb_extra="rate_limit = 1000000")  # fmt: skip
    env = secrets_env(shop, moneybird)
    fork = multiprocessing.get_context("fork")
    plan: dict[str, Any] = {}
    hits: Counter[tuple[str, str, bool]] = Counter()

    moneybird.write_hook = killer(plan, hits)
    backup = tmp_path / "backup"
    restores = {"n": 0}

    def backup_or_restore(round_no: int) -> None:
        """Now and then a backup of the state (a dead process's files, as a crash leaves
        them); some rounds later the disk fails and that older copy is put back."""
        if round_no % 12 == 2:
            backup.mkdir(exist_ok=True)
            for name in STATE_FILES:
                (backup / name).unlink(missing_ok=True)
                if (tmp_path / name).exists():
                    shutil.copy2(tmp_path / name, backup / name)
        elif round_no % 12 == 9 and rng.random() < 0.8 and backup.exists():
            for name in STATE_FILES:
                (tmp_path / name).unlink(missing_ok=True)
                if (backup / name).exists():
                    shutil.copy2(backup / name, tmp_path / name)
            restores["n"] += 1

    # A run that finds nothing left to kill it at gets more work.
    rounds = kill_passes(config, env, plan, hits, TARGETS, KILLS, KILLS * 3,
                         skip=lambda: rng.randint(0, 2), more=lambda: add_orders(12),
                         before=backup_or_restore)  # fmt: skip
    final = fork.Process(target=_child, args=(str(config), env))
    final.start()
    final.join(timeout=120)
    assert final.exitcode == 0, f"seed {SEED}: the last, unkilled run failed"

    kills = sum(hits.values())
    assert kills >= 100, f"seed {SEED}: only {kills} kills in {rounds} rounds: {hits}"
    assert restores["n"] >= 5, f"seed {SEED}: only {restores['n']} older states restored"
    assert all(hits[t] >= 5 for t in TARGETS), f"seed {SEED}: some write steps barely hit: {hits}"
    refs = Counter(i["reference"] for i in moneybird.invoices.values())
    assert all(n == 1 for n in refs.values()), f"seed {SEED}: duplicate invoices {refs}"
    bookable = 8 + added["n"]
    assert len(refs) == bookable >= 60, f"seed {SEED}: {len(refs)} invoices for {bookable}"
    for invoice in moneybird.invoices.values():
        assert invoice["state"] == "paid", f"seed {SEED}: {invoice['reference']}"
        assert len(invoice["payments"]) == 1, f"seed {SEED}: {invoice['reference']} payments"
    emails = Counter(c["send_invoices_to_email"].lower() for c in moneybird.contacts.values())
    assert all(n == 1 for n in emails.values()), f"seed {SEED}: duplicate contacts"
    store = Store(tmp_path / "state.db")
    try:
        by_ref = {i["reference"]: i for i in moneybird.invoices.values()}
        paid = store.orders({OrderState.PAID})
        assert len(paid) == bookable
        for record in paid:
            invoice = by_ref[record.reference or ""]
            assert invoice["id"] == record.invoice_id and record.intent is None
            assert invoice["payments"][0]["id"] == record.payment_id
            assert invoice["contact_id"] == record.contact_id
    finally:
        store.close()


def test_shopify_orders_survive_kills_too(tmp_path: Path, moneybird: MoneybirdSandbox) -> None:
    from tests.unit.shops.shopify.test_queries import SCHEMA, require_schema

    require_schema()
    from connector.sandbox.shopify import ShopifySandbox
    from connector.sandbox.shopify_seed import MOKA, Product, shopify_order

    rng = random.Random(SEED)
    sandbox = ShopifySandbox(schema_path=SCHEMA, restore_rate=1_000_000)
    start = datetime.now(UTC) - timedelta(days=1)
    for n in range(24):
        person = Person(
            f"Koper{n}", "Test", f"koper{n}@example.nl", f"Laan {n}", "1234 AB", "Delft"
        )
        products = [MOKA, Product("Koffiebonen", "KB", "12.95", 9, qty=1 + n % 3)][: 1 + n % 2]
        sandbox.put_order(
            shopify_order(3000 + n, person, products, "5.95", start + timedelta(minutes=n))
        )
    sandbox.start()
    moneybird.rate_limit = 1_000_000
    config = tmp_path / "config.toml"
    config.write_text(
        f'[shop]\nplatform = "shopify"\nurl = "{sandbox.url}"\n\n[moneybird]\n'
        f'administration_id = "{moneybird.administration_id}"\napi_url = "{moneybird.api_url}"\n'
        f'rate_limit = 1000000\n\n[state]\npath = "state.db"\n\n[sync]\n{HISTORY_START}\n\n[mappings]\n'
        + "".join(
            f'{k} = "{ROOT / "mappings" / (k + ".toml")}"\n' for k in ("tax", "ledger", "payment")
        )
    )
    env = {"MONEYBIRD_TOKEN": moneybird.token, "SHOPIFY_ACCESS_TOKEN": sandbox.access_token}
    fork = multiprocessing.get_context("fork")
    plan: dict[str, Any] = {}
    kills: Counter[tuple[str, str, bool]] = Counter()

    moneybird.write_hook = killer(plan, kills)
    try:
        for round_no in range(48):
            plan.update(target=TARGETS[(round_no + rng.randint(0, 7)) % len(TARGETS)], killed=False)
            child = fork.Process(target=_child, args=(str(config), env))
            child.start()
            plan["pid"] = child.pid
            child.join(timeout=60)
        plan["target"] = None
        final = fork.Process(target=_child, args=(str(config), env))
        final.start()
        final.join(timeout=120)
        assert final.exitcode == 0
    finally:
        sandbox.stop()
    assert sum(kills.values()) >= 30, kills
    refs = Counter(i["reference"] for i in moneybird.invoices.values())
    assert len(refs) == 24 and all(n == 1 for n in refs.values()), f"seed {SEED}: {refs}"
    assert all(
        i["state"] == "paid" and len(i["payments"]) == 1 for i in moneybird.invoices.values()
    )


REFUND_TARGETS = [
    ("PATCH", r"sales_invoices/\d+/duplicate_creditinvoice", False),
    ("PATCH", r"sales_invoices/\d+/duplicate_creditinvoice", True),
    ("PATCH", r"sales_invoices/\d+", False), ("PATCH", r"sales_invoices/\d+", True),
    ("PATCH", r"sales_invoices/\d+/send_invoice", False),
    ("PATCH", r"sales_invoices/\d+/send_invoice", True),
    ("POST", r"sales_invoices/\d+/payments", False), ("POST", r"sales_invoices/\d+/payments", True),
]  # fmt: skip


def test_refunds_survive_kills_and_are_credited_once(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """Orders booked first; then refunds (by line, amount only, in full) while the crediting
    is SIGKILLed before and after each kind of write."""
    rng = random.Random(SEED)
    start = datetime.now(UTC) - timedelta(days=1)
    for n in range(30):
        person = Person(f"Retour{n}", "Test", f"retour{n}@example.nl", "Kade 1", "1234 AB", "Gouda")
        items = [Item("Moka pot 6 kops", "MP-6", 1, "34.95", 1), Item("Bonen", "KB", 2, "12.95", 2)]
        shop.put_order(woo_order(6000 + n, person, items, "4.95", start + timedelta(minutes=n)))
    moneybird.rate_limit = 1_000_000
    config = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id,
                          mb_extra="rate_limit = 1000000")  # fmt: skip
    env = secrets_env(shop, moneybird)
    fork = multiprocessing.get_context("fork")
    first = fork.Process(target=_child, args=(str(config), env))
    first.start()
    first.join(timeout=120)
    assert first.exitcode == 0
    refunds: list[dict[str, Any]] = []
    pending = list(range(30))

    def add_refunds(count: int) -> None:
        for _ in range(min(count, len(pending))):
            n = pending.pop(0)
            order = shop.orders[6000 + n]
            moka, beans = order["line_items"][0], order["line_items"][1]
            if n % 3 == 0:  # the moka pot back
                refunds.append(
                    shop.refund(6000 + n, items=[(moka["id"], 1, moka["total"], moka["total_tax"])])
                )
            elif n % 3 == 1:  # an amount only, then one bean bag
                refunds.append(shop.refund(6000 + n, "3.00"))
                refunds.append(shop.refund(6000 + n, items=[(beans["id"], 1, "11.88", "1.07")]))
            else:  # everything
                refunds.append(shop.refund(6000 + n, order["total"]))

    plan: dict[str, Any] = {}
    hits: Counter[tuple[str, str, bool]] = Counter()

    moneybird.write_hook = killer(plan, hits)
    add_refunds(6)
    kill_passes(config, env, plan, hits, REFUND_TARGETS, 48, 150,
                skip=lambda: rng.randint(0, 1), more=lambda: add_refunds(4))  # fmt: skip
    final = fork.Process(target=_child, args=(str(config), env))
    final.start()
    final.join(timeout=120)
    assert final.exitcode == 0

    assert sum(hits.values()) >= 40, f"seed {SEED}: {hits}"
    credits = [i for i in moneybird.invoices.values() if i.get("original_sales_invoice_id")]
    refs = Counter(c["reference"] for c in credits)
    assert all(n == 1 for n in refs.values()), f"seed {SEED}: credited twice {refs}"
    assert set(refs) == {f"WC-{r['parent_id']}-R{r['id']}" for r in refunds}
    for credit in credits:
        assert credit["state"] == "paid" and len(credit["payments"]) == 1, credit["reference"]
    amounts = {f"WC-{r['parent_id']}-R{r['id']}": r["amount"] for r in refunds}
    for credit in credits:
        assert -Decimal(credit["total_price_incl_tax"]) == Decimal(amounts[credit["reference"]])
