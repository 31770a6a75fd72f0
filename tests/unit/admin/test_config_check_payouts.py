"""`config check` with [payouts]: on, it checks the token's `bank` scope, the accounts and
ledgers by name and line, and the Mollie key, each finding saying what to do; off (the
default), it asks Moneybird for nothing more than before."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connector.admin.config_check import ERROR, OK, WARNING, Report, check
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import FIN_BANK
from connector.sandbox.woocommerce import WooCommerceSandbox
from tests.conftest import secrets_env, write_config

TRANSFERS = "410000000000001190"
FEES_PAYABLE = "410000000000001600"
KRUISPOSTEN = "410000000000002300"
ACCESS_TOKEN = "access_Wwvu7egPcJLLJ9Kb7J632x8wJ2zMeJ"
PAYOUTS = """
[payouts]
enabled = true
bank_account = "Bankrekening"

[payouts.mollie]
financial_account = "Mollie"
transfer_ledger = "Betalingen onderweg"
fee_ledger = "Mollie fees payable"
fees_payable_ledger = "Mollie fees payable"
"""


def ledger(lid: str, name: str, kind: str) -> dict[str, Any]:
    return {"id": lid, "administration_id": 123456789, "name": name, "account_type": kind,
            "account_id": None, "parent_id": None,
            "allowed_document_types": ["financial_mutation", "general_journal_document"]}  # fmt: skip


@pytest.fixture(autouse=True)
def ledgers(moneybird: MoneybirdSandbox) -> None:
    moneybird.ledger_accounts.extend([
        ledger(TRANSFERS, "Betalingen onderweg", "current_assets"),
        ledger(FEES_PAYABLE, "Mollie fees payable", "current_liabilities"),
        ledger(KRUISPOSTEN, "Kruisposten", "current_assets"),
    ])  # fmt: skip


def run_check(
    tmp_path: Path,
    shop: WooCommerceSandbox,
    moneybird: MoneybirdSandbox,
    payouts: str,
    key: str = ACCESS_TOKEN,
) -> tuple[Report, Path]:
    path = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    path.write_text(path.read_text(encoding="utf-8") + payouts, encoding="utf-8")
    env = {**secrets_env(shop, moneybird), "MOLLIE_API_KEY": key}
    return check(path, environ=env), path


def said(report: Report, level: str) -> list[str]:
    """The findings of a level, but the shop's (the sandbox shop has rates no rule maps)."""
    return [
        f"{f.where}: {f.message}"
        for f in report.findings
        if f.level == level and not f.where.startswith("shop")
    ]


def line(path: Path, text: str) -> int:
    return path.read_text(encoding="utf-8").splitlines().index(text) + 1


def asked(moneybird: MoneybirdSandbox, since: int = 0) -> Counter[tuple[str, str]]:
    return Counter((method, path) for _t, method, path, _s in moneybird.requests[since:])


def test_off_asks_moneybird_for_nothing_more(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    plain, _ = run_check(tmp_path, shop, moneybird, "")
    without = asked(moneybird)
    off = PAYOUTS.replace("enabled = true", "enabled = false")
    start = len(moneybird.requests)
    report, _ = run_check(tmp_path, shop, moneybird, off)
    assert asked(moneybird, start) == without
    assert not any("financial_mutations" in p or "financial_statements" in p for _m, p in without)
    assert not any(f.where == "payouts" for f in report.findings)
    assert report.ok and plain.ok


def test_on_the_scope_the_accounts_and_the_key_are_checked(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    report, _ = run_check(tmp_path, shop, moneybird, PAYOUTS)
    assert report.ok, said(report, ERROR)
    assert [f for f in said(report, OK) if f.startswith("payouts")] == [
        "payouts: the Moneybird token may read and book the bank (`bank` scope)",
        "payouts: the bank account, and the financial account and ledgers of Mollie, exist and fit",
        "payouts: MOLLIE_API_KEY is set",
    ]
    # One read of the bank more, on the bank account, for this day only.
    bank_reads = [
        query
        for method, path, query, _body in moneybird.received
        if method == "GET" and path.endswith("/financial_mutations.json")
    ]
    assert len(bank_reads) == 1
    assert f"financial_account_id:{FIN_BANK}" in dict(bank_reads[0])["filter"]


def test_a_token_without_the_bank_scope_is_told_what_to_make(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    moneybird.bank_scope = False
    report, _ = run_check(tmp_path, shop, moneybird, PAYOUTS)
    assert said(report, ERROR) == [
        "payouts: the Moneybird token may not read the bank (no `bank` scope): make a token "
        "with the scopes sales_invoices, settings and bank and set it as MONEYBIRD_TOKEN"
    ]


def test_the_bank_account_as_the_providers_and_kruisposten_are_refused_by_line(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    wrong = PAYOUTS.replace('financial_account = "Mollie"', 'financial_account = "Bankrekening"')
    wrong = wrong.replace('"Betalingen onderweg"', '"Kruisposten"')
    report, path = run_check(tmp_path, shop, moneybird, wrong)
    account = line(path, 'financial_account = "Bankrekening"')
    transfer = line(path, 'transfer_ledger = "Kruisposten"')
    assert said(report, ERROR) == [
        f"{path}:{account}: 'Bankrekening' is the bank account the payouts arrive on; make a "
        "financial account for Mollie in Moneybird and name it here",
        f"{path}:{transfer}: 'Kruisposten' takes no payments in Moneybird; make a ledger for "
        "payouts on their way to the bank (a current asset, e.g. 'Betalingen onderweg') and "
        "name it here",
    ]


def test_a_name_not_found_an_api_key_and_a_fees_payable_asset_are_said(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    missing = PAYOUTS.replace('fee_ledger = "Mollie fees payable"', 'fee_ledger = "Kosten"')
    report, path = run_check(tmp_path, shop, moneybird, missing, key="live_abc")
    fee = line(path, 'fee_ledger = "Kosten"')
    assert said(report, ERROR) == [
        f"{path}:{fee}: no ledger account 'Kosten' in the "
        "administration; make it in Moneybird, or set the name or id of an existing one"
    ]
    assert any("MOLLIE_API_KEY is not an access token" in w for w in said(report, WARNING))
    assert "live_abc" not in str(report.findings)
    asset = PAYOUTS.replace(
        'fees_payable_ledger = "Mollie fees payable"', 'fees_payable_ledger = "Kruisposten"'
    )
    report, path = run_check(tmp_path, shop, moneybird, asset)
    payable = line(path, 'fees_payable_ledger = "Kruisposten"')
    assert report.ok
    assert said(report, WARNING) == [
        f"{path}:{payable}: 'Kruisposten' is a "
        "current_assets ledger; fees payable are a debt to the provider until its invoice is "
        "booked: a current_liabilities ledger"
    ]
