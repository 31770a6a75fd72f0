"""Secret values never reach a log line, not even inside a traceback."""

from __future__ import annotations

import base64
import io
import logging
from urllib.parse import quote, quote_plus

import pytest

from connector import redact as redaction
from connector.redact import SecretFilter, redact, remember


def test_secret_in_message_and_traceback_is_replaced() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretFilter(["ck_live_abc123", ""]))
    log = logging.getLogger("redact-test")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("calling %s", "https://shop/?oauth_consumer_key=ck_live_abc123")
        try:
            raise ValueError("bad url https://shop/?oauth_consumer_key=ck_live_abc123")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert "ck_live_abc123" not in text
    assert text.count("***") == 3  # the message, the source line and the exception text
    assert "ValueError: bad url" in text


def test_redact_leaves_other_text_alone() -> None:
    assert redact("token=s3cret; s3cret again", ["s3cret"]) == "token=***; *** again"
    assert redact("nothing here", ["s3cret", ""]) == "nothing here"


# --- issue 28.1: every form a secret takes, and every piece of it ------------------------------

KEY = "ck_7d1e0c9b3a2f4e6d8c0b1a2f3e4d5c6b7a8f9e0d"
SECRET = "cs_0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e"
TOKEN = "4f1d2c3b" * 8  # Moneybird's, 64 hex


def _pieces(text: str, secret: str) -> list[str]:
    return [secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8] in text]


def test_the_basic_pair_is_redacted_in_both_alphabets_and_in_any_piece() -> None:
    pair = f"{KEY}:{SECRET}"
    for encoded in (base64.b64encode(pair.encode()), base64.urlsafe_b64encode(pair.encode())):
        value = encoded.decode()
        secrets = [KEY, SECRET, pair]
        assert value not in redact(f"Authorization: Basic {value}", secrets)
        for start in (0, 5, 37, 60):  # a piece cut out anywhere, as an excerpt leaves it
            piece = value[start : start + 30]
            assert redact(f"page: {piece} end", secrets) == "page: *** end", piece


def test_a_secret_inside_other_base64_is_found_at_every_alignment() -> None:
    for prefix in ("", "u", "us", "user:"):
        encoded = base64.b64encode(f"{prefix}{SECRET}|more".encode()).decode()
        assert redact(encoded, [SECRET]).count("***") == 1, prefix


def test_url_encoded_forms_and_oauth_parameters_are_redacted() -> None:
    secret = "s3cr3t/with+odd chars&more"
    text = (
        f"?a={quote(secret, safe='')}&b={quote_plus(secret)}&c={quote(secret, safe='').lower()}"
        "&oauth_consumer_key=ck_unknown123&oauth_signature=Zm9v%2BYmFy%3D&page=2"
    )
    clean = redact(text, [secret])
    assert "odd" not in clean and "chars" not in clean and "ck_unknown123" not in clean
    assert "Zm9v" not in clean and "oauth_signature=***" in clean and "page=2" in clean


def test_bearer_and_token_headers_are_redacted_whatever_the_token() -> None:
    text = 'Authorization: Bearer abc123XYZ987 {"access_token": "shpat_9f8e7d6c", "x": 1}'
    clean = redact(text, [])
    assert "abc123XYZ987" not in clean and "shpat_9f8e7d6c" not in clean
    assert "Bearer ***" in clean and redact("Bearer token, Basic authentication", []) == (
        "Bearer token, Basic authentication"
    )


def test_a_secret_cut_in_two_shows_nothing_of_either_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("connector.redact._KNOWN", [KEY, TOKEN])  # as the clients remember them
    page = "x" * 90 + f"oauth_consumer_key {KEY} and Bearer-less {TOKEN}"
    for limit in range(95, 200, 7):
        cut = page[:limit]
        for shown in (redact(cut, [KEY, TOKEN]), redaction.excerpt(page, limit)):
            assert not _pieces(shown, KEY) and not _pieces(shown, TOKEN), (limit, shown)


def test_a_credential_obtained_at_run_time_is_redacted_everywhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("connector.redact._KNOWN", [])
    token = "shpat_" + "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"
    remember([token])  # as the Shopify client does the moment it gets one
    assert token[:20] not in redact(f"error: {token[:20]}", [])  # a list without it: still
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretFilter([]))
    log = logging.getLogger("redact-runtime-test")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("echoed %s", token, extra={"message_field": f"also {token}"})
    finally:
        log.removeHandler(handler)
    assert token not in stream.getvalue()


def test_a_word_like_sandbox_secret_leaves_ordinary_words_alone() -> None:
    text = "Moneybird refused it; sandbox-moneybird-token"
    assert redact(text, ["sandbox-moneybird-token"]) == "Moneybird refused it; ***"


def test_a_traceback_in_a_json_log_is_scrubbed_too() -> None:
    """JSON logs format the live exception again: it must not reach them unscrubbed."""
    from pythonjsonlogger.json import JsonFormatter

    secret = "mb_SuperSecretToken_1234567890abcdef"
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("%(levelname)s %(message)s"))
    handler.addFilter(SecretFilter([secret]))
    log = logging.getLogger("connector.test-json-traceback")
    log.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"boom with token {secret}")
        except RuntimeError:
            log.exception("a pass failed")
        log.error("where", stack_info=True, extra={"note": secret})
    finally:
        log.removeHandler(handler)
    written = out.getvalue()
    assert "boom with token" in written and secret[:8] not in written
    assert secret[-8:] not in written
