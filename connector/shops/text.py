"""Text hygiene where shop data enters: nothing downstream sees text Moneybird, SQLite or a
terminal cannot take.

Lone surrogates (from `\\udc80` escapes or bytes that were not UTF-8) become U+FFFD; NUL and
the other control characters (terminal escapes among them) are removed, tab and line breaks
kept. Each order that needed it says so in its booking notes.
"""

from __future__ import annotations

import json
import re
from typing import Any

CLEANED_KEY = "_text_cleaned"  # on a cleaned order payload: where its text was mended
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    return _CONTROL.sub("", _SURROGATE.sub("\ufffd", text))


def read(body: bytes) -> Any:
    """JSON from the shop, cleaned. Bytes that are not UTF-8 are replaced rather than
    refused (one bad byte in a customer's name must not make a whole order list unreadable),
    and the texts they were in count as mended."""
    try:
        return clean(json.loads(body.decode("utf-8")))
    except UnicodeDecodeError:
        return clean(json.loads(body.decode("utf-8", errors="replace")), lossy=True)


def clean(payload: Any, lossy: bool = False) -> Any:
    """The payload (an order, or a list of them) with its text cleaned; each order dict that
    changed carries the places that did under CLEANED_KEY. `lossy`: the text was decoded with
    replacements, so a U+FFFD in it marks a mended place too."""
    if isinstance(payload, list):
        return [clean(item, lossy) for item in payload]
    if not isinstance(payload, dict):
        return payload
    places: list[str] = []
    cleaned = _walk(payload, "", places, lossy)
    if places:
        cleaned[CLEANED_KEY] = places
    return cleaned


def note(payload: dict[str, Any]) -> tuple[str, ...]:
    """The booking note for an order whose text was mended, if it was."""
    places = payload.get(CLEANED_KEY) or []
    if not places:
        return ()
    shown = ", ".join(places[:5]) + (f" and {len(places) - 5} more" if len(places) > 5 else "")
    return (f"unreadable or control characters removed from the shop's text: {shown}",)


def _walk(value: Any, where: str, places: list[str], lossy: bool) -> Any:
    if isinstance(value, str):
        mended = clean_text(value)
        if mended != value or (lossy and "\ufffd" in value):
            places.append(where or "(text)")
        return mended
    if isinstance(value, dict):
        return {
            (clean_text(k) if isinstance(k, str) else k): _walk(v, _join(where, k), places, lossy)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_walk(v, f"{where}[{n}]", places, lossy) for n, v in enumerate(value)]
    return value


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


_NO = {"", "0", "no", "nee", "false", "off", "n"}


def asks(values: dict[str, str], keys: tuple[str, ...]) -> bool:
    """Whether any of `keys` is set to something other than a no (a checkbox's "1", "yes",
    "on"; a filled-in field): the customer asked, for instance for an invoice."""
    return any(str(values.get(key, "")).strip().lower() not in _NO for key in keys)
