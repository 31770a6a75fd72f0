"""Euro reference rates of the European Central Bank, for payments in another currency when the
shop gives no amount in euros itself ([sync] exchange_rates = "ecb").

The rate used is the one the ECB published on the paid date, or the last before it (no rates
on weekends and TARGET holidays). Read once per pass, only when such an order comes along.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal, InvalidOperation

import httpx

from connector import USER_AGENT
from connector.defaults import ECB_URL
from connector.errors import ConnectorError

RECENT = "eurofxref-hist-90d.xml"  # the last 90 days, small
HISTORY = "eurofxref-hist.xml"  # since 1999, only for older orders (an import)


class RatesUnavailable(ConnectorError):
    """The ECB's rates could not be read: the order waits for the next pass."""


class EcbRates:
    def __init__(
        self,
        url: str = ECB_URL,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.transport = transport
        self._days: dict[date, dict[str, Decimal]] = {}
        self._read: set[str] = set()

    def per_euro(self, currency: str, on: date) -> tuple[Decimal, date] | None:
        """Units of `currency` for one euro on `on` (or the last publication before it), and
        the date of that publication; None when the ECB publishes no rate for the currency."""
        for document in (RECENT, HISTORY):
            if document not in self._read:
                self._load(document)
            published = [d for d in self._days if d <= on]
            if published and (document == HISTORY or min(self._days) < on):
                day = max(published)
                rate = self._days[day].get(currency.upper())
                return (rate, day) if rate is not None else None
        return None

    def _load(self, document: str) -> None:
        try:
            with httpx.Client(
                timeout=self.timeout, transport=self.transport, headers={"User-Agent": USER_AGENT}
            ) as http:
                response = http.get(f"{self.url}/{document}")
                response.raise_for_status()
            root = ET.fromstring(response.content)
        except (httpx.HTTPError, ET.ParseError) as exc:
            raise RatesUnavailable(
                f"the ECB's exchange rates could not be read ({type(exc).__name__}); "
                "tried again next pass"
            ) from None
        self._read.add(document)
        for day in root.iter():
            if not day.tag.endswith("Cube") or "time" not in day.attrib:
                continue
            rates: dict[str, Decimal] = {}
            for entry in day:
                try:
                    rates[entry.attrib["currency"].upper()] = Decimal(entry.attrib["rate"])
                except (KeyError, InvalidOperation):
                    continue
            self._days[date.fromisoformat(day.attrib["time"])] = rates
