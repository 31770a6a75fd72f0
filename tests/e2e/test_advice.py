"""Every park reason that tells a person what to do is followed here, exactly as written: the
order parks with the advice, a person does what it says (edits the mapping tables or
config.toml as a person would, makes what it names in Moneybird or the shop, runs the command
it names), `connector retry` and the next pass book it, and what landed in Moneybird shows it.

Advice followed elsewhere: VIES unavailable (tests/unit/lookups/test_vies.py), another shop's
references (tests/e2e/test_same_sale.py), the shop's refunds it does not return
(tests/e2e/test_refunds.py).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import (
    ANNA,
    FIN_GIFT_CARDS,
    FIN_MOLLIE,
    LEDGER_DISCOUNT,
    LEDGER_FEES,
    LEDGER_HIGH,
    MB_RATE_0,
    MB_RATE_21,
    MB_RATE_DE_OSS,
    MB_RATE_EXPORT,
    Item,
    Person,
    woo_order,
)
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import Store
from tests.conftest import ROOT, secrets_env, write_config
from tests.e2e.test_currencies import FakeEcb, usd_order

D = Decimal
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
runner = CliRunner()


@dataclass
class Desk:
    """What a person has at hand: the shop, Moneybird, config.toml and the tables."""

    folder: Path
    shop: WooCommerceSandbox
    mb: MoneybirdSandbox
    ecb: FakeEcb | None = None
    outputs: list[str] = field(default_factory=list)

    @property
    def config(self) -> Path:
        return self.folder / "config.toml"

    def table(self, name: str) -> Path:
        return self.folder / "mappings" / f"{name}.toml"

    def add_rule(self, name: str, rule: str) -> None:
        """Append a rule at the end of a table, as a person adds one."""
        path = self.table(name)
        path.write_text(path.read_text() + "\n[[rule]]\n" + rule.strip() + "\n")

    def drop_rule(self, name: str, line: str) -> None:
        """Take out the rule holding `line` (the situation a test starts from)."""
        path = self.table(name)
        text = path.read_text()
        assert text.count(f"\n{line}\n") == 1, line
        at = text.index(f"\n{line}\n")
        start = text.rindex("[[rule]]\n", 0, at)
        end = text.find("\n\n", at)
        path.write_text(text[:start] + (text[end + 2 :] if end != -1 else ""))

    def set(self, section: str, *lines: str) -> None:
        """Set keys in a section of config.toml: under its header, or a new section."""
        text = self.config.read_text()
        header = f"[{section}]\n"
        keys = {ln.split("=")[0].strip() for ln in lines}
        if header in text:
            head, rest = text.split(header, 1)
            body, sep, tail = rest.partition("\n[")
            kept = [ln for ln in body.splitlines() if ln.split("=")[0].strip() not in keys]
            body = "\n".join([*lines, *kept])
            text = head + header + body + sep + tail
        else:
            text += f"\n{header}" + "\n".join(lines) + "\n"
        self.config.write_text(text)

    def run(self, *args: str, expect: tuple[int, ...] = (0,)) -> str:
        result = runner.invoke(
            app, [*args, "--config", str(self.config)], env=secrets_env(self.shop, self.mb)
        )
        self.outputs.append(result.output)
        assert result.exit_code in expect, (args, result.exit_code, result.output)
        return result.output

    def reason(self, number: str) -> str:
        """The reason `connector status` gives for the order or its refund; for an order it
        leaves to `connector import`, the order's own (as the dashboard shows it)."""
        status = json.loads(self.run("status", "--json", expect=(0, 1)))
        rows = status["attention"] + status["refunds_attention"]
        found = [a["reason"] for a in rows if a["order"] == number]
        if not found:
            store = Store(self.folder / "state.db")
            try:
                record = store.order(f"woocommerce:{number}")
            finally:
                store.close()
            found = [record.park_reason] if record is not None and record.park_reason else []
        assert found, (number, rows)
        return " ".join(found[0].split())

    def invoice(self, reference: str) -> dict[str, Any]:
        found = [
            i
            for i in self.mb.invoices.values()
            if i["reference"] == reference and i["state"] != "draft"
        ]
        assert len(found) == 1, (reference, [i["reference"] for i in self.mb.invoices.values()])
        return found[0]


@pytest.fixture
def desk(tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox) -> Desk:
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    path = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    path.write_text(path.read_text().replace(str(ROOT / "mappings"), str(tmp_path / "mappings")))
    return Desk(tmp_path, shop, moneybird)


def only(desk: Desk, *orders: dict[str, Any]) -> None:
    """The shop holds these orders alone."""
    desk.shop.orders.clear()
    for order in orders:
        desk.shop.put_order(order)


def keep(desk: Desk, *ids: int) -> None:
    only(desk, *(desk.shop.orders[i] for i in ids))


def vat(invoice: dict[str, Any]) -> dict[str, Decimal]:
    return {t["tax_rate_id"]: D(t["tax_amount"]) for t in invoice["tax_totals"]}


def details(invoice: dict[str, Any]) -> list[tuple[str, Decimal, str, str]]:
    """(description, amount x price, tax rate, ledger) of each line with an amount."""
    return [
        (d["description"], D(d["amount_decimal"]) * D(d["price"]), d["tax_rate_id"],
         d["ledger_account_id"])
        for d in invoice["details"] if D(d["price"])
    ]  # fmt: skip


PAID = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


# --- the situations, the advice, and what following it books --------------------------------


@dataclass(frozen=True)
class Step:
    says: str  # what the park reason says to do (a part of it)
    follow: Callable[[Desk], None]  # doing exactly that


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Desk], None]
    number: str  # the order that parks
    steps: tuple[Step, ...]
    booked: Callable[[Desk], None]  # what Moneybird holds once the advice is followed
    retry: bool = True  # the advice ends with `connector retry` (the status hint says so too)


def _oss_setup(desk: Desk) -> None:
    keep(desk, 1006)  # Sophie in Berlin, a moka pot at the shop's German 19% (rate 3)


def _oss_booked(desk: Desk) -> None:
    invoice = desk.invoice("WC-1006")
    # 34.95 incl. 19% (VAT 5.58) + shipping 9.95 excl. (VAT 1.89): 46.79, VAT 7.47.
    assert D(invoice["total_price_incl_tax"]) == D("46.79")
    assert vat(invoice) == {MB_RATE_DE_OSS: D("7.47")}
    assert invoice["state"] == "paid"


OSS = Case(
    "a rate no rule maps, then the One-Stop Shop",
    _oss_setup,
    "1006",
    (
        Step(
            "no tax rule maps shop rate 3 'MwSt' (19%) for a consumer in DE; add one to the "
            "tax table",
            # The table's own example for Germany, with the administration's OSS rate.
            lambda d: d.add_rule(
                "tax",
                f"""
note = "Germany 19% (OSS)"
percentage = "19"
country = "DE"
customer = "consumer"
treatment = "oss"
tax_rate_id = "{MB_RATE_DE_OSS}"
""",
            ),
        ),
        Step("an OSS rate needs [vat] oss = true", lambda d: d.set("vat", "oss = true")),
    ),
    _oss_booked,
)


def _fee_setup(desk: Desk) -> None:
    keep(desk, 1007)  # a gift box at 9%, shipping, and a wrapping fee 2.07 at 21%
    desk.drop_rule("ledger", 'kind = "fee"')


def _fee_booked(desk: Desk) -> None:
    invoice = desk.invoice("WC-1007")
    # 24.95 incl. 9% (2.06) + shipping 4.95 (0.45 at 9%) + fee 2.07 (0.43 at 21%) = 32.85.
    assert D(invoice["total_price_incl_tax"]) == D("32.85")
    [fee] = [(r, ledger) for name, _p, r, ledger in details(invoice) if name == "Cadeauverpakking"]
    assert fee == (MB_RATE_21, LEDGER_FEES)


FEE = Case(
    "a line no ledger rule books",
    _fee_setup,
    "1007",
    (
        Step(
            "no ledger rule for fee line 'Cadeauverpakking' (sku '', tax class 'standard'); "
            "add one to the ledger table",
            lambda d: d.add_rule("ledger", f'kind = "fee"\nledger_account_id = "{LEDGER_FEES}"'),
        ),
    ),
    _fee_booked,
)


def _discount_setup(desk: Desk) -> None:
    keep(desk, 1003)  # 10% off with WELKOM10
    desk.drop_rule("ledger", 'kind = "discount"')


def _discount_booked(desk: Desk) -> None:
    invoice = desk.invoice("WC-1003")
    assert D(invoice["total_price_incl_tax"]) == D("68.04")
    # 10% of 49.00 + 19.95 = 6.895: 4.90 + 2.00 off the lines, one discount line of 6.90.
    assert [(p, ledger) for _d, p, _r, ledger in details(invoice) if p < 0] == [
        (D("-6.90"), LEDGER_DISCOUNT)
    ]


DISCOUNT = Case(
    "a coupon without a discount ledger",
    _discount_setup,
    "1003",
    (
        Step(
            "no ledger rule for discount lines; add a kind = 'discount' rule",
            lambda d: d.add_rule(
                "ledger", f'kind = "discount"\nledger_account_id = "{LEDGER_DISCOUNT}"'
            ),
        ),
    ),
    _discount_booked,
)

# India's GST on one line: SGST 6% + CGST 6% (shop rates 5 and 6), taxed shipping included.
R12 = "400000000000000120"
PRIYA = Person("Priya", "Sharma", "priya@example.in", "MG Road 12", "560001", "Bengaluru",
               country="IN")  # fmt: skip


def gst_order() -> dict[str, Any]:
    """Prices excl. VAT: 2 x chai 250.00 (SGST 30.00 + CGST 30.00), a tumbler 149.50 (8.97 +
    8.97), shipping 50.00 (3.00 + 3.00); per rate 41.97, total 699.50 + 83.94 = 783.44."""
    order = woo_order(3001, PRIYA, [Item("Masala chai 250g", "CH-250", 2, "250.00", 1)], "0",
                      PAID, prices_include_tax=False)  # fmt: skip

    def taxed(lid: int, name: str, qty: int, net: str, each: str) -> dict[str, Any]:
        return {
            "id": lid, "name": name, "product_id": lid, "variation_id": 0, "quantity": qty,
            "tax_class": "", "subtotal": net, "subtotal_tax": f"{2 * D(each):.2f}",
            "total": net, "total_tax": f"{2 * D(each):.2f}", "sku": "", "meta_data": [],
            "taxes": [{"id": 5, "total": each, "subtotal": each},
                      {"id": 6, "total": each, "subtotal": each}],
        }  # fmt: skip

    order["line_items"] = [
        taxed(30011, "Masala chai 250g", 2, "500.00", "30.00"),
        taxed(30012, "Steel tumbler", 1, "149.50", "8.97"),
    ]
    order["shipping_lines"] = [{
        "id": 30013, "method_title": "Courier", "method_id": "flat_rate", "total": "50.00",
        "total_tax": "6.00", "meta_data": [],
        "taxes": [{"id": 5, "total": "3.00", "subtotal": ""}, {"id": 6, "total": "3.00",
                                                               "subtotal": ""}],
    }]  # fmt: skip
    order["tax_lines"] = [
        {"id": 30014 + n, "rate_code": f"IN-{label}-1", "rate_id": rate, "label": label,
         "compound": False, "tax_total": "38.97", "shipping_tax_total": "3.00",
         "rate_percent": 6.0, "meta_data": []}
        for n, (rate, label) in enumerate(((5, "SGST"), (6, "CGST")))
    ]  # fmt: skip
    order.update(total="783.44", total_tax="83.94", cart_tax="77.94", shipping_total="50.00",
                 shipping_tax="6.00", discount_total="0.00", discount_tax="0.00")  # fmt: skip
    return order


def _gst_follow(desk: Desk) -> None:
    # Made in Moneybird (Instellingen > Btw-tarieven), then both shop rates mapped to it.
    desk.mb.tax_rates.append({
        **desk.mb.tax_rates[0], "id": R12, "name": "GST 12%", "percentage": "12.0",
    })  # fmt: skip
    desk.add_rule("tax", f'note = "SGST"\nshop_rate_id = 5\ntax_rate_id = "{R12}"')
    desk.add_rule("tax", f'note = "CGST"\nshop_rate_id = 6\ntax_rate_id = "{R12}"')


def _gst_booked(desk: Desk) -> None:
    invoice = desk.invoice("WC-3001")
    assert D(invoice["total_price_incl_tax"]) == D("783.44")
    assert D(invoice["total_price_excl_tax"]) == D("699.50")
    assert vat(invoice) == {R12: D("83.94")}  # 41.97 SGST + 41.97 CGST
    assert sorted(p for _d, p, _r, _l in details(invoice)) == [D("50.00"), D("149.50"),
                                                                D("500.00")]  # fmt: skip
    assert {r for _d, _p, r, _l in details(invoice)} == {R12}
    assert invoice["state"] == "paid"
    assert [D(p["price"]) for p in invoice["payments"]] == [D("783.44")]


GST = Case(
    "a line with two taxes",
    lambda d: only(d, gst_order()),
    "3001",
    (
        Step(
            "carries shop rate 5 'SGST' (6%) and shop rate 6 'CGST' (6%) together (12%), but one "
            "Moneybird invoice line takes one tax rate: make one Moneybird sales tax rate of 12% "
            "and map each of these shop rates to it in the tax table",
            _gst_follow,
        ),
    ),
    _gst_booked,
)


LUC = Person("Luc", "Tremblay", "luc@example.ca", "Rue Saint-Denis 1", "H2X 3K8", "Montréal",
             country="CA")  # fmt: skip


def quebec_order() -> dict[str, Any]:
    """Québec: GST 5% on 100.00 (5.00), and QST 9.975% marked compound, charged on the price
    plus GST: 105.00 x 9.975% = 10.47375, rounded 10.47. Total 115.47."""
    order = woo_order(3008, LUC, [Item("Masala chai 250g", "CH-250", 1, "100.00", 1)], "0",
                      PAID, prices_include_tax=False)  # fmt: skip
    order["line_items"][0].update(
        subtotal="100.00", total="100.00", subtotal_tax="15.47", total_tax="15.47",
        taxes=[{"id": 5, "total": "5.00", "subtotal": "5.00"},
               {"id": 6, "total": "10.47375", "subtotal": "10.47375"}],
    )  # fmt: skip
    order["shipping_lines"] = []
    order["tax_lines"] = [
        {"id": 30081, "rate_code": "CA-QC-GST-1", "rate_id": 5, "label": "GST", "compound": False,
         "tax_total": "5.00", "shipping_tax_total": "0.00", "rate_percent": 5.0, "meta_data": []},
        {"id": 30082, "rate_code": "CA-QC-QST-2", "rate_id": 6, "label": "QST", "compound": True,
         "tax_total": "10.47", "shipping_tax_total": "0.00", "rate_percent": 9.975,
         "meta_data": []},
    ]  # fmt: skip
    order.update(total="115.47", total_tax="15.47", cart_tax="15.47", shipping_total="0.00",
                 shipping_tax="0.00", discount_total="0.00", discount_tax="0.00")  # fmt: skip
    return order


def _by_hand(desk: Desk) -> None:
    """In Moneybird, as the reason says: the contact, then the invoice, sent. How its lines
    are booked is the bookkeeper's call (here: export at 0%, the Canadian taxes apart)."""
    said = desk.reason("3008")
    reference = said.split("with reference '")[1].split("'")[0]
    day = said.split(", dated ")[1].split(",")[0]
    total = said.split(", for ")[1].split(",")[0]
    email = said.split("on a contact with the address ")[1].split(",")[0]
    api = f"{desk.mb.api_url}/{desk.mb.administration_id}"
    with httpx.Client(headers={"Authorization": f"Bearer {desk.mb.token}"}) as http:
        contact = http.post(f"{api}/contacts.json", json={"contact": {
            "firstname": "Luc", "lastname": "Tremblay", "country": "CA",
            "send_invoices_to_email": email,
        }}).json()  # fmt: skip
        invoice = http.post(f"{api}/sales_invoices.json", json={"sales_invoice": {
            "contact_id": contact["id"], "reference": reference, "invoice_date": day,
            "prices_are_incl_tax": False, "details_attributes": [
                {"description": "Masala chai 250g", "amount": "1", "price": "100.00",
                 "tax_rate_id": MB_RATE_EXPORT, "ledger_account_id": LEDGER_HIGH},
                {"description": "GST 5.00 and QST 10.47 (Québec)", "amount": "1",
                 "price": f"{D(total) - D('100.00'):.2f}", "tax_rate_id": MB_RATE_EXPORT,
                 "ledger_account_id": LEDGER_FEES},
            ],
        }}).json()  # fmt: skip
        sent = http.patch(
            f"{api}/sales_invoices/{invoice['id']}/send_invoice.json",
            json={"sales_invoice_sending": {"delivery_method": "Manual"}},
        )
        assert sent.status_code == 200, sent.text


def _by_hand_booked(desk: Desk) -> None:
    invoice = desk.invoice("WC-3008")  # the one made by hand, adopted: no second one
    assert D(invoice["total_price_incl_tax"]) == D("115.47")
    assert invoice["state"] == "paid"
    assert [(D(p["price"]), p["financial_account_id"]) for p in invoice["payments"]] == [
        (D("115.47"), FIN_MOLLIE)
    ]


COMPOUND = Case(
    "a line with a compound tax",
    lambda d: only(d, quebec_order()),
    "3008",
    (
        Step(
            "shop rate 6 'QST' (9.975%) is compound (charged on the price plus the other "
            "taxes): no Moneybird tax rate reproduces that. Book the order by hand in "
            "Moneybird: a sales invoice with reference 'WC-3008', dated "
            f"{PAID.astimezone(AMSTERDAM).date()}, for 115.47, on a contact with the address "
            "luc@example.ca, sent (or marked as sent); then `connector retry 3008` takes it",
            _by_hand,
        ),
    ),
    _by_hand_booked,
)


def _usd_setup(desk: Desk) -> None:
    only(desk, usd_order(3002, PAID))
    day = PAID.astimezone(AMSTERDAM).date()
    desk.ecb = FakeEcb({day - timedelta(days=1): {"USD": "1.1000"}})
    desk.ecb.server.start()


def _usd_booked(desk: Desk) -> None:
    invoice = desk.invoice("WC-3002")
    assert invoice["currency"] == "USD"
    assert D(invoice["total_price_incl_tax"]) == D("121.00")
    [payment] = invoice["payments"]
    assert D(payment["price_base"]) == D("110.00")  # 121.00 / 1.1000


USD = Case(
    "a currency not enabled",
    _usd_setup,
    "3002",
    (
        Step(
            "currency USD is not enabled: add it to sync.currencies",
            lambda d: d.set("sync", 'currencies = ["EUR", "USD"]'),
        ),
        Step(
            "set [sync] exchange_rates = 'ecb' to use the ECB's reference rates",
            # (ecb_url: the ECB of this test, where a person's is the real one)
            lambda d: d.set(
                "sync", 'exchange_rates = "ecb"', f'ecb_url = "{d.ecb.server.url if d.ecb else ""}"'
            ),
        ),
    ),
    _usd_booked,
)


def _gift_sale_setup(desk: Desk) -> None:
    items = [Item("Cadeaukaart 25 euro", "GIFT-25", 1, "25.00", 4),
             Item("Moka pot 6 kops", "MP-6", 1, "34.95", 1)]  # fmt: skip
    only(desk, woo_order(3003, ANNA, items, "0", PAID))
    desk.set("gift_cards", 'skus = ["GIFT-*"]')


GIFT_LEDGER = "410000000000001600"


def _gift_sale_follow(desk: Desk) -> None:
    # The liability account, made in Moneybird, and its 0% rate.
    desk.mb.ledger_accounts.append({
        **desk.mb.ledger_accounts[0], "id": GIFT_LEDGER, "name": "Verkochte cadeaukaarten",
        "account_type": "current_liabilities", "account_id": "1600",
    })  # fmt: skip
    desk.set("gift_cards", 'sale = "liability"', f'ledger_account_id = "{GIFT_LEDGER}"',
             f'tax_rate_id = "{MB_RATE_0}"')  # fmt: skip


def _gift_sale_booked(desk: Desk) -> None:
    invoice = desk.invoice("WC-3003")
    assert D(invoice["total_price_incl_tax"]) == D("59.95")
    assert sorted(details(invoice)) == [
        ("Cadeaukaart 25 euro", D("25.00"), MB_RATE_0, GIFT_LEDGER),
        ("Moka pot 6 kops", D("34.95"), MB_RATE_21, LEDGER_HIGH),
    ]
    assert vat(invoice)[MB_RATE_21] == D("6.07")  # 34.95 x 21/121


GIFT_SALE = Case(
    "a gift card sold",
    _gift_sale_setup,
    "3003",
    (
        Step(
            "set [gift_cards] sale = 'liability' (with a ledger and a 0% rate) or 'skip'",
            _gift_sale_follow,
        ),
    ),
    _gift_sale_booked,
)


def _gift_paid_setup(desk: Desk) -> None:
    order = woo_order(3004, ANNA, [Item("Moka pot 6 kops", "MP-6", 1, "34.95", 1)], "4.95",
                      PAID)  # fmt: skip
    # 34.95 + 5.99 = 40.94, of which 10.00 paid with a gift card: 30.94 left for iDEAL.
    order["gift_cards"] = [{"id": 77, "code": "KADO-77", "amount": "10.00"}]
    order["total"] = "30.94"
    only(desk, order)
    desk.drop_rule("payment", 'method = "gift_card"')


def _gift_paid_booked(desk: Desk) -> None:
    invoice = desk.invoice("WC-3004")
    assert D(invoice["total_price_incl_tax"]) == D("40.94") and invoice["state"] == "paid"
    assert sorted((D(p["price"]), p["financial_account_id"]) for p in invoice["payments"]) == [
        (D("10.00"), FIN_GIFT_CARDS),
        (D("30.94"), FIN_MOLLIE),
    ]


GIFT_PAID = Case(
    "paid with a gift card",
    _gift_paid_setup,
    "3004",
    (
        Step(
            "paid 10.00 with a gift card: add a payment rule for method 'gift_card' with the "
            "gift-card account",
            lambda d: d.add_rule(
                "payment", f'method = "gift_card"\nfinancial_account_id = "{FIN_GIFT_CARDS}"'
            ),
        ),
    ),
    _gift_paid_booked,
)

NOWHERE = Person("Kees", "Smit", "kees@example.nl", "Kerkstraat 1", "1017 GB", "Amsterdam",
                 country="")  # fmt: skip


def _address_follow(desk: Desk) -> None:
    order = desk.shop.orders[3005]
    order["billing"]["country"] = order["shipping"]["country"] = "NL"
    desk.shop.put_order(order)


def _address_booked(desk: Desk) -> None:
    invoice = desk.invoice("WC-3005")
    assert D(invoice["total_price_incl_tax"]) == D("24.50")
    assert {r for _d, _p, r, _l in details(invoice)} == {MB_RATE_0}


ADDRESS = Case(
    "no country to decide the VAT by",
    lambda d: only(d, woo_order(3005, NOWHERE, [Item("Boek", "BK-1", 1, "24.50", 4)], "0", PAID)),
    "3005",
    (Step("add the address in the shop, then `connector retry`", _address_follow),),
    _address_booked,
)


def _closed_setup(desk: Desk) -> None:
    keep(desk, 1001)
    desk.mb.period_locked_until = datetime.now(ZoneInfo("Europe/Amsterdam")).date().isoformat()


def _closed_follow(desk: Desk) -> None:
    desk.mb.period_locked_until = None  # reopened by the bookkeeper


CLOSED = Case(
    "a period closed in Moneybird",
    _closed_setup,
    "1001",
    (
        Step(
            "The bookkeeper can reopen the period in Moneybird (or book it by hand in an open "
            "one), then run `connector retry 1001`",
            _closed_follow,
        ),
    ),
    lambda d: _total(d, "WC-1001", "66.84"),
)


def _total(desk: Desk, reference: str, total: str) -> None:
    invoice = desk.invoice(reference)
    assert D(invoice["total_price_incl_tax"]) == D(total) and invoice["state"] == "paid"


def _spread_setup(desk: Desk) -> None:
    # A moka pot 34.95 at 21% less a 5.00 "Korting" fee at 0%: no amount at 0% to spread
    # an amount-only refund over. Booked first; then 10.00 is refunded without lines.
    order = woo_order(3006, ANNA, [Item("Moka pot 6 kops", "MP-6", 1, "34.95", 1)], "0", PAID,
                      fees=[("Korting", "-5.00", 4)])  # fmt: skip
    only(desk, order)
    desk.run("sync")
    desk.shop.refund(3006, "10.00", reason="Schade")


def _spread_booked(desk: Desk) -> None:
    original = desk.invoice("WC-3006")
    [credit] = [i for i in desk.mb.invoices.values()
                if i.get("original_sales_invoice_id") == original["id"]]  # fmt: skip
    assert D(credit["total_price_incl_tax"]) == D("-10.00") and credit["state"] == "paid"
    assert vat(credit) == {MB_RATE_21: D("-1.74")}  # 10.00 x 21/121 = 1.7355
    assert {(r, ledger) for _d, _p, r, ledger in details(credit)} == {(MB_RATE_21, LEDGER_HIGH)}


SPREAD = Case(
    "an amount-only refund that cannot be spread",
    _spread_setup,
    "3006",
    (
        Step(
            "book it by hand, or set [refunds] amount_only = 'fixed' with the ledger_account_id "
            "and tax_rate_id to book such refunds on",
            lambda d: d.set(
                "refunds",
                'amount_only = "fixed"',
                f'ledger_account_id = "{LEDGER_HIGH}"',
                f'tax_rate_id = "{MB_RATE_21}"',
            ),
        ),
    ),
    _spread_booked,
)


def _net_setup(desk: Desk) -> None:
    order = woo_order(3007, ANNA, [Item("Moka pot 6 kops", "MP-6", 2, "28.88", 1)], "4.95",
                      PAID, prices_include_tax=False)  # fmt: skip
    only(desk, order)
    desk.shop.refund(3007, items=[(30071, 1, "28.88", "6.06")], when=PAID + timedelta(hours=1))
    desk.set("refunds", 'before_booking = "net"')


def _net_booked(desk: Desk) -> None:
    # 2 x 28.88 + 4.95 = 62.71 excl.; VAT 12.13 + 1.04 = 13.17; 75.88; then 34.94 back.
    original = desk.invoice("WC-3007")
    assert D(original["total_price_incl_tax"]) == D("75.88")
    [credit] = [i for i in desk.mb.invoices.values()
                if i.get("original_sales_invoice_id") == original["id"]]  # fmt: skip
    assert D(credit["total_price_incl_tax"]) == D("-34.94") and credit["state"] == "paid"


NET = Case(
    "refunds netted on an invoice excluding VAT",
    _net_setup,
    "3007",
    (
        Step(
            "refunds.before_booking = 'net' needs prices including VAT; this order's are "
            "excluding VAT: use 'invoice_and_credit'",
            lambda d: d.set("refunds", 'before_booking = "invoice_and_credit"'),
        ),
    ),
    _net_booked,
)


def _history_setup(desk: Desk) -> None:
    keep(desk, 1001, 1003)
    text = desk.config.read_text().replace("start = 2000-01-01\n", "")
    desk.config.write_text(text)  # a first start: the scheduler books from its own moment


def _history_follow(desk: Desk) -> None:
    reason = desk.reason("1001")
    since = reason.split("connector import --since ")[1].split("`")[0]
    date.fromisoformat(since)
    desk.run("import", "--since", since)


def _history_booked(desk: Desk) -> None:
    _total(desk, "WC-1001", "66.84")
    _total(desk, "WC-1003", "68.04")


HISTORY = Case(
    "an order paid before the start point",
    _history_setup,
    "1001",
    (
        Step(
            "the scheduler books no history; book it with `connector import --since",
            _history_follow,
        ),
    ),
    _history_booked,
    retry=False,
)

CASES = [OSS, FEE, DISCOUNT, GST, COMPOUND, USD, GIFT_SALE, GIFT_PAID, ADDRESS, CLOSED, SPREAD, NET,
         HISTORY]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_following_the_advice_books_the_order(desk: Desk, case: Case) -> None:
    case.setup(desk)
    try:
        for step in case.steps:
            desk.run("sync", expect=(0, 1))
            reason = desk.reason(case.number)
            assert step.says in reason, reason
            step.follow(desk)
            if case.retry:
                desk.run("retry", case.number)
        desk.run("sync")
        case.booked(desk)
    finally:
        if desk.ecb is not None:
            desk.ecb.server.stop()


def test_the_two_taxes_advice_followed_by_percentage_passes_config_check(desk: Desk) -> None:
    """The advice says "map each of these shop rates to it"; a person (and a Shopify shop,
    whose rates have no ids) maps them by percentage: 6% -> the 12% rate. The order books,
    and `config check` does not call that rule an error: it says what the rule is for."""
    only(desk, gst_order())
    desk.run("sync", expect=(0, 1))
    assert "make one Moneybird sales tax rate of 12%" in desk.reason("3001")
    desk.mb.tax_rates.append({
        **desk.mb.tax_rates[0], "id": R12, "name": "GST 12%", "percentage": "12.0",
    })  # fmt: skip
    desk.add_rule("tax", f'note = "SGST, CGST"\npercentage = "6"\ncountry = "IN"\n'
                         f'tax_rate_id = "{R12}"')  # fmt: skip
    desk.run("retry", "3001")
    desk.run("sync")
    _gst_booked(desk)
    said = desk.run("config", "check")  # exit 0: no errors
    assert not [ln for ln in said.splitlines() if ln.startswith("error")], said
    out = " ".join(said.split())
    assert (
        "rule 8 is for 6% and tax_rate_id 400000000000000120 ('GST 12%') is 12%: it books "
        "lines charged at rates together that add up to 12%; a line charged at 6% alone "
        "parks" in out
    ), out
