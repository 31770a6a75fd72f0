"""`connector demo`: both sandboxes on 127.0.0.1, a seeded Dutch shop, two real passes."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table

from connector.config import load_config
from connector.runtime import build, setup_logging
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import demo_orders, seed_moneybird, seed_shop
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import OrderState


def find_mappings() -> Path:
    """The default tables: ./mappings when run from a checkout, else the source tree's."""
    for candidate in (Path.cwd() / "mappings", Path(__file__).resolve().parents[1] / "mappings"):
        if (candidate / "tax.toml").is_file():
            return candidate
    raise FileNotFoundError("mappings/ not found: run the demo from the project folder")


def write_demo_config(folder: Path, shop_url: str, mb: MoneybirdSandbox, mappings: Path) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f"""[shop]
platform = "woocommerce"
url = "{shop_url}"

[moneybird]
administration_id = "{mb.administration_id}"
api_url = "{mb.api_url}"

[state]
path = "state.db"

[sync]
statuses = ["completed"]

[mappings]
tax = "{mappings / "tax.toml"}"
ledger = "{mappings / "ledger.toml"}"
payment = "{mappings / "payment.toml"}"
""",
        encoding="utf-8",
    )
    return path


def run_demo(console: Console, keep: bool = False) -> int:
    folder = Path(tempfile.mkdtemp(prefix="connector-demo-"))
    mb = MoneybirdSandbox()
    shop = WooCommerceSandbox()
    seed_moneybird(mb)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    seed_shop(shop, demo_orders(start))
    contacts_before = len(mb.contacts)
    mb.start()
    shop.start()
    try:
        config_path = write_demo_config(folder, shop.url, mb, find_mappings())
        env = {
            "MONEYBIRD_TOKEN": mb.token,
            "WOOCOMMERCE_CONSUMER_KEY": shop.consumer_key,
            "WOOCOMMERCE_CONSUMER_SECRET": shop.consumer_secret,
        }
        config = load_config(config_path, environ=env)
        setup_logging(secrets=config.secrets.values())
        logging.getLogger().setLevel(logging.WARNING)  # the tables below tell the story
        runtime = build(config)
        try:
            console.rule("Pass 1: a fresh connector meets the demo shop")
            first = runtime.engine().run_pass()
            console.print(
                f"{first.seen} orders in status 'completed' seen, {first.booked} booked, "
                f"{first.parked} parked; {first.moneybird_requests} Moneybird requests"
            )
            _orders_table(console, runtime.store, mb)
            _vat_table(console, mb)
            exact = _exact(shop, mb)
            console.print(
                f"Invoices whose total and VAT equal the shop order's to the cent: "
                f"{exact} of {len(mb.invoices)}"
            )
            created = len(mb.contacts) - contacts_before
            known = len(mb.contacts)
            console.print(
                f"Contacts: {created} created, {known - created} already in Moneybird "
                "(reused by email; Anna's two spellings of her address are one contact)."
            )
            parked = runtime.store.orders({OrderState.PARKED})
            for record in parked:
                console.print(
                    f"[yellow]Parked[/yellow] order {record.number}: {record.park_reason}"
                )
            console.rule("Pass 2: the same shop again")
            second = runtime.engine().run_pass()
            console.print(
                f"{second.booked} booked, {second.parked} parked; "
                f"{second.moneybird_requests} Moneybird requests. Nothing is booked twice."
            )
            duplicates = [
                r for r, n in Counter(i["reference"] for i in mb.invoices.values()).items() if n > 1
            ]
            ok = (
                not duplicates
                and exact == len(mb.invoices)
                and all(i["state"] == "paid" for i in mb.invoices.values())
            )
            console.print(
                f"Moneybird holds {len(mb.invoices)} invoices, all paid: {ok}; "
                f"duplicate references: {duplicates or 'none'}"
            )
            console.print(f"Try: connector status --config {config_path}" if keep else "")
            return 0 if ok else 1
        finally:
            runtime.close()
    finally:
        shop.stop()
        mb.stop()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def _orders_table(console: Console, store, mb: MoneybirdSandbox) -> None:  # type: ignore[no-untyped-def]
    by_id = mb.invoices
    table = Table(title="Orders -> Moneybird invoices")
    for column in ("order", "customer", "shop total", "invoice", "invoice total", "VAT", "state"):
        table.add_column(column, overflow="fold")
    for record in store.orders():
        invoice = by_id.get(record.invoice_id or "")
        vat = ""
        customer = ""
        if invoice:
            names = {r["id"]: r["name"] for r in mb.tax_rates}
            vat = ", ".join(
                f"{names[t['tax_rate_id']]} {t['tax_amount']}" for t in invoice["tax_totals"]
            )
            contact = invoice["contact"]
            customer = (
                contact.get("company_name") or f"{contact['firstname']} {contact['lastname']}"
            )
        table.add_row(
            record.number,
            customer,
            record.total or "",
            (invoice or {}).get("invoice_id") or "",
            (invoice or {}).get("total_price_incl_tax", ""),
            vat,
            record.state,
        )
    console.print(table)


def _vat_table(console: Console, mb: MoneybirdSandbox) -> None:
    names = {r["id"]: r["name"] for r in mb.tax_rates}
    net: dict[str, Decimal] = {}
    vat: dict[str, Decimal] = {}
    for invoice in mb.invoices.values():
        for row in invoice["tax_totals"]:
            key = row["tax_rate_id"]
            net[key] = net.get(key, Decimal(0)) + Decimal(row["taxable_amount"])
            vat[key] = vat.get(key, Decimal(0)) + Decimal(row["tax_amount"])
    table = Table(title="Booked per VAT rate (from Moneybird)")
    for column in ("rate", "net", "VAT", "gross"):
        table.add_column(column, justify="right")
    for key in net:
        table.add_row(
            names[key], f"{net[key]:.2f}", f"{vat[key]:.2f}", f"{net[key] + vat[key]:.2f}"
        )
    console.print(table)


def _exact(shop: WooCommerceSandbox, mb: MoneybirdSandbox) -> int:
    """Count invoices equal to their shop order in total and in VAT, read from both sides."""
    orders = {f"WC-{o['number']}": o for o in shop.orders.values()}
    exact = 0
    for invoice in mb.invoices.values():
        order = orders[invoice["reference"]]
        vat = sum((Decimal(t["tax_amount"]) for t in invoice["tax_totals"]), Decimal(0))
        if Decimal(invoice["total_price_incl_tax"]) == Decimal(order["total"]) and vat == Decimal(
            order["total_tax"]
        ):
            exact += 1
    return exact
