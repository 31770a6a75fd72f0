"""Keeping secret values out of logs, state and messages."""

from __future__ import annotations

import logging
import traceback


class SecretFilter(logging.Filter):
    """Last line of defence: no secret value ever reaches a log line."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(s in message for s in self.secrets):
            record.msg, record.args = redact(message, self.secrets), None
        if record.exc_info and not record.exc_text:
            # Tracebacks are formatted later by the handler; format and scrub them now.
            record.exc_text = redact(
                "".join(traceback.format_exception(*record.exc_info)).rstrip(), self.secrets
            )
        return True


_KNOWN: list[str] = []  # this process's secrets, for texts recorded far from the config


def remember(secrets: list[str]) -> None:
    """The secrets of the configuration in use: every text the state records or a command
    prints is scrubbed of them (`scrub`), wherever the text came from."""
    for secret in secrets:
        if secret and secret not in _KNOWN:
            _KNOWN.append(secret)


def scrub(text: str) -> str:
    return redact(text, _KNOWN)


def redact(text: str, secrets: list[str]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
