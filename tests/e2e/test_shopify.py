"""Shopify against the sandboxes: syncs, paging, tokens, throttling, refunds, set-up."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.config import load_config
from connector.runtime import Runtime, build
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import (
    LEDGER_HIGH,
    LEDGER_LOW,
    MB_RATE_9,
    MB_RATE_21,
    MB_RATE_DE_OSS,
    Person,
)
from connector.shops.shopify.queries import ORDERS_PER_PAGE
from connector.state import Meta, OrderState
from tests.conftest import HISTORY_START, ROOT
from tests.helpers import booked_exactly_once

D = Decimal


def shopify_config(
    tmp_path: Path,
    sandbox: Any,
    mb: MoneybirdSandbox,
    env: dict[str, str] | None = None,
    shop: str = "",
    sync: str = "",
    history_start: str = HISTORY_START,
):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text(f"""[shop]
platform = "shopify"
url = "{sandbox.url}"
{shop}

[moneybird]
administration_id = "{mb.administration_id}"
api_url = "{mb.api_url}"

[state]
path = "state.db"

[sync]
{sync if "start =" in sync else sync + chr(10) + history_start}

[mappings]
tax = "{ROOT / "mappings" / "tax.toml"}"
ledger = "{ROOT / "mappings" / "ledger.toml"}"
payment = "{ROOT / "mappings" / "payment.toml"}"
""")
    environ = env or {"SHOPIFY_ACCESS_TOKEN": sandbox.access_token}
    return load_config(path, environ={"MONEYBIRD_TOKEN": mb.token, **environ})


@pytest.fixture
def shopify_runtime(tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox) -> Iterator[Runtime]:
    runtime = build(shopify_config(tmp_path, shopify, moneybird))
    runtime.shop._sleep = lambda _s: None  # type: ignore[attr-defined]
    yield runtime
    runtime.close()


def assert_exact(invoice: dict[str, Any], order: dict[str, Any]) -> None:
    assert D(invoice["total_price_incl_tax"]) == D(order["totalPriceSet"]["shopMoney"]["amount"])
    shop_vat = {
        {21.0: MB_RATE_21, 9.0: MB_RATE_9}[t["ratePercentage"]]: D(
            t["priceSet"]["shopMoney"]["amount"]
        )
        for t in order["taxLines"]
    }
    assert {t["tax_rate_id"]: D(t["tax_amount"]) for t in invoice["tax_totals"]} == shop_vat


def test_sync_books_shopify_orders_paid_and_exact(
    shopify_runtime: Runtime, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    report = shopify_runtime.engine().run_pass()
    assert (report.seen, report.booked, report.parked, report.unpaid) == (8, 5, 2, 1)
    by_ref = {i["reference"]: i for i in moneybird.invoices.values()}
    assert set(by_ref) == {"SH-2001", "SH-2002", "SH-2003", "SH-2008", "SH-2009"}
    orders = {f"SH-{o['name'].lstrip('#')}": o for o in shopify.orders.values()}
    for ref, invoice in by_ref.items():
        assert invoice["state"] == "paid", ref
        assert_exact(invoice, orders[ref])
    assert by_ref["SH-2003"]["prices_are_incl_tax"] is False  # the tax-exclusive B2B order
    assert len(by_ref["SH-2009"]["details"]) == 13  # 12 lines over two pages, plus shipping
    # Paid with PayPal in Shopify: the PayPal clearing account (gateway "paypal").
    assert by_ref["SH-2002"]["payments"][0]["financial_account_id"] == "420000000000000003"
    store = shopify_runtime.store
    assert store.order("shopify:5002005") is None  # the test order is not booked, not recorded
    assert store.order("shopify:5002004").state == OrderState.UNPAID  # type: ignore[union-attr]
    assert "gift card" in (store.order("shopify:5002006").park_reason or "")  # type: ignore[union-attr]
    emails = Counter(c["send_invoices_to_email"] for c in moneybird.contacts.values())
    assert all(n == 1 for n in emails.values())
    # The next pass reads only what changed, asks Moneybird nothing, and books nothing.
    shopify.queries.clear()
    again = shopify_runtime.engine().run_pass()
    assert again.booked == 0 and again.moneybird_requests == 0
    query = shopify.queries[0][1]["query"]
    assert query.startswith("updated_at:>'") and query.endswith("Z'")


def test_vat_numbers_come_from_b2b_company_metafields_or_note_attributes(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    from connector.sandbox.seed import JEROEN
    from connector.sandbox.shopify_seed import MOKA, shopify_order

    created = datetime.now(UTC) - timedelta(hours=1)
    b2b = shopify_order(2101, JEROEN, [MOKA], "0", created, vat_number="BE0403170701")
    b2b["purchasingEntity"] = {
        "__typename": "PurchasingCompany",
        "location": {"taxSettings": {"taxRegistrationId": "DE136695976"}},
    }
    on_order = shopify_order(2102, JEROEN, [MOKA], "0", created)
    on_order["metafields"] = {"custom.vat_number": " FR40303265045 "}
    on_customer = shopify_order(2103, JEROEN, [MOKA], "0", created, vat_number="BE0403170701")
    on_customer["customer"]["metafields"] = {"custom.vat_number": "NL004495445B01"}
    other_field = shopify_order(2104, JEROEN, [MOKA], "0", created)
    other_field["metafields"] = {"custom.btw": "NL004495445B01"}
    for order in (b2b, on_order, on_customer, other_field):
        shopify.put_order(order)

    config = shopify_config(
        tmp_path, shopify, moneybird, shop='vat_number_metafield = "custom.vat_number"'
    )
    runtime = build(config)
    try:
        payloads = runtime.shop.changed_orders(None).orders
        found = {
            p["name"]: runtime.shop.to_order(p).customer.vat_number
            for p in payloads
            if p["name"] in ("#2101", "#2102", "#2103", "#2104")
        }
    finally:
        runtime.close()
    assert found == {
        "#2101": "DE136695976",  # the company location's registration wins over the note
        "#2102": "FR40303265045",
        "#2103": "NL004495445B01",  # the customer's metafield before the note attribute
        "#2104": "",
    }
    # Without a metafield configured the query asks for none (and the note attribute counts).
    plain = build(shopify_config(tmp_path, shopify, moneybird))
    try:
        shopify.queries.clear()
        orders = {p["name"]: p for p in plain.shop.changed_orders(None).orders}
        assert "vatNumberField" not in orders["#2102"]
        assert plain.shop.to_order(orders["#2103"]).customer.vat_number == "BE0403170701"
        assert shopify.queries[0][1].get("vatField") is None
    finally:
        plain.close()


def test_pending_order_is_booked_once_paid(
    shopify_runtime: Runtime, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    from connector.sandbox.seed import PIETER
    from connector.sandbox.shopify_seed import MOKA, shopify_order

    shopify_runtime.engine().run_pass()
    paid = shopify_order(2004, PIETER, [MOKA], "5.95", datetime.now(UTC) - timedelta(hours=1))
    shopify.put_order(paid)
    assert shopify_runtime.engine().run_pass().booked == 1
    assert any(
        i["reference"] == "SH-2004" and i["state"] == "paid" for i in moneybird.invoices.values()
    )


def test_throttling_waits_for_the_bucket_and_loses_nothing(
    shopify_runtime: Runtime, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    shopify_runtime.shop._sleep = sleep  # type: ignore[attr-defined]
    shopify.restore_rate, shopify.throttle_deficit_seconds = 5000.0, 0.2
    shopify.throttle_next = 3
    report = shopify_runtime.engine().run_pass()
    assert report.booked == 5 and report.error is None
    assert len(waits) >= 3 and all(w >= 0.1 for w in waits)


def test_client_credentials_token_is_exchanged_and_renewed(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    env = {"SHOPIFY_CLIENT_ID": shopify.client_id, "SHOPIFY_CLIENT_SECRET": shopify.client_secret}
    runtime = build(shopify_config(tmp_path, shopify, moneybird, env))
    try:
        assert runtime.engine().run_pass().booked == 5
        assert len(shopify.issued_tokens) == 1
        for token in shopify.issued_tokens:
            shopify.issued_tokens[token] = 0  # Shopify expires it early
        runtime.engine().run_pass()
        assert len(shopify.issued_tokens) == 2  # a new one, without a failed pass
        assert runtime.store.runs(1)[0].outcome == "ok"
    finally:
        runtime.close()


def test_wrong_shopify_token_stops_the_pass_with_a_clear_message(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    from connector.errors import AuthError

    runtime = build(
        shopify_config(tmp_path, shopify, moneybird, {"SHOPIFY_ACCESS_TOKEN": "shpat_wrong"})
    )
    try:
        with pytest.raises(AuthError, match="Shopify refused the access token") as info:
            runtime.engine().run_pass()
        assert "shpat_wrong" not in str(info.value)
        assert moneybird.invoices == {}
    finally:
        runtime.close()


def test_missing_read_all_orders_scope_is_said_clearly(
    shopify_runtime: Runtime, shopify: Any, caplog: pytest.LogCaptureFixture
) -> None:
    shopify.scopes = ("read_orders",)
    with caplog.at_level(logging.WARNING):
        shopify_runtime.engine().run_pass()
    assert "only the last 60 days of orders are visible" in caplog.text


def test_config_check_and_status_for_a_shopify_shop(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    from typer.testing import CliRunner

    from connector.cli import app

    config = shopify_config(tmp_path, shopify, moneybird)
    env = {"MONEYBIRD_TOKEN": moneybird.token, "SHOPIFY_ACCESS_TOKEN": shopify.access_token}
    result = CliRunner(env=env).invoke(app, ["config", "check", "--config", str(config.path)])
    assert result.exit_code == 0, result.output
    out = result.output.replace("\n", " ")
    # Shopify lists no tax rates: what was read instead is said, and the German order's rate,
    # which the default tables do not map, is named before any order parks.
    assert (
        "shop tax rates: not checkable, Shopify has no tax-rate list; read from the 8 orders "
        "of the last 90 days instead" in out
    )
    assert (
        "19% ('BTW 19%') to DE, consumers (1 order, e.g. #2007): no tax rule maps it; orders "
        "like these will be parked" in out
    )
    assert "All is well." not in out
    assert result.stdout.rstrip().splitlines()[-1] == (
        "No errors, but 1 warning(s) above to deal with; not checked: shop tax rates."
    )
    bad = CliRunner(env={**env, "SHOPIFY_ACCESS_TOKEN": "shpat_revoked"}).invoke(
        app, ["config", "check", "--config", str(config.path)]
    )
    assert bad.exit_code == 2 and "Shopify refused the access token" in bad.output
    missing = CliRunner(env={"MONEYBIRD_TOKEN": moneybird.token}).invoke(
        app, ["sync", "--config", str(config.path)]
    )
    assert (
        missing.exit_code == 2 and "SHOPIFY_CLIENT_ID and SHOPIFY_CLIENT_SECRET" in missing.output
    )


def test_mappings_suggest_for_a_shopify_shop_proposes_rules_by_percentage(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    from typer.testing import CliRunner

    from connector.cli import app

    config = shopify_config(tmp_path, shopify, moneybird)
    text = config.path.read_text().replace(str(ROOT / "mappings"), str(tmp_path / "mappings"))
    config.path.write_text(text)
    env = {"MONEYBIRD_TOKEN": moneybird.token, "SHOPIFY_ACCESS_TOKEN": shopify.access_token}
    runner = CliRunner(env=env)
    result = runner.invoke(app, ["mappings", "suggest", "--write", "--config", str(config.path)])
    assert result.exit_code == 0, result.output
    tax = (tmp_path / "mappings" / "tax.toml").read_text()
    assert 'percentage = "21"\ncountry = "NL"\ntax_rate_id = "400000000000000021"' in tax
    assert 'percentage = "9"\ncountry = "NL"\ntax_rate_id = "400000000000000009"' in tax
    assert "400000000000000121" not in tax  # the purchase rate is never proposed
    sync = runner.invoke(app, ["sync", "--config", str(config.path)])
    assert "5 booked, 2 parked" in sync.output, sync.output


def test_suggest_proposes_the_german_oss_rule_from_recent_orders_before_any_order_parks(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    from typer.testing import CliRunner

    from connector.cli import app

    config = shopify_config(tmp_path, shopify, moneybird)
    (tmp_path / "mappings").mkdir()
    for name in ("tax.toml", "ledger.toml", "payment.toml"):
        (tmp_path / "mappings" / name).write_text((ROOT / "mappings" / name).read_text())
    text = config.path.read_text().replace(str(ROOT / "mappings"), str(tmp_path / "mappings"))
    config.path.write_text(text.replace("[mappings]", "[vat]\noss = true\n\n[mappings]"))
    env = {"MONEYBIRD_TOKEN": moneybird.token, "SHOPIFY_ACCESS_TOKEN": shopify.access_token}
    runner = CliRunner(env=env)
    result = runner.invoke(app, ["mappings", "suggest", "--write", "--config", str(config.path)])
    assert result.exit_code == 0, result.output
    tax = (tmp_path / "mappings" / "tax.toml").read_text()
    assert (
        "# 19% ('BTW 19%') to DE, consumers (1 order, e.g. #2007), read from the 8 orders of "
        "the last 90 days -> Moneybird '19% Duitsland (OSS)' (active sales rate; One-Stop "
        "Shop: applies only with [vat] oss = true)\n"
        'percentage = "19"\ncountry = "DE"\ncustomer = "consumer"\ntreatment = "oss"\n'
        f'tax_rate_id = "{MB_RATE_DE_OSS}"' in tax
    )
    rules = [ln for ln in tax.splitlines() if ln == "[[rule]]"]
    assert len(rules) == 8  # the default table's 7 and this one: nothing else
    check = runner.invoke(app, ["config", "check", "--config", str(config.path)])
    assert check.exit_code == 0 and "no tax rule maps it" not in check.output, check.output
    # Following the advice books the German order, at Moneybird's German rate.
    sync = runner.invoke(app, ["sync", "--config", str(config.path)])
    assert "6 booked, 1 parked" in sync.output, sync.output
    german = next(i for i in moneybird.invoices.values() if i["reference"] == "SH-2007")
    assert {d["tax_rate_id"] for d in german["details"]} == {MB_RATE_DE_OSS}
    assert D(german["total_price_incl_tax"]) == D("44.90")  # 34.95 + 9.95 shipping
    again = runner.invoke(app, ["mappings", "suggest", "--config", str(config.path)])
    assert "already cover everything" in again.output, again.output


def test_rates_in_use_come_from_the_newest_pages_when_shopify_cannot_run_a_bulk_operation(
    shopify_runtime: Runtime, shopify: Any
) -> None:
    from connector.shops.shopify.shop import ShopifyShop

    shopify.bulk_refuse = "OPERATION_IN_PROGRESS"
    shop = shopify_runtime.shop
    assert isinstance(shop, ShopifyShop)
    found = shop.rates_in_use(datetime.now(UTC) - timedelta(days=90))
    assert found.orders == 8 and found.complete  # the test order left out
    seen = {(r.rate_id, r.country, r.business): (r.orders, r.example) for r in found.rates}
    assert seen == {
        ("9", "NL", False): (3, "2009"),  # newest first: 2009, 2008, 2001
        ("21", "NL", False): (3, "2004"),  # 2004 (pending), 2002, 2001
        ("9", "NL", True): (1, "2003"),
        (None, "NL", False): (1, "2006"),  # the gift card: no tax line at all
        ("19", "DE", False): (1, "2007"),
    }
    assert any("RecentRates" in q for q, _v in shopify.queries)


def test_a_bulk_result_cut_short_is_said_by_config_check_and_suggest_without_a_traceback(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    """The file of Shopify's bulk operation ends in half a line (a download cut short): the
    rates cannot be read, and `config check` says so as not checked; `mappings suggest` stops
    with one line; neither ends in a traceback."""
    from typer.testing import CliRunner

    from connector.cli import app

    run = shopify._bulk_run

    def cut_short(info: Any, query: str, groupObjects: bool = False) -> dict[str, Any]:
        started = run(info, query, groupObjects)
        operation = shopify.bulk_operations[started["bulkOperation"]["id"]]
        operation["jsonl"] = operation["jsonl"][:-40]
        return started

    shopify._bulk_run = cut_short
    config = shopify_config(tmp_path, shopify, moneybird)
    env = {"MONEYBIRD_TOKEN": moneybird.token, "SHOPIFY_ACCESS_TOKEN": shopify.access_token}
    runner = CliRunner(env=env)
    check = runner.invoke(app, ["config", "check", "--config", str(config.path)])
    assert check.exit_code == 0 and not isinstance(check.exception, KeyError), check.output
    assert check.exception is None or isinstance(check.exception, SystemExit), check.exception
    said = " ".join(check.output.split())
    assert (
        "shop tax rates: not checkable: Shopify has no tax-rate list, and its recent orders "
        "could not be read (Shopify's bulk result has a line that is not JSON (line 8): the "
        "file was cut short; try again)" in said
    ), said
    suggest = runner.invoke(app, ["mappings", "suggest", "--config", str(config.path)])
    assert isinstance(suggest.exception, SystemExit) and suggest.exit_code == 1, suggest.output
    assert "Shopify's bulk result has a line that is not JSON (line 8)" in suggest.output


def test_an_answer_without_orders_is_a_shop_error_when_rates_are_read_by_pages(
    shopify_runtime: Runtime, shopify: Any
) -> None:
    from connector.errors import ShopError
    from connector.shops.shopify.shop import ShopifyShop

    shopify.bulk_refuse = "OPERATION_IN_PROGRESS"
    shop = shopify_runtime.shop
    assert isinstance(shop, ShopifyShop)
    query = shop._query
    shop._query = lambda document, variables: (  # type: ignore[method-assign]
        {} if "RecentRates" in document else query(document, variables)
    )
    with pytest.raises(ShopError, match="Shopify's answer lacks 'orders'"):
        shop.rates_in_use(datetime.now(UTC) - timedelta(days=90))


def test_a_shopify_shop_books_nine_percent_goods_on_the_low_rate_ledger_of_the_starter_tables(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    from typer.testing import CliRunner

    from connector.cli import app

    site = tmp_path / "myshop"
    made = CliRunner().invoke(app, ["init", str(site), "--shop", "shopify"])
    assert made.exit_code == 0, made.output
    config = shopify_config(tmp_path, shopify, moneybird)
    config.path.write_text(
        config.path.read_text().replace(str(ROOT / "mappings"), str(site / "mappings"))
    )
    env = {"MONEYBIRD_TOKEN": moneybird.token, "SHOPIFY_ACCESS_TOKEN": shopify.access_token}
    runtime = build(load_config(config.path, environ=env))
    try:
        assert runtime.config.mapping_paths()["ledger"] == site / "mappings" / "ledger.toml"
        runtime.shop._sleep = lambda _s: None  # type: ignore[attr-defined]
        runtime.engine().run_pass()
    finally:
        runtime.close()
    ledgers = {
        (i["reference"], d["description"]): d["ledger_account_id"]
        for i in moneybird.invoices.values()
        for d in i["details"]
    }
    assert ledgers[("SH-2001", "Koffiebonen Ethiopië 500g")] == LEDGER_LOW  # 2 x 12.95
    assert ledgers[("SH-2001", "Moka pot 6 kops")] == LEDGER_HIGH
    assert ledgers[("SH-2003", "Espresso blend 1kg")] == LEDGER_LOW  # B2B, excl. VAT
    assert ledgers[("SH-2008", "Koffiebonen Ethiopië 500g")] == LEDGER_LOW
    wafels = [k for k in ledgers if k[0] == "SH-2009" and k[1].startswith("Stroopwafels")]
    assert len(wafels) == 12 and {ledgers[k] for k in wafels} == {LEDGER_LOW}


def test_suggest_puts_nine_percent_goods_of_an_older_ledger_table_on_the_low_rate_ledger(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    """A table from before the 9% rule: all products but tax class 'reduced-rate' on the
    high-rate revenue, and Shopify's lines have no tax class. `mappings suggest` proposes the
    9% rule before that catch-all (appended after it, it could never apply); applied, 9%
    goods book on the low-rate revenue."""
    from typer.testing import CliRunner

    from connector.cli import app

    config = shopify_config(tmp_path, shopify, moneybird)
    tables = tmp_path / "mappings"
    tables.mkdir()
    for name in ("tax.toml", "payment.toml"):
        (tables / name).write_text((ROOT / "mappings" / name).read_text())
    ledger = (ROOT / "mappings" / "ledger.toml").read_text()
    nine = ledger.index('[[rule]]\nnote = "Products at 9%')
    old = ledger[:nine] + ledger[ledger.index("[[rule]]", nine + 1) :]
    assert 'percentage = "9"' not in old
    (tables / "ledger.toml").write_text(old)
    text = config.path.read_text().replace(str(ROOT / "mappings"), str(tables))
    config.path.write_text(text)
    env = {"MONEYBIRD_TOKEN": moneybird.token, "SHOPIFY_ACCESS_TOKEN": shopify.access_token}
    runner = CliRunner(env=env)
    warned = runner.invoke(app, ["config", "check", "--config", str(config.path)])
    assert (
        "ledger.toml:24: products at 9% go by rule 2 to 'Omzet hoog tarief': Shopify's lines "
        'have no tax class to tell them apart by. Add a rule with percentage = "9" on \'Omzet '
        "laag tarief' before it (`connector mappings suggest` proposes one)"
    ) in " ".join(warned.output.split()), warned.output
    result = runner.invoke(app, ["mappings", "suggest", "--write", "--config", str(config.path)])
    assert result.exit_code == 0, result.output
    written = (tables / "ledger.toml").read_text()
    catch_all = written.index('note = "All other products: omzet hoog tarief (8000)"')
    proposed = written.index(
        "# suggested by `connector mappings suggest`, review: products at 9% -> 'Omzet laag "
        "tarief' (revenue account named like it); placed before rule 2 ('All other products: "
        "omzet hoog tarief (8000)'), which would put them on 'Omzet hoog tarief'\n"
        f'kind = "product"\npercentage = "9"\nledger_account_id = "{LEDGER_LOW}"\n'
    )
    assert proposed < catch_all
    assert written.count("[[rule]]") == old.count("[[rule]]") + 1  # that rule, nothing else
    check = runner.invoke(app, ["config", "check", "--config", str(config.path)])
    assert check.exit_code == 0 and "can never apply" not in check.output, check.output
    assert "products at 9%" not in check.output, check.output
    sync = runner.invoke(app, ["sync", "--config", str(config.path)])
    assert "5 booked" in sync.output, sync.output
    ledgers = {
        (i["reference"], d["description"]): d["ledger_account_id"]
        for i in moneybird.invoices.values()
        for d in i["details"]
    }
    assert ledgers[("SH-2003", "Espresso blend 1kg")] == LEDGER_LOW  # 9%, B2B
    assert ledgers[("SH-2001", "Koffiebonen Ethiopië 500g")] == LEDGER_LOW  # 9%
    assert ledgers[("SH-2001", "Moka pot 6 kops")] == LEDGER_HIGH  # 21%
    again = runner.invoke(app, ["mappings", "suggest", "--config", str(config.path)])
    assert "ledger.toml" not in again.output, again.output


def test_shopify_refunds_become_linked_credit_invoices(
    shopify_runtime: Runtime, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    from connector.sandbox.seed import LEDGER_HIGH, LEDGER_SHIPPING

    shopify_runtime.engine().run_pass()
    # #2001 (incl. VAT): 2 x beans 25.90 (2.14 VAT at 9%), moka 34.95 (6.07 at 21%),
    # shipping 5.95 (1.03 at 21%), total 66.80.
    order = "gid://shopify/Order/5002001"
    shopify.refund(order, items=[("gid://shopify/LineItem/200101", 1, "34.95", "6.07")])
    shopify.refund(order, shipping=[(0, "5.95", "1.03")], note="Te laat")
    shopify_runtime.engine().run_pass()
    shopify.refund(order, items=[("gid://shopify/LineItem/200100", 2, "25.90", "2.14")])
    assert shopify.orders[order]["displayFinancialStatus"] == "REFUNDED"
    # #2008 in full in one go: Moneybird's duplicate of the invoice, as it is.
    shopify.refund(
        "gid://shopify/Order/5002008",
        items=[("gid://shopify/LineItem/200800", 1, "12.95", "1.07")],
        shipping=[(0, "5.95", "1.03")],
    )
    report = shopify_runtime.engine().run_pass()
    assert report.refunds_booked == 2
    shopify_runtime.engine().run_pass()

    originals = {i["reference"]: i for i in moneybird.invoices.values() if i["reference"] in
                 ("SH-2001", "SH-2008") and not i.get("original_sales_invoice_id")}  # fmt: skip
    credits: dict[str, list[dict[str, Any]]] = {}
    for invoice in moneybird.invoices.values():
        for ref, original in originals.items():
            if invoice.get("original_sales_invoice_id") == original["id"]:
                credits.setdefault(ref, []).append(invoice)
    got = sorted(
        (
            D(c["total_price_incl_tax"]),
            tuple(
                sorted(
                    (t["tax_rate_id"], D(t["tax_amount"]))
                    for t in c["tax_totals"]
                    if D(t["tax_amount"])
                )
            ),
            tuple(sorted({d["ledger_account_id"] for d in c["details"] if D(d["price"])})),
        )
        for c in credits["SH-2001"]
    )
    assert got == sorted([
        (D("-34.95"), ((MB_RATE_21, D("-6.07")),), (LEDGER_HIGH,)),
        (D("-5.95"), ((MB_RATE_21, D("-1.03")),), (LEDGER_SHIPPING,)),
        # The beans were booked at 9% on the low-rate account: credited there too.
        (D("-25.90"), ((MB_RATE_9, D("-2.14")),), (LEDGER_LOW,)),
    ])  # fmt: skip
    [full] = credits["SH-2008"]
    assert D(full["total_price_incl_tax"]) == -D(originals["SH-2008"]["total_price_incl_tax"])
    assert all(c["state"] == "paid" for cs in credits.values() for c in cs)
    assert {c["reference"] for c in credits["SH-2001"]} == {
        "SH-2001-R500200101", "SH-2001-R500200102", "SH-2001-R500200103"
    }  # fmt: skip


DEMO_PAID = ["#2001", "#2002", "#2003", "#2004", "#2006", "#2007", "#2008", "#2009"]


def history(runtime: Runtime) -> list[list[dict[str, Any]]]:
    since = datetime.now(UTC) - timedelta(days=30)
    return [page for page, _total in runtime.shop.orders_between(since, None)]


def operations(shopify: Any) -> Counter[str]:
    """The GraphQL operations the sandbox answered, by name (the word after query/mutation)."""
    names = Counter[str]()
    for query, _variables in shopify.queries:
        found = query.strip().split("(")[0].split("{")[0].split()
        names[found[1] if len(found) > 1 else found[0]] += 1
    return names


def test_history_pages_come_oldest_first_complete_and_without_test_orders(
    shopify_runtime: Runtime, shopify: Any
) -> None:
    # Paging (Shopify could not run a bulk operation): the demo orders are created 2001
    # first; 2005 is a test order; 2009 has 12 lines, more than one page of lines holds.
    shopify_runtime.shop.bulk = False  # type: ignore[attr-defined]
    pages = history(shopify_runtime)
    assert [o["name"] for page in pages for o in page] == DEMO_PAID
    assert all(len(page) <= ORDERS_PER_PAGE for page in pages)
    [wafels] = [o for page in pages for o in page if o["name"] == "#2009"]
    assert len(wafels["lineItems"]["nodes"]) == 12
    assert operations(shopify)["MoreLineItems"] == 1


def test_history_comes_from_one_bulk_operation_streamed_whole(
    shopify_runtime: Runtime, shopify: Any
) -> None:
    """One bulk operation instead of a query per 4 orders: started, polled while Shopify runs
    it, its JSONL read once. Orders as paging gives them, every line there, refunds in full."""
    shopify.refund("gid://shopify/Order/5002002", items=[("gid://shopify/LineItem/200200", 1,
                   "12.95", "1.07")], note="Kapot")  # fmt: skip
    shopify.bulk_polls = 3
    waits: list[float] = []
    shopify_runtime.shop._sleep = waits.append  # type: ignore[attr-defined]
    pages = history(shopify_runtime)
    orders = [o for page in pages for o in page]
    assert [o["name"] for o in orders] == DEMO_PAID
    asked = operations(shopify)
    assert asked["BulkOrders"] == 1 and asked["BulkStatus"] == 4 and shopify.bulk_downloads == 1
    assert asked["ChangedOrders"] == 0 and asked["MoreLineItems"] == 0
    assert asked["OrderRefunds"] == 1  # only the refunded order reads its refunds
    assert waits == [1.0, 2.0, 4.0]  # polled while it ran, each wait longer
    [operation] = shopify.bulk_operations.values()
    assert "test:false" in operation["query"]  # Shopify leaves test orders out itself
    by_name = {o["name"]: o for o in orders}
    assert len(by_name["#2009"]["lineItems"]["nodes"]) == 12
    assert by_name["#2009"]["lineItems"]["pageInfo"]["hasNextPage"] is False
    assert len(by_name["#2001"]["shippingLines"]["nodes"]) == 1
    [refund] = by_name["#2002"]["refunds"]
    assert refund["note"] == "Kapot" and refund["refundLineItems"]["nodes"]
    # The same orders, field for field, as paging reads them (bar Shopify's cursors).
    shopify_runtime.shop.bulk = False  # type: ignore[attr-defined]
    paged = {o["name"]: o for page in history(shopify_runtime) for o in page}
    for name, order in by_name.items():
        for one in (order, paged[name]):
            one["lineItems"]["pageInfo"] = None
        assert order == paged[name], name


@pytest.mark.parametrize("trouble", ["in progress", "failed", "too slow"])
def test_history_reads_by_pages_when_shopify_cannot_run_a_bulk_operation(
    shopify_runtime: Runtime, shopify: Any, trouble: str, caplog: pytest.LogCaptureFixture
) -> None:
    if trouble == "in progress":  # another app's or process's operation is running
        shopify.bulk_refuse = "OPERATION_IN_PROGRESS"
    elif trouble == "failed":
        shopify.bulk_fail = "TIMEOUT"
    else:
        shopify.bulk_polls = 100
        shopify_runtime.shop.bulk_wait_limit = 20  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING):
        pages = history(shopify_runtime)
    assert [o["name"] for page in pages for o in page] == DEMO_PAID
    assert operations(shopify)["ChangedOrders"] == 3  # 8 orders, 4 a page
    assert shopify.bulk_downloads == 0
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "reading by pages instead" in said
    expected = {"in progress": "OPERATION_IN_PROGRESS", "failed": "ended FAILED (TIMEOUT)",
                "too slow": "took over 20 s; cancelled"}[trouble]  # fmt: skip
    assert expected in said
    if trouble == "too slow":  # not left running on Shopify's side
        assert [o["status"] for o in shopify.bulk_operations.values()] == ["CANCELED"]


def test_a_shopify_history_import_reads_it_in_bulk_and_books_each_order_once(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    from connector.sync.history_import import run_import

    runtime = build(shopify_config(tmp_path, shopify, moneybird, history_start=""))
    runtime.shop._sleep = lambda _s: None  # type: ignore[attr-defined]
    try:
        run_import(runtime.engine(), datetime.now(UTC) - timedelta(days=30))
        run_import(runtime.engine(), datetime.now(UTC) - timedelta(days=30))  # again: no-op
    finally:
        runtime.close()
    refs = booked_exactly_once(moneybird)
    assert set(refs) == {"SH-2001", "SH-2002", "SH-2003", "SH-2008", "SH-2009"}
    assert operations(shopify)["BulkOrders"] == 2 and operations(shopify)["ChangedOrders"] == 0


def test_orders_that_move_while_pages_are_read_lose_nothing(
    shopify_runtime: Runtime, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    """Shopify's cursor names the last order read, not a position: after the first page one
    order on it is changed (it moves behind the cursor) and one not yet read leaves the list
    (it is refunded to a non-paid state here: voided). Nothing still listed is skipped."""
    from connector.sandbox.shopify_seed import MOKA, shopify_order

    start = datetime.now(UTC) - timedelta(hours=6)
    people = [Person(f"Klant{n}", "Test", f"k{n}@example.nl", "Laan 1", "1234 AB", "Delft")
              for n in range(14)]  # fmt: skip
    for n, person in enumerate(people):
        order = shopify_order(3100 + n, person, [MOKA], "4.95", start + timedelta(minutes=n))
        shopify.put_order(order, updated=start + timedelta(minutes=n, seconds=30))
    pages = {"n": 0}

    def busy_shop() -> None:
        pages["n"] += 1
        if pages["n"] == 3:  # the second page of the first pass is about to be answered
            first_on_page_one = min(shopify.orders.values(), key=lambda o: o["updatedAt"])
            shopify.put_order(first_on_page_one)  # changed now: moves to the end
            gone = next(o for o in shopify.orders.values() if o["name"] == "#3110")
            gone["displayFinancialStatus"] = "VOIDED"

    shopify.before_orders = busy_shop
    shopify_runtime.engine().run_pass()
    refs = booked_exactly_once(moneybird)
    assert {f"SH-{3100 + n}" for n in range(14) if n != 10} <= set(refs)


def test_a_first_start_on_shopify_books_no_history(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    from connector.sandbox.shopify_seed import MOKA, shopify_order

    runtime = build(shopify_config(tmp_path, shopify, moneybird, history_start=""))
    runtime.shop._sleep = lambda _s: None  # type: ignore[attr-defined]
    try:
        # Without `start`, the first pass books nothing paid before it (the demo's history).
        report = runtime.engine().run_pass()
        assert moneybird.invoices == {} and report.booked == 0
        person = Person("Nieuw", "Klant", "nieuw@example.nl", "Laan 1", "1234 AB", "Delft")
        shopify.put_order(shopify_order(3200, person, [MOKA], "4.95", datetime.now(UTC)))
        runtime.engine().run_pass()
        assert [i["reference"] for i in moneybird.invoices.values()] == ["SH-3200"]
        # The demo store's paid orders before the start, counted by Shopify in one query.
        history = runtime.store.get_meta(Meta.BEFORE_START_COUNT)
        paid = [o for o in shopify.orders.values() if o["displayFinancialStatus"] in
                {"PAID", "PARTIALLY_REFUNDED", "REFUNDED"} and not o.get("test")
                and o["name"] != "#3200"]  # fmt: skip
        assert history == str(len(paid))
    finally:
        runtime.close()


def test_a_shopify_month_reconciles_against_what_landed(
    shopify_runtime: Runtime, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    from connector.sync.reconcile import Month, reconcile

    shopify_runtime.engine().run_pass()
    months = {Month.of(date.fromisoformat(i["invoice_date"])) for i in moneybird.invoices.values()}
    results = [reconcile(shopify_runtime.engine(), month) for month in sorted(months, key=str)]
    assert all(r.error is None and not r.findings for r in results)
    assert sum(r.documents for r in results) == 5  # SH-2001, 2002, 2003, 2008, 2009
    parked = sorted(k.order for r in results for k in r.parked)
    assert parked == ["2006", "2007"]  # the two the pass parked, listed as known
    # Their VAT per rate cannot be worked out: the VAT table's note names them.
    notes = " ".join(r.vat_note for r in results)
    assert "without VAT per rate (parked, or not workable now): " in notes
    assert "2006" in notes and "2007" in notes
    # One invoice voided behind the connector's back shows as missing, by its order number.
    doomed = next(i for i in moneybird.invoices.values() if i["reference"] == "SH-2002")
    moneybird.delete_document(doomed["id"])
    again = reconcile(
        shopify_runtime.engine(), Month.of(date.fromisoformat(doomed["invoice_date"]))
    )
    assert [(m.order, m.reference) for m in again.missing] == [("2002", "SH-2002")]
