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


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
