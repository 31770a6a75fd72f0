"""`reconcile --month` in summary mode with [payouts] on: a day's document leaves Mollie's part
to Mollie's payouts, so until the payout comes it is open for that part. That is no difference
to credit and re-book; an unpaid amount more than the payouts still owe the day is.

The demo shop's October, Mollie's two settlements (tests/e2e/test_payouts_mollie.py), worked by
hand:
- 5 Oct: 1001 66.84 + 1003 68.04 = 134.88, all Mollie, paid by settlement 1: paid.
- 6 Oct: 1004 PayPal 16.46 (paid by the connector), 1005 Mollie 70.33 (settlement 1), 1007
  Mollie 32.85 (settlement 2, which waits for the parked 1006): 119.64, 32.85 unpaid, and
  103.18 left to the payouts of which settlement 1 paid 70.33: 32.85 still to come.
- 7 Oct: 1009 Mollie 36.29, in the waiting settlement 2: all 36.29 unpaid, all still to come.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.sandbox.mollie import MollieSandbox, seed_mollie
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import FIN_PAYPAL, demo_orders, seed_shop
from connector.sandbox.woocommerce import WooCommerceSandbox
from tests.conftest import secrets_env, write_config
from tests.e2e.test_payouts_mollie import ledgers, payouts_block

runner = CliRunner()
OCTOBER = datetime(2026, 10, 5, 9, tzinfo=UTC)  # the first demo order


@pytest.fixture(autouse=True)
def _bank_looked_at_every_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("connector.sync.payouts.BANK_POLL", timedelta(0))


@pytest.fixture(autouse=True)
def _reconciled_on_20_october(monkeypatch: pytest.MonkeyPatch) -> None:
    """The month is reconciled while its last days still wait for their payouts."""
    when = datetime(2026, 10, 20, 12, tzinfo=UTC)
    monkeypatch.setattr("connector.sync.reconcile.compare.utcnow", lambda: when)


@pytest.fixture
def booked(
    tmp_path: Path, moneybird: MoneybirdSandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """October synced in summary mode with Mollie's payouts booked: settlement 1 linked,
    settlement 2 waiting."""
    woo = WooCommerceSandbox()
    seed_shop(woo, demo_orders(OCTOBER))
    mollie = MollieSandbox()
    seed_mollie(mollie, list(woo.orders.values()), OCTOBER)
    woo.start()
    mollie.start()
    try:
        ledgers(moneybird)
        env = {**secrets_env(woo, moneybird), "MOLLIE_API_KEY": mollie.api_key}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        extra = 'mode = "summary"\n' + payouts_block(mollie)
        path = write_config(
            tmp_path, woo.url, moneybird.api_url, moneybird.administration_id, extra=extra
        )
        result = runner.invoke(app, ["sync", "--config", str(path)])
        assert result.exit_code == 0, result.output
        yield path
    finally:
        woo.stop()
        mollie.stop()


def reconciled(path: Path) -> dict[str, Any]:
    result = runner.invoke(
        app, ["reconcile", "--month", "2026-10", "--json", "--config", str(path)]
    )
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def days(moneybird: MoneybirdSandbox) -> dict[str, dict[str, Any]]:
    return {i["reference"]: i for i in moneybird.external_invoices.values()}


def test_a_day_waiting_for_its_payout_agrees_paid_in_part(
    booked: Path, moneybird: MoneybirdSandbox
) -> None:
    there = days(moneybird)
    assert D(there["WC-2026-10-06"]["total_unpaid"]) == D("32.85")
    assert D(there["WC-2026-10-07"]["total_unpaid"]) == D("36.29")

    report = reconciled(booked)

    assert report["differences"] == [], json.dumps(report["differences"], indent=1)
    rows = {r["document"]: r["status"] for r in report["orders"] if r["kind"] == "day"}
    assert rows["WC-2026-10-05"].startswith("agrees")
    assert "left to" not in rows["WC-2026-10-05"]  # settlement 1 paid it whole
    assert rows["WC-2026-10-06"].startswith("agrees")
    assert "paid in part, the rest (32.85) left to Mollie's payouts" in rows["WC-2026-10-06"]
    assert "all of it (36.29) left to Mollie's payouts" in rows["WC-2026-10-07"]
    # The waiting payout itself is named in the payouts section, not as the day's difference.
    waiting = [p for p in report["payouts"]["rows"] if p["payout"] == "stl_demo26100502"]
    assert [p["state"] for p in waiting] == ["waiting"], report["payouts"]
    assert "credit and re-book" not in json.dumps(report)


def test_more_unpaid_than_the_payouts_still_owe_the_day_is_a_difference(
    booked: Path, moneybird: MoneybirdSandbox
) -> None:
    """Someone took the PayPal payment (16.46) off 6 October's document: 49.31 unpaid, more
    than the 32.85 the payouts still owe it."""
    sixth = days(moneybird)["WC-2026-10-06"]
    paypal = [p for p in sixth["payments"] if p.get("financial_account_id") == FIN_PAYPAL]
    assert [D(p["price"]) for p in paypal] == [D("16.46")]
    moneybird.delete_payment(sixth["id"], paypal[0]["id"])
    assert D(days(moneybird)["WC-2026-10-06"]["total_unpaid"]) == D("49.31")

    report = reconciled(booked)

    found = [f for f in report["differences"] if f["reference"] == "WC-2026-10-06"]
    assert len(found) == 1, json.dumps(report["differences"], indent=1)
    assert "49.31 unpaid in Moneybird" in found[0]["what"]
    assert "32.85 of it left to Mollie's payouts" in found[0]["what"]
    # The other days still agree.
    assert [f["reference"] for f in report["differences"]] == ["WC-2026-10-06"]


def test_a_day_left_to_payouts_that_never_came_is_a_difference_after_35_days(
    booked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In December, 7 October's part (36.29) that no payout paid is no longer waiting (it
    agreed for ever before): a difference saying what to check."""
    when = datetime(2026, 12, 7, 12, tzinfo=UTC)
    monkeypatch.setattr("connector.sync.reconcile.compare.utcnow", lambda: when)
    report = reconciled(booked)
    late = [f for f in report["differences"] if f["reference"] == "WC-2026-10-07"]
    assert len(late) == 1, json.dumps(report["differences"], indent=1)
    assert "36.29 unpaid in Moneybird" in late[0]["what"]
    assert "no payout has paid it" in late[0]["what"]
