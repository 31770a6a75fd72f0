"""The connector's TOML files read with clear messages: every problem as file:line, key, what.

tomllib gives values, not positions; tables and keys are found again in the text. Good enough
for the flat files the connector reads: [section] tables and [[rule]] arrays of tables.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from connector.errors import ConfigError

Loc = tuple[str | int, ...]
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


def read_toml(path: Path, not_found: str = "file not found") -> dict[str, Any]:
    """A TOML file, or a ConfigError that says what is wrong with it (missing, unreadable, not
    UTF-8, not TOML): never another exception, whatever is on disk."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: {not_found}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start} cannot be read); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None


def explain(
    path: Path, exc: ValidationError, tagged: Mapping[str, frozenset[str]] | None = None
) -> ConfigError:
    """Turn pydantic's report into one line per problem: file:line, key path, what is wrong.

    `tagged`: sections whose shape is chosen by a key's value (the [shop] by its platform);
    pydantic puts that value into the location, which is left out here so the key is named
    as it is written in the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    problems = []
    for err in exc.errors():
        loc, message = _as_written(err, tagged or {})
        where = ".".join(str(p) for p in loc)
        line = line_of(text, loc)
        place = f"{path}:{line}" if line else str(path)
        problems.append(f"{place}: {where}: {message}")
    return ConfigError("\n".join(problems))


def _as_written(error: ErrorDetails, tagged: Mapping[str, frozenset[str]]) -> tuple[Loc, str]:
    """Where a problem is, in the file's keys, and what it is."""
    loc, message = tuple(error["loc"]), error["msg"]
    if len(loc) > 1 and loc[1] in tagged.get(str(loc[0]), ()):
        loc = loc[:1] + loc[2:]
    context = error.get("ctx") or {}
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        # A problem with the choosing key itself, said of that key like any other value's.
        loc += (str(context.get("discriminator", "")).strip("'"),)
        tags = str(context.get("expected_tags", "")).split(", ")
        message = (
            f"Input should be {', '.join(tags[:-1])} or {tags[-1]}"
            if error["type"] == "union_tag_invalid" and len(tags) > 1
            else "Field required"
        )
    return loc, message
