"""`connector demo`: the sandboxes on 127.0.0.1 (the shop, Moneybird and, for WooCommerce,
Mollie), a seeded Dutch shop, real passes, its payouts booked."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from connector.admin.reconcile_report import render
from connector.admin.starter import INSTALLED
from connector.config import load_config
from connector.runtime import Runtime, build, setup_logging
from connector.sandbox.mollie import MollieSandbox, seed_mollie
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import (
    FIN_BANK,
    demo_orders,
    seed_moneybird,
    seed_payout_ledgers,
    seed_shop,
)
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import OrderState, PayoutRecord, PayoutState, Store
from connector.sync.reconcile import Month, reconcile


def find_mappings() -> Path:
    """The default tables: ./mappings when run from a checkout, the source tree's, or the
    ones an install brought along (so the demo runs from any folder)."""
    candidates = (
        Path.cwd() / "mappings",
        Path(__file__).resolve().parents[2] / "mappings",
        INSTALLED / "mappings",
    )  # the checkout's, then the installed copy (starter.INSTALLED)
    for candidate in candidates:
        if (candidate / "tax.toml").is_file():
            return candidate
    raise FileNotFoundError(
        "the default mapping tables were not found (neither ./mappings nor the installed "
        f"copy in {INSTALLED / 'mappings'}); reinstall with `pip install .`"
    )


@dataclass
class DemoShop:
    sandbox: Any
    platform: str
    env: dict[str, str]
    mollie: MollieSandbox | None = None  # the WooCommerce shop's payment provider

    def start(self) -> None:
        self.sandbox.start()
        if self.mollie is not None:
            self.mollie.start()

    def stop(self) -> None:
        self.sandbox.stop()
        if self.mollie is not None:
            self.mollie.stop()

    @property
    def example_id(self) -> str:
        """The shop's id of demo order 1003 (Shopify: #2003), for `connector preview`."""
        if self.platform != "shopify":
            return "1003"
        from connector.sandbox.shopify_seed import order_gid
        from connector.shops.shopify.parse import gid_number

        return gid_number(order_gid(2003))

    def totals(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Reference -> (order total, order VAT), read from the shop's own data."""
        if self.platform == "shopify":
            return {
                f"SH-{o['name'].lstrip('#')}": (
                    Decimal(o["totalPriceSet"]["shopMoney"]["amount"]),
                    sum((Decimal(t["priceSet"]["shopMoney"]["amount"]) for t in o["taxLines"]),
                        Decimal(0)),
                )
                for o in self.sandbox.orders.values()
            }  # fmt: skip
        return {
            f"WC-{o['number']}": (Decimal(o["total"]), Decimal(o["total_tax"]))
            for o in self.sandbox.orders.values()
        }


def demo_shop(platform: str, start: datetime, port: int = 0, host: str = "127.0.0.1") -> DemoShop:
    if platform == "shopify":
        from connector.sandbox.shopify import ShopifySandbox
        from connector.sandbox.shopify_seed import seed_shopify, shopify_demo_orders

        sandbox = ShopifySandbox(port=port, host=host)
        seed_shopify(sandbox, shopify_demo_orders(start))
        return DemoShop(sandbox, platform, {"SHOPIFY_ACCESS_TOKEN": sandbox.access_token})
    woo = WooCommerceSandbox(port=port, host=host)
    seed_shop(woo, demo_orders(start))
    env = {
        "WOOCOMMERCE_CONSUMER_KEY": woo.consumer_key,
        "WOOCOMMERCE_CONSUMER_SECRET": woo.consumer_secret,
    }
    return DemoShop(woo, platform, env)


def demo_payouts(
    demo: DemoShop, mb: MoneybirdSandbox, start: datetime, port: int = 0, host: str = "127.0.0.1"
) -> MollieSandbox | None:
    """Mollie's side of the WooCommerce demo shop: its orders' payments in two settlements
    paid out (the second holds order 1006, which stays parked, so that payout waits for it),
    the ledgers the bookkeeper makes for payouts, and the first payout's line on the bank
    account, so the first pass books one payout to the end and leaves one waiting."""
    if demo.platform != "woocommerce":
        return None
    mollie = MollieSandbox(port=port, host=host)
    paid_out = seed_mollie(mollie, list(demo.sandbox.orders.values()), start)
    seed_payout_ledgers(mb)
    first = mollie.settlements[paid_out[0]]
    settled = datetime.fromisoformat(first["settledAt"]).date()
    mb.add_bank_line(
        FIN_BANK,
        min(settled + timedelta(days=1), datetime.now(UTC).date()),
        first["amount"]["value"],
        f"Stichting Mollie Payments {first['reference']}",
    )
    demo.mollie = mollie
    demo.env["MOLLIE_API_KEY"] = mollie.api_key
    return mollie


def payouts_block(mollie_url: str) -> str:
    """[payouts] for the demo: Mollie's payouts on the Mollie account, with the ledgers
    `seed_payout_ledgers` makes."""
    return f"""
[payouts]
enabled = true
bank_account = "Bankrekening"

[payouts.mollie]                     # MOLLIE_API_KEY: the Mollie sandbox's
financial_account = "Mollie"
transfer_ledger = "Betalingen onderweg"
fee_ledger = "Nog te betalen Mollie-kosten"
fees_payable_ledger = "Nog te betalen Mollie-kosten"
api_url = "{mollie_url}"
"""


def write_demo_config(
    folder: Path,
    shop_url: str,
    mb: MoneybirdSandbox,
    mappings: Path,
    platform: str = "woocommerce",
    mollie_url: str | None = None,
) -> Path:
    """The demo's config.toml; with `mollie_url`, [payouts] on against that Mollie."""
    path = folder / "config.toml"
    path.write_text(
        f"""[shop]
platform = "{platform}"
url = "{shop_url}"

[moneybird]
administration_id = "{mb.administration_id}"
api_url = "{mb.api_url}"

[state]
path = "state.db"

[sync]
statuses = ["completed"]
# Book orders paid from this day on: the first sync books the sandbox's orders (paid in the
# last few days). Without `start`, a first pass books only orders paid from then on.
start = {(date.today() - timedelta(days=30)).isoformat()}

[mappings]
tax = "{mappings / "tax.toml"}"
ledger = "{mappings / "ledger.toml"}"
payment = "{mappings / "payment.toml"}"
"""
        + (payouts_block(mollie_url) if mollie_url else ""),
        encoding="utf-8",
    )
    return path


def run_demo(console: Console, keep: bool = False, platform: str = "woocommerce") -> int:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    try:
        demo = demo_shop(platform, start)
    except FileNotFoundError as exc:
        console.print(f"The {platform} sandbox needs {exc.filename}: {exc.strerror}")
        return 1
    shop = demo.sandbox
    folder = Path(tempfile.mkdtemp(prefix="connector-demo-"))
    mb = MoneybirdSandbox()
    seed_moneybird(mb)
    mollie = demo_payouts(demo, mb, start)
    contacts_before = len(mb.contacts)
    mb.start()
    demo.start()
    try:
        config_path = write_demo_config(
            folder, shop.url, mb, find_mappings(), platform, mollie.url if mollie else None
        )
        env = {"MONEYBIRD_TOKEN": mb.token, **demo.env}
        config = load_config(config_path, environ=env)
        setup_logging(secrets=config.secrets.values())
        logging.getLogger().setLevel(logging.WARNING)  # the tables below tell the story
        runtime = build(config)
        try:
            console.rule("Pass 1: a fresh connector meets the demo shop")
            first = runtime.engine().run_pass()
            console.print(
                f"{first.seen} orders seen, {first.booked} booked, {first.parked} parked, "
                f"{first.unpaid} waiting for payment; {first.moneybird_requests} Moneybird requests"
            )
            _orders_table(console, runtime.store, mb)
            _vat_table(console, mb)
            exact = _exact(demo, mb)
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
                # The reason is shop and table text: "[gift_cards] sale" is no markup.
                reason = Text(f" order {record.number}: {record.park_reason}")
                console.print(Text.assemble(("Parked", "yellow"), reason))
            dashboard = f"connector dashboard --config {config_path}" if keep else None
            payouts_ok = mollie is None or _payouts_table(console, runtime.store, dashboard)
            console.rule("Pass 2: the same shop again")
            second = runtime.engine().run_pass()
            console.print(
                f"{second.booked} booked, {second.parked} parked; "
                f"{second.moneybird_requests} Moneybird requests. Nothing is booked twice."
            )
            duplicates = [
                r for r, n in Counter(i["reference"] for i in mb.invoices.values()).items() if n > 1
            ]
            all_paid = all(i["state"] == "paid" for i in mb.invoices.values())
            console.print(
                f"Moneybird holds {len(mb.invoices)} invoices, all paid: {all_paid}; "
                f"duplicate references: {duplicates or 'none'}"
            )
            ok = not duplicates and all_paid and exact == len(mb.invoices)
            ok = ok and payouts_ok
            console.rule("Pass 3: a customer sends the moka pot back")
            ok = _refund_pass(console, demo, runtime, mb) and ok
            console.rule("The bookkeeper's monthly check: Moneybird against the shop")
            ok = _reconcile_pass(console, demo, runtime, mb) and ok
            if keep and mollie is not None:
                console.print(
                    f"Try: connector status --config {config_path}\n"
                    f"and: {dashboard}   # its Payouts page: Mollie's payouts, one booked "
                    "with its bank line, one waiting for order 1006",
                    highlight=False,
                )
            else:
                console.print(f"Try: connector status --config {config_path}" if keep else "")
            return 0 if ok else 1
        finally:
            runtime.close()
    finally:
        demo.stop()
        mb.stop()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def _refund_pass(console: Console, demo: DemoShop, runtime: Runtime, mb: MoneybirdSandbox) -> bool:
    """Refund one line in the shop; the next pass credits it, linked to the invoice."""
    if demo.platform == "shopify":
        from connector.sandbox.shopify_seed import order_gid

        demo.sandbox.refund(
            order_gid(2001),
            items=[("gid://shopify/LineItem/200101", 1, "34.95", "6.07")],
        )
        reference = "SH-2001"
    else:
        demo.sandbox.refund(1001, items=[(10012, 1, "28.88", "6.07")], reason="Retour")
        reference = "WC-1001"
    report = runtime.engine().run_pass()
    original = next(i for i in mb.invoices.values() if i["reference"] == reference)
    credits = [
        i for i in mb.invoices.values() if i.get("original_sales_invoice_id") == original["id"]
    ]
    for credit in credits:
        vat = ", ".join(
            f"{t['tax_amount']} VAT" for t in credit["tax_totals"] if Decimal(t["tax_amount"])
        )
        console.print(
            f"{report.refunds_booked} refund booked: credit invoice {credit['invoice_id']} "
            f"({credit['reference']}) credits invoice {original['invoice_id']}: "
            f"{credit['total_price_incl_tax']} incl. {vat}, {credit['state']} "
            f"(paid out {credit['payments'][0]['price'] if credit['payments'] else '-'})",
            highlight=False,
        )
    return len(credits) == 1 and credits[0]["state"] == "paid"


def _reconcile_pass(
    console: Console, demo: DemoShop, runtime: Runtime, mb: MoneybirdSandbox
) -> bool:
    """Reconcile the demo's month; then, after someone deletes one invoice and edits another
    in Moneybird, again: exactly those two orders are named, with what differs. With the
    demo's payouts, the payout waiting for the parked order 1006 is named each time."""
    prefix = "SH-" if demo.platform == "shopify" else "WC-"
    months = sorted(
        {Month.of(date.fromisoformat(i["invoice_date"])) for i in mb.invoices.values()}, key=str
    )
    clean = [reconcile(runtime.engine(), month) for month in months]
    for result in clean:
        render(result, console)
    deleted, edited = (f"{prefix}2002", f"{prefix}2003") if demo.platform == "shopify" else (
        f"{prefix}1003", f"{prefix}1005")  # fmt: skip
    by_reference = {i["reference"]: i for i in mb.invoices.values()}
    mb.delete_document(by_reference[deleted]["id"])
    mb.edit_line(by_reference[edited]["id"], 0, "1.00")
    console.print(
        f"Someone deletes invoice {by_reference[deleted]['invoice_id']} ({deleted}) in Moneybird "
        f"and changes a line of {by_reference[edited]['invoice_id']} ({edited}) to 1.00. Again:",
        highlight=False,
    )
    named = []
    results = list(clean)
    for month in months:
        after = reconcile(runtime.engine(), month)
        render(after, console)
        named += [f.reference for f in after.order_findings]
        results.append(after)
    # The payout holding the parked order 1006 cannot be booked: named, and only it.
    payouts_named = all("(order 1006)" in f.what for r in results for f in r.payout_findings)
    return (
        all(not r.order_findings and not r.error for r in clean)
        and payouts_named
        and sorted(named) == sorted([deleted, edited])
    )


def _standing(record: PayoutRecord) -> str:
    """Where a payout stands, in the words of the dashboard's Payouts page."""
    match record.state:
        case PayoutState.DONE:
            return "booked, bank line linked"
        case PayoutState.LINKED:
            return "booked, waiting for the bank line"
        case PayoutState.WAITING:
            waits = (record.reason or "").partition("waits until these are booked: ")[2]
            return f"waiting for orders: {waits or record.reason or ''}"
        case _:
            return f"{record.state}: {record.reason or ''}"


def _payouts_table(console: Console, store: Store, dashboard: str | None) -> bool:
    """Mollie's payouts as the pass booked them on the Mollie account in Moneybird; the demo
    expects one booked to its bank line and one waiting for the parked order 1006.
    `dashboard`: the command that shows them on the dashboard after the demo (with --keep)."""
    table = Table(title="Mollie payouts -> the Mollie account in Moneybird")
    for column in ("payout", "bank reference", "gross", "fees", "net", "where it stands"):
        table.add_column(
            column,
            overflow="fold",
            no_wrap=column in ("payout", "bank reference"),
            justify="right" if column in ("gross", "fees", "net") else "left",
        )
    records = sorted(store.payouts(), key=lambda r: r.paid_out or "")
    for record in records:
        figures = json.loads(record.figures or "{}")
        fees = Decimal(figures.get("fees", "0"))
        table.add_row(
            record.payout_id,
            record.reference,
            figures.get("gross", ""),
            f"{-fees:.2f}",
            record.net or "",
            _standing(record),
        )
    console.print(table)
    how = f"after the demo: {dashboard}" if dashboard else "`connector demo --keep` names it"
    console.print(f"The dashboard's Payouts page shows the same ({how}).", highlight=False)
    states = sorted(r.state for r in records)
    waiting = [r for r in records if r.state == PayoutState.WAITING]
    return states == sorted([PayoutState.DONE, PayoutState.WAITING]) and all(
        "(order 1006)" in (r.reason or "") for r in waiting
    )


def _orders_table(console: Console, store: Store, mb: MoneybirdSandbox) -> None:
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


def _exact(demo: DemoShop, mb: MoneybirdSandbox) -> int:
    """Count invoices equal to their shop order in total and in VAT, read from both sides."""
    totals = demo.totals()
    exact = 0
    for invoice in mb.invoices.values():
        vat = sum((Decimal(t["tax_amount"]) for t in invoice["tax_totals"]), Decimal(0))
        if (Decimal(invoice["total_price_incl_tax"]), vat) == totals[invoice["reference"]]:
            exact += 1
    return exact


# Docker's default bridge on Linux: the host as a container on that bridge sees it.
DOCKER_BRIDGE = "172.17.0.1"
# The sandbox container's state: its own volume, never the `connector-data` of a real install.
SANDBOX_VOLUME = "connector-sandbox-data"


def container_commands(here: Path, env: dict[str, str], host: str) -> str:
    """The `docker run` that tries the image against the sandbox in `here`, its state on a named
    volume (a container started again carries on, as a real one must)."""
    flags = " ".join(f"-e {k}={v}" for k, v in env.items())
    afresh = (
        f"Its state stays on the volume {SANDBOX_VOLUME}: with a new sandbox (a new Moneybird), "
        f"`docker volume rm {SANDBOX_VOLUME}` first.\n\n"
    )
    if host.startswith("127."):
        return (
            "The container, on this machine's network:\n"
            f"  docker run --rm --network host -v {here}:/config:ro "
            f"-v {SANDBOX_VOLUME}:/data {flags} \\\n"
            "    -e CONNECTOR_HEALTH_PORT=8080 moneybird-connector\n"
            f"(with --host {DOCKER_BRIDGE}, the sandbox prints the README's docker run)\n" + afresh
        )
    return (
        "The container, as the README runs it:\n"
        "  docker run -d --name connector -p 8080:8080 \\\n"
        f"    -v {here}/config.toml:/config/config.toml:ro "
        f"-v {here}/mappings:/config/mappings:ro \\\n"
        f"    -v {SANDBOX_VOLUME}:/data {flags} \\\n"
        "    moneybird-connector\n"
        "  curl -s 127.0.0.1:8080/healthz\n" + afresh
    )


def serve_sandbox(
    console: Console, folder: Path, platform: str = "woocommerce", moneybird_port: int = 18080,
    shop_port: int = 18081, wait: Callable[[], None] | None = None, host: str = "127.0.0.1",
    mollie_port: int = 18082,
) -> int:  # fmt: skip
    """`connector sandbox`: the demo shop and a Moneybird (and, beside WooCommerce, Mollie
    with the demo's payouts) on `host` (127.0.0.1), a config for them in `folder`, and what to
    type to try every command (the container included) against them; until stopped."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    try:
        demo = demo_shop(platform, start, shop_port, host)
        mb = MoneybirdSandbox(port=moneybird_port, host=host)
    except FileNotFoundError as exc:
        console.print(f"The {platform} sandbox needs {exc.filename}: {exc.strerror}")
        return 1
    except OSError as exc:  # the address is not this machine's, or the port is taken
        console.print(
            f"Cannot listen on {host} (ports {moneybird_port} and {shop_port}): {exc.strerror}. "
            "Choose another --host, --moneybird-port or --shop-port (0: any free port).",
            highlight=False,
        )
        return 2
    seed_moneybird(mb)
    try:
        mollie = demo_payouts(demo, mb, start, mollie_port, host)
    except OSError as exc:
        console.print(
            f"Cannot listen on {host} (Mollie's port {mollie_port}): {exc.strerror}. "
            "Choose another --host or --mollie-port (0: any free port).",
            highlight=False,
        )
        return 2
    mb.start()
    demo.start()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tables = folder / "mappings"
        if not tables.exists():
            shutil.copytree(find_mappings(), tables)
        path = write_demo_config(
            folder, demo.sandbox.url, mb, Path("mappings"), platform, mollie.url if mollie else None
        )
        env = {"MONEYBIRD_TOKEN": mb.token, **demo.env}
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        container = container_commands(path.parent.resolve(), env, host)
        payouts = (
            f"Mollie at {mollie.url}, with two payouts of them; [payouts] is on in the config "
            "(the first payout's bank line is on the bank account, the second waits for the "
            "parked order 1006). "
            if mollie
            else ""
        )
        dashboard = (
            f"  connector dashboard --config {path}   # after the sync: its Payouts page\n"
            if mollie
            else ""
        )
        console.print(
            f"Sandbox {platform} shop at {demo.sandbox.url}, Moneybird at {mb.api_url}, with the "
            f"demo orders. {payouts}Config: {path}\n\n"
            f"  export {exports}\n"
            f"  connector config check --config {path}\n"
            f"  connector preview {demo.example_id} --config {path}\n"
            f"  connector sync --config {path}   # books the demo orders (see sync.start)\n"
            f"  connector status --config {path}\n"
            f"{dashboard}\n"
            f"{container}"
            f"Ctrl-C stops the sandbox (its shop, Moneybird{' and Mollie' if mollie else ''} "
            "live in memory only).",
            highlight=False,
        )
        (wait or _until_stopped)()
    finally:
        demo.stop()
        mb.stop()
    return 0


def _until_stopped() -> None:
    from connector import shutdown
    from connector.errors import Interrupted

    shutdown.install()
    try:
        while True:
            shutdown.sleep(3600)
    except Interrupted:
        return  # Ctrl-C or SIGTERM: the sandbox's job is done
