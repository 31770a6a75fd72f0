"""`connector demo` does what the README promises a newcomer."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import httpx
from rich.console import Console

from connector.admin.demo import run_demo
from connector.config import load_config
from connector.dashboard.app import Source, create_app
from connector.dashboard.server import DashboardServer
from connector.state import PayoutState, Store


def test_demo_books_every_mappable_order_and_parks_the_unmapped_one() -> None:
    out = io.StringIO()
    assert run_demo(Console(file=out, width=200)) == 0
    text = out.getvalue()
    assert "9 orders seen, 8 booked, 1 parked, 0 waiting for payment" in text
    assert "Invoices whose total and VAT equal the shop order's to the cent: 8 of 8" in text
    assert "Parked order 1006: no tax rule maps shop rate 3 'MwSt' (19%)" in text
    assert "Contacts: 4 created, 1 already in Moneybird" in text
    assert "0 booked, 0 parked; 0 Moneybird requests" in text
    assert "duplicate references: none" in text
    # The month reconciled: it agrees; after an invoice is deleted and another edited in
    # Moneybird, exactly those two orders are named (run_demo returns 1 otherwise).
    assert "Moneybird agrees with the shop" in text
    # Numbered in the year the demo's orders were paid (three days back).
    assert re.search(r"order booked as \d{4}-0003, no longer in Moneybird", text), text
    assert "total 11.38 in Moneybird, 70.33 in the shop" in text  # 1005: its 59.95 line at 1.00


def test_shopify_demo_books_exactly_and_parks_what_it_must() -> None:
    # The shipped part of Shopify's schema (connector/sandbox/shopify_schema.py): no
    # shared contracts needed, as after a pip install.
    out = io.StringIO()
    assert run_demo(Console(file=out, width=200), platform="shopify") == 0
    text = out.getvalue()
    assert "8 orders seen, 5 booked, 2 parked, 1 waiting for payment" in text
    assert "Invoices whose total and VAT equal the shop order's to the cent: 5 of 5" in text
    assert "Parked order 2006: the order sells a gift card" in text
    assert "set [gift_cards] sale = 'liability'" in text  # the section name kept
    assert "Parked order 2007: no tax rule maps shop rate 19" in text


def kept_demo(out: io.StringIO) -> Path:
    """Run the WooCommerce demo keeping its folder; the config.toml it names at the end."""
    assert run_demo(Console(file=out, width=200), keep=True) == 0, out.getvalue()
    found = re.search(r"Try: connector status --config (\S+)", out.getvalue())
    assert found, out.getvalue()
    return Path(found.group(1))


def test_the_demo_books_mollies_payouts_one_to_its_bank_line_one_waiting_for_order_1006() -> None:
    out = io.StringIO()
    config = kept_demo(out)
    try:
        text = out.getvalue()
        store = Store(load_config(config, require_secrets=False).state_path)
        try:
            records = sorted(store.payouts(), key=lambda r: r.paid_out or "")
        finally:
            store.close()
        # Two settlements paid out: 1001, 1003 and 1005 (66.84 + 68.04 + 70.33 = 205.21, less
        # iDEAL 3 x 0.29 + 21% VAT = 1.05: 204.16), its bank line on the bank account; then
        # 1006 (the parked 19% order), 1007 and 1009 (46.79 + 32.85 + 36.29 = 115.93, less
        # 1.05: 114.88), which waits for 1006.
        assert [(r.state, r.net) for r in records] == [
            (PayoutState.DONE, "204.16"),
            (PayoutState.WAITING, "114.88"),
        ], [(r.state, r.net, r.reason) for r in records]
        done, waiting = records
        assert done.bank_mutation_id  # the bank line linked
        assert "(order 1006)" in (waiting.reason or "")
        assert waiting.statement_id is None  # nothing of it on the Mollie account yet
        # What the demo prints: the payouts, and where the dashboard shows them.
        assert "Mollie payouts -> the Mollie account in Moneybird" in text
        assert re.search(r"204\.16 │ booked, bank line linked", text), text
        assert re.search(r"114\.88 │ waiting for orders: mollie payment \S+ \(order 1006\)", text)
        assert f"and: connector dashboard --config {config}   # its Payouts page" in text
        # The monthly check names the payout that cannot be booked (run_demo returns 1 when
        # it names another), before and after the two documents are changed.
        assert " ".join(text.split()).count(": 1 payout finding") == 2, text
        assert "Payouts that do not add up" in text
    finally:
        shutil.rmtree(config.parent)


def test_the_kept_demo_s_dashboard_shows_both_payouts() -> None:
    out = io.StringIO()
    config_path = kept_demo(out)
    try:
        # As `connector dashboard --config <the demo's>` serves it, without the demo's secrets.
        config = load_config(config_path, require_secrets=False)
        store = Store(config.state_path)
        app = create_app(Source(lambda: config, lambda: store, None, "demo-dashboard-token"))
        server = DashboardServer(app, "127.0.0.1", 0).start()
        try:
            page = httpx.get(server.url + "payouts", timeout=30)
        finally:
            server.stop()
            store.close()
        assert page.status_code == 200
        rows = {
            payout: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))
            for row in re.findall(r"<tr.*?</tr>", page.text, re.DOTALL)
            for payout in re.findall(r"stl_demo\w+", row)
        }
        assert len(rows) == 2, rows
        first, second = (rows[k] for k in sorted(rows))
        assert "204.16" in first and "booked, bank line linked" in first, first
        assert "114.88" in second and "waiting for orders" in second, second
        assert "(order 1006)" in second
    finally:
        shutil.rmtree(config_path.parent)


def test_the_shopify_demo_books_no_payouts() -> None:
    out = io.StringIO()
    assert run_demo(Console(file=out, width=200), platform="shopify") == 0
    assert "Mollie payouts" not in out.getvalue()
