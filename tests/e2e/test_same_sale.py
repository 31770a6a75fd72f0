"""A document Moneybird holds under an order's reference is taken for the order only when it
is the same sale: its total agrees and it is on the order's customer. Another shop with the
same numbering (or a numbering that started over) never gets its invoices adopted for ours;
and an order already in Moneybird is adopted whatever the tables say now. Judged by what
landed in the sandbox Moneybird."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.config import load_config
from connector.runtime import Runtime, build
from connector.sandbox.moneybird import MoneybirdSandbox
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
