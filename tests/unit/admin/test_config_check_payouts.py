"""`config check` with [payouts]: on, it checks the token's `bank` scope, the accounts and
ledgers by name and line, whether Moneybird's own link feeds the provider's account, the Mollie
key and the Shopify app's payouts scope, each finding saying what to do; off (the default), it
asks Moneybird for nothing more than before."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.admin.config_check import ERROR, OK, UNCHECKED, WARNING, Report, check
from connector.booking.payout import PayoutSettings
from connector.moneybird.client import utc_today
from connector.runtime import Runtime
from connector.sandbox.http import Response
from connector.sandbox.mollie import MollieSandbox
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


@pytest.fixture
def mollie() -> Iterator[MollieSandbox]:
    sandbox = MollieSandbox(api_key=ACCESS_TOKEN).start()
    yield sandbox
    sandbox.stop()


def run_check(
    tmp_path: Path,
    shop: WooCommerceSandbox,
    moneybird: MoneybirdSandbox,
    mollie: MollieSandbox,
    payouts: str,
    key: str = ACCESS_TOKEN,
) -> tuple[Report, Path]:
    """`config check` with [payouts]; Mollie is the sandbox (no check reaches the internet)."""
    if "[payouts.mollie]" in payouts:
        payouts += f'api_url = "{mollie.url}"\n'
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
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    plain, _ = run_check(tmp_path, shop, moneybird, mollie, "")
    without = asked(moneybird)
    off = PAYOUTS.replace("enabled = true", "enabled = false")
    start = len(moneybird.requests)
    report, _ = run_check(tmp_path, shop, moneybird, mollie, off)
    assert asked(moneybird, start) == without
    assert not any("financial_mutations" in p or "financial_statements" in p for _m, p in without)
    assert not any(f.where == "payouts" for f in report.findings)
    assert report.ok and plain.ok


def test_on_the_scope_the_accounts_and_the_key_are_checked(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    report, _ = run_check(tmp_path, shop, moneybird, mollie, PAYOUTS)
    assert report.ok, said(report, ERROR)
    assert [f for f in said(report, OK) if f.startswith("payouts")] == [
        "payouts: the Moneybird token may read and book the bank (`bank` scope)",
        "payouts: the bank account, and the financial account and ledgers of Mollie, exist and fit",
        "payouts: the Mollie account in Moneybird has no movements of Moneybird's own Mollie "
        "link (last 31 days): the connector books Mollie's payouts there",
        "payouts: Mollie answers with this key (it may read settlements)",
    ]
    assert said(report, WARNING) == []
    assert mollie.requests == [("GET", "/v2/settlements", {"limit": "1"})]
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
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    moneybird.bank_scope = False
    report, _ = run_check(tmp_path, shop, moneybird, mollie, PAYOUTS)
    assert said(report, ERROR) == [
        "payouts: the Moneybird token may not read the bank (no `bank` scope): make a token "
        "with the scopes sales_invoices, settings and bank and set it as MONEYBIRD_TOKEN"
    ]


def test_the_bank_account_as_the_providers_and_kruisposten_are_refused_by_line(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    wrong = PAYOUTS.replace('financial_account = "Mollie"', 'financial_account = "Bankrekening"')
    wrong = wrong.replace('"Betalingen onderweg"', '"Kruisposten"')
    report, path = run_check(tmp_path, shop, moneybird, mollie, wrong)
    account = line(path, 'financial_account = "Bankrekening"')
    transfer = line(path, 'transfer_ledger = "Kruisposten"')
    assert said(report, ERROR) == [
        f"{path}:{account}: 'Bankrekening' is the bank account the payouts arrive on; make a "
        "financial account for Mollie in Moneybird and name it here",
        f"{path}:{transfer}: 'Kruisposten' takes no payments in Moneybird; make a ledger for "
        "payouts on their way to the bank (a current asset, e.g. 'Betalingen onderweg') and "
        "name it here",
    ]


def test_a_name_not_found_is_refused_by_line(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    missing = PAYOUTS.replace('fee_ledger = "Mollie fees payable"', 'fee_ledger = "Kosten"')
    report, path = run_check(tmp_path, shop, moneybird, mollie, missing)
    fee = line(path, 'fee_ledger = "Kosten"')
    assert said(report, ERROR) == [
        f"{path}:{fee}: no ledger account 'Kosten' in the "
        "administration; make it in Moneybird, or set the name or id of an existing one"
    ]


def test_ledgers_of_the_wrong_kind_are_warned_saying_what_to_choose(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    """The transfer ledger holds payouts on their way to the bank (a current asset), fees are
    a cost (never revenue), fees payable a debt: the seed's revenue ledgers fit none."""
    wrong = (
        PAYOUTS.replace('"Betalingen onderweg"', '"Omzet hoog tarief"')
        .replace('fee_ledger = "Mollie fees payable"', 'fee_ledger = "Overige opbrengsten"')
        .replace(
            'fees_payable_ledger = "Mollie fees payable"', 'fees_payable_ledger = "Kruisposten"'
        )
    )
    report, path = run_check(tmp_path, shop, moneybird, mollie, wrong)
    transfer = line(path, 'transfer_ledger = "Omzet hoog tarief"')
    fee = line(path, 'fee_ledger = "Overige opbrengsten"')
    payable = line(path, 'fees_payable_ledger = "Kruisposten"')
    assert report.ok, said(report, ERROR)
    assert said(report, WARNING) == [
        f"{path}:{transfer}: 'Omzet hoog tarief' is a revenue ledger; payouts on their way to "
        "the bank are a current asset: make or choose a current_assets ledger (e.g. "
        "'Betalingen onderweg') and name it here",
        f"{path}:{fee}: 'Overige opbrengsten' is a revenue ledger; the provider's fees are a "
        "cost, not revenue: make or choose an expenses ledger (e.g. 'Transactiekosten'), or "
        "the fees-payable ledger, and name it here",
        f"{path}:{payable}: 'Kruisposten' is a current_assets ledger; fees payable are a debt "
        "to the provider until its invoice is booked: make or choose a current_liabilities "
        "ledger (e.g. 'Nog te betalen Mollie-kosten') and name it here",
    ]
    assert not [f for f in said(report, OK) if f.startswith("payouts") and "fit" in f]
    assert "payouts: the bank account, and the financial account and ledgers of Mollie, exist" in (
        said(report, OK)
    )


def test_an_expenses_fee_ledger_is_no_warning(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    moneybird.ledger_accounts.append(ledger("410000000000004600", "Transactiekosten", "expenses"))
    costs = PAYOUTS.replace('fee_ledger = "Mollie fees payable"', 'fee_ledger = "Transactiekosten"')
    report, _ = run_check(tmp_path, shop, moneybird, mollie, costs)
    assert said(report, WARNING) == []
    assert (
        "payouts: the bank account, and the financial account and ledgers of Mollie, exist and fit"
        in (said(report, OK))
    )


# --- the Mollie key, asked of Mollie ---------------------------------------------------------

KEY_ADVICE = (
    "make an organization access token in Mollie's dashboard (Developers → Organization access "
    "tokens) with settlements.read, payments.read and refunds.read and set it as "
    "MOLLIE_API_KEY; until then no Mollie payout is read"
)


def mollie_findings(report: Report) -> list[tuple[str, str]]:
    return [(f.level, f.message) for f in report.findings if "MOLLIE" in f.message
            or "Mollie answers" in f.message or "Mollie could not" in f.message]  # fmt: skip


@pytest.mark.parametrize(
    ("key", "failing", "said_first"),
    [
        ("access_revokedKeyXyZqWvUtPq", {}, "MOLLIE_API_KEY is wrong or revoked: Mollie answered "
         "401 (Missing authentication, or failed to authenticate)"),
        (ACCESS_TOKEN, {"/v2/settlements": 403}, "MOLLIE_API_KEY may not read settlements: "
         "Mollie answered 403 (<html>Service Unavailable</html>)"),
    ],
)  # fmt: skip
def test_a_key_mollie_refuses_is_an_error_saying_what_to_make(
    tmp_path: Path,
    shop: WooCommerceSandbox,
    moneybird: MoneybirdSandbox,
    mollie: MollieSandbox,
    key: str,
    failing: dict[str, int],
    said_first: str,
) -> None:
    mollie.failing = failing
    report, _ = run_check(tmp_path, shop, moneybird, mollie, PAYOUTS, key=key)
    assert mollie_findings(report) == [(ERROR, f"{said_first}: {KEY_ADVICE}")]
    assert not report.ok
    assert key[7:] not in str(report.findings)
    assert [(m, p) for m, p, _q in mollie.requests] == [("GET", "/v2/settlements")]


def test_a_website_api_key_is_refused_saying_it_cannot_read_settlements(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    report, _ = run_check(tmp_path, shop, moneybird, mollie, PAYOUTS, key="live_abcdefghij")
    [(level, message)] = mollie_findings(report)
    assert level == ERROR
    assert message.startswith("MOLLIE_API_KEY is wrong or revoked: Mollie answered 401")
    assert message.endswith(
        KEY_ADVICE + " (a website profile's API key, live_… or test_…, cannot read settlements)"
    )
    assert "abcdefghij" not in str(report.findings)


def test_mollie_out_of_reach_leaves_the_key_unchecked(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    mollie.down_status = 503
    report, _ = run_check(tmp_path, shop, moneybird, mollie, PAYOUTS)
    host = mollie.url.removeprefix("http://")
    assert mollie_findings(report) == [
        (UNCHECKED, f"whether Mollie answers with MOLLIE_API_KEY: Mollie could not be reached "
         f"(Mollie at {host} is unavailable (HTTP 503; 1 request in a row failed))"),
    ]  # fmt: skip
    assert report.ok and "not checked: payouts" in report.verdict
    assert len(mollie.requests) == 1  # one request: the check says at once

    mollie.stop()  # nothing listening
    report, _ = run_check(tmp_path, shop, moneybird, mollie, PAYOUTS)
    [(level, message)] = mollie_findings(report)
    assert level == UNCHECKED and "Mollie could not be reached" in message
    assert ACCESS_TOKEN[7:] not in str(report.findings)


def test_an_answer_not_mollies_leaves_the_key_unchecked_and_a_website_key_is_warned(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    mollie.override = lambda _req: Response(404, {"status": 404, "detail": "No such route"})
    report, _ = run_check(tmp_path, shop, moneybird, mollie, PAYOUTS, key="live_abcdefghij")
    assert mollie_findings(report) == [
        (UNCHECKED, "whether Mollie answers with MOLLIE_API_KEY: the answer is not Mollie's "
         "(Mollie answered 404 to /v2/settlements (No such route))"),
        (WARNING, "MOLLIE_API_KEY is not an access token (access_...): Mollie lets only an "
         f"organization access token read its settlements; {KEY_ADVICE}"),
    ]  # fmt: skip
    assert report.ok and "abcdefghij" not in str(report.findings)


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
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    start = len(moneybird.received)
    report, _ = run_check(tmp_path, shop, moneybird, mollie, PAYOUTS)  # a first check: no state yet
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
    report, _ = run_check(tmp_path, shop, moneybird, mollie, PAYOUTS)
    assert report.ok, said(report, ERROR)
    [finding] = feed_findings(report)
    assert finding.startswith(FED + " (1 movement of the last 31 days under Mollie's ids")
    assert "tr_7UhSN1zuXS" in finding


def test_an_id_only_in_the_message_is_the_feed_too_but_a_plain_line_is_not(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    moneybird.add_bank_line(FIN_MOLLIE, utc_today(), "12.00", "correction by hand")
    report, _ = run_check(tmp_path, shop, moneybird, mollie, PAYOUTS)
    assert feed_findings(report) == [NOT_FED]
    feed_line(moneybird, "re_4qqhO89gsT", "-5.00", in_message=True)
    report, _ = run_check(tmp_path, shop, moneybird, mollie, PAYOUTS)
    [finding] = feed_findings(report)
    assert finding.startswith(FED) and "re_4qqhO89gsT" in finding


def test_an_account_moneybird_links_to_a_provider_is_the_feed(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    [account] = [a for a in moneybird.financial_accounts if a["id"] == FIN_MOLLIE]
    account["provider"] = "mollie"  # financial_account_response's `provider`
    report, _ = run_check(tmp_path, shop, moneybird, mollie, PAYOUTS)
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
    tmp_path: Path,
    shop: WooCommerceSandbox,
    moneybird: MoneybirdSandbox,
    runtime: Runtime,
    mollie: MollieSandbox,
) -> None:
    record = book_settlement(runtime, shop, "stl_ours")
    ours = [
        m for m in moneybird.financial_mutations.values() if m["financial_account_id"] == FIN_MOLLIE
    ]
    assert {m["financial_statement_id"] for m in ours} == {record.statement_id}
    assert "tr_7UhSN1zuXS" in {m["account_servicer_transaction_id"] for m in ours}
    report, _ = run_check(tmp_path, shop, moneybird, mollie, PAYOUTS)
    assert feed_findings(report) == [NOT_FED]


def test_a_payout_the_feed_brought_in_and_the_connector_only_linked_is_the_feed(
    tmp_path: Path,
    shop: WooCommerceSandbox,
    moneybird: MoneybirdSandbox,
    runtime: Runtime,
    mollie: MollieSandbox,
) -> None:
    # The statement the connector records is the feed's own: still not the connector's.
    for part, amount in (("tr_7UhSN1zuXS", "66.84"), ("stl_feed.fees.202612", "-0.70"),
                         ("stl_feed", "-66.14")):  # fmt: skip
        feed_line(moneybird, part, amount)
    record = book_settlement(runtime, shop, "stl_feed")
    assert "not imported again" in (record.notes or "")
    report, _ = run_check(tmp_path, shop, moneybird, mollie, PAYOUTS)
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
