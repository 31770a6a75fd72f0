"""The standing mutation test: real order shapes, one field of one order mutated the way shop
data goes wrong (a wrong type, missing, empty, a malformed or impossible date, an absurd
number, a huge or control-laden string, nested nonsense), then a pass against the sandboxes.

Whatever the mutation: the pass never stops and nothing is an internal error; every other
order is booked exactly (paid, its total the shop's) on that same pass; the mutated order is
booked exactly too, or left unbooked with a reason a person can act on. Judged by what landed
in the sandbox Moneybird.

CI runs a fixed, bounded set of examples (derandomized). To search longer:
`MUTATION_EXAMPLES=2000 .venv/bin/python -m pytest tests/e2e/test_mutation.py`.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.config import load_config
from connector.runtime import Runtime, build
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import (
    ANNA,
    JEROEN,
    Item,
    demo_orders,
    seed_moneybird,
    seed_shop,
    woo_order,
)
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.shops import text as shop_text
from connector.shops.shop import Poll
from connector.state import OrderState
from tests.conftest import SHOPIFY_SCHEMA, require_contract, secrets_env, write_config

EXAMPLES = int(os.environ.get("MUTATION_EXAMPLES", "30"))
BOUNDED = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same examples on every run in CI
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
DATES = ["2021-1008T13:54:36", "garbage", "2026-13-01T00:00:00", "9999-12-31T23:59:59",
         "0001-01-01T00:00:00", "1999-12-31T23:59:59", "2026-02-30T10:00:00"]  # fmt: skip
NUMBERS: list[Any] = ["1e400", "-1e30", "NaN", "Infinity", "0.000000001", 10**20, -5,
                      "12.3456789", "1,50", 0]  # fmt: skip
MISSING = object()  # the field is removed


def values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from([MISSING, None, "", [], {}]),  # missing, empty
        st.integers(min_value=-(10**30), max_value=10**30),  # a wrong type, absurd numbers
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.sampled_from(DATES),  # malformed or impossible dates
        st.sampled_from(NUMBERS),
        st.sampled_from(["x" * 100_000, "\x00\x1b[31mrood\x07\u202e\ud800", "<script>x</script>"]),
        st.just({"a": {"b": [1, {"c": None}]}}),  # nested nonsense
        st.text(max_size=8),
    )


def paths(value: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a payload: keys of objects and items of lists, at every depth."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*here, key)
            yield from paths(inner, (*here, key))
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            yield (*here, n)
            yield from paths(inner, (*here, n))


def mutated(payload: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    holder: Any = changed
    for step in path[:-1]:
        holder = holder[step]
    if value is MISSING:
        del holder[path[-1]]
    else:
        holder[path[-1]] = value
    return changed


def mutate_at_the_edge(
    runtime: Runtime,
    is_target: Callable[[Any], bool],
    change: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    """The shop answers with the mutated order wherever it sends it: in the changed-orders
    list and when read by id; its text cleaned as every answer's is when it arrives."""
    shop: Any = runtime.shop
    listed, one = shop.changed_orders, shop.order

    def arriving(payload: dict[str, Any]) -> Any:
        return shop_text.clean(change(payload))

    def changed_orders(since: datetime | None) -> Poll:
        poll: Poll = listed(since)
        inner = poll.pages
        poll.pages = ([arriving(p) if is_target(p) else p for p in page] for page in inner)
        return poll

    def order(order_id: str) -> dict[str, Any] | None:
        found = one(order_id)
        return arriving(found) if found is not None and is_target(found) else found

    shop.changed_orders, shop.order = changed_orders, order


def dig(value: Any, *keys: str) -> Any:
    """A nested field, or None where the mutation left no object to look in."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def amount(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def judge(runtime: Runtime, mb: MoneybirdSandbox, expected: dict[str, Decimal],
          target_ref: str, target: dict[str, Any], target_total: Any, key: str) -> None:  # fmt: skip
    report = runtime.engine().run_pass()
    assert report.error is None, report.error
    invoices: dict[str, list[dict[str, Any]]] = {}
    for invoice in mb.invoices.values():
        invoices.setdefault(invoice["reference"], []).append(invoice)
    for reference, total in expected.items():
        if reference == target_ref:
            continue
        [invoice] = invoices.get(reference) or [None]
        assert invoice is not None, f"{reference} not booked on the pass"
        assert invoice["state"] == "paid" and Decimal(invoice["total_price_incl_tax"]) == total
    assert all(len(found) == 1 for found in invoices.values()), "booked twice"
    record = runtime.store.order(key)
    # Its own invoice, under whatever reference its (mutated) number gives it.
    invoice_id = record.invoice_id if record is not None else None
    booked = [mb.invoices[invoice_id]] if invoice_id in mb.invoices else []
    if booked:  # booked: exactly what the shop says it charged
        assert Decimal(booked[0]["total_price_incl_tax"]) == amount(target_total)
        assert booked[0]["state"] == "paid"
    said = " ".join(filter(None, [record.park_reason, record.last_error])) if record else ""
    assert "internal error" not in said, said
    if booked:
        return
    if record is None:  # never recorded: reported as no order, or not in a status a pass reads
        shop: Any = runtime.shop
        assert report.unreadable or shop.unlisted(target), f"{target_ref} silently skipped"
        return
    # Not booked: parked for a person with the reason, or waiting for what the shop says
    # (payment, fulfilment) or history; never left to retry, never without a reason.
    waits = {OrderState.PARKED, OrderState.UNPAID, OrderState.BEFORE_START}
    assert record.state in waits, (record.state, said)
    assert (record.park_reason or "").strip(), f"{target_ref} {record.state} without a reason"


# --- WooCommerce ---------------------------------------------------------------------------


def woo_orders() -> list[dict[str, Any]]:
    """Ten bookable orders of the demo's shapes (21% and 9%, shipping, coupons, a fee,
    business and repeat customers)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    orders = [o for o in demo_orders(start) if o["id"] not in (1006, 1008)]
    orders.append(woo_order(1011, ANNA, [Item("Espresso blend 1kg", "EB-1000", 1, "21.50", 2)],
                            "0", start + timedelta(hours=60)))  # fmt: skip
    orders.append(woo_order(1012, JEROEN, [Item("Moka pot 6 kops", "MP-6", 2, "34.95", 1)],
                            "4.95", start + timedelta(hours=61)))  # fmt: skip
    return orders


WOO = woo_orders()
WOO_PATHS = {o["id"]: sorted(paths(o), key=repr) for o in WOO}


@pytest.fixture(scope="module")
def woo_shop() -> Iterator[WooCommerceSandbox]:
    shop = WooCommerceSandbox()
    seed_shop(shop, copy.deepcopy(WOO))
    shop.start()
    yield shop
    shop.stop()


@BOUNDED
@given(st.data())
def test_one_mutated_woocommerce_order_never_holds_up_the_other_nine(
    woo_shop: WooCommerceSandbox, data: st.DataObject
) -> None:
    order_id = data.draw(st.sampled_from(sorted(WOO_PATHS)), label="order")
    path = data.draw(st.sampled_from(WOO_PATHS[order_id]), label="field")
    value = data.draw(values(), label="value")
    original = woo_shop.orders[order_id]
    target = mutated(original, path, value)
    mb = MoneybirdSandbox(rate_limit=100_000)
    seed_moneybird(mb)
    mb.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            config = write_config(Path(folder), woo_shop.url, mb.api_url, mb.administration_id)
            runtime = build(load_config(config, environ=secrets_env(woo_shop, mb)))
            runtime.shop._sleep = lambda _s: None  # type: ignore[attr-defined]
            runtime.client._sleep = lambda _s: None
            try:
                mutate_at_the_edge(
                    runtime,
                    lambda p: isinstance(p, dict) and p.get("id") in (order_id, str(order_id)),
                    lambda _p: copy.deepcopy(target),
                )
                expected = {f"WC-{o['id']}": Decimal(o["total"]) for o in woo_shop.orders.values()}
                judge(runtime, mb, expected, f"WC-{order_id}", target, target.get("total"),
                      f"woocommerce:{order_id}")  # fmt: skip
            finally:
                runtime.close()
    finally:
        mb.stop()


# --- Shopify -------------------------------------------------------------------------------

SHOPIFY_BOOKED = ("2001", "2002", "2003", "2008", "2009")  # the demo's bookable orders


@pytest.fixture(scope="module")
def shopify_shop() -> Iterator[Any]:
    require_contract(SHOPIFY_SCHEMA, "Shopify Admin schema")
    from connector.sandbox.shopify import ShopifySandbox
    from connector.sandbox.shopify_seed import seed_shopify, shopify_demo_orders

    sandbox = ShopifySandbox(schema_path=SHOPIFY_SCHEMA, restore_rate=1_000_000)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    seed_shopify(sandbox, shopify_demo_orders(start))
    sandbox.start()
    yield sandbox
    sandbox.stop()


def shopify_runtime(folder: Path, sandbox: Any, mb: MoneybirdSandbox) -> Runtime:
    from tests.e2e.test_shopify import shopify_config

    runtime = build(shopify_config(folder, sandbox, mb))
    runtime.shop._sleep = lambda _s: None  # type: ignore[attr-defined]
    runtime.client._sleep = lambda _s: None
    return runtime


@BOUNDED
@given(st.data())
def test_one_mutated_shopify_order_never_holds_up_the_others(
    shopify_shop: Any, data: st.DataObject
) -> None:
    number = data.draw(st.sampled_from(SHOPIFY_BOOKED), label="order")
    # The order as the connector receives it: read once, unmutated, to know its shape.
    mb = MoneybirdSandbox(rate_limit=100_000)
    seed_moneybird(mb)
    mb.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            runtime = shopify_runtime(Path(folder), shopify_shop, mb)
            try:
                shop: Any = runtime.shop
                received = {str(p["name"]).lstrip("#"): p for p in shop.changed_orders(None).orders}
                original = received[number]
                path = data.draw(st.sampled_from(sorted(paths(original), key=repr)), label="field")
                value = data.draw(values(), label="value")
                target = mutated(original, path, value)
                gid = original["id"]
                mutate_at_the_edge(
                    runtime,
                    lambda p: isinstance(p, dict) and p.get("id") == gid,
                    lambda _p: copy.deepcopy(target),
                )
                expected = {
                    f"SH-{n}": Decimal(received[n]["totalPriceSet"]["shopMoney"]["amount"])
                    for n in SHOPIFY_BOOKED
                }
                total = dig(target, "totalPriceSet", "shopMoney", "amount")
                judge(runtime, mb, expected, f"SH-{number}", target, total,
                      f"shopify:{gid.rsplit('/', 1)[-1]}")  # fmt: skip
            finally:
                runtime.close()
    finally:
        mb.stop()
