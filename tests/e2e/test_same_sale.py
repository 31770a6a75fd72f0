"""A document Moneybird holds under an order's reference is taken for the order only when it
is the same sale: its total agrees and it is on the order's customer. Another shop with the
same numbering (or a numbering that started over) never gets its invoices adopted for ours;
and an order already in Moneybird is adopted whatever the tables say now. Judged by what
landed in the sandbox Moneybird."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import load_config
from connector.runtime import Runtime, build
from connector.sandbox.moneybird import Fault, MoneybirdSandbox
from connector.sandbox.seed import ANNA, Item, Person, seed_shop, woo_order
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import OrderState
from tests.conftest import ROOT, secrets_env, write_config
from tests.helpers import booked_exactly_once

NUMBERS = range(7701, 7706)
OTHER = Person("Vorige", "Webshop", "boekhouding@vorige-webshop.example", "Kade 2", "1011 AA",
               "Amsterdam", company="Vorige Webshop BV")  # fmt: skip


def install(folder: Path, shop: WooCommerceSandbox, mb: MoneybirdSandbox, tax: str = "") -> Runtime:
    folder.mkdir(exist_ok=True)
    extra = ""
    if tax:
        (folder / "tax.toml").write_text(tax, encoding="utf-8")
    path = write_config(folder, shop.url, mb.api_url, mb.administration_id, extra)
    if tax:
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(str(ROOT / "mappings" / "tax.toml"), str(folder / "tax.toml")))
    runtime = build(load_config(path, environ=secrets_env(shop, mb)))
    runtime.shop._sleep = lambda _s: None
    runtime.client._sleep = lambda _s: None
    return runtime


def test_another_shops_invoices_under_the_same_numbers_are_never_taken_for_ours(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    moneybird.rate_limit = 100_000
    # The other shop: orders 7701-7705 of 10.00 each (9% goods), booked today.
    other = WooCommerceSandbox()
    paid = datetime.now(UTC) - timedelta(hours=3)
    seed_shop(other, [woo_order(n, OTHER, [Item("Thee", "TH", 1, "10.00", 2)], "0", paid,
                                payment=("bacs", "Bankoverschrijving", ""))
                      for n in NUMBERS])  # fmt: skip
    other.start()
    try:
        theirs = install(tmp_path / "other", other, moneybird)
        theirs.engine().run_pass()
        theirs.close()
    finally:
        other.stop()
    before = {ref: dict(i) for ref, i in booked_exactly_once(moneybird, 5, paid=True).items()}
    writes = len(moneybird.accepted)
    # Our shop's orders with the same numbers, other sales: a new state's first pass.
    ours = [woo_order(n, ANNA, [Item("Moka pot 6 kops", "MP-6", n - 7700, "34.95", 1)], "4.95",
                      paid + timedelta(minutes=10)) for n in NUMBERS]  # fmt: skip
    for order in ours:
        shop.put_order(order)
    runtime = install(tmp_path / "ours", shop, moneybird)
    report = runtime.engine().run_pass()
    assert report.adopted == 0
    for n in NUMBERS:
        record = runtime.store.order(f"woocommerce:{n}")
        assert record is not None and record.state == OrderState.PARKED, record
        reason = record.park_reason or ""
        assert f"Moneybird already holds WC-{n}" in reason, reason
        assert "Vorige Webshop BV" in reason and "Anna" in reason
        assert "sync.reference_template" in reason
        assert record.invoice_id is None
    # The other shop's invoices are untouched: no payment, no edit, no delete on them.
    after = {ref: i for ref, i in moneybird.invoices.items()}
    for ref, invoice in before.items():
        assert after[invoice["id"]]["payments"] == invoice["payments"], ref
    touched = {a[1] for a in moneybird.accepted[writes:]}
    assert not any(invoice["id"] in path for invoice in before.values() for path in touched)
    # Given its own reference template, our shop books its own five.
    folder = tmp_path / "ours"
    config = folder / "config.toml"
    config.write_text(
        config.read_text().replace("[sync]\n", '[sync]\nreference_template = "B-{number}"\n')
    )
    runtime.close()
    runtime = install_again(folder, shop, moneybird)
    runtime.store.requeue()
    runtime.engine().run_pass()
    invoices = booked_exactly_once(moneybird, paid=True)
    assert {f"B-{n}" for n in NUMBERS} <= set(invoices)
    # 2 x 34.95 incl. VAT, and shipping 4.95 excl. VAT (5.99 incl. 21%)
    assert invoices["B-7702"]["total_price_incl_tax"] == "75.89"


def install_again(folder: Path, shop: WooCommerceSandbox, mb: MoneybirdSandbox) -> Runtime:
    runtime = build(load_config(folder / "config.toml", environ=secrets_env(shop, mb)))
    runtime.shop._sleep = lambda _s: None
    runtime.client._sleep = lambda _s: None
    return runtime


BROKEN_TAX = """
[[rule]]
note = "only the low rate: the high rate's rule was lost in an edit"
shop_rate_id = 2
percentage = "9"
tax_rate_id = "400000000000000009"
"""


def test_a_booked_order_is_adopted_whatever_the_tables_say_now(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    moneybird.rate_limit = 100_000
    first = install(tmp_path / "first", shop, moneybird)
    first.engine().run_pass()
    first.close()
    booked = booked_exactly_once(moneybird, 8, paid=True)
    writes = len(moneybird.accepted)
    # A second install (or a restored state) whose tax table lost the 21% rule.
    second = install(tmp_path / "second", shop, moneybird, tax=BROKEN_TAX)
    report = second.engine().run_pass()
    assert report.adopted == 8 and report.booked == 0
    for reference, invoice in booked.items():
        record = second.store.order(f"woocommerce:{reference.removeprefix('WC-')}")
        assert record is not None and record.state == OrderState.PAID, (reference, record)
        assert record.invoice_id == invoice["id"]
    assert booked_exactly_once(moneybird, 8, paid=True, payments=1)
    assert [a for a in moneybird.accepted[writes:] if "synchronization" not in a[1]] == []


def _other_shop_books(
    folder: Path, mb: MoneybirdSandbox, orders: list[dict], made_hours_ago: float = 0
) -> None:
    """Another shop with the same numbering books `orders` into the same administration;
    `made_hours_ago`: when its invoices were made (the sandbox stamps them now)."""
    other = WooCommerceSandbox()
    seed_shop(other, orders)
    other.start()
    try:
        theirs = install(folder, other, mb)
        theirs.engine().run_pass()
        theirs.close()
    finally:
        other.stop()
    made = (datetime.now(UTC) - timedelta(hours=made_hours_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for invoice in mb.invoices.values():
        invoice["created_at"] = made


def _moka(order_id: int, paid: datetime) -> dict:
    return woo_order(order_id, ANNA, [Item("Moka pot", "MP", 1, "34.95", 1)], "4.95", paid)


def test_the_same_customer_and_basket_in_another_shop_earlier_is_not_this_sale(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """Anna buys the same moka pot in both shops, four hours apart: the other shop's invoice
    was made before our order was paid, so it cannot be ours."""
    moneybird.rate_limit = 100_000
    _other_shop_books(tmp_path / "other", moneybird,
                      [_moka(7701, datetime.now(UTC) - timedelta(hours=5))], made_hours_ago=5)  # fmt: skip
    shop.put_order(_moka(7701, datetime.now(UTC) - timedelta(hours=1)))
    ours = install(tmp_path / "ours", shop, moneybird)
    report = ours.engine().run_pass()
    assert report.adopted == 0
    record = ours.store.order("woocommerce:7701")
    assert record is not None and record.state == OrderState.PARKED
    assert "Moneybird already holds WC-7701" in (record.park_reason or "")


def test_the_same_sale_weeks_earlier_in_another_shop_is_not_this_sale(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """20 days apart; a refund on an older order widens the documents scan so the other shop's
    invoice is learned: dated weeks before our order was paid, it is not ours."""
    moneybird.rate_limit = 100_000
    shop.put_order(woo_order(7600, ANNA, [Item("Espresso", "EB", 1, "21.50", 2)], "0",
                             datetime.now(UTC) - timedelta(days=25)))  # fmt: skip
    ours = install(tmp_path / "ours", shop, moneybird)
    ours.engine().run_pass()
    paid = datetime.now(UTC) - timedelta(days=20)
    _other_shop_books(tmp_path / "other", moneybird, [_moka(7701, paid)])
    shop.refund(7600, "5.00", reason="damaged")
    shop.put_order(_moka(7701, datetime.now(UTC) - timedelta(hours=1)))
    report = ours.engine().run_pass()
    assert report.adopted == 0
    record = ours.store.order("woocommerce:7701")
    assert record is not None and record.state == OrderState.PARKED, record


def paid_on_one_invoice(runtime: Runtime, mb: MoneybirdSandbox, order_id: int) -> None:
    """The order is paid in this state, on the one invoice Moneybird holds for it."""
    record = runtime.store.order(f"woocommerce:{order_id}")
    assert record is not None and record.state == OrderState.PAID, record
    assert len([i for i in mb.invoices.values() if i["reference"] == f"WC-{order_id}"]) == 1


NOBODY = Person("", "", "", "Kerkstraat 1", "3511 AB", "Utrecht")
NAMED = Person("Kees", "Smit", "", "Kerkstraat 1", "3511 AB", "Utrecht")


@pytest.mark.parametrize("who", [NOBODY, NAMED], ids=["no name", "named"])
def test_an_order_without_email_booked_before_is_adopted(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, who: Person
) -> None:
    """A counter sale (no email, perhaps no name): the contact the connector made for it
    carries its customer_id, so a second install knows it for this customer's."""
    moneybird.rate_limit = 100_000
    paid = datetime.now(UTC) - timedelta(hours=3)
    shop.put_order(woo_order(996, who, [Item("Moka", "MP", 1, "34.95", 1)], "0", paid))
    first = install(tmp_path / "first", shop, moneybird)
    first.engine().run_pass()
    first.close()
    second = install(tmp_path / "second", shop, moneybird)
    second.engine().run_pass()
    paid_on_one_invoice(second, moneybird, 996)


def test_a_lost_create_is_ours_even_when_the_customer_changed_since(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """The create's answer and the check read are lost; before the next pass the customer's
    email is corrected in the shop. The draft on the contact we sent is ours: taken, once."""
    moneybird.rate_limit = 100_000
    runtime.engine().run_pass()
    order = woo_order(997, ANNA, [Item("Moka", "MP", 1, "34.95", 1)], "0",
                      datetime.now(UTC) - timedelta(hours=1))  # fmt: skip
    order["billing"]["email"] = "anna.devries@exmaple.nl"  # a typo at checkout
    shop.put_order(order)
    moneybird.faults += [Fault("POST", r"sales_invoices", "after_drop"),
                         Fault("GET", r"sales_invoices/find_by_reference/.*", "before_500",
                               times=50)]  # fmt: skip
    runtime.engine().run_pass()
    moneybird.faults.clear()
    corrected = dict(shop.orders[997])
    corrected["billing"] = {**corrected["billing"], "email": "anna.devries@example.nl"}
    shop.put_order(corrected)
    runtime.engine().run_pass()
    paid_on_one_invoice(runtime, moneybird, 997)


def test_net_refunds_an_invoice_was_made_with_are_told_from_those_after_it(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """[refunds] before_booking = "net": one refund before booking (netted on the invoice),
    one after (a credit invoice). A new state adopts the invoice, 59.90, as the order less the
    first refund, and books nothing again."""
    moneybird.rate_limit = 100_000
    shop.put_order(woo_order(995, ANNA, [Item("Moka", "MP", 2, "34.95", 1)], "0",
                             datetime.now(UTC) - timedelta(hours=3)))  # fmt: skip
    shop.refund(995, "10.00", reason="first, before booking")
    folder = tmp_path / "first"
    install(folder, shop, moneybird).close()
    config = folder / "config.toml"
    config.write_text(config.read_text() + '\n[refunds]\nbefore_booking = "net"\n')
    first = install_again(folder, shop, moneybird)
    first.engine().run_pass()
    shop.refund(995, "5.00", reason="second, after booking")
    first.engine().run_pass()
    first.close()
    invoice = booked_exactly_once(moneybird)["WC-995"]
    assert invoice["total_price_incl_tax"] == "59.90"  # 2 x 34.95 less the first 10.00
    writes = len(moneybird.accepted)
    second_folder = tmp_path / "second"
    second_folder.mkdir()
    (second_folder / "config.toml").write_text(config.read_text())
    second = install_again(second_folder, shop, moneybird)
    second.engine().run_pass()
    record = second.store.order("woocommerce:995")
    assert record is not None and record.state == OrderState.PAID, record
    assert [a for a in moneybird.accepted[writes:] if "synchronization" not in a[1]] == []


def test_preview_says_what_the_pass_does_with_a_document_already_there(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    moneybird.rate_limit = 100_000
    first = install(tmp_path / "first", shop, moneybird)
    first.engine().run_pass()
    first.close()
    install(tmp_path / "second", shop, moneybird, tax=BROKEN_TAX).close()
    env = secrets_env(shop, moneybird)
    second = str(tmp_path / "second" / "config.toml")
    adopts = CliRunner().invoke(app, ["preview", "1001", "--config", second], env=env)
    assert "a pass adopts it" in adopts.output, adopts.output
    # Another shop's invoice under our number: preview parks it, as the pass does.
    paid = datetime.now(UTC) - timedelta(hours=3)
    _other_shop_books(tmp_path / "other", moneybird,
                      [woo_order(7701, OTHER, [Item("Thee", "TH", 1, "10.00", 2)], "0", paid)])  # fmt: skip
    shop.put_order(_moka(7701, paid + timedelta(minutes=10)))
    parks = CliRunner().invoke(app, ["preview", "7701", "--config", second], env=env)
    assert "A pass would park it" in parks.output and "Moneybird already holds" in parks.output
