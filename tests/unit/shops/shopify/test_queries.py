"""Shopify's GraphQL contract: every query against the Admin schema, the schema the package ships, and the query cost and throttling as Shopify computes them."""

from __future__ import annotations

import json
from typing import Any

from connector.shops.shopify.queries import ALL
from tests.conftest import CONTRACTS, require_contract

SCHEMA = CONTRACTS / "shopify" / "admin_2026-10.json.gz"


def require_schema() -> None:
    require_contract(SCHEMA, "Shopify Admin schema")


# --- the GraphQL contract -----------------------------------------------------------------------


def test_every_query_validates_against_the_2026_10_admin_schema() -> None:
    require_schema()
    from graphql import parse, validate

    from connector.sandbox.shopify import load_schema, requested_cost

    schema = load_schema(SCHEMA)
    for name, document in ALL.items():
        errors = validate(schema, parse(document))
        assert errors == [], f"{name}: {[e.message for e in errors]}"
        # Well under Shopify's 1,000-point cap for a single query.
        assert requested_cost(schema, parse(document), {}) < 700, name
    wrong = validate(schema, parse("query { orders(first: 1) { nodes { grandTotal } } }"))
    assert wrong, "the validator must reject a field the schema does not have"


def test_shipped_schema_is_the_full_one_cut_to_what_the_queries_use() -> None:
    require_schema()
    from graphql import build_client_schema, parse, validate

    from connector.sandbox.shopify_schema import SHIPPED, documents, read_introspection, trim

    full = read_introspection(SCHEMA)
    shipped = read_introspection(SHIPPED)
    # Regenerate with `python -m connector.sandbox.shopify_schema <full schema>` if this fails.
    assert shipped == json.loads(json.dumps(trim(full, documents())))
    # Whatever it keeps is Shopify's to the letter: a type's kind, a field's arguments, type
    # and deprecation, an enum's values.
    types = {t["name"]: t for t in full["data"]["__schema"]["types"]}
    kept = shipped["data"]["__schema"]["types"]
    for kept_type in kept:
        original = types[kept_type["name"]]
        assert kept_type["kind"] == original["kind"]
        for key in ("inputFields", "enumValues"):
            assert kept_type.get(key) == original.get(key), kept_type["name"]
        for kept_field in kept_type.get("fields") or []:
            assert kept_field in original["fields"], (kept_type["name"], kept_field["name"])
    assert len(kept) < len(types) / 20
    schema = build_client_schema(shipped["data"])
    for name, document in ALL.items():
        assert validate(schema, parse(document)) == [], name
    # Cut, not loosened: a field Shopify has but the connector does not use is not there.
    assert validate(schema, parse("query { shop { name } }"))
    assert validate(schema, parse("query { orders(first: 1) { nodes { note } } }"))


def test_throttle_wait_is_what_the_bucket_lacks_over_its_restore_rate() -> None:
    from connector.shops.shopify.shop import _throttle_wait

    def answer(requested: int, available: int, rate: float) -> dict[str, Any]:
        status = {"maximumAvailable": 1000, "currentlyAvailable": available, "restoreRate": rate}
        return {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                "extensions": {"cost": {"requestedQueryCost": requested, "throttleStatus": status}}}  # fmt: skip

    assert _throttle_wait(answer(557, 57, 100)) == 5.0  # 500 points at 100 per second
    assert _throttle_wait(answer(557, 500, 50)) == 1.2  # 57 / 50 = 1.14, rounded up
    assert _throttle_wait(answer(10, 50, 100)) == 0.1  # enough already: a short pause
    assert _throttle_wait({"errors": [{"message": "Field 'x' doesn't exist"}]}) is None


def test_the_sandbox_gives_back_unused_query_cost_as_shopify_does(shopify: Any) -> None:
    """Shopify takes the requested cost up front and refunds what the answer did not use:
    a page of four small orders costs far less than four orders of a full page of lines."""
    from connector.shops.shopify.queries import CHANGED_ORDERS

    shopify.restore_rate = 0.0  # no refill over time: only the refund moves the bucket
    shopify._available = shopify.bucket_size
    answer = shopify._graphql(CHANGED_ORDERS, {"after": None, "query": None})
    cost = answer["extensions"]["cost"]
    assert cost["actualQueryCost"] < cost["requestedQueryCost"]
    left = cost["throttleStatus"]["currentlyAvailable"]
    assert left == int(shopify.bucket_size - cost["actualQueryCost"])


def test_the_bulk_query_keeps_shopifys_bulk_limits() -> None:
    require_schema()
    from graphql import parse

    from connector.sandbox.shopify import bulk_query_problems, load_schema
    from connector.shops.shopify.queries import bulk_orders

    schema = load_schema(SCHEMA)
    for vat in (None, ("custom", 'vat "nr"')):
        document = bulk_orders("created_at:>='2026-01-01T00:00:00Z' test:false", vat)
        assert bulk_query_problems(schema, parse(document)) == []
    # The checks themselves: connections three deep, and none at all, are refused.
    deep = "{ orders { edges { node { lineItems { edges { node { id } } } } } } }"
    assert bulk_query_problems(schema, parse(deep)) == []
    deeper = ("{ customers { edges { node { orders { edges { node { lineItems { edges { node "
              "{ id } } } } } } } } } }")  # fmt: skip
    assert any("nesting depth" in p for p in bulk_query_problems(schema, parse(deeper)))
    flat = '{ order(id: "gid://shopify/Order/1") { id } }'
    assert any("at least 1 connection" in p for p in bulk_query_problems(schema, parse(flat)))


def test_bulk_lines_become_orders_with_their_lines_below_them() -> None:
    import pytest

    from connector.errors import ShopError
    from connector.shops.shopify.bulk import orders_from_lines

    a, b = "gid://shopify/Order/1", "gid://shopify/Order/2"
    line = {"id": "gid://shopify/LineItem/11", "quantity": 2}
    ship = {"id": "gid://shopify/ShippingLine/12", "discountedPriceSet": {}}
    grouped = [{"id": a}, {**line, "__parentId": a}, {**ship, "__parentId": a}, {"id": b}, {}]
    orders = list(orders_from_lines(json.dumps(row) if row else "" for row in grouped))
    assert [o["id"] for o in orders] == [a, b]
    assert orders[0]["lineItems"]["nodes"] == [line]
    assert orders[0]["shippingLines"]["nodes"] == [ship]
    assert orders[1]["lineItems"]["nodes"] == [] and orders[1]["shippingLines"]["nodes"] == []
    # Ungrouped output (a child after another order) cannot be streamed: said, not guessed.
    ungrouped = [{"id": a}, {"id": b}, {**line, "__parentId": a}]
    with pytest.raises(ShopError, match="away from its order"):
        list(orders_from_lines(json.dumps(row) for row in ungrouped))
