"""Secret values never reach a log line, not even inside a traceback."""

from __future__ import annotations

import io
import logging

from connector.redact import SecretFilter, redact


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
