"""The WooCommerce sandbox answers as the real shop does: its answers to the requests the
connector makes, compared with the real WooCommerce's recorded answers (tests/fixtures/realshop/,
recorded by its record.py from WordPress 6.8.8 + WooCommerce 10.0.2 in both order storages and
both price bases) key by key and type by type, so that a drift fails.

Types are JSON's, and a string of digits with a decimal point is told apart by its number of
decimals ("2.14" is not "2.140000"): what the connector parses. Where the real shop drops a
number's trailing zeros (a coupon line's "1.2", beside "5.69"), the sandbox must drop them too.
Lists are compared by the shape of their items, all items together."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from woocommerce import API

from connector.sandbox.seed import demo_orders, seed_shop
from connector.sandbox.woocommerce import WooCommerceSandbox

RECORDED = Path(__file__).parent / "fixtures" / "realshop"
VARIANTS = ("hpos_incl", "posts_incl", "hpos_excl", "posts_excl")
SINCE = "2000-01-01T00:00:00"

# The demo order of the sandbox that is of the same kind as each recorded real one.
SANDBOX_ORDER = {
    "returned-line": 1001, "business": 1002, "coupon-shipping": 1003, "refunded-whole": 1004,
    "partial-quantity": 1005, "germany": 1006, "fee": 1007, "checkout-nl": 1003,
    "checkout-de": 1006,
}  # fmt: skip

# What the connector reads of each answer (connector/shops/woocommerce/, admin/): paths as
# `flatten` writes them, globs allowed.
_LINE = ["id", "name", "method_title", "quantity", "total", "total_tax", "subtotal",
         "subtotal_tax", "sku", "tax_class", "taxes[].id", "taxes[].total", "meta_data[].key",
         "meta_data[].value"]  # fmt: skip
ORDER_READ = [
    "id", "number", "status", "currency", "prices_include_tax", "total", "date_paid_gmt",
    "date_modified_gmt", "date_created_gmt", "payment_method", "payment_method_title",
    "transaction_id", "billing.*", "shipping.*", "meta_data[].key", "meta_data[].value",
    *(f"{group}[].{key}" for group in ("line_items", "shipping_lines", "fee_lines")
      for key in _LINE if not key.startswith("meta_data")),
    "coupon_lines[].code", "tax_lines[].rate_id", "tax_lines[].rate_percent",
    "tax_lines[].tax_total", "tax_lines[].shipping_tax_total", "tax_lines[].label",
    "tax_lines[].rate_code", "refunds[].id", "gift_cards[].*",
]  # fmt: skip
REFUND_READ = [
    "id", "parent_id", "date_created_gmt", "amount", "reason",
    *(f"{group}[].{key}" for group in ("line_items", "shipping_lines", "fee_lines")
      for key in _LINE),
]  # fmt: skip
READ = {
    "options-orders": ["endpoints[].args", "endpoints[].args.modified_after"],
    "orders-": [f"[].{p}" for p in ORDER_READ],
    "order-": ORDER_READ,
    "refunds-": [f"[].{p}" for p in REFUND_READ],
    "taxes": [f"[].{p}" for p in ("id", "rate", "country", "name", "class")],
    "tax-1": ["rate"],
    "payment-gateways": [f"[].{p}" for p in ("id", "title", "enabled")],
}
# Headers the connector reads: the lists' counts, every answer's Date (the shop's clock).
HEADERS = ("X-WP-Total", "X-WP-TotalPages", "Date")
DECIMAL = re.compile(r"-?\d+\.(\d+)")


def _decimal_places(answers: list[Any]) -> dict[str, set[int]]:
    """The numbers of decimals seen at each path (a list's items and an order read alone are
    one path: `coupon_lines[].discount`) in the real answers."""
    found: dict[str, set[int]] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for child in value:
                walk(child, f"{path}[]")
        elif isinstance(value, str) and (number := DECIMAL.fullmatch(value)):
            found.setdefault(path.removeprefix("[]."), set()).add(len(number.group(1)))

    for answer in answers:
        walk(answer, "")
    return found


def trimmed_paths() -> dict[str, int]:
    """Where the real shop writes numbers without their trailing zeros ("4.3" beside "6.89"),
    in any of its recordings (the format is WooCommerce's, whatever the storage or prices):
    each such path with the most decimals seen there."""
    answers = []
    for variant in VARIANTS:
        recorded = json.loads((RECORDED / f"{variant}.json").read_text(encoding="utf-8"))
        answers += [r["body"] for name, r in recorded.items() if name != "shop"]
    return {p: max(n) for p, n in _decimal_places(answers).items() if len(n) > 1}


TRIMMED = trimmed_paths()


def kind(value: Any, trimmed: int | None = None) -> str:
    """`trimmed`: at a path where the real shop drops trailing zeros, with at most so many
    decimals."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        found = DECIMAL.fullmatch(value)
        if not found:
            return "string"
        places = found.group(1)
        if trimmed is not None and not places.endswith("0") and len(places) <= trimmed:
            return f"decimal string (trailing zeros dropped, at most {trimmed} places)"
        return f"decimal string ({len(places)} places)"
    return "array" if isinstance(value, list) else "object"


def matches(path: str, pattern: str) -> bool:
    """`*` is any rest of a path; everything else, brackets too, is itself."""
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), path) is not None


def flatten(value: Any, path: str = "") -> dict[str, set[str]]:
    """Every path in an answer with the kinds of value found there (list items merged)."""
    found: dict[str, set[str]] = {}
    if path:
        found[path] = {kind(value, TRIMMED.get(path.removeprefix("[].")))}
    if isinstance(value, dict):
        children = [(f"{path}.{k}" if path else k, v) for k, v in value.items()]
    elif isinstance(value, list):
        children = [(f"{path}[]", v) for v in value]
    else:
        children = []
    for child_path, child in children:
        for p, kinds in flatten(child, child_path).items():
            found.setdefault(p, set()).update(kinds)
    return found


def differences(name: str, real: Any, sandbox: Any, only_read: bool) -> list[str]:
    """Each path of the real answer (that the connector reads, with `only_read`) the sandbox
    does not serve, or serves with a kind of value the real shop does not give; and each path
    the connector reads that the sandbox serves and the real shop does not."""
    patterns = next((p for prefix, p in READ.items() if name.startswith(prefix)), [])
    real_paths, sandbox_paths = flatten(real), flatten(sandbox)
    found = []
    for path, kinds in sorted(real_paths.items()):
        if only_read and not any(matches(path, p) for p in patterns):
            continue
        if path not in sandbox_paths:
            found.append(f"{name}: {path} missing (real: {', '.join(sorted(kinds))})")
        elif not sandbox_paths[path] <= kinds:
            found.append(
                f"{name}: {path} is {', '.join(sorted(sandbox_paths[path]))}, "
                f"real {', '.join(sorted(kinds))}"
            )
    for path in sorted(set(sandbox_paths) - set(real_paths)):
        parent = re.sub(r"(\.[^.\[]+|\[\])$", "", path)
        # Read by the connector, and where the real shop has the object but not this key.
        if (parent in real_paths or not parent) and any(matches(path, p) for p in patterns):
            found.append(f"{name}: {path} served, the real shop has none")
    return found


@pytest.fixture(scope="module")
def sandbox() -> Iterator[WooCommerceSandbox]:
    """The demo shop, with refunds of each kind the real shop was recorded with."""
    shop = WooCommerceSandbox()
    seed_shop(shop, demo_orders(datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)))
    shop.refund(1001, items=[(10012, 1, "28.88", "6.07")], reason="Retour: moka pot")
    shop.refund(1003, "5.00", reason="Coulance")
    shop.refund(1004, items=[(10041, 3, "8.65", "1.82")], shipping=[(10042, "4.95", "1.04")])
    shop.refund(1005, items=[(10052, 1, "5.03", "0.45")], reason="Retour: 1 van 2 thee")
    shop.start()
    yield shop
    shop.stop()


def ask(shop: WooCommerceSandbox, recorded: dict[str, Any], name: str) -> Any:
    """The sandbox's answer to the request the real shop was recorded answering."""
    client = API(url=shop.url, consumer_key=shop.consumer_key,
                 consumer_secret=shop.consumer_secret, version="wc/v3")  # fmt: skip
    request = recorded["request"]
    path, params = request["path"], dict(request["params"])
    for key in ("modified_after", "after"):
        if key in params:
            params[key] = SINCE  # every order and refund of the sandbox
    if "before" in params:
        params["before"] = "2100-01-01T00:00:00"
    params.pop("offset", None)
    if "per_page" in params:
        params["per_page"] = 100  # every order of the sandbox: all its shapes at once
    if name.startswith(("order-", "refunds-of-order-")):
        order_id = SANDBOX_ORDER[name.removeprefix("refunds-of-order-").removeprefix("order-")]
        path = re.sub(r"orders/\d+", f"orders/{order_id}", path)
    if request["method"] == "OPTIONS":
        return client.options(path, params=params)
    return client.get(path, params=params)


def compare(sandbox: WooCommerceSandbox, variant: str, only_read: bool) -> list[str]:
    recorded = json.loads((RECORDED / f"{variant}.json").read_text(encoding="utf-8"))
    found = []
    for name, real in recorded.items():
        if name == "shop":
            continue
        response = ask(sandbox, real, name)
        if response.status_code != real["status"]:
            found.append(f"{name}: status {response.status_code}, real {real['status']}")
            continue
        paged = name.startswith(("orders-", "refunds-", "taxes"))
        for header in HEADERS if paged else ("Date",):
            if header in real["headers"] and header not in response.headers:
                found.append(f"{name}: no {header} header")
        found += differences(name, real["body"], response.json(), only_read)
    return found


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_sandbox_serves_what_the_connector_reads_as_the_real_shop_does(
    sandbox: WooCommerceSandbox, variant: str
) -> None:
    found = compare(sandbox, variant, only_read=True)
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_sandbox_serves_every_key_of_the_real_shops_answers(
    sandbox: WooCommerceSandbox, variant: str
) -> None:
    found = compare(sandbox, variant, only_read=False)
    assert found == [], "\n".join(found)
