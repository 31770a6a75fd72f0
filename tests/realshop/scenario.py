"""The connector against one real shop: a Moneybird sandbox, a config and the command line; and
the judgement of what landed in Moneybird against the figures the real shop gives back.

The judgement reads the shop with the read_write key (https, Basic auth), never the connector's
report or state: each paid order of a booked status is one paid invoice of the shop's total, its
VAT per rate the shop's; each refund one paid credit invoice of minus the money returned, linked
to its order's invoice; nothing else.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner, Result

from connector.cli import app
from connector.config import load_config
from connector.runtime import Runtime, build
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import (
    MB_RATE_0,
    MB_RATE_9,
    MB_RATE_21,
    MB_RATE_DE_OSS,
    seed_moneybird,
)
from connector.sync.engine import Verdict
from tests.conftest import ROOT, write_config
from tests.realshop.harness import RealShop, ShopApi

D = Decimal
CENT = D("0.01")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
runner = CliRunner()

# The real shop's tax rates (seed.py makes them in this order, ids 1-4) -> the sandbox
# administration's sales tax rates, as the demo tables map them (and Germany under the OSS).
MB_RATE = {1: MB_RATE_21, 2: MB_RATE_9, 3: MB_RATE_DE_OSS, 4: MB_RATE_0}
BOOKED_STATUSES = ("completed", "refunded")
# seed.py's orders by their place in its list (ten made with POST /orders, two at the checkout)
(ANNA, JEROEN, FATIMA, ANNA_AGAIN, PIETER, SOPHIE, LOTTE, PIETER_PROCESSING, FATIMA_AGAIN,
 JEROEN_AGAIN, SANNE_CHECKOUT, KLAUS_CHECKOUT) = range(12)  # fmt: skip
# The German consumer books at Germany's 19% under the One-Stop Shop ([vat] oss = true).
OSS_RULE = f"""
[[rule]]
note = "Germany 19% (OSS): WooCommerce rate 3"
shop_rate_id = 3
percentage = "19"
country = "DE"
customer = "consumer"
treatment = "oss"
tax_rate_id = "{MB_RATE_DE_OSS}"
"""


@dataclass
class Scenario:
    """One connector installation (config, state, a Moneybird administration of its own)
    reading one real shop."""

    shop: RealShop
    folder: Path
    monkeypatch: pytest.MonkeyPatch
    mb: MoneybirdSandbox = field(init=False)
    config: Path = field(init=False)
    api: ShopApi = field(init=False)
    preview_output: str = ""
    shop_settings: str = ""  # lines added to the config's [shop], e.g. "per_page = 3"

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.mb = MoneybirdSandbox()
        seed_moneybird(self.mb)
        self.mb.start()
        self.api = self.shop.api()
        tax = self.folder / "tax.toml"
        tax.write_text((ROOT / "mappings" / "tax.toml").read_text() + OSS_RULE)
        self.config = write_config(
            self.folder,
            self.shop.url,
            self.mb.api_url,
            self.mb.administration_id,
            extra="\n[vat]\noss = true\n",
        )
        text = self.config.read_text().replace(str(ROOT / "mappings" / "tax.toml"), str(tax))
        text = text.replace("[shop]\n", f"[shop]\n{self.shop_settings}\n", 1)
        self.config.write_text(text)
        for name, value in self.secrets.items():
            self.monkeypatch.setenv(name, value)

    @property
    def secrets(self) -> dict[str, str]:
        key, secret = self.shop.read_key
        return {
            "MONEYBIRD_TOKEN": self.mb.token,
            "WOOCOMMERCE_CONSUMER_KEY": key,
            "WOOCOMMERCE_CONSUMER_SECRET": secret,
        }

    def close(self) -> None:
        self.mb.stop()

    # --- the connector, as its user runs it --------------------------------------------------

    def cli(self, *args: str) -> Result:
        return runner.invoke(app, [*args, "--config", str(self.config)])

    def sync(self) -> Result:
        result = self.cli("sync")
        assert result.exit_code == 0, result.output
        return result

    def runtime(self) -> Runtime:
        return build(load_config(self.config, environ=self.secrets))

    def verdicts(self) -> dict[int, Verdict]:
        """What `preview` says of every order of the shop, as its pass would decide it."""
        runtime = self.runtime()
        try:
            engine = runtime.engine()
            found = {}
            for order in self.api.orders():
                payload = runtime.shop.order(str(order["id"]))
                assert payload is not None
                found[order["id"]] = engine.verdict(payload)
            return found
        finally:
            runtime.close()

    def writes(self) -> list[tuple[str, str]]:
        """What was written to Moneybird (its bulk read is a POST that writes nothing)."""
        return [
            (method, path)
            for method, path, _query, _body in self.mb.received
            if method != "GET" and not path.endswith("/synchronization.json")
        ]

    def reconcile(self, month: str) -> tuple[int, dict[str, Any]]:
        result = self.cli("reconcile", "--month", month, "--json")
        assert result.exit_code in (0, 5), result.output
        return result.exit_code, json.loads(result.stdout)

    def months(self) -> list[str]:
        """The months (Amsterdam time) the shop's orders were paid and refunded in."""
        stamps = [o["date_paid_gmt"] for o in self.api.orders() if o.get("date_paid_gmt")]
        stamps += [r["date_created_gmt"] for r in self.api.refunds()]
        return sorted(
            {
                datetime.fromisoformat(s)
                .replace(tzinfo=UTC)
                .astimezone(AMSTERDAM)
                .strftime("%Y-%m")
                for s in stamps
            }
        )

    # --- what Moneybird holds ------------------------------------------------------------------

    def documents(self) -> dict[str, dict[str, Any]]:
        """The finalized documents, by reference."""
        return {i["reference"]: i for i in self.mb.invoices.values() if i["state"] != "draft"}

    def invoice(self, order_id: int) -> dict[str, Any]:
        order = self.api.get(f"orders/{order_id}")
        return self.documents()[f"WC-{order['number']}"]


def vat(invoice: dict[str, Any]) -> dict[str, Decimal]:
    return {
        t["tax_rate_id"]: D(t["tax_amount"]) for t in invoice["tax_totals"] if D(t["tax_amount"])
    }


def shop_vat(document: dict[str, Any], sign: int = 1) -> dict[str, Decimal]:
    """An order's (or refund's) VAT per rate as the shop states it, at Moneybird's rates."""
    found: dict[str, Decimal] = {}
    for line in document.get("tax_lines") or []:
        amount = D(line["tax_total"]) + D(line["shipping_tax_total"])
        rate = MB_RATE[int(line["rate_id"])]
        found[rate] = found.get(rate, D(0)) + sign * amount
    return {rate: amount for rate, amount in found.items() if amount}


def line_taxes(refund: dict[str, Any]) -> dict[str, Decimal]:
    """A refund's VAT per rate as its lines' `taxes` state it (rounded per rate)."""
    found: dict[str, Decimal] = {}
    for key in ("line_items", "shipping_lines", "fee_lines"):
        for line in refund.get(key) or []:
            for tax in line.get("taxes") or []:
                rate = MB_RATE[int(tax["id"])]
                found[rate] = found.get(rate, D(0)) + D(tax["total"])
    return {rate: amount for rate, amount in found.items() if amount}


def rounding(invoice: dict[str, Any]) -> Decimal:
    """What a payment of Moneybird's kind `rounding_error` settled on the document."""
    return sum(
        (
            D(p["price"])
            for p in invoice["payments"]
            if p["manual_payment_action"] == "rounding_error"
        ),
        D(0),
    )


def money(invoice: dict[str, Any]) -> Decimal:
    """What the customer paid (or was paid back) on the document: its payments but rounding."""
    return sum(
        (
            D(p["price"])
            for p in invoice["payments"]
            if p["manual_payment_action"] != "rounding_error"
        ),
        D(0),
    )


def judge(
    scn: Scenario, *, parked: tuple[int, ...] = (), per_rate_rounding: tuple[int, ...] = ()
) -> list[str]:
    """Every difference between Moneybird's documents and the real shop's figures.

    `parked`: orders that are not to be booked (each test says why). `per_rate_rounding`:
    orders whose shop total no invoice can equal (the shop rounds VAT per line, Moneybird per
    rate, and neither basis gives both the total and the VAT per rate): there the invoice is
    Moneybird's per-rate figure and the cent between it and the money paid is one payment of the
    kind `rounding_error`."""
    orders = {o["id"]: o for o in scn.api.orders()}
    refunds = scn.api.refunds()
    references = Counter(i["reference"] for i in scn.mb.invoices.values() if i["state"] != "draft")
    problems = [f"{ref}: {n} documents" for ref, n in references.items() if n > 1]
    docs = scn.documents()
    expected: set[str] = set()
    for order_id, order in sorted(orders.items()):
        ref = f"WC-{order['number']}"
        bookable = order["status"] in BOOKED_STATUSES and order.get("date_paid_gmt")
        if not bookable or order_id in parked:
            continue
        expected.add(ref)
        invoice = docs.get(ref)
        if invoice is None:
            problems.append(f"order {order_id} ({order['status']}, {order['total']}): no invoice")
        else:
            problems += _invoice(ref, order, invoice, order_id in per_rate_rounding)
    listed = sorted(str(r["id"]) for o in orders.values() for r in o.get("refunds") or [])
    shop_wide = sorted(str(r["id"]) for r in refunds)
    if listed != shop_wide:
        problems.append(f"refunds listed by the orders {listed}, shop-wide {shop_wide}")
    for refund in refunds:
        order = orders[refund["parent_id"]]
        original = docs.get(f"WC-{order['number']}")
        if order["id"] in parked or original is None:
            continue
        ref = f"WC-{order['number']}-R{refund['id']}"
        expected.add(ref)
        credit = docs.get(ref)
        if credit is None:
            problems.append(f"refund {refund['id']} of order {order['id']}: no credit")
        else:
            problems += _credit(ref, refund, credit, original)
    problems += [f"{ref}: in Moneybird, not in the shop" for ref in sorted(set(docs) - expected)]
    return problems


def _invoice(
    ref: str, order: dict[str, Any], invoice: dict[str, Any], per_rate_rounding: bool
) -> list[str]:
    problems = []
    total, booked = D(order["total"]), D(invoice["total_price_incl_tax"])
    if per_rate_rounding:
        if abs(total - booked) > CENT or rounding(invoice) != booked - total:
            problems.append(f"{ref}: invoice {booked} + rounding {rounding(invoice)}, shop {total}")
    else:
        if booked != total:
            problems.append(f"{ref}: invoice total {booked}, shop total {total}")
        if vat(invoice) != shop_vat(order):
            problems.append(f"{ref}: VAT {vat(invoice)}, shop {shop_vat(order)}")
        if rounding(invoice):
            problems.append(f"{ref}: a rounding payment of {rounding(invoice)}")
    if money(invoice) != total or invoice["state"] != "paid":
        problems.append(f"{ref}: {invoice['state']}, paid {money(invoice)} of {total}")
    return problems


def _credit(
    ref: str, refund: dict[str, Any], credit: dict[str, Any], original: dict[str, Any]
) -> list[str]:
    problems = []
    if credit["original_sales_invoice_id"] != original["id"]:
        problems.append(f"{ref}: not linked to {original['reference']}")
    booked, returned = D(credit["total_price_incl_tax"]), D(refund["amount"])
    if booked != -returned:
        problems.append(f"{ref}: credit {booked}, money returned {returned}")
    if rounding(credit):
        problems.append(f"{ref}: a rounding payment of {rounding(credit)}")
    if money(credit) != -returned or credit["state"] != "paid":
        problems.append(f"{ref}: {credit['state']}, paid back {-money(credit)} of {returned}")
    lines = any(refund.get(k) for k in ("line_items", "shipping_lines", "fee_lines"))
    # The shop states a line refund's VAT twice (the refund's tax lines, its lines' taxes):
    # where the two part, either is the shop's own figure.
    if lines and vat(credit) not in (shop_vat(refund), line_taxes(refund)):
        problems.append(
            f"{ref}: VAT {vat(credit)}, shop {shop_vat(refund)} / lines {line_taxes(refund)}"
        )
    return problems
