"""Upgrades keep booking (#27 item 5): a state file left by an earlier version, opened by
today's code, books exactly what that version would have booked next, and nothing twice.

Each fixture in tests/fixtures/states/ was made by running that version itself
(make_states.py there says how): its state file, and the shop and Moneybird it left behind.
"""

from __future__ import annotations

import copy
import itertools
import json
import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import connector
from connector.cli import app
from connector.config import load_config
from connector.runtime import build
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import ANNA, PIETER, Item, Person, seed_moneybird, seed_shop, woo_order
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import Meta, OrderState, from_text
from tests.conftest import FIXTURES, secrets_env, write_config
from tests.helpers import booked_exactly_once

STATES = FIXTURES / "states"
VERSIONS = sorted(path.stem for path in STATES.glob("*.db"))
OLD_BOOKED = 8  # each old version booked the demo's orders but 1006 (parked: no rule for DE)
MILA = Person("Mila", "Smit", "mila.smit@example.nl", "Vismarkt 3", "9712 CA", "Groningen")


def test_every_fixture_is_here() -> None:
    # The version of the issue (no start point yet) and the oldest state format.
    assert {"12db893", "e6de606"} <= set(VERSIONS)


def upgraded_world(
    version: str, folder: Path
) -> tuple[MoneybirdSandbox, WooCommerceSandbox, datetime, str | None]:
    """The shop and Moneybird as the old version left them, its state file copied into
    `folder`, three orders paid since its last pass (after its watermark, before now), and
    the [sync] start it ran with."""
    world: dict[str, Any] = json.loads((STATES / f"{version}.json").read_text())
    mb = MoneybirdSandbox()
    seed_moneybird(mb)
    mb.contacts = world["moneybird"]["contacts"]
    mb.invoices = world["moneybird"]["invoices"]
    known = [int(i) for i in itertools.chain(mb.contacts, mb.invoices)]
    mb._ids = itertools.count(max(known) + 1)  # new documents never take an old one's id
    mb.rate_limit = 100_000
    shop = WooCommerceSandbox()
    seed_shop(shop, [])
    for order in world["shop_orders"]:
        shop.put_order(order, modified=datetime.fromisoformat(order["date_modified_gmt"] + "Z"))
    shutil.copyfile(STATES / f"{version}.db", folder / "state.db")
    watermark = from_text(raw_meta(folder / "state.db", Meta.WATERMARK))
    assert watermark is not None
    espresso = Item("Espresso blend 1kg", "EB-1000", 1, "21.50", 2)
    for n, person in enumerate((ANNA, PIETER, MILA), start=1):
        created = watermark + timedelta(days=n)  # paid two minutes later: the shop's way
        order = woo_order(2000 + n, person, [espresso], "4.95", created)
        paid = datetime.fromisoformat(order["date_paid_gmt"] + "Z")
        assert watermark < paid < datetime.now(UTC)
        shop.put_order(order, modified=paid)
    mb.start()
    shop.start()
    return mb, shop, watermark, world["sync_start"]


@pytest.mark.parametrize("version", VERSIONS)
def test_an_upgraded_state_books_what_was_paid_since_its_last_pass(
    version: str, tmp_path: Path
) -> None:
    mb, shop, watermark, sync_start = upgraded_world(version, tmp_path)
    try:
        # The configuration the old version ran with: the same [sync] start, or none.
        start_key = f"start = {sync_start}" if sync_start else ""
        path = write_config(tmp_path, shop.url, mb.api_url, mb.administration_id,
                            mb_extra="rate_limit = 100000", history_start=start_key)  # fmt: skip
        env = secrets_env(shop, mb)
        # Right after the upgrade, before a pass: the old counts, nothing called history.
        before = status(path, env)
        assert before["counts"] == {OrderState.PAID: OLD_BOOKED, OrderState.PARKED: 1}
        assert before["history"]["orders_before_start"] in (0, None)

        booked_before = copy.deepcopy(mb.invoices)
        runtime = build(load_config(path, environ=env))
        runtime.shop._sleep = lambda _s: None
        runtime.client._sleep = lambda _s: None
        try:
            engine = runtime.engine()
            report = engine.run_pass()
        finally:
            runtime.close()
        invoices = booked_exactly_once(mb, OLD_BOOKED + 3, paid=True, why=f"{version}: ")
        assert {"WC-2001", "WC-2002", "WC-2003"} <= set(invoices)
        assert (report.booked, report.before_start) == (3, 0)
        # What the old version booked is left as it was: no payment added, nothing edited.
        assert {i: mb.invoices[i] for i in booked_before} == booked_before
        # The start is where the old version's books began, never the moment of the upgrade.
        assert engine.start_point() <= watermark

        after = status(path, env)
        assert after["counts"] == {OrderState.PAID: OLD_BOOKED + 3, OrderState.PARKED: 1}
        assert after["history"]["orders_before_start"] in (0, None)
        assert [row["order"] for row in after["attention"]] == ["1006"]
        table = CliRunner().invoke(app, ["status", "--config", str(path)], env=env)
        assert "paid before the start" not in table.output, table.output
        # The state says which release wrote it, for the next upgrade to go by.
        assert raw_meta(tmp_path / "state.db", Meta.VERSION) == connector.__version__
    finally:
        shop.stop()
        mb.stop()


def status(path: Path, env: dict[str, str]) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["status", "--config", str(path), "--json"], env=env)
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def raw_meta(path: Path, key: str) -> str | None:
    """Read past the Store, which would record its own version on opening the file."""
    with closing(sqlite3.connect(path)) as db:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])
