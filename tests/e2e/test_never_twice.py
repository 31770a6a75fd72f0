"""Moneybird decides what is already booked: a state restored from an older backup, or a
second install with its own state file, books nothing a second time. Judged by the
documents, payments and contacts in the Moneybird sandbox."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.config import load_config
from connector.runtime import Runtime, build
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import JEROEN, Item, Person, woo_order
from connector.sandbox.woocommerce import WooCommerceSandbox
from tests.conftest import secrets_env, write_config
from tests.helpers import booked_exactly_once

STATE_FILES = ("state.db", "state.db-wal", "state.db-shm")


def install(folder: Path, shop: WooCommerceSandbox, mb: MoneybirdSandbox) -> Runtime:
    folder.mkdir(exist_ok=True)
    path = write_config(folder, shop.url, mb.api_url, mb.administration_id)
    runtime = build(load_config(path, environ=secrets_env(shop, mb)))
    runtime.shop._sleep = lambda _s: None
    runtime.client._sleep = lambda _s: None
    return runtime


def run_pass(folder: Path, shop: WooCommerceSandbox, mb: MoneybirdSandbox):  # type: ignore[no-untyped-def]
    runtime = install(folder, shop, mb)
    try:
        return runtime.engine().run_pass()
    finally:
        runtime.close()


def exactly_once(mb: MoneybirdSandbox) -> dict[str, dict]:
    return booked_exactly_once(mb)


def new_customer_order(order_id: int) -> dict:
    person = Person(f"Nieuw{order_id}", "Klant", f"nieuw{order_id}@example.nl", "Laan 1",
                    "1234 AB", "Delft")  # fmt: skip
    return woo_order(order_id, person, [Item("Espresso blend 1kg", "EB-1000", 1, "21.50", 2)],
                     "0", datetime.now(UTC) - timedelta(hours=2))  # fmt: skip


def test_a_restored_backup_books_nothing_a_second_time(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    moneybird.rate_limit = 100_000
    run_pass(tmp_path, shop, moneybird)  # the demo's 8 orders
    backup = tmp_path / "backup"
    backup.mkdir()
    for name in STATE_FILES:
        if (tmp_path / name).exists():
            shutil.copy2(tmp_path / name, backup / name)
    # After last night's backup: five new orders (new customers), and a refund of one.
    for order_id in range(8001, 8006):
        shop.put_order(new_customer_order(order_id))
    run_pass(tmp_path, shop, moneybird)
    refund = shop.refund(8001, items=[(80011, 1, "19.72", "1.78")])  # the espresso, 21.50
    run_pass(tmp_path, shop, moneybird)
    before = exactly_once(moneybird)
    assert len(before) == 8 + 5 + 1
    writes = len(moneybird.accepted)
    # The disk fails; the state is restored from the backup.
    for name in STATE_FILES:
        (tmp_path / name).unlink(missing_ok=True)
        if (backup / name).exists():
            shutil.copy2(backup / name, tmp_path / name)
    report = run_pass(tmp_path, shop, moneybird)
    after = exactly_once(moneybird)
    assert {ref: i["id"] for ref, i in after.items()} == {ref: i["id"] for ref, i in before.items()}
    # Nothing written again (the synchronization POSTs are reads in bulk).
    assert [a for a in moneybird.accepted[writes:] if "synchronization" not in a[1]] == []
    for order_id in range(8001, 8006):
        invoice = after[f"WC-{order_id}"]
        assert invoice["state"] == "paid" and len(invoice["payments"]) == 1
    credit = after[f"WC-8001-R{refund['id']}"]
    assert len(credit["payments"]) == 1
    # Five invoices and the credit invoice found in Moneybird: adopted, never "booked".
    assert (report.booked, report.refunds_booked, report.adopted) == (0, 0, 6)


def test_a_second_install_on_the_same_administration_books_nothing_twice(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    moneybird.rate_limit = 100_000
    first, second = tmp_path / "first", tmp_path / "second"
    run_pass(first, shop, moneybird)
    report = run_pass(second, shop, moneybird)
    assert (report.booked, report.adopted) == (0, 8)
    shop.put_order(new_customer_order(8101))
    run_pass(second, shop, moneybird)  # the second books it now
    shop.put_order(new_customer_order(8102))
    run_pass(first, shop, moneybird)  # the first adopts 8101, books 8102
    run_pass(second, shop, moneybird)  # the second adopts 8102
    invoices = exactly_once(moneybird)
    assert len(invoices) == 10
    assert all(i["state"] == "paid" and len(i["payments"]) == 1 for i in invoices.values())


def test_last_years_invoice_is_found_too(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """Moneybird's invoice lists show this year only unless a period is named: an order paid
    last December and booked by the first install must still be found by the second."""
    moneybird.rate_limit = 100_000
    december = datetime(datetime.now(UTC).year - 1, 12, 20, 10, tzinfo=UTC)
    shop.put_order(woo_order(8201, JEROEN, [Item("Espresso blend 1kg", "EB-1000", 1, "21.50", 2)],
                             "0", december))  # fmt: skip
    run_pass(tmp_path / "first", shop, moneybird)
    invoice = exactly_once(moneybird)["WC-8201"]
    assert invoice["invoice_date"] == december.date().isoformat()
    report = run_pass(tmp_path / "second", shop, moneybird)
    assert exactly_once(moneybird)["WC-8201"]["id"] == invoice["id"]
    assert report.booked == 0
