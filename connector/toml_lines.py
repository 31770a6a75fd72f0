"""Where a key of a TOML file stands, so messages can say file:line.

tomllib gives values, not positions; tables and keys are found again in the text. Good enough
for the flat files the connector reads: [section] tables and [[rule]] arrays of tables.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-]+)\s*\]\]?")


def line_of(text: str, loc: tuple[str | int, ...]) -> int | None:
    """The 1-based line of `loc` (e.g. ("rule", 2, "tax_rate_id") or ("sync", "timezone")).

    Falls back to the table's header line when the key itself is absent (a missing field),
    and to None when even the table cannot be found.
    """
    lines = text.splitlines()
    table, rest = (str(loc[0]), loc[1:]) if loc else ("", ())
    index = 0
    if rest and isinstance(rest[0], int):
        index, rest = rest[0], rest[1:]
    start = _nth_header(lines, table, index)
    if start is None:
        key = str(loc[0]) if loc else ""
        return _key_line(lines, 0, key) if key else None
    if not rest:
        return start + 1
    found = _key_line(lines, start + 1, str(rest[0]))
    return found if found is not None else start + 1


def _nth_header(lines: list[str], table: str, index: int) -> int | None:
    seen = 0
    for number, line in enumerate(lines):
        match = _HEADER.match(line)
        if match and match.group(1) == table:
            if seen == index:
                return number
            seen += 1
    return None


def _key_line(lines: list[str], start: int, key: str) -> int | None:
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for number in range(start, len(lines)):
        if number > start and _HEADER.match(lines[number]):
            return None
        if pattern.match(lines[number]):
            return number + 1
    return None
