"""[payouts]' names and ids resolved against the sandbox Moneybird's financial and ledger
accounts: to the ids booking takes, or to every reason they cannot be, each saying what to
make or set."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.booking.payout import PayoutSettings
from connector.config import PayoutsConfig
from connector.moneybird.client import MoneybirdClient
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import FIN_BANK, FIN_MOLLIE, FIN_PAYPAL, LEDGER_FEES
from connector.sync.payout_settings import (
    PayoutSetupError,
    ResolvedPayouts,
    resolve_from,
    resolve_payouts,
)

TRANSFERS = "410000000000001190"
FEES_PAYABLE = "410000000000001600"
FEE_VAT = "410000000000001520"
CHARGEBACKS = "410000000000004990"
KRUISPOSTEN = "410000000000002300"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def ledger(lid: str, name: str, kind: str, allowed: list[str] | None = None) -> dict[str, Any]:
    return {"id": lid, "administration_id": 123456789, "name": name, "account_type": kind,
            "account_id": None, "parent_id": None,
            "allowed_document_types": allowed or ["sales_invoice", "purchase_invoice",
                                                  "general_journal_document",
                                                  "financial_mutation", "payment"]}  # fmt: skip


@pytest.fixture
def client(moneybird: MoneybirdSandbox) -> Iterator[MoneybirdClient]:
    moneybird.ledger_accounts.extend([
        ledger(TRANSFERS, "Betalingen onderweg", "current_assets"),
        ledger(FEES_PAYABLE, "Mollie fees payable", "current_liabilities"),
        ledger(FEE_VAT, "Te vorderen btw", "current_assets"),
        ledger(CHARGEBACKS, "Chargebacks", "expenses"),
        ledger(KRUISPOSTEN, "Kruisposten", "current_assets",
               ["financial_mutation", "general_journal_document"]),
    ])  # fmt: skip
    mb = MoneybirdClient(
        moneybird.api_url, moneybird.administration_id, moneybird.token, sleep=lambda _s: None
    )
    yield mb
    mb.close()


def payouts(**mollie: str) -> PayoutsConfig:
    section = {
        "financial_account": "Mollie",
        "transfer_ledger": "Betalingen onderweg",
        "fee_ledger": LEDGER_FEES,
    }
    return PayoutsConfig.model_validate(
        {"enabled": True, "bank_account": "Bankrekening", "mollie": {**section, **mollie}}
    )


def problems(result: ResolvedPayouts | PayoutSetupError) -> dict[str, str]:
    assert isinstance(result, PayoutSetupError), result
    return {p.key: p.message for p in result.problems}


def test_names_and_ids_become_the_ids_booking_takes(
    client: MoneybirdClient, moneybird: MoneybirdSandbox
) -> None:
    config = payouts(
        fees_payable_ledger="  mollie FEES payable ",  # case and spaces aside
        fee_vat_ledger=FEE_VAT,
        chargeback_ledger="Chargebacks",
    )
    config = config.model_copy(update={"bank_line_days": 7})
    before = len(moneybird.requests)
    resolved = resolve_payouts(config, client, "Europe/Amsterdam")
    assert resolved == ResolvedPayouts(
        bank_account_id=FIN_BANK,
        bank_line_days=7,
        since=None,
        providers={
            "mollie": PayoutSettings(
                financial_account_id=FIN_MOLLIE,
                transfer_ledger_id=TRANSFERS,
                fee_ledger_id=LEDGER_FEES,
                fees_payable_ledger_id=FEES_PAYABLE,
                fee_vat_ledger_id=FEE_VAT,
                chargeback_ledger_id=CHARGEBACKS,
                timezone=AMSTERDAM,
            )
        },
    )
    # Two reads, nothing else.
    asked = [(m, p.rsplit("/", 1)[-1]) for _t, m, p, _s in moneybird.requests[before:]]
    assert sorted(asked) == [("GET", "financial_accounts.json"), ("GET", "ledger_accounts.json")]


def test_optional_ledgers_left_empty_are_none(client: MoneybirdClient) -> None:
    resolved = resolve_payouts(payouts(), client, AMSTERDAM)
    assert isinstance(resolved, ResolvedPayouts)
    mollie = resolved.providers["mollie"]
    assert (mollie.fees_payable_ledger_id, mollie.fee_vat_ledger_id) == (None, None)
    assert mollie.chargeback_ledger_id is None


def test_a_name_not_found_says_to_make_it(client: MoneybirdClient) -> None:
    found = problems(resolve_payouts(payouts(fee_ledger="Mollie kosten"), client, AMSTERDAM))
    assert found == {
        "payouts.mollie.fee_ledger": "no ledger account 'Mollie kosten' in the administration; "
        "make it in Moneybird, or set the name or id of an existing one"
    }


def test_a_name_found_twice_asks_for_the_id(
    client: MoneybirdClient, moneybird: MoneybirdSandbox
) -> None:
    moneybird.financial_accounts.append({**moneybird.financial_accounts[0], "id": "4209"})
    found = problems(resolve_payouts(payouts(), client, AMSTERDAM))
    assert found == {
        "payouts.mollie.financial_account": "2 financial accounts are named 'Mollie' (ids "
        f"{FIN_MOLLIE}, 4209); set the id of the one meant"
    }
    # By its id it is one.
    resolved = resolve_payouts(payouts(financial_account="4209"), client, AMSTERDAM)
    assert isinstance(resolved, ResolvedPayouts)
    assert resolved.providers["mollie"].financial_account_id == "4209"


def test_the_bank_account_is_not_the_providers_account(client: MoneybirdClient) -> None:
    result = resolve_payouts(payouts(financial_account=FIN_BANK), client, AMSTERDAM)
    assert problems(result) == {
        "payouts.mollie.financial_account": "'Bankrekening' is the bank account the payouts "
        "arrive on; make a financial account for Mollie in Moneybird and name it here"
    }
    assert isinstance(result, PayoutSetupError)
    assert result.reason.startswith("payouts.mollie.financial_account: 'Bankrekening' is the")


def test_kruisposten_is_refused_as_the_transfer_ledger_only(client: MoneybirdClient) -> None:
    result = resolve_payouts(payouts(transfer_ledger="Kruisposten"), client, AMSTERDAM)
    message = problems(result)["payouts.mollie.transfer_ledger"]
    assert message.startswith("'Kruisposten' takes no payments in Moneybird; make a ledger")
    # Elsewhere (a chargeback is a ledger booking on a mutation) it may be named.
    fine = resolve_payouts(payouts(chargeback_ledger=KRUISPOSTEN), client, AMSTERDAM)
    assert isinstance(fine, ResolvedPayouts)
    assert fine.providers["mollie"].chargeback_ledger_id == KRUISPOSTEN


def test_each_provider_has_its_own_account_and_every_problem_is_said_at_once(
    client: MoneybirdClient, moneybird: MoneybirdSandbox
) -> None:
    moneybird.financial_accounts[2]["active"] = False  # PayPal
    config = PayoutsConfig.model_validate({
        "enabled": True, "bank_account": "Nergens",
        "mollie": {"financial_account": "Mollie", "transfer_ledger": "Kruisposten",
                   "fee_ledger": "Onbekend"},
        "shopify_payments": {"financial_account": "mollie", "transfer_ledger": TRANSFERS,
                             "fee_ledger": FEES_PAYABLE},
    })  # fmt: skip
    found = problems(resolve_payouts(config, client, AMSTERDAM))
    assert set(found) == {
        "payouts.bank_account",
        "payouts.mollie.transfer_ledger",
        "payouts.mollie.fee_ledger",
        "payouts.shopify_payments.financial_account",
    }
    assert found["payouts.shopify_payments.financial_account"] == (
        "'Mollie' is Mollie's financial account already; make one for Shopify Payments in "
        "Moneybird and name it here"
    )
    paypal = PayoutsConfig.model_validate({
        "enabled": True, "bank_account": FIN_BANK,
        "shopify_payments": {"financial_account": FIN_PAYPAL, "transfer_ledger": TRANSFERS,
                             "fee_ledger": FEES_PAYABLE},
    })  # fmt: skip
    assert problems(resolve_payouts(paypal, client, AMSTERDAM)) == {
        "payouts.shopify_payments.financial_account": "financial account 'PayPal' is inactive "
        "in Moneybird; activate it or name another"
    }


def test_off_or_unset_is_a_reason_not_a_guess() -> None:
    off = PayoutsConfig()
    assert problems(resolve_from(off, [], [], AMSTERDAM)) == {
        "payouts.enabled": "payouts are off; set enabled = true"
    }
    unset = PayoutsConfig.model_validate({"enabled": True, "mollie": {}})
    assert set(problems(resolve_from(unset, [], [], AMSTERDAM))) == {
        "payouts.bank_account",
        "payouts.mollie.financial_account",
        "payouts.mollie.transfer_ledger",
        "payouts.mollie.fee_ledger",
    }
