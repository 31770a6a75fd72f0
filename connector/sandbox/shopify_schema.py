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
    query_root = full["queryType"]["name"]
    used.setdefault(query_root, set())

    kept: dict[str, set[str] | None] = {}  # type -> fields kept (None: the whole type)
    pending = list(used)

    def keep_whole(name: str) -> None:
        if name not in kept:
            kept[name] = None
            pending.append(name)

    while pending:
        name = pending.pop()
        kind = types[name]["kind"]
        if kind in ("OBJECT", "INTERFACE"):
            fields = kept.setdefault(name, set())
            assert fields is not None
            for interface in types[name].get("interfaces") or []:
                # An object keeps what its kept interfaces select, as the spec demands.
                fields |= used.get(interface["name"], set())
            fields |= used.get(name, set())
            if not fields:  # a union member nobody selects on still needs one field
                fields.add(next(f["name"] for f in types[name]["fields"] if f["name"] == "id"))
            for field in types[name]["fields"]:
                if field["name"] in fields:
                    target = _named(field["type"])
                    if target not in kept:
                        pending.append(target)
                    for argument in field["args"]:
                        keep_whole(_named(argument["type"]))
            for member in types[name].get("possibleTypes") or []:
                if member["name"] not in kept:
                    pending.append(member["name"])
        elif kind == "UNION":
            kept[name] = None
            for member in types[name]["possibleTypes"]:
                if member["name"] not in kept:
                    pending.append(member["name"])
        elif kind == "INPUT_OBJECT":
            kept[name] = None
            for field in types[name]["inputFields"]:
                keep_whole(_named(field["type"]))
        else:  # scalars and enums, whole
            kept[name] = None
    for directive in full["directives"]:
        if directive["name"] in _BUILT_IN_DIRECTIVES:
            for argument in directive["args"]:
                keep_whole(_named(argument["type"]))

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
    return {
        "data": {
            "__schema": {
                "description": full.get("description"),
                "queryType": full["queryType"],
                "mutationType": None,
                "subscriptionType": None,
                "types": out_types,
                "directives": [d for d in full["directives"] if d["name"] in _BUILT_IN_DIRECTIVES],
            }
        }
    }


def write(introspection: dict[str, Any], path: Path) -> None:
    text = json.dumps(introspection, sort_keys=True, separators=(",", ":"))
    # mtime=0: the same schema gives the same bytes, so the file only changes when it must.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
        handle.write(text.encode("utf-8"))


def main(argv: list[str]) -> int:
    from connector.shops.shopify.queries import ALL

    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    trimmed = trim(read_introspection(Path(argv[0])), ALL.values())
    write(trimmed, SHIPPED)
    print(f"{SHIPPED}: {len(trimmed['data']['__schema']['types'])} types")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
