"""Releases are numbered (pyproject.toml, connector.__version__) and a state file says which
release wrote it; a state from before start points gets the start its books had."""

from __future__ import annotations

import re
import sqlite3
import tomllib
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import connector
from connector.state import Meta, OrderRecord, OrderState, Store, to_text
from tests.conftest import ROOT


def test_the_release_has_one_number_in_both_places() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["version"] == connector.__version__  # the git tag is v<this>
    assert re.fullmatch(r"\d+\.\d+\.\d+", connector.__version__)


def test_a_state_file_says_which_release_last_opened_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone() == (
            connector.__version__,
        )
        db.execute("UPDATE meta SET value = '0.0.1' WHERE key = 'version'")  # an older release
        db.commit()
    store = Store(path)
    try:
        assert store.get_meta(Meta.VERSION) == connector.__version__
    finally:
        store.close()


def test_the_start_of_a_state_from_before_start_points(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    try:
        assert store.start_of_earlier_version() is None  # a new state: no books yet

        def order(number: int, state: OrderState, paid: datetime | None) -> None:
            store.save(OrderRecord(key=f"woocommerce:{number}", shop="woocommerce",
                                   order_id=str(number), state=state.value,
                                   paid_at=to_text(paid)))  # fmt: skip

        watermark = datetime(2026, 11, 22, 12, tzinfo=UTC)
        store.set_meta(Meta.WATERMARK, to_text(watermark) or "")
        assert store.start_of_earlier_version() == watermark  # it had booked nothing
        order(1, OrderState.PARKED, None)  # parked before its paid date was kept
        order(2, OrderState.PAID, datetime(2026, 11, 20, 9, tzinfo=UTC))
        order(3, OrderState.PAID, datetime(2026, 11, 19, 13, 2, tzinfo=UTC))
        # History is never where the books begin (a start taken out of sync.start since).
        order(4, OrderState.BEFORE_START, datetime(2025, 1, 1, tzinfo=UTC))
        assert store.start_of_earlier_version() == datetime(2026, 11, 19, 13, 2, tzinfo=UTC)
    finally:
        store.close()
