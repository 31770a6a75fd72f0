"""`mappings suggest` with [payouts] on: the empty account and ledger names in config.toml are
proposed from what Moneybird has (named like the provider; a transfer ledger never
Kruisposten), or marked with what to make there; off, nothing is proposed."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from connector.admin.mappings_suggest import from_services, payout_proposal
from connector.config import load_config
from connector.runtime import build
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.woocommerce import WooCommerceSandbox
from tests.conftest import ROOT, secrets_env, write_config

BASE = f"""[shop]
platform = "shopify"
url = "https://x.myshopify.com"

[moneybird]
administration_id = "123456789"

[mappings]
tax = "{ROOT / "mappings" / "tax.toml"}"
ledger = "{ROOT / "mappings" / "ledger.toml"}"
payment = "{ROOT / "mappings" / "payment.toml"}"

[payouts]
enabled = true

[payouts.mollie]
financial_account = ""

[payouts.shopify_payments]
fee_ledger = "Shopify kosten"   # already chosen: left as it is
"""
ACCOUNTS = [
    {"id": "1", "name": "Bankrekening", "identifier": "NL91 ABNA 0417 1643 00",
     "type": "FinancialAccount"},
    {"id": "2", "name": "Mollie", "identifier": "Mollie", "type": "PaymentServiceProvider"},
    {"id": "3", "name": "Shopify Payments", "identifier": "", "type": "FinancialAccount"},
    {"id": "4", "name": "Kas", "identifier": "", "type": "FinancialAccount"},
]  # fmt: skip


def ledger(lid: str, name: str, kind: str) -> dict[str, Any]:
    return {"id": lid, "name": name, "account_type": kind}


LEDGERS = [
    ledger("10", "Kruisposten", "current_assets"),
    ledger("11", "Betalingen onderweg", "current_assets"),
    ledger("12", "Mollie fees payable", "current_liabilities"),
    ledger("13", "Shopify kosten", "expenses"),
    ledger("14", "Omzet", "revenue"),
]


def config_at(tmp_path: Path, text: str = BASE) -> Any:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ={}, mappings_optional=True, require_secrets=False)


def test_empty_names_are_proposed_from_what_moneybird_has(tmp_path: Path) -> None:
    config = config_at(tmp_path)
    proposal = payout_proposal(config, ACCOUNTS, LEDGERS)
    assert proposal is not None and proposal.changed and proposal.path == config.path
    payouts = tomllib.loads(proposal.new)["payouts"]
    assert payouts["bank_account"] == "Bankrekening"  # the one account with an IBAN
    assert payouts["mollie"] == {
        "financial_account": "Mollie",
        "fees_payable_ledger": "Mollie fees payable",
        "fee_ledger": "Mollie fees payable",
        "transfer_ledger": "Betalingen onderweg",  # not Kruisposten
    }
    assert payouts["shopify_payments"] == {
        "fee_ledger": "Shopify kosten",
        "financial_account": "Shopify Payments",
        "transfer_ledger": "Betalingen onderweg",
    }
    assert "# already chosen: left as it is" in proposal.new
    assert "# suggested: named like Mollie" in proposal.new
    # What it proposes is a configuration that loads whole.
    config.path.write_text(proposal.new, encoding="utf-8")
    env = {"MONEYBIRD_TOKEN": "t", "SHOPIFY_ACCESS_TOKEN": "shpat_a", "MOLLIE_API_KEY": "k"}
    assert set(load_config(config.path, environ=env).payouts.providers()) == {
        "mollie",
        "shopify_payments",
    }
    # Run again: nothing more to propose.
    again = payout_proposal(config_at(tmp_path, proposal.new), ACCOUNTS, LEDGERS)
    assert again is not None and not again.changed


def test_what_moneybird_lacks_is_said_and_kruisposten_is_never_proposed(
    tmp_path: Path,
) -> None:
    config = config_at(tmp_path)
    bare = [ACCOUNTS[0], {**ACCOUNTS[3], "identifier": "NL02 RABO 0123 4567 89"}]
    proposal = payout_proposal(config, bare, [LEDGERS[0], LEDGERS[4]])
    assert proposal is not None
    payouts = tomllib.loads(proposal.new)["payouts"]
    assert payouts["bank_account"] == ""  # two accounts with an IBAN: not guessed
    assert payouts["mollie"]["transfer_ledger"] == ""
    lines = proposal.new.splitlines()
    transfer = next(ln for ln in lines if ln.startswith('transfer_ledger = ""'))
    assert "TO MAKE in Moneybird, then name here: a current-assets ledger like 'Betalingen " in (
        transfer
    )
    assert "Kruisposten" not in proposal.new.replace("(not Kruisposten: it takes no payments)", "")
    account = next(ln for ln in lines if ln.startswith('financial_account = ""'))
    assert account.endswith(
        "# TO MAKE in Moneybird, then name here: a financial account for Mollie"
    )
    bank = next(ln for ln in lines if ln.startswith("bank_account"))
    assert bank == 'bank_account = "" # TO SET: the financial account the payouts arrive on'


def test_off_nothing_is_proposed_and_nothing_more_read(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    off = config_at(tmp_path, BASE.replace("enabled = true", "enabled = false"))
    assert payout_proposal(off, ACCOUNTS, LEDGERS) is None
    # Through the services: the config.toml proposal comes last, from the same reads.
    path = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    on = "\n[payouts]\nenabled = true\n[payouts.mollie]\n"
    path.write_text(path.read_text(encoding="utf-8") + on, encoding="utf-8")
    env = {**secrets_env(shop, moneybird), "MOLLIE_API_KEY": "access_x"}
    config = load_config(path, environ=env, mappings_optional=True)
    runtime = build(config)
    try:
        start = len(moneybird.requests)
        proposals = from_services(config, runtime.client, runtime.shop)
        reads = [p for _t, _m, p, _s in moneybird.requests[start:]]
    finally:
        runtime.close()
    assert [p.table for p in proposals] == ["tax", "ledger", "payment", "config"]
    payouts = tomllib.loads(proposals[-1].new)["payouts"]
    assert payouts["bank_account"] == "Bankrekening"
    assert payouts["mollie"]["financial_account"] == "Mollie"
    assert sum(p.endswith("/ledger_accounts.json") for p in reads) == 1
    assert sum(p.endswith("/financial_accounts.json") for p in reads) == 1
