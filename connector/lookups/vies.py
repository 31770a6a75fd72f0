"""VIES, the EU register of VAT numbers: is a customer's number registered today?

Only HTTP and reading the answer here. A member state's service being down is said as such
("unavailable"), never read as "not valid": the booking then waits instead of guessing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from connector import USER_AGENT
from connector.booking.vat_rules import VatCheck
from connector.defaults import VIES_URL


class ViesClient:
    def __init__(
        self,
        url: str = VIES_URL,
        requester: str = "",
        timeout: float = 20.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.requester = requester  # the shop's own VAT number, for a consultation number
        self.timeout = timeout
        self.transport = transport

    def check(self, number: str) -> VatCheck:
        """`number`: compact, starting with its two-letter prefix (EL for Greece)."""
        body: dict[str, str] = {"countryCode": number[:2], "vatNumber": number[2:]}
        if self.requester:
            body["requesterMemberStateCode"] = self.requester[:2]
            body["requesterNumber"] = self.requester[2:]
        now = datetime.now(UTC)
        # A connection per check: checks are rare (answers are kept) and nothing stays open.
        try:
            with httpx.Client(
                timeout=self.timeout, transport=self.transport, headers={"User-Agent": USER_AGENT}
            ) as http:
                data = http.post(f"{self.url}/check-vat-number", json=body).json()
        except (httpx.HTTPError, ValueError) as exc:
            return VatCheck(number, "unavailable", now, detail=type(exc).__name__)
        return read_answer(number, data if isinstance(data, dict) else {}, now)


def read_answer(number: str, data: dict[str, Any], now: datetime) -> VatCheck:
    errors = [
        str(e.get("error") or "")
        for e in data.get("errorWrappers") or []
        if isinstance(e, dict) and e.get("error")
    ]
    user_error = str(data.get("userError") or "")
    if user_error and user_error not in ("VALID", "INVALID"):
        errors.append(user_error)
    if errors:
        # Only INVALID_INPUT says something about the number; every other code (MS_UNAVAILABLE,
        # TIMEOUT, SERVICE_UNAVAILABLE, *_MAX_CONCURRENT_REQ, ...) means "ask again later".
        if set(errors) != {"INVALID_INPUT"}:
            return VatCheck(number, "unavailable", now, detail=", ".join(errors))
        return VatCheck(number, "invalid", now, detail="INVALID_INPUT")
    valid = data.get("valid", data.get("isValid"))
    if not isinstance(valid, bool):
        return VatCheck(number, "unavailable", now, detail="an answer without a verdict")
    return VatCheck(
        number,
        "valid" if valid else "invalid",
        now,
        consultation=str(data.get("requestIdentifier") or ""),
    )
