"""Keeping secret values out of logs, state and messages.

A secret leaves in more forms than its own text: inside a Basic `Authorization` header
(base64 of "key:secret"), percent-encoded in a query string, JSON- or HTML-escaped in an error
page, as an OAuth 1.0a parameter or a `Bearer` token. Redaction knows all of them, and every
8-character piece of each, so an excerpt that cut a secret in two shows nothing of either part
(`PIECE`). Credentials obtained at run time (a Shopify client-credentials token) are added with
`remember` the moment they arrive; `redact` always includes every secret remembered.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import logging
import re
import traceback
from urllib.parse import quote, quote_plus

PIECE = 8  # no run of this many characters of a secret (in any of its forms) survives
MASK = "***"


class SecretFilter(logging.Filter):
    """Last line of defence: no secret value ever reaches a log line."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        # JSON logs write the `extra` fields as keys of their own: scrubbed as the message is.
        for name, value in list(record.__dict__.items()):
            if name not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, name, redact(value, self.secrets))
        if record.exc_info:
            # Tracebacks are formatted later by the handler; format and scrub them now, and
            # drop the live exception: a formatter that formats it again (JSON logs do) would
            # write it unscrubbed.
            text = record.exc_text or "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact(text.rstrip(), self.secrets)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

_KNOWN: list[str] = []  # this process's secrets, for texts recorded far from the config


def remember(secrets: list[str]) -> None:
    """Secrets in use (the configuration's, and any credential obtained at run time): every
    text the state records, a command prints or a log line carries is scrubbed of them
    (`scrub`, `redact`), wherever the text came from."""
    for secret in secrets:
        if secret and secret not in _KNOWN:
            _KNOWN.append(secret)


def scrub(text: str) -> str:
    return redact(text, _KNOWN)


def excerpt(text: str, limit: int, secrets: list[str] | None = None) -> str:
    """At most `limit` characters of an upstream text, scrubbed whole (of `secrets` too)
    before it is cut: cut first, a secret split at the cut would no longer be found. (A margin
    past the limit is enough to find any secret that reaches into it; a huge error page is not
    scanned whole.)"""
    return redact(text[: limit + 4096], secrets or [])[:limit]


def redact(text: str, secrets: list[str]) -> str:
    """`text` without `secrets` (and every secret remembered) in any form they take."""
    if not text:
        return text
    return _redactor(tuple(sorted({s for s in [*secrets, *_KNOWN] if s})))(text)


# A credential named as such, whatever its value: OAuth 1.0a parameters, query-string keys,
# tokens in JSON or headers. The value is masked, the name kept (it tells what was there).
_NAMED = re.compile(
    r"(?i)(?<![A-Za-z0-9_])"
    r"((?:oauth_(?:consumer_key|signature|token|token_secret|nonce)|consumer_key|consumer_secret"
    r"|client_secret|access_token|refresh_token|x-shopify-access-token|password)"
    r"(?:=|%3D|[\"']?\s*:\s*[\"']?))"
    r"((?:%[0-9A-Fa-f]{2}|[^\s&\"'<>,;%)}\]])+)"
)
# `Bearer <token>` and `Basic <base64>`: a value that is not a plain lowercase word (so the
# prose "Basic authentication" stays).
_SCHEME = re.compile(r"\b((?i:bearer|basic)\s+)(?![A-Za-z][a-z]*\b)([A-Za-z0-9._~+/-]{6,}=*)")
# A secret made of plain words (a sandbox's "sandbox-moneybird-token", a passphrase): its
# pieces are words of ordinary text ("oneybird" in every "Moneybird"), so its own text is
# matched whole, never by the piece. Its encoded forms are never words and are matched by piece.
_WORDS = re.compile(r"[A-Za-z]?[a-z]*(?:[-_ .:/][A-Za-z]?[a-z]*)*")


@functools.lru_cache(maxsize=64)
def _redactor(secrets: tuple[str, ...]) -> _Redactor:
    return _Redactor(secrets)


class _Redactor:
    def __init__(self, secrets: tuple[str, ...]) -> None:
        whole: set[str] = set()  # matched entire
        pieced: set[str] = set()  # matched by any PIECE characters of them
        for secret in secrets:
            plain = _plain_forms(secret)
            whole |= plain
            if not _WORDS.fullmatch(secret):
                pieced |= plain
            encoded = _base64_forms(secret)
            whole |= encoded
            pieced |= encoded
        self.whole = sorted((f for f in whole if f), key=len, reverse=True)
        self.pieces = {form[i : i + PIECE] for form in pieced for i in range(len(form) - PIECE + 1)}

    def __call__(self, text: str) -> str:
        text = _NAMED.sub(lambda m: m.group(1) + MASK, text)
        text = _SCHEME.sub(lambda m: m.group(1) + MASK, text)
        for form in self.whole:
            if form in text:
                text = text.replace(form, MASK)
        return self._without_pieces(text)

    def _without_pieces(self, text: str) -> str:
        """Every run of text covered by windows that are pieces of a secret, masked once."""
        if not self.pieces or len(text) < PIECE:
            return text
        out: list[str] = []
        start = end = 0  # the covered run being grown, [start, end)
        kept = 0  # text before this index is in `out`
        pieces = self.pieces
        for i in range(len(text) - PIECE + 1):
            if text[i : i + PIECE] in pieces:
                if i > end:  # a new run: flush the previous one
                    if end > start:
                        out += [text[kept:start], MASK]
                        kept = end
                    start = i
                end = i + PIECE
        if end > start:
            out += [text[kept:start], MASK]
            kept = end
        if not out:
            return text
        out.append(text[kept:])
        return "".join(out)


def _plain_forms(secret: str) -> set[str]:
    """The secret as text travels: itself, percent-encoded (both cases of hex, '+' for a
    space), JSON- and HTML-escaped."""
    forms = {secret, html.escape(secret), json.dumps(secret)[1:-1]}
    for encoded in (quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)):
        forms |= {encoded, re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)}
    return forms


def _base64_forms(secret: str) -> set[str]:
    """Base64 of the secret in both alphabets: whole (a Basic header of the "key:secret"
    pair, which the configuration lists as a secret of its own) and as it reads inside the
    encoding of any longer text, at each of the three byte alignments (only the characters
    that depend on the secret's bytes alone)."""
    raw = secret.encode("utf-8")
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms.add(encode(raw).decode("ascii"))
        for offset, skip in ((0, 0), (1, 2), (2, 3)):
            total = offset + len(raw)
            text = encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
            # The last character of a partial group carries bits of whatever follows.
            core = text[skip : len(text) - (1 if total % 3 else 0)]
            if len(core) >= PIECE:
                forms.add(core)
    return forms
