"""`reconcile --month` with [payouts] on: the month's Mollie settlements beside the orders, each
with its figures, its bank line and the Mollie account's balance in Moneybird after it; what
does not add up in the sandbox Moneybird is named and makes the exit code 5. `status` counts
the payouts. The demo shop's October (tests/e2e/test_reconcile.py), paid through Mollie.

Hand-worked (Amsterdam time; the orders paid from 5 October 11:02):
- settlement 1, paid out 6 October 15:02: 1001 66.84 + 1003 68.04 + 1005 70.33 = 205.21 gross,
  iDEAL 3 x 0.29 = 0.87 + 21% VAT 0.18 = 1.05 fees, 204.16 net;
- settlement 2, paid out 7 October 10:02: 1007 32.85 (paid 6 October 20:02) + 1009 36.29 =
  69.14 gross, 2 x 0.29 = 0.58 + VAT 0.12 = 0.70 fees, 68.44 net (where 1006, parked for its
  unmapped 19% rate, is not paid through Mollie; where it is, settlement 2 waits for it).
- The Mollie account after settlement 1 (end of 6 October): its own movements add up to 0.00,
  and 1007's payment of that evening waits in Mollie for settlement 2: 32.85. After settlement
  2: 0.00, and 0.00 at the end of October.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import load_config
from connector.runtime import build
from connector.sandbox.mollie import MollieSandbox, seed_mollie
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import FIN_BANK, FIN_MOLLIE, demo_orders, seed_shop
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import PayoutRecord
from tests.conftest import secrets_env, write_config
from tests.e2e.test_payouts_mollie import FEES_PAYABLE, ledgers, payouts_block

runner = CliRunner()
OCTOBER = datetime(2026, 10, 5, 9, tzinfo=UTC)  # the first demo order
S1, S2 = "stl_demo26100501", "stl_demo26100502"


@pytest.fixture(autouse=True)
def _bank_looked_at_every_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bank line brought in is looked for by the next pass at once (the scheduler looks
    every BANK_POLL)."""
    monkeypatch.setattr("connector.sync.payouts.BANK_POLL", timedelta(0))


@pytest.fixture
def october() -> Iterator[WooCommerceSandbox]:
    woo = WooCommerceSandbox()
    seed_shop(woo, demo_orders(OCTOBER))
    woo.start()
    yield woo
    woo.stop()


Setup = Callable[..., Path]


@pytest.fixture
def started() -> Iterator[list[MollieSandbox]]:
    found: list[MollieSandbox] = []
    yield found
    for mollie in found:
        mollie.stop()


@pytest.fixture
def setup(
    tmp_path: Path,
    october: WooCommerceSandbox,
    moneybird: MoneybirdSandbox,
    monkeypatch: pytest.MonkeyPatch,
    started: list[MollieSandbox],
) -> Setup:
    """October booked with [payouts] on (or off), Mollie paying out the orders named."""

    def make(*, without: tuple[int, ...] = (), payouts: bool = True) -> Path:
        for name, value in secrets_env(october, moneybird).items():
            monkeypatch.setenv(name, value)
        extra = ""
        if payouts:
            mollie = MollieSandbox()
            paid = [o for o in october.orders.values() if int(o["id"]) not in without]
            assert seed_mollie(mollie, paid, OCTOBER) == [S1, S2]
            mollie.start()
            started.append(mollie)
            monkeypatch.setenv("MOLLIE_API_KEY", mollie.api_key)
            ledgers(moneybird)
            extra = payouts_block(mollie)
        config = write_config(
            tmp_path, october.url, moneybird.api_url, moneybird.administration_id, extra=extra
        )
        sync(config)
        return config

    return make


def sync(config: Path) -> None:
    result = runner.invoke(app, ["sync", "--config", str(config)])
    assert result.exit_code == 0, result.output


def records(config: Path) -> dict[str, PayoutRecord]:
    runtime = build(load_config(config))
    try:
        return {r.payout_id: r for r in runtime.store.payouts()}
    finally:
        runtime.close()


def bank_line(mb: MoneybirdSandbox, record: PayoutRecord, days: int = 1) -> dict[str, Any]:
    day = datetime.fromisoformat(record.paid_out or "").date() + timedelta(days=days)
    return mb.add_bank_line(
        FIN_BANK, day, Decimal(record.net or "0"), f"Stichting Mollie Payments {record.reference}"
    )


def reconcile(config: Path) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(
        app, ["reconcile", "--month", "2026-10", "--json", "--config", str(config)]
    )
    assert result.exit_code in (0, 5), result.output
    return result.exit_code, json.loads(result.stdout)


def all_done(setup: Setup, moneybird: MoneybirdSandbox) -> Path:
    """Both settlements booked, their bank lines arrived and linked."""
    config = setup(without=(1006,))
    for record in records(config).values():
        bank_line(moneybird, record)
    sync(config)
    assert {r.state for r in records(config).values()} == {"done"}
    return config


def test_payouts_booked_and_linked_agree_with_hand_checked_figures(
    setup: Setup, moneybird: MoneybirdSandbox
) -> None:
    config = all_done(setup, moneybird)
    code, report = reconcile(config)
    assert code == 0, report["payouts"]["findings"]
    assert report["outcome"] == "agrees"
    rows = {row["payout"]: row for row in report["payouts"]["rows"]}
    first, second = rows[S1], rows[S2]
    assert (first["date"], first["gross"], first["refunds"], first["chargebacks"]) == (
        "2026-10-06", "205.21", "0.00", "0.00",
    )  # fmt: skip
    assert (first["fees"], first["fee_vat"], first["net"]) == ("1.05", "0.18", "204.16")
    assert (first["state"], first["bank_line"], first["bank_line_linked"]) == (
        "done", "linked", True,
    )  # fmt: skip
    assert first["balance_after"] == "32.85"  # 1007's payment, paid out in settlement 2
    assert (second["date"], second["gross"], second["fees"], second["net"]) == (
        "2026-10-07", "69.14", "0.70", "68.44",
    )  # fmt: skip
    assert (second["balance_after"], second["bank_line"]) == ("0.00", "linked")
    [balance] = report["payouts"]["balances"]
    assert (balance["opening"], balance["closing"], balance["agrees"]) == ("0.00", "0.00", True)
    assert "2 payouts (2 done): they add up" in report["summary"]
    # The orders' side is as without payouts: Moneybird agrees with the shop.
    assert report["missing"] == report["differences"] == report["unknown"] == []

    # The same shown to people.
    shown = runner.invoke(
        app, ["reconcile", "--month", "2026-10", "--config", str(config)], terminal_width=250
    )
    assert shown.exit_code == 0, shown.output
    assert "Payouts" in shown.output and "204.16" in shown.output and "32.85" in shown.output


def test_reconciling_payouts_reads_only_and_few_requests(
    setup: Setup, moneybird: MoneybirdSandbox
) -> None:
    config = all_done(setup, moneybird)
    moneybird.received.clear()
    reconcile(config)
    bank = [(m, p) for m, p, _q, _b in moneybird.received if "financial_" in p]
    writes = [(m, p) for m, p, _q, _b in moneybird.received if m in ("PATCH", "PUT", "DELETE")]
    assert writes == []
    # The Mollie account's mutations in one list; the two bank lines by their ids in one.
    assert sorted(bank) == sorted(
        [
            ("GET", f"/api/v2/{moneybird.administration_id}/financial_accounts.json"),
            ("GET", f"/api/v2/{moneybird.administration_id}/financial_mutations.json"),
            (
                "POST",
                f"/api/v2/{moneybird.administration_id}/financial_mutations/synchronization.json",
            ),
        ]
    ), bank


def test_a_fee_unlinked_by_hand_is_named(setup: Setup, moneybird: MoneybirdSandbox) -> None:
    config = all_done(setup, moneybird)
    [fee] = [
        m
        for m in moneybird.financial_mutations.values()
        if m["financial_account_id"] == FIN_MOLLIE and m["amount"] == "-1.05"
    ]
    [booking] = fee["ledger_account_bookings"]
    assert booking["ledger_account_id"] == FEES_PAYABLE
    runtime = build(load_config(config))
    try:
        runtime.client.unlink_booking(fee["id"], "LedgerAccountBooking", booking["id"])
    finally:
        runtime.close()
    assert moneybird.financial_mutations[fee["id"]]["state"] == "unprocessed"
    code, report = reconcile(config)
    assert code == 5
    assert report["outcome"] == "differences"
    [finding] = report["payouts"]["findings"]
    assert f"payout {S1}" in finding["what"]
    assert "fee line '" in finding["what"] and "fee not booked" in finding["what"]
    assert f"mutation {fee['id']}" in finding["what"] and "-1.05" in finding["what"]
    assert f"LedgerAccount {FEES_PAYABLE} 1.05" in finding["advice"]
    assert "1 payout finding" in report["summary"]


def test_a_statement_gone_from_moneybird_is_named(
    setup: Setup, moneybird: MoneybirdSandbox
) -> None:
    config = all_done(setup, moneybird)
    [statement] = [
        s for s in moneybird.financial_statements.values() if s["reference"] == f"mollie {S1}"
    ]
    # Deleted in Moneybird by a person (its links undone first).
    for mutation in statement["financial_mutations"]:
        del moneybird.financial_mutations[mutation["id"]]
    del moneybird.financial_statements[statement["id"]]
    code, report = reconcile(config)
    assert code == 5
    [finding] = report["payouts"]["findings"]
    assert f"its statement 'mollie {S1}' is gone from Moneybird" in finding["what"]
    assert finding["documents"] == [f"mollie {S1}"]


def test_a_movement_no_payout_explains_leaves_the_balance_off(
    setup: Setup, moneybird: MoneybirdSandbox
) -> None:
    config = all_done(setup, moneybird)
    line = moneybird.add_bank_line(FIN_MOLLIE, OCTOBER.date() + timedelta(days=15), "10.00",
                                   "Mollie correction")  # fmt: skip
    code, report = reconcile(config)
    assert code == 5
    [balance] = report["payouts"]["balances"]
    assert (balance["closing"], balance["held_for_later_payouts"]) == ("10.00", "0.00")
    unprocessed, off = report["payouts"]["findings"]
    assert (
        f"'Mollie correction' 10.00 on 2026-10-20 (mutation {line['id']}, unprocessed)"
        in (unprocessed["what"])
    )
    assert off["what"].startswith("Mollie holds 10.00 in Moneybird at the end of 2026-10, not 0.00")
    assert "'Mollie correction' 10.00" in off["what"]


def test_a_bank_line_that_never_comes_is_named_after_five_days(
    setup: Setup, moneybird: MoneybirdSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = setup(without=(1006,))
    found = records(config)
    bank_line(moneybird, found[S2])  # settlement 1's never comes
    sync(config)
    first = found[S1]
    paid_out = datetime.fromisoformat(first.paid_out or "")
    clock = "connector.sync.reconcile.payouts.utcnow"

    monkeypatch.setattr(clock, lambda: paid_out + timedelta(days=4))
    code, report = reconcile(config)
    assert code == 0, report["payouts"]["findings"]
    assert {r["payout"]: r["bank_line"] for r in report["payouts"]["rows"]} == {
        S1: "awaited",
        S2: "linked",
    }

    monkeypatch.setattr(clock, lambda: paid_out + timedelta(days=5, minutes=1))
    code, report = reconcile(config)
    assert code == 5
    [finding] = report["payouts"]["findings"]
    assert f"Mollie payout {S1} (reference {first.reference})" in finding["what"]
    assert "no bank line of 204.16" in finding["what"] and "more than 5 days" in finding["what"]
    assert report["payouts"]["rows"][0]["bank_line"] == "overdue"


def test_a_payout_waiting_for_order_1006_is_named(setup: Setup) -> None:
    config = setup()
    code, report = reconcile(config)
    assert code == 5
    rows = {row["payout"]: row for row in report["payouts"]["rows"]}
    assert rows[S2]["state"] == "waiting" and rows[S2]["bank_line"] == "not booked"
    waits = [f for f in report["payouts"]["findings"] if S2 in f["what"]]
    assert len(waits) == 1 and "(order 1006)" in waits[0]["what"], waits
    # 1006 itself is known to the orders' side: parked, with its reason.
    assert [p["order"] for p in report["parked"]] == ["1006"]


def test_with_payouts_off_nothing_is_read_or_shown(
    setup: Setup, moneybird: MoneybirdSandbox
) -> None:
    config = setup(payouts=False)
    moneybird.received.clear()
    code, report = reconcile(config)
    assert code == 0
    assert "payouts" not in report and "payout" not in report["summary"]
    assert [p for _m, p, _q, _b in moneybird.received if "financial_mutations" in p] == []
    assert report["moneybird_requests"] == len(moneybird.received)
    shown = runner.invoke(app, ["reconcile", "--month", "2026-10", "--config", str(config)])
    assert "Payouts" not in shown.output and "payout" not in shown.output


def status(config: Path) -> tuple[dict[str, Any], str]:
    data = runner.invoke(app, ["status", "--json", "--config", str(config)])
    assert data.exit_code == 0, data.output
    text = runner.invoke(app, ["status", "--config", str(config)], terminal_width=250)
    assert text.exit_code == 0, text.output
    return json.loads(data.stdout)["payouts"], text.output


def test_status_counts_payouts_booked_waiting_for_orders_and_for_the_bank_line(
    setup: Setup, moneybird: MoneybirdSandbox
) -> None:
    config = setup()
    payouts, text = status(config)
    assert (payouts["done"], payouts["waiting_for_orders"], payouts["waiting_for_bank_line"]) == (
        0, 1, 1,
    )  # fmt: skip
    assert payouts["attention"] == [] and payouts["problem"] is None
    [waiting] = payouts["waiting"]
    assert waiting["payout"] == S2 and "(order 1006)" in waiting["reason"]
    assert "Payouts: 0 booked, 1 waiting for their orders, 1 waiting for the bank line" in text
    assert "(order 1006)" in text
    # Paid out in October, no bank line since: more than bank_line_days (5) ago, said.
    [late] = payouts["bank_line_overdue"]
    assert late["payout"] == S1 and payouts["bank_line_days"] == 5
    assert f"no bank line of 204.16 with reference {late['reference']} after 5 days" in text

    bank_line(moneybird, records(config)[S1])
    sync(config)
    payouts, text = status(config)
    assert (payouts["done"], payouts["waiting_for_orders"], payouts["waiting_for_bank_line"]) == (
        1, 1, 0,
    )  # fmt: skip
    assert "Payouts: 1 booked, 1 waiting for their orders, 0 waiting for the bank line" in text


def test_status_lists_a_parked_payout_and_a_provider_not_read(
    setup: Setup, started: list[MollieSandbox], moneybird: MoneybirdSandbox
) -> None:
    config = setup(without=(1006,))
    [mollie] = started
    # A chargeback on 1001's payment, paid out on its own: no chargebacks ledger is named.
    mollie.add_chargeback("chb_n9z0tp", "tr_7UhSN1zuXS", "66.84", OCTOBER + timedelta(days=3))
    mollie.settle("stl_chb1", "1234567.2610.03", chargeback_ids=["chb_n9z0tp"],
                  settled_at=OCTOBER + timedelta(days=3, hours=2))  # fmt: skip
    sync(config)
    payouts, text = status(config)
    [parked] = payouts["attention"]
    assert (parked["payout"], parked["state"]) == ("stl_chb1", "parked"), parked
    assert "name a chargebacks ledger" in parked["reason"]
    assert parked["what_to_do"].startswith("do what the reason says")
    assert "Payouts needing attention" in text and "stl_chb1" in text
    assert payouts["problem"] is None
    code, report = reconcile(config)
    assert code == 5
    # Settlements 1 and 2 wait for their bank lines since October: named too.
    [finding] = [f for f in report["payouts"]["findings"] if "stl_chb1" in f["what"]]
    assert len(report["payouts"]["findings"]) == 3
    assert finding["what"].startswith(
        "Mollie payout stl_chb1 (reference 1234567.2610.03) is parked"
    )
    assert "name a chargebacks ledger" in finding["what"]

    mollie.down_status = 503
    sync(config)
    payouts, text = status(config)
    assert payouts["problem"] is not None and payouts["problem"].startswith("mollie: ")
    assert "Payouts were not all booked in the last pass:" in text


def test_a_provider_no_pass_could_read_is_named_not_said_to_add_up(
    tmp_path: Path, october: WooCommerceSandbox, moneybird: MoneybirdSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Mollie's key refused all month: no payout is in the state, and reconcile must not say
    the payouts add up over the settlements nobody booked (it exited 0 before)."""
    for name, value in secrets_env(october, moneybird).items():
        monkeypatch.setenv(name, value)
    mollie = MollieSandbox()
    seed_mollie(mollie, list(october.orders.values()), OCTOBER)
    mollie.start()
    try:
        monkeypatch.setenv("MOLLIE_API_KEY", "access_revokedKeyXyZqWvUtPq")
        ledgers(moneybird)
        config = write_config(tmp_path, october.url, moneybird.api_url,
                              moneybird.administration_id, extra=payouts_block(mollie))  # fmt: skip
        sync(config)
        code, report = reconcile(config)
        assert code == 5, report["summary"]
        said = json.dumps(report)
        assert "the last pass could not book payouts" in said
        assert "MOLLIE_API_KEY is wrong or revoked" in said
    finally:
        mollie.stop()
