"""Shopify Payments payouts end to end: the Shopify demo shop with its card payments made
through Shopify Payments, two payouts (the second with a refund of the first order's
shipping), booked by the pass on the Shopify Payments account in Moneybird. Judged by what
landed in the sandbox Moneybird."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.config import load_config
from connector.runtime import Runtime, build
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import FIN_BANK
from connector.state import PayoutState
from tests.conftest import ROOT, SHOPIFY_SCHEMA, require_contract
from tests.e2e.test_payouts_mollie import TRANSFER, ledgers
from tests.e2e.test_shopify import shopify_config

D = Decimal
FIN_SHOPIFY = "420000000000000901"
FEES = "460000000000000903"


@pytest.fixture(autouse=True)
def _bank_looked_at_every_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests bring a bank line in and run the next pass at once: the bank account is
    looked at each pass (the scheduler looks every BANK_POLL; tested on its own)."""
    monkeypatch.setattr("connector.sync.payouts.BANK_POLL", timedelta(0))


@pytest.fixture
def payments_shop() -> Iterator[Any]:
    require_contract(SHOPIFY_SCHEMA, "Shopify Admin schema")
    from connector.sandbox.shopify import ShopifySandbox
    from connector.sandbox.shopify_seed import (
        seed_shopify,
        shopify_payments_demo_orders,
    )

    sandbox = ShopifySandbox(schema_path=SHOPIFY_SCHEMA, restore_rate=1_000_000)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    seed_shopify(sandbox, shopify_payments_demo_orders(start))
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def payments_runtime(
    tmp_path: Path, payments_shop: Any, moneybird: MoneybirdSandbox
) -> Iterator[Runtime]:
    ledgers(moneybird)
    moneybird.ledger_accounts.append(
        {"id": FEES, "administration_id": int(moneybird.administration_id),
         "name": "Transactiekosten", "account_type": "expenses", "account_id": "4600",
         "parent_id": None, "allowed_document_types": []}
    )  # fmt: skip
    moneybird.financial_accounts.append(
        {"id": FIN_SHOPIFY, "type": "PaymentServiceProvider", "name": "Shopify Payments",
         "identifier": "Shopify Payments", "currency": "EUR", "active": True}
    )  # fmt: skip
    payment = tmp_path / "payment.toml"
    payment.write_text(
        '[[rule]]\nmethod = "shopify_payments"\nfinancial_account_id = "420000000000000901"\n\n'
        + (ROOT / "mappings" / "payment.toml").read_text()
    )
    sync = """
[payouts]
enabled = true
bank_account = "Bankrekening"

[payouts.shopify_payments]
financial_account = "Shopify Payments"
transfer_ledger = "Betalingen onderweg"
fee_ledger = "Transactiekosten"
"""
    config = shopify_config(tmp_path, payments_shop, moneybird)
    text = config.path.read_text() + sync
    text = text.replace(
        f'payment = "{ROOT / "mappings" / "payment.toml"}"', f'payment = "{payment}"'
    )
    config.path.write_text(text)
    environ = {
        "MONEYBIRD_TOKEN": moneybird.token,
        "SHOPIFY_ACCESS_TOKEN": payments_shop.access_token,
    }
    runtime = build(load_config(config.path, environ=environ))
    runtime.shop._sleep = lambda _s: None  # type: ignore[attr-defined]
    yield runtime
    runtime.close()


def test_shopify_payments_payouts_are_booked_with_the_refund_and_fees(
    payments_runtime: Runtime, payments_shop: Any, moneybird: MoneybirdSandbox
) -> None:
    from connector.sandbox.shopify_seed import seed_shopify_payments

    payments_runtime.engine().run_pass()  # the orders first
    payouts = seed_shopify_payments(payments_shop)
    report = payments_runtime.engine().run_pass()  # the refund, then the payouts
    assert report.payout_problems == [], report.payout_problems
    records = payments_runtime.store.payouts()
    assert len(records) == len(payouts) == 2
    # The first payout pays #2006 (a gift card sold: parked until its ledger is set) and #2007
    # (German 19%, which no rule maps): it waits, naming them; the second is booked.
    first, second = records
    assert first.state == PayoutState.WAITING, first.reason
    assert "(order 2006)" in (first.reason or "") and "(order 2007)" in (first.reason or "")
    assert second.state == PayoutState.LINKED, second.reason
    lines = [m for m in moneybird.financial_mutations.values()
             if m["financial_account_id"] == FIN_SHOPIFY]  # fmt: skip
    assert all(m["state"] == "processed" for m in lines)
    assert sum(D(m["amount"]) for m in lines) == D("0.00")
    for invoice in moneybird.invoices.values():
        paid = sum((D(p["price"]) for p in invoice["payments"]), D(0))
        assert paid == D(invoice["total_price_incl_tax"]), invoice["reference"]
    # Payout 1 is 133.35, payout 2 is 56.42 (its charges less the 5.95 shipping refunded).
    assert sorted(D(r.net or "0") for r in records) == [D("56.42"), D("133.35")]
    fees = [
        b for m in lines for b in m["ledger_account_bookings"] if b["ledger_account_id"] == FEES
    ]
    assert fees, "the fees are on the fee ledger"
    for record in [second]:
        paid_out = datetime.fromisoformat(record.paid_out or "")
        moneybird.add_bank_line(FIN_BANK, paid_out.date(), D(record.net or "0"),
                                f"SHOPIFY {record.reference}")  # fmt: skip
    payments_runtime.engine().run_pass()
    done = payments_runtime.store.payout(second.key)
    assert done is not None
    assert done.state == PayoutState.DONE
    transfer = sum(
        (D(b["price"]) for m in moneybird.financial_mutations.values()
         for b in m["ledger_account_bookings"] if b["ledger_account_id"] == TRANSFER),
        D(0),
    )  # fmt: skip
    assert transfer == D("0.00")
