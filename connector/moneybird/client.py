"""Moneybird API v2 over httpx: paced, GETs retried, writes never retried blindly."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from connector import USER_AGENT, shutdown
from connector.errors import AdministrationError, AuthError, ConnectorError
from connector.moneybird import bank
from connector.moneybird.rate_limit import RateLimiter, retry_after_epoch
from connector.outage import FailureStreak, cause_of
from connector.redact import excerpt, remember, scrub

GET_ATTEMPTS = 4
RETRY_SECONDS = 20.0  # no read is tried again once this long has gone by since its first try
DAY = timedelta(days=1)
ALL_TIME = date(2000, 1, 1)  # before any webshop order this connector books
MAX_429_WAITS = 6
# A path naming one record (an id, a reference, a customer id): its 404 may mean the record.
_ONE_RECORD = re.compile(r"/\d+[/.]|/(find_by_reference|customer_id)/")


class MoneybirdError(ConnectorError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(MoneybirdError):
    pass


class Rejected(MoneybirdError):
    """400/422: Moneybird refused the request; nothing was written."""


class Unavailable(MoneybirdError):
    """The request certainly did not take effect (or was a read) and could not be completed."""


class Ambiguous(MoneybirdError):
    """A write whose outcome is unknown: read Moneybird before writing again."""


class MoneybirdClient:
    def __init__(
        self,
        api_url: str,
        administration_id: str,
        token: str,
        limiter: RateLimiter | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = shutdown.sleep,
        documents: str = "sales_invoices",
    ) -> None:
        # "sales_invoices", or "external_sales_invoices" for shops whose own invoices are the
        # legal ones: same paths below, no finalize step, no find_by_reference.
        self.documents = documents
        self.api_url = api_url.rstrip("/")
        self.administration_id = administration_id
        self.limiter = limiter or RateLimiter()
        self._sleep = sleep
        self.streak = FailureStreak("Moneybird", self.api_url)
        remember([token])  # an error page may echo the Authorization header
        self._http = httpx.Client(
            base_url=f"{api_url.rstrip('/')}/{administration_id}/",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def for_documents(self, documents: str) -> MoneybirdClient:
        """The same connection and request budget, for the other kind of document (a summary
        day's external sales invoice beside per-order sales invoices)."""
        sibling = copy.copy(self)
        sibling.documents = documents
        return sibling

    # --- endpoints -------------------------------------------------------------------------

    def administrations(self) -> list[dict[str, Any]]:
        return self._request("GET", f"{self.api_url}/administrations.json")

    def unreachable(self) -> AdministrationError | None:
        """After a 403, or a 404 where only the administration itself can be missing: whether
        the token cannot reach the administration at all (one more request, only then). None
        when it can, or when that cannot be told: the answer already had stands."""
        try:
            listed = self.administrations()
        except ConnectorError:
            return None
        problem = no_access(self.administration_id, listed)
        return AdministrationError(problem) if problem else None

    def locked_until(self) -> date | None:
        """The last day of the administration's closed books (`period_locked_until`), if any:
        nothing may be dated on or before it."""
        for administration in self.administrations():
            if str(administration.get("id")) == str(self.administration_id):
                locked = administration.get("period_locked_until")
                return date.fromisoformat(str(locked)[:10]) if locked else None
        return None

    def tax_rates(self) -> list[dict[str, Any]]:
        return self._all("tax_rates.json")

    # Not paginated in the spec: one request each.
    def ledger_accounts(self) -> list[dict[str, Any]]:
        return self._request("GET", "ledger_accounts.json")

    def financial_accounts(self) -> list[dict[str, Any]]:
        return self._request("GET", "financial_accounts.json")

    def workflows(self) -> list[dict[str, Any]]:
        return self._request("GET", "workflows.json")

    def document_styles(self) -> list[dict[str, Any]]:
        return self._request("GET", "document_styles.json")

    def _all(self, path: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self._request("GET", path, params={"page": page, "per_page": 100})
            rows.extend(batch)
            if len(batch) < 100:
                return rows
            page += 1

    def contact_versions(self) -> list[dict[str, Any]]:
        return self._request("GET", "contacts/synchronization.json")

    def contacts_by_ids(self, ids: list[str]) -> list[dict[str, Any]]:
        """The contacts in full, one request per 100 (Moneybird's most per call)."""
        # A read, even though it is a POST: safe to retry.
        return [
            contact
            for batch in _batches(ids)
            for contact in self._request(
                "POST", "contacts/synchronization.json", json={"ids": batch}, read=True
            )
        ]

    def invoice_versions(self, first: date, last: date) -> list[dict[str, Any]]:
        """The ids and versions of all invoices dated from `first` to `last` (the
        synchronization endpoint lists them all in one answer). The period is always named:
        without one Moneybird lists only this year's."""
        params = {"filter": period(first, last)}
        return self._request("GET", f"{self.documents}/synchronization.json", params=params)

    def invoices_by_ids(self, ids: list[str]) -> list[dict[str, Any]]:
        """The invoices in full, one request per 100 (Moneybird's most per call)."""
        path = f"{self.documents}/synchronization.json"
        return [
            invoice
            for batch in _batches(ids)
            for invoice in self._request("POST", path, json={"ids": batch}, read=True)
        ]

    def tax_report(self, first: date, last: date) -> dict[str, Any]:
        """Moneybird's VAT report for one whole month, per tax rate and return box, over the
        whole administration."""
        params = {"period": f"{first:%Y%m%d}..{last:%Y%m%d}"}
        return self._request("GET", "reports/tax.json", params=params)

    def search_contacts(self, query: str) -> list[dict[str, Any]]:
        return self._request("GET", "contacts.json", params={"query": query, "per_page": 100})

    def contact_by_customer_id(self, customer_id: str) -> dict[str, Any]:
        return self._request("GET", f"contacts/customer_id/{quote(customer_id, safe='')}.json")

    def create_contact(self, contact: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", "contacts.json", json={"contact": contact})

    def create_invoice(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", f"{self.documents}.json", json=body)

    def invoice_by_reference(self, reference: str, on: date | None = None) -> dict[str, Any] | None:
        """The invoice with this reference; `on`, its date if known (external invoices have
        no look-up by reference: they are scanned around that date, or over all years)."""
        if self.documents != "sales_invoices":
            return self._scan_for_reference(reference, on)
        try:
            path = f"sales_invoices/find_by_reference/{quote(reference, safe='')}.json"
            return self._request("GET", path)
        except NotFound:
            return None

    def _scan_for_reference(self, reference: str, on: date | None) -> dict[str, Any] | None:
        """External invoices have no find_by_reference: read those of the date (or all; only
        ever needed to settle an ambiguous create; 1 request plus 1 per 100 invoices)."""
        first, last = (on - DAY, on + DAY) if on else (ALL_TIME, utc_today() + 2 * DAY)
        ids = [str(row["id"]) for row in self.invoice_versions(first, last)]
        for batch in reversed(_batches(ids)):  # the newest first: the likeliest place
            for invoice in self.invoices_by_ids(batch):
                if invoice.get("reference") == reference:
                    return invoice
        return None

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        return self._request("GET", f"{self.documents}/{invoice_id}.json")

    def delete_invoice(self, invoice_id: str) -> None:
        self._request("DELETE", f"{self.documents}/{invoice_id}.json")

    def send_invoice(self, invoice_id: str, delivery_method: str) -> dict[str, Any]:
        body = {"sales_invoice_sending": {"delivery_method": delivery_method}}
        return self._request("PATCH", f"sales_invoices/{invoice_id}/send_invoice.json", json=body)

    def create_payment(self, invoice_id: str, payment: dict[str, Any]) -> dict[str, Any]:
        path = f"{self.documents}/{invoice_id}/payments.json"
        return self._request("POST", path, json={"payment": payment})

    def update_contact(self, contact_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        return self._request("PATCH", f"contacts/{contact_id}.json", json={"contact": fields})

    # --- credit invoices -------------------------------------------------------------------

    def duplicate_credit_invoice(self, invoice_id: str) -> dict[str, Any]:
        """A draft credit invoice linked to `invoice_id`, every line negated."""
        path = f"sales_invoices/{invoice_id}/duplicate_creditinvoice.json"
        return self._request("PATCH", path, json={})

    def update_invoice(self, invoice_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("PATCH", f"sales_invoices/{invoice_id}.json", json=body)

    def draft_invoices(self, reference: str, created_after: str) -> list[dict[str, Any]]:
        """Drafts with this reference created after the moment given (ISO 8601, UTC)."""
        # Any filter replaces Moneybird's default this-year period: name one, to the future.
        since = date.fromisoformat(created_after[:10])
        terms = (
            f"state:draft,reference:{reference},created_after:{created_after},"
            f"{period(since - 400 * DAY, utc_today() + 2 * DAY)}"
        )
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"filter": terms, "per_page": 100, "page": page}
            batch = self._request("GET", "sales_invoices.json", params=params)
            found.extend(batch)
            if len(batch) < 100:
                return found
            page += 1

    def settle_credit_invoice(self, credit_invoice_id: str) -> dict[str, Any]:
        """Settle a credit invoice against the unpaid original it credits (one payment on
        each, on Moneybird's settlement account)."""
        path = f"sales_invoices/{credit_invoice_id}/register_payment_creditinvoice.json"
        return self._request("PATCH", path, json={})

    # --- the bank: financial statements and mutations (scope `bank`) ----------------------

    def create_financial_statement(
        self,
        financial_account_id: str,
        reference: str,
        official_date: date,
        mutations: Sequence[bank.BankLine],
    ) -> dict[str, Any]:
        """One statement with its mutations on a financial account; the answer lists the
        mutations with their ids in the order sent. The reference is unique per account: a
        second statement under it is refused (Rejected), which is how a lost answer is told."""
        body = bank.statement_body(financial_account_id, reference, official_date, mutations)
        return self._request("POST", "financial_statements.json", json=body)

    def financial_mutations(self, terms: Mapping[str, bank.FilterValue]) -> list[dict[str, Any]]:
        """The mutations matching the filter (`period` is required), at most 100: Moneybird
        lists no more. `every_financial_mutation` reads past that."""
        params = {"filter": bank.filter_text(terms)}
        return self._request("GET", "financial_mutations.json", params=params)

    def financial_mutation_versions(
        self, terms: Mapping[str, bank.FilterValue]
    ) -> list[dict[str, Any]]:
        """The ids and versions of all mutations matching the filter's period, state, type and
        account (the synchronization endpoint has no amount bounds), unpaginated."""
        params = {"filter": bank.filter_text(bank.sync_terms(terms))}
        return self._request("GET", "financial_mutations/synchronization.json", params=params)

    def financial_mutations_by_ids(self, ids: list[str]) -> list[dict[str, Any]]:
        """The mutations in full, one request per 100 (Moneybird's most per call)."""
        path = "financial_mutations/synchronization.json"
        return [
            mutation
            for batch in _batches(ids)
            for mutation in self._request("POST", path, json={"ids": batch}, read=True)
        ]

    def every_financial_mutation(
        self, terms: Mapping[str, bank.FilterValue]
    ) -> list[dict[str, Any]]:
        """All mutations matching the filter: one request while they are fewer than 100, else
        through the synchronization endpoint (1 + 1 per 100 of the period's mutations)."""
        listed = self.financial_mutations(terms)
        if len(listed) < bank.MOST_LISTED:
            return listed
        ids = [str(row["id"]) for row in self.financial_mutation_versions(terms)]
        return [m for m in self.financial_mutations_by_ids(ids) if bank.within_amounts(m, terms)]

    def financial_mutation(self, mutation_id: str) -> dict[str, Any]:
        return self._request("GET", f"financial_mutations/{mutation_id}.json")

    def link_booking(
        self,
        mutation_id: str,
        booking_type: str,
        booking_id: str,
        price: Decimal | None,
        price_base: Decimal | None = None,
        description: str | None = None,
    ) -> dict[str, Any] | str:
        """Link a booking to a mutation. The mutation as Moneybird answers it since 2026-10-13;
        its id alone when the answer is the older integer (read it if more is needed). Never
        retried: an Ambiguous link is settled by reading the mutation."""
        body = bank.link_body(booking_type, booking_id, price, price_base, description)
        path = f"financial_mutations/{mutation_id}/link_booking.json"
        return bank.link_answer(self._request("PATCH", path, json=body), mutation_id)

    def unlink_booking(
        self, mutation_id: str, booking_type: str, booking_id: str
    ) -> dict[str, Any] | None:
        """Undo one link: `Payment` with the payment's id, `LedgerAccountBooking` with the
        booking's own id. The mutation as it is afterwards."""
        body = bank.unlink_body(booking_type, booking_id)
        path = f"financial_mutations/{mutation_id}/unlink_booking.json"
        return self._request("DELETE", path, json=body)

    # --- transport -------------------------------------------------------------------------

    # One attempt per loop, read top to bottom by what came back; splitting it would hide the
    # retry policy across functions.
    def _request(  # noqa: C901
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        read: bool | None = None,
    ) -> Any:
        is_read = method == "GET" if read is None else read
        attempt = 0
        waits_429 = 0
        started = time.monotonic()
        while True:
            attempt += 1
            # Reads are retried, but not past RETRY_SECONDS: a server that hangs must not hold
            # a pass for minutes.
            retry = is_read and attempt < GET_ATTEMPTS
            retry = retry and time.monotonic() - started < RETRY_SECONDS
            self.limiter.acquire()
            try:
                response = self._http.request(method, path, params=params, json=json)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Never reached the server: nothing was written.
                if retry:
                    self._backoff(attempt)
                    continue
                self.streak.failed(cause_of(exc))
                raise Unavailable(
                    f"Moneybird at {self.streak.host} unreachable: {self.streak.cause}"
                ) from None
            except httpx.TransportError as exc:
                if retry:
                    self._backoff(attempt)
                    continue
                self.streak.failed(cause_of(exc))
                cls = Unavailable if is_read else Ambiguous
                raise cls(f"{method} {path}: no complete answer ({self.streak.cause})") from None
            self.limiter.observe(response.headers)
            status = response.status_code
            if status >= 500:
                if retry:
                    self._backoff(attempt)
                    continue
                self.streak.failed(f"it answered {status}")
                cls = Unavailable if is_read else Ambiguous
                raise cls(f"{method} {path}: Moneybird answered {status}", status)
            self.streak.answered()
            if status == 429:
                waits_429 += 1
                if waits_429 > MAX_429_WAITS:
                    raise Unavailable(f"{method} {path}: still rate limited (429)", 429)
                until = retry_after_epoch(response.headers.get("Retry-After"), time.time())
                self.limiter.block_until(until)
                attempt -= 1  # a 429 was not processed; it does not use up a retry
                continue
            # A wrong administration id answers 404 (or 403) to everything under it: said as
            # the configuration error it is, not as "not found" on every order.
            own = not path.startswith(("http://", "https://"))
            if own and (status == 403 or (status == 404 and not _ONE_RECORD.search(path))):
                wrong = self.unreachable()
                if wrong is not None:
                    raise wrong
            if status in (401, 403):
                # The bank's endpoints need the `bank` scope as well.
                scopes = "sales_invoices, settings" + (", bank" if bank.is_bank_path(path) else "")
                raise AuthError(
                    f"Moneybird refused the token ({status}): check MONEYBIRD_TOKEN, its scopes "
                    f"({scopes}) and moneybird.administration_id"
                )
            if status == 404:
                raise NotFound(f"{method} {path}: not found", 404)
            if status in (400, 422):
                raise Rejected(f"Moneybird refused it ({status}): {_error_text(response)}", status)
            if status >= 300:
                raise Rejected(f"{method} {path}: unexpected status {status}", status)
            if status == 204 or not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise Unavailable(f"{method} {path}: answer is not JSON", status) from None

    def _backoff(self, attempt: int) -> None:
        self._sleep(min(2.0 ** (attempt - 1), 30.0))


def no_access(administration_id: str, administrations: list[dict[str, Any]]) -> str | None:
    """Why the token cannot use the administration (naming those it can reach), or None when
    it is among them: `config check`'s finding, and a pass's stop."""
    names = {str(a.get("id")): a.get("name", "") for a in administrations}
    if administration_id in names:
        return None
    listed = ", ".join(f"{i} ({n})" for i, n in names.items()) or "none"
    return f"the token has no access to administration {administration_id}; it can reach: {listed}"


def _error_text(response: httpx.Response) -> str:
    """Moneybird's validation message, or a short excerpt of a non-JSON body: scrubbed of the
    secrets whole before anything is cut (a proxy's page may echo the request)."""
    try:
        data = response.json()
    except ValueError:
        return excerpt(response.text, 200).strip() or "(empty body)"
    if isinstance(data, dict) and "error" in data:
        error = data["error"]
        if isinstance(error, dict):
            return scrub("; ".join(f"{k} {', '.join(map(str, v))}" for k, v in error.items()))
        return scrub(str(error))
    return excerpt(str(data), 300)


def period(first: date, last: date) -> str:
    """Moneybird's filter term for the days from `first` to `last`, both included."""
    return f"period:{first:%Y%m%d}..{last:%Y%m%d}"


def utc_today() -> date:
    return datetime.now(UTC).date()


def _batches(ids: list[str]) -> list[list[str]]:
    """Ids in groups of 100: the most one synchronization call returns."""
    return [ids[i : i + 100] for i in range(0, len(ids), 100)]
