"""Issue 28 item 3: the state and the reports hold customers' data, so they are readable by
their owner alone whatever the umask; and shop text in a CSV report never becomes a live
formula in the bookkeeper's spreadsheet (OWASP CSV injection: a leading quote)."""

from __future__ import annotations

import csv
import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connector.admin.reconcile_report import write_csv
from connector.state import Meta, Store
from connector.sync.history_import import DryRun
from connector.sync.reconcile import Month, Reconciliation, Row

HYPERLINK = '=HYPERLINK("http://x.example","x")'


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """The usual umask, which leaves new files readable by everyone (0644)."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_state_and_its_folder_are_private(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)  # the owner's choice for a folder that is there already
    path = tmp_path / "new" / "deeper" / "state.db"
    store = Store(path)
    store.set_meta(Meta.WATERMARK, "2026-10-01T00:00:00+00:00")  # written: -wal and -shm made
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
    beside = [path.with_name(path.name + s) for s in ("-wal", "-shm", ".lock")]
    assert [(p.name, mode(p)) for p in beside if p.exists()] == [(p.name, 0o600) for p in beside]
    store.close()
    assert mode(tmp_path) == 0o755  # left as it was: the connector did not make it


def test_a_state_readable_by_others_is_made_private_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    sqlite3.connect(path).close()  # made by an earlier version: 0644 under this umask
    (tmp_path / "state.db.lock").touch()
    assert mode(path) == 0o644
    with caplog.at_level(logging.INFO, logger="connector.state"):
        Store(path).close()
    assert mode(path) == 0o600 and mode(tmp_path / "state.db.lock") == 0o600
    said = [r.getMessage() for r in caplog.records if str(path) + " " in r.getMessage()]
    assert len(said) == 1 and "was readable by others (0644)" in said[0], said
    assert "now private" in said[0]
    caplog.clear()
    Store(path).close()  # private already: nothing to say
    assert not [r for r in caplog.records if "readable by others" in r.getMessage()]


def test_the_import_reports_are_private_and_show_formulas_as_text(tmp_path: Path) -> None:
    result = DryRun(
        totals={("2026-11", "21% btw"): [Decimal("-4.13"), Decimal("-0.87"), Decimal("-5.00")]},
        invoices={("2026-11", "21% btw"): 1},
        parked=[("1006", "@SUM(1+1) is not a tax rate")],
        new_contacts={"anna@example.nl": HYPERLINK},
        refunds=[("1001", "7", "2026-11-02", "-5.00", "+credit invoice WC-1001-R7")],
    )
    folder = tmp_path / "report"
    files = result.write(folder)
    assert mode(folder) == 0o700
    assert [(f.name, mode(f)) for f in files] == [(f.name, 0o600) for f in files]
    contacts = list(csv.reader(files[2].open(encoding="utf-8")))
    assert contacts[1] == ["anna@example.nl", "'" + HYPERLINK]
    totals = list(csv.reader(files[0].open(encoding="utf-8")))
    assert totals[1][3:] == ["-4.13", "-0.87", "-5.00"]  # numbers stay numbers
    assert list(csv.reader(files[1].open(encoding="utf-8")))[1] == [
        "1006", "'@SUM(1+1) is not a tax rate"
    ]  # fmt: skip
    refunds = list(csv.reader(files[3].open(encoding="utf-8")))
    assert refunds[1] == ["1001", "7", "2026-11-02", "-5.00", "'+credit invoice WC-1001-R7"]


def test_an_existing_report_is_made_private_when_written_again(tmp_path: Path) -> None:
    out = tmp_path / "october.csv"
    out.write_text("old\n")
    os.chmod(out, 0o644)
    reconciliation = Reconciliation(Month(2026, 10), "Europe/Amsterdam")
    row = Row(HYPERLINK, "invoice", date(2026, 10, 5), "-2026-0001", {}, {}, Decimal("-5.00"),
              ("\tMollie",), "\rparked")  # fmt: skip
    reconciliation.rows.append(row)
    write_csv(reconciliation, out)
    assert mode(out) == 0o600
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert rows[0]["order"] == "'" + HYPERLINK
    assert rows[0]["document"] == "'-2026-0001"  # not a number: a formula to a spreadsheet
    assert rows[0]["total"] == "-5.00"
    assert rows[0]["payment account"] == "'\tMollie" and rows[0]["status"] == "'\rparked"


def test_private_even_with_a_umask_that_takes_nothing_away(tmp_path: Path) -> None:
    os.umask(0o000)
    path = tmp_path / "state" / "state.db"
    Store(path).close()
    assert (mode(path), mode(path.parent)) == (0o600, 0o700)
