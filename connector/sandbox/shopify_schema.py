"""The part of Shopify's Admin schema the connector's queries use, shipped with the package.

Shopify's full Admin introspection is about 1 MB compressed; the Shopify sandbox needs only
the types and fields the connector asks for. `trim` cuts the full introspection down to
those, unchanged in every detail it keeps (names, arguments, types, deprecations), so a
query valid against the trimmed schema is valid against Shopify's. The tests check that the
shipped file is exactly what `trim` makes of the full schema in the shared contracts.

Regenerate after changing a query:
    python -m connector.sandbox.shopify_schema ../shared/contracts/shopify/admin_2026-10.json.gz
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    InlineFragmentNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_client_schema,
    get_named_type,
    parse,
    visit,
)

SHIPPED = Path(__file__).with_name("shopify_admin_2026-10.json.gz")
_BUILT_IN_DIRECTIVES = {"include", "skip", "deprecated", "specifiedBy", "oneOf"}


def read_introspection(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def _used_fields(introspection: dict[str, Any], documents: Iterable[str]) -> dict[str, set[str]]:
    """Type name -> the fields the documents select on it (type conditions included)."""
    schema = build_client_schema(introspection["data"])
    used: dict[str, set[str]] = {}
    info = TypeInfo(schema)

    class Collect(Visitor):
        def enter_field(self, node: FieldNode, *_args: Any) -> None:
            parent = info.get_parent_type()
            if parent is not None and not node.name.value.startswith("__"):
                used.setdefault(get_named_type(parent).name, set()).add(node.name.value)

        def enter_inline_fragment(self, node: InlineFragmentNode, *_args: Any) -> None:
            if node.type_condition:
                used.setdefault(node.type_condition.name.value, set())

        def enter_fragment_definition(self, node: FragmentDefinitionNode, *_args: Any) -> None:
            used.setdefault(node.type_condition.name.value, set())

    for document in documents:
        visit(parse(document), TypeInfoVisitor(info, Collect()))
    return used


def _named(ref: dict[str, Any]) -> str:
    while ref.get("ofType"):
        ref = ref["ofType"]
    return ref["name"]


def trim(introspection: dict[str, Any], documents: Iterable[str]) -> dict[str, Any]:
    """The introspection with only what `documents` need: the fields they select, the types
    those return, the input types and enums of their arguments, and every member of a union
    or interface they select on (so any answer can be typed)."""
    full = introspection["data"]["__schema"]
    types = {t["name"]: t for t in full["types"]}
    used = _used_fields(introspection, documents)
    used.setdefault(full["queryType"]["name"], set())
    mutation = full.get("mutationType")
    if mutation and mutation["name"] not in used:
        mutation = None  # no document writes: the cut schema has no mutations
    directives = [d for d in full["directives"] if d["name"] in _BUILT_IN_DIRECTIVES]
    kept = _reachable(types, used, directives)
    out_types = []
    for name in sorted(kept):
        source = dict(types[name])
        fields = kept[name]
        if fields is not None:
            source["fields"] = [f for f in source["fields"] if f["name"] in fields]
        for key in ("interfaces", "possibleTypes"):
            if source.get(key):
                source[key] = [t for t in source[key] if t["name"] in kept]
        out_types.append(source)
    schema = {
        "description": full.get("description"),
        "queryType": full["queryType"],
        "mutationType": mutation,
        "subscriptionType": None,
        "types": out_types,
        "directives": directives,
    }
    return {"data": {"__schema": schema}}


def _reachable(
    types: dict[str, Any], used: dict[str, set[str]], directives: list[dict[str, Any]]
) -> dict[str, set[str] | None]:
    """Type name -> the fields kept of it (None: the whole type), from the used fields on."""
    kept: dict[str, set[str] | None] = {}
    pending = list(used)
    for directive in directives:
        pending += [_named(argument["type"]) for argument in directive["args"]]
    while pending:
        name = pending.pop()
        kind = types[name]["kind"]
        if kind in ("OBJECT", "INTERFACE"):
            pending += _keep_fields(types[name], used, kept)
        elif kind == "UNION":
            kept[name] = None
            pending += [m["name"] for m in types[name]["possibleTypes"] if m["name"] not in kept]
        elif name not in kept:  # input objects, scalars and enums: whole
            kept[name] = None
            for field in types[name].get("inputFields") or []:
                pending.append(_named(field["type"]))
    return kept


def _keep_fields(
    kind: dict[str, Any], used: dict[str, set[str]], kept: dict[str, set[str] | None]
) -> list[str]:
    """Keep an object's (or interface's) used fields; the type names they lead to."""
    fields = kept.setdefault(kind["name"], set())
    assert fields is not None
    for interface in kind.get("interfaces") or []:
        # An object keeps what its kept interfaces select, as the spec demands.
        fields |= used.get(interface["name"], set())
    fields |= used.get(kind["name"], set())
    if not fields:  # a union member nobody selects on still needs one field
        fields.add(next(f["name"] for f in kind["fields"] if f["name"] == "id"))
    found = []
    for field in kind["fields"]:
        if field["name"] in fields:
            found.append(_named(field["type"]))
            found += [_named(argument["type"]) for argument in field["args"]]
    found += [m["name"] for m in kind.get("possibleTypes") or []]
    return [name for name in found if name not in kept]


def write(introspection: dict[str, Any], path: Path) -> None:
    text = json.dumps(introspection, sort_keys=True, separators=(",", ":"))
    # mtime=0: the same schema gives the same bytes, so the file only changes when it must.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
        handle.write(text.encode("utf-8"))


def documents() -> list[str]:
    """Every GraphQL document the package sends to Shopify: the shop's and its payouts'."""
    from connector.payouts.shopify_payments import QUERIES
    from connector.shops.shopify.queries import ALL

    return [*ALL.values(), *QUERIES.values()]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    trimmed = trim(read_introspection(Path(argv[0])), documents())
    write(trimmed, SHIPPED)
    print(f"{SHIPPED}: {len(trimmed['data']['__schema']['types'])} types")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
