"""`config check` with [payouts]: on, it checks the token's `bank` scope, the accounts and
ledgers by name and line, whether Moneybird's own link feeds the provider's account, the Mollie
key and the Shopify app's payouts scope, each finding saying what to do; off (the default), it
asks Moneybird for nothing more than before."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.admin.config_check import ERROR, OK, WARNING, Report, check
from connector.booking.payout import PayoutSettings
from connector.moneybird.client import utc_today
from connector.runtime import Runtime
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import FIN_BANK, FIN_MOLLIE
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import PayoutRecord, PayoutState
from connector.sync.payouts import PayoutFlow, PayoutSetup
from tests.conftest import secrets_env, write_config
from tests.e2e.test_payout_flow import Provider, settlement
from tests.e2e.test_shopify import shopify_config

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
        "payouts: the Mollie account in Moneybird has no movements of Moneybird's own Mollie "
        "link (last 31 days): the connector books Mollie's payouts there",
        "payouts: MOLLIE_API_KEY is set",
    ]
    # Two reads of the bank more: the bank account for this day only, the Mollie account.
    bank_reads = [
        dict(query)["filter"]
        for method, path, query, _body in moneybird.received
        if method == "GET" and path.endswith("/financial_mutations.json")
    ]
    assert len(bank_reads) == 2
    assert f"financial_account_id:{FIN_BANK}" in bank_reads[0]
    assert f"financial_account_id:{FIN_MOLLIE}" in bank_reads[1]


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


# --- Moneybird's own feed on the provider's account ----------------------------------------

FED = (
    "payouts: The Mollie account in Moneybird is fed by Moneybird itself (its own Mollie link): "
    "the connector imports nothing there and only links those movements"
)
NOT_FED = (
    "payouts: the Mollie account in Moneybird has no movements of Moneybird's own Mollie link "
    "(last 31 days): the connector books Mollie's payouts there"
)


def feed_line(
    moneybird: MoneybirdSandbox, ident: str, amount: str, in_message: bool = False
) -> None:
    """A movement as Moneybird's own Mollie link brings it in: on a statement of its own, with
    Mollie's id as its servicer's id (or only in its message)."""
    line = moneybird.add_bank_line(FIN_MOLLIE, utc_today(), amount, f"Mollie {ident} Order 1001")
    if not in_message:
        moneybird.financial_mutations[line["id"]]["account_servicer_transaction_id"] = ident


def feed_findings(report: Report) -> list[str]:
    return [s for s in said(report, OK) if "Moneybird's own Mollie link" in s or "fed by" in s]


def test_movements_under_mollies_ids_the_connector_did_not_post_are_moneybirds_own_feed(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    start = len(moneybird.received)
    report, _ = run_check(tmp_path, shop, moneybird, PAYOUTS)  # a first check: no state yet
    assert feed_findings(report) == [NOT_FED]
    # The Mollie account read once, its last 31 days.
    reads = [
        dict(query)["filter"]
        for method, path, query, _body in moneybird.received[start:]
        if method == "GET" and path.endswith("/financial_mutations.json")
    ]
    first = utc_today() - timedelta(days=30)
    assert f"period:{first:%Y%m%d}..{utc_today():%Y%m%d},financial_account_id:{FIN_MOLLIE}" in reads
    assert len(reads) == 2  # and the bank's, for the scope

    feed_line(moneybird, "tr_7UhSN1zuXS", "66.84")
    report, _ = run_check(tmp_path, shop, moneybird, PAYOUTS)
    assert report.ok, said(report, ERROR)
    [finding] = feed_findings(report)
    assert finding.startswith(FED + " (1 movement of the last 31 days under Mollie's ids")
    assert "tr_7UhSN1zuXS" in finding


def test_an_id_only_in_the_message_is_the_feed_too_but_a_plain_line_is_not(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    moneybird.add_bank_line(FIN_MOLLIE, utc_today(), "12.00", "correction by hand")
    report, _ = run_check(tmp_path, shop, moneybird, PAYOUTS)
    assert feed_findings(report) == [NOT_FED]
    feed_line(moneybird, "re_4qqhO89gsT", "-5.00", in_message=True)
    report, _ = run_check(tmp_path, shop, moneybird, PAYOUTS)
    [finding] = feed_findings(report)
    assert finding.startswith(FED) and "re_4qqhO89gsT" in finding


def test_an_account_moneybird_links_to_a_provider_is_the_feed(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    [mollie] = [a for a in moneybird.financial_accounts if a["id"] == FIN_MOLLIE]
    mollie["provider"] = "mollie"  # financial_account_response's `provider`
    report, _ = run_check(tmp_path, shop, moneybird, PAYOUTS)
    [finding] = feed_findings(report)
    assert finding == FED + " (Moneybird links the account to provider 'mollie')"


def book_settlement(runtime: Runtime, shop: WooCommerceSandbox, sid: str) -> PayoutRecord:
    """The orders booked, then a Mollie settlement over order 1001 through the payout flow."""
    runtime.engine().run_pass()
    settings = PayoutSettings(
        financial_account_id=FIN_MOLLIE, transfer_ledger_id=TRANSFERS,
        fee_ledger_id=FEES_PAYABLE, fees_payable_ledger_id=FEES_PAYABLE,
    )  # fmt: skip
    setup = PayoutSetup(FIN_BANK, {"mollie": settings}, datetime(2026, 1, 1, tzinfo=UTC))
    provider = Provider([settlement(shop, {1001: "tr_7UhSN1zuXS"}, "0.70", sid)])
    PayoutFlow(runtime.store, runtime.client, "woocommerce", [provider]).book(setup)
    record = runtime.store.payout(f"mollie:{sid}")
    assert record is not None and record.state == PayoutState.LINKED, record
    return record


def test_the_connectors_own_statements_are_not_the_feed(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, runtime: Runtime
) -> None:
    record = book_settlement(runtime, shop, "stl_ours")
    ours = [
        m for m in moneybird.financial_mutations.values() if m["financial_account_id"] == FIN_MOLLIE
    ]
    assert {m["financial_statement_id"] for m in ours} == {record.statement_id}
    assert "tr_7UhSN1zuXS" in {m["account_servicer_transaction_id"] for m in ours}
    report, _ = run_check(tmp_path, shop, moneybird, PAYOUTS)
    assert feed_findings(report) == [NOT_FED]


def test_a_payout_the_feed_brought_in_and_the_connector_only_linked_is_the_feed(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, runtime: Runtime
) -> None:
    # The statement the connector records is the feed's own: still not the connector's.
    for part, amount in (("tr_7UhSN1zuXS", "66.84"), ("stl_feed.fees.202612", "-0.70"),
                         ("stl_feed", "-66.14")):  # fmt: skip
        feed_line(moneybird, part, amount)
    record = book_settlement(runtime, shop, "stl_feed")
    assert "not imported again" in (record.notes or "")
    report, _ = run_check(tmp_path, shop, moneybird, PAYOUTS)
    [finding] = feed_findings(report)
    assert finding.startswith(FED + " (3 movements of the last 31 days under Mollie's ids")


# --- Shopify Payments: the app's scope -------------------------------------------------------

SHOPIFY_PAYOUTS = """
[payouts]
enabled = true
bank_account = "Bankrekening"

[payouts.shopify_payments]
financial_account = "Shopify Payments"
transfer_ledger = "Betalingen onderweg"
fee_ledger = "Transactiekosten"
"""


def shopify_check(tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox) -> Report:
    moneybird.ledger_accounts.append(ledger("410000000000004600", "Transactiekosten", "expenses"))
    moneybird.financial_accounts.append(
        {"id": "420000000000000901", "type": "PaymentServiceProvider", "name": "Shopify Payments",
         "identifier": "Shopify Payments", "currency": "EUR", "active": True}
    )  # fmt: skip
    config = shopify_config(tmp_path, shopify, moneybird)
    config.path.write_text(config.path.read_text() + SHOPIFY_PAYOUTS, encoding="utf-8")
    env = {"MONEYBIRD_TOKEN": moneybird.token, "SHOPIFY_ACCESS_TOKEN": shopify.access_token}
    return check(config.path, environ=env)


def test_shopify_payments_without_the_payouts_scope_is_told_what_to_grant(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    report = shopify_check(tmp_path, shopify, moneybird)
    assert said(report, ERROR) == [
        "payouts: the Shopify app may not read Shopify Payments' payouts: add the scope "
        "read_shopify_payments_payouts to the app's Admin API access scopes, then reinstall the "
        "app (or approve the new scope in the Shopify admin) so its access token carries it; "
        "until then no Shopify Payments payout is read"
    ]


def test_shopify_payments_with_the_payouts_scope_is_ok(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    shopify.scopes = (*shopify.scopes, "read_shopify_payments_payouts")
    report = shopify_check(tmp_path, shopify, moneybird)
    assert report.ok, said(report, ERROR)
    assert (
        "payouts: the Shopify app may read Shopify Payments' payouts "
        "(read_shopify_payments_payouts)" in said(report, OK)
    )
