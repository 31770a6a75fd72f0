"""A stateful Moneybird API v2 emulator, faithful to what the connector relies on.

Bearer auth; numeric string ids; 422 on validation errors and unknown keys; draft -> open ->
paid; invoice numbers only when sent; find_by_reference; synchronization endpoints; the
rate limit (headers, and 429 with an absolute epoch Retry-After and an HTML body). Faults can be
injected: fail before or after applying a write, or drop the connection.
"""

from __future__ import annotations

import copy as copy_module
import itertools
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote

from connector.sandbox.http import (
    DropConnection,
    LocalServer,
    Request,
    Response,
    Served,
    echo_page,
)

INVOICE_KEYS = {
    "contact_id", "contact_person_id", "original_estimate_id", "document_style_id",
    "workflow_id", "reference", "invoice_sequence_id", "invoice_date", "first_due_interval",
    "currency", "prices_are_incl_tax", "payment_conditions", "discount", "time_entry_ids",
    "details_attributes", "custom_fields_attributes",
}  # fmt: skip
DETAIL_KEYS = {
    "id", "description", "period", "price", "amount", "tax_rate_id", "ledger_account_id",
    "project_id", "product_id", "row_order", "is_optional", "is_selected", "_destroy",
    "automated_tax_enabled",
}  # fmt: skip
CONTACT_KEYS = {
    "company_name", "address1", "address2", "zipcode", "city", "country", "phone",
    "delivery_method", "customer_id", "tax_number", "firstname", "lastname",
    "chamber_of_commerce", "bank_account", "send_invoices_to_attention",
    "send_invoices_to_email", "send_estimates_to_attention", "send_estimates_to_email",
    "sepa_active", "sepa_iban", "sepa_iban_account_name", "sepa_bic", "sepa_mandate_id",
    "sepa_mandate_date", "sepa_sequence_type", "si_identifier_type", "si_identifier",
    "invoice_workflow_id", "estimate_workflow_id", "email_ubl", "direct_debit",
    "custom_fields_attributes", "contact_person",
}  # fmt: skip
EXTERNAL_INVOICE_KEYS = {
    "contact_id", "reference", "date", "due_date", "currency", "prices_are_incl_tax", "source",
    "source_url", "details_attributes",
}  # fmt: skip
PAYMENT_KEYS = {
    "payment_date", "price", "price_base", "financial_account_id", "financial_mutation_id",
    "transaction_identifier", "manual_payment_action", "ledger_account_id", "invoice_id",
}  # fmt: skip
PAYMENT_ACTIONS = {
    "private_payment", "payment_without_proof", "cash_payment", "rounding_error",
    "bank_transfer", "balance_settlement", "invoices_settlement",
}  # fmt: skip
STATEMENT_KEYS = {
    "financial_account_id", "reference", "official_date", "official_balance", "importer_key",
    "financial_mutations_attributes",
}  # fmt: skip
MUTATION_KEYS = {
    "date", "valutation_date", "message", "amount", "code", "contra_account_name",
    "contra_account_number", "batch_reference", "offset", "account_servicer_transaction_id",
    "account_servicer_metadata", "adyen_payment_instrument_id", "_destroy", "smart_transfer",
}  # fmt: skip
LINK_KEYS = {
    "booking_type", "booking_id", "price_base", "price", "description",
    "payment_batch_identifier", "project_id", "mark_open_sepa_transaction_as_paid",
}  # fmt: skip
BOOKING_TYPES = {
    "SalesInvoice", "Document", "LedgerAccount", "PaymentTransactionBatch", "PurchaseTransaction",
    "NewPurchaseInvoice", "NewReceipt", "PaymentTransaction", "PurchaseTransactionBatch",
    "ExternalSalesInvoice", "Payment", "VatDocument",
}  # fmt: skip
# The booking types the sandbox books; the others are refused as unsupported here.
SANDBOX_BOOKINGS = {"LedgerAccount", "SalesInvoice", "ExternalSalesInvoice", "Payment"}
MUTATION_FILTERS = {
    "period", "state", "mutation_type", "financial_account_id", "amount_from", "amount_to",
}  # fmt: skip
MUTATION_SYNC_FILTERS = {"period", "state", "mutation_type", "financial_account_id"}
MOST_MUTATIONS_LISTED = 100  # GET /financial_mutations answers no more: synchronization does
HTML_429 = b"<html><head><title>429 Too Many Requests</title></head><body><center><h1>429 Too Many Requests</h1></center><hr><center>nginx</center></body></html>"  # noqa: E501


@dataclass
class Fault:
    """For matching requests: 'before_500', 'after_500', 'after_drop', 'drop', or
    'after_timeout' (applied, then no answer for `delay` seconds). `skip` lets that many
    matching requests through first, so the Nth one fails; `times` is how often it fires."""

    method: str
    path_pattern: str
    mode: str
    times: int = 1
    skip: int = 0
    delay: float = 2.0


@dataclass
class MoneybirdSandbox(Served):
    administration_id: str = "123456789"
    token: str = "sandbox-moneybird-token"
    rate_limit: int = 150
    rate_window: float = 300.0
    port: int = 0  # 0: any free port
    host: str = "127.0.0.1"
    tax_rates: list[dict[str, Any]] = field(default_factory=list)
    ledger_accounts: list[dict[str, Any]] = field(default_factory=list)
    financial_accounts: list[dict[str, Any]] = field(default_factory=list)
    workflows: list[dict[str, Any]] = field(default_factory=list)
    document_styles: list[dict[str, Any]] = field(default_factory=list)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    external_invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    period_locked_until: str | None = None  # the bookkeeper closed the books up to this day
    down_status: int | None = None  # an outage: every request answered with this (e.g. 503)
    # Units of a currency per euro, as Moneybird converts a document in it: its `*_base`
    # amounts (and the VAT report) are in euros. A currency not listed converts 1:1.
    exchange_rates: dict[str, Decimal] = field(default_factory=dict)
    # Test hook: every write answered with an error page that quotes the request, as an HTML
    # page ("text") or as JSON under the key `echo_as` ("error": Moneybird's shape); `echo_lead`
    # comes first.
    echo_error_status: int | None = None
    echo_as: str = "text"
    echo_lead: str = ""
    accepted: list[tuple[str, str, Any]] = field(default_factory=list)  # method, path, body
    requests: list[tuple[float, str, str, int]] = field(default_factory=list)
    # every authorised request: method, path, query pairs, body
    received: list[tuple[str, str, list[tuple[str, str]], Any]] = field(default_factory=list)
    # Test hook, called with (method, path, applied) around each write: before it is applied
    # (applied=False) and after it was applied but before the answer is sent (applied=True).
    write_hook: Callable[[str, str, bool], None] | None = None
    # The bank: financial statements and their mutations, by id.
    financial_statements: dict[str, dict[str, Any]] = field(default_factory=dict)
    financial_mutations: dict[str, dict[str, Any]] = field(default_factory=dict)
    # link_booking's answer: "mutation" (since 2026-10-13) or "integer" (before: a status code).
    link_booking_answer: str = "mutation"
    # Test hook: False is a token made without the `bank` scope; the bank's endpoints answer 403.
    bank_scope: bool = True

    def __post_init__(self) -> None:
        self._linked_payments: set[str] = set()  # payments a SalesInvoice link made
        self._ids = itertools.count(490000000000000001)
        self._numbers = itertools.count(1)
        self._customer_numbers = itertools.count(1)
        self._window: deque[float] = deque()
        self._lock = threading.RLock()
        self.server = LocalServer(self.handle, port=self.port, host=self.host)

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"{self.server.url}/api/v2"

    def spend(self, requests: int) -> None:
        """Use up budget as another program with the same token would."""
        with self._lock:
            self._window.extend([time.time()] * requests)

    def new_id(self) -> str:
        return str(next(self._ids))

    # --- dispatch --------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        with self._lock:
            response = self._handle(req)
            self.requests.append((time.time(), req.method, req.path, response.status))
            return response

    def _echo(self, req: Request, status: int) -> Response:
        """A gateway's error page quoting the request, Authorization header and all."""
        page = echo_page(req, self.echo_lead)
        if self.echo_as == "text":
            return Response(status, raw=page.encode(), content_type="text/html")
        return Response(status, {self.echo_as: page})

    def _handle(self, req: Request) -> Response:
        if self.echo_error_status is not None and req.method == "POST":
            return self._echo(req, self.echo_error_status)
        if self.down_status is not None:
            return Response(self.down_status, raw=b"<html>Service Unavailable</html>",
                            content_type="text/html")  # fmt: skip
        if req.headers.get("authorization") != f"Bearer {self.token}":
            return Response(401, {"error": "Token is invalid or expired", "symbolic": {}})
        limited = self._rate_limit()
        if limited is not None:
            return limited
        headers = self._rate_headers()
        prefix = f"/api/v2/{self.administration_id}/"
        if req.path == "/api/v2/administrations.json":
            return Response(200, [self._administration()], headers)
        if not req.path.startswith(prefix) or not req.path.endswith(".json"):
            return Response(404, {"error": "Not found"}, headers)
        path = req.path[len(prefix) : -len(".json")]
        fault = self._take_fault(req.method, path)
        if fault is not None and fault.mode == "before_500":
            return Response(500, {"error": "Internal server error"}, headers)
        if fault is not None and fault.mode == "drop":
            raise DropConnection
        self.received.append((req.method, req.path, req.query_pairs, req.json()))
        if self.write_hook and req.method != "GET":
            self.write_hook(req.method, path, False)
        response = self._route(req, path)
        if self.write_hook and req.method != "GET":
            self.write_hook(req.method, path, True)
        response.headers.update(headers)
        if response.status < 300 and req.method != "GET":
            self.accepted.append((req.method, req.path, req.json()))
        if fault is not None and fault.mode == "after_500":
            return Response(500, {"error": "Internal server error"}, headers)
        if fault is not None and fault.mode == "after_drop":
            raise DropConnection
        if fault is not None and fault.mode == "after_timeout":
            self._lock.release()  # let other requests through while this one hangs
            try:
                time.sleep(fault.delay)
            finally:
                self._lock.acquire()
            raise DropConnection
        return response

    def _route(self, req: Request, path: str) -> Response:
        m, body = req.method, req.json() if req.method in ("POST", "PATCH", "PUT") else None
        simple = {
            "tax_rates": self.tax_rates,
            "ledger_accounts": self.ledger_accounts,
            "financial_accounts": self.financial_accounts,
            "workflows": self.workflows,
            "document_styles": self.document_styles,
        }
        if m == "GET" and path in simple:
            return self._paged(req, simple[path])
        if path == "contacts/synchronization":
            if m == "GET":
                return Response(
                    200, [{"id": c["id"], "version": c["version"]} for c in self.contacts.values()]
                )
            if m == "POST":
                return self._sync_fetch(body, self.contacts)
        if path == "contacts" and m == "GET":
            return self._search_contacts(req)
        if path == "contacts" and m == "POST":
            return self._create_contact(body)
        if (found := re.fullmatch(r"contacts/customer_id/(.+)", path)) and m == "GET":
            cid = unquote(found.group(1))
            match = next((c for c in self.contacts.values() if c["customer_id"] == cid), None)
            return Response(200, match) if match else Response(404, {"error": "Not found"})
        if (found := re.fullmatch(r"contacts/(\d+)", path)) and m in ("GET", "PATCH"):
            contact = self.contacts.get(found.group(1))
            if contact is None:
                return Response(404, {"error": "Not found"})
            return Response(200, contact) if m == "GET" else self._update_contact(contact, body)
        if path == "reports/tax" and m == "GET":
            return self._tax_report(req.query.get("period") or "this_month")
        kind = path.split("/", 1)[0]
        if kind in ("sales_invoices", "external_sales_invoices"):
            return self._invoices_route(req, m, path, body, kind)
        if kind in ("financial_statements", "financial_mutations"):
            return self._bank_route(req, m, path, body)
        return Response(404, {"error": "Not found"})

    # A router: one branch per sales-invoice endpoint of Moneybird's API, in the API's order.
    def _invoices_route(  # noqa: C901
        self, req: Request, m: str, path: str, body: Any, kind: str
    ) -> Response:
        table = self.invoices if kind == "sales_invoices" else self.external_invoices
        rest = path[len(kind) :]
        if rest == "" and m == "POST":
            return self._create_invoice(body, kind)
        if rest == "" and m == "GET" and kind == "sales_invoices":
            return self._list_invoices(req)
        if rest == "/synchronization":
            if m == "GET":
                # Like Moneybird: only this year's documents unless a filter names a period.
                rows = _in_period(table.values(), req.query.get("filter"))
                if rows is None:
                    return Response(400, {"error": "filter: period is invalid"})
                return Response(200, [{"id": i["id"], "version": i["version"]} for i in rows])
            if m == "POST":
                return self._sync_fetch(body, table)
        found = re.fullmatch(r"/find_by_reference/(.+)", rest)
        if found and m == "GET" and kind == "sales_invoices":
            ref = unquote(found.group(1))
            match = next((i for i in table.values() if i["reference"] == ref), None)
            return Response(200, match) if match else Response(404, {"error": "Not found"})
        if found := re.fullmatch(r"/(\d+)", rest):
            invoice = table.get(found.group(1))
            if invoice is None:
                return Response(404, {"error": "Not found"})
            if m == "GET":
                return Response(200, invoice)
            if m == "PATCH" and kind == "sales_invoices":
                return self._update_invoice(invoice, body)
            if m == "DELETE":
                deletable = invoice["state"] == "draft" or (
                    kind == "external_sales_invoices" and not invoice["payments"]
                )
                if not deletable:
                    return Response(422, {"error": "This invoice cannot be deleted"})
                del table[invoice["id"]]
                return Response(204, None)
        found = re.fullmatch(r"/(\d+)/send_invoice", rest)
        if found and m == "PATCH" and kind == "sales_invoices":
            return self._send(found.group(1), body)
        if (found := re.fullmatch(r"/(\d+)/payments", rest)) and m == "POST":
            return self._pay(found.group(1), body, table)
        found = re.fullmatch(r"/(\d+)/duplicate_creditinvoice", rest)
        if found and m == "PATCH" and kind == "sales_invoices":
            return self._duplicate_credit(found.group(1))
        found = re.fullmatch(r"/(\d+)/register_payment_creditinvoice", rest)
        if found and m == "PATCH" and kind == "sales_invoices":
            return self._settle_credit(found.group(1))
        return Response(404, {"error": "Not found"})

    # --- rate limit and faults -------------------------------------------------------------

    def _rate_limit(self) -> Response | None:
        now = time.time()
        while self._window and self._window[0] <= now - self.rate_window:
            self._window.popleft()
        if len(self._window) >= self.rate_limit:
            reset = int(self._window[0] + self.rate_window) + 1
            return Response(
                429,
                raw=HTML_429,
                content_type="text/html",
                headers={"Retry-After": str(reset), **self._rate_headers(reset)},
            )
        self._window.append(now)
        return None

    def _rate_headers(self, reset: int | None = None) -> dict[str, str]:
        if reset is None:
            oldest = self._window[0] if self._window else time.time()
            reset = int(oldest + self.rate_window) + 1
        return {
            "RateLimit-Limit": str(self.rate_limit),
            "RateLimit-Remaining": str(max(0, self.rate_limit - len(self._window))),
            "RateLimit-Reset": str(reset),
        }

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and re.fullmatch(fault.path_pattern, path):
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    # --- resources -------------------------------------------------------------------------

    def _administration(self) -> dict[str, Any]:
        return {
            "id": self.administration_id,
            "name": "Sandbox webwinkel",
            "language": "nl",
            "currency": "EUR",
            "country": "NL",
            "time_zone": "Europe/Amsterdam",
            "period_locked_until": self.period_locked_until,
        }

    def _locked(self, day: Any) -> bool:
        return bool(self.period_locked_until and day and str(day)[:10] <= self.period_locked_until)

    def _paged(self, req: Request, rows: list[dict[str, Any]]) -> Response:
        per_page, page = _int(req.query.get("per_page"), 50), _int(req.query.get("page"), 1)
        if not 1 <= per_page <= 100:
            return Response(400, {"error": "per_page must be between 1 and 100"})
        start = (page - 1) * per_page
        return Response(200, rows[start : start + per_page])

    def _sync_fetch(self, body: Any, table: dict[str, dict[str, Any]]) -> Response:
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or len(ids) > 100:
            return Response(400, {"error": "ids must be a list of at most 100 ids"})
        return Response(200, [table[str(i)] for i in ids if str(i) in table])

    def _search_contacts(self, req: Request) -> Response:
        query = (req.query.get("query") or "").lower()
        hits = [
            c
            for c in self.contacts.values()
            if not query
            or any(
                query in str(c.get(f) or "").lower()
                for f in (
                    "company_name",
                    "firstname",
                    "lastname",
                    "email",
                    "send_invoices_to_email",
                    "customer_id",
                    "city",
                )
            )
        ]
        return self._paged(req, hits)

    def add_contact(self, **fields: Any) -> dict[str, Any]:
        contact = {
            "id": self.new_id(),
            "administration_id": int(self.administration_id),
            "company_name": "", "firstname": "", "lastname": "", "address1": "",
            "address2": "", "zipcode": "", "city": "", "country": "NL", "phone": "",
            "delivery_method": "Email", "tax_number": "", "email": "",
            "send_invoices_to_email": "", "send_estimates_to_email": "",
            "customer_id": str(next(self._customer_numbers)),
            "created_at": _now(), "updated_at": _now(), "version": int(time.time()),
            "archived": False, "notes": [], "custom_fields": [], "contact_people": [],
        }  # fmt: skip
        contact.update(fields)
        contact["email"] = contact.get("send_invoices_to_email") or contact.get("email") or ""
        self.contacts[str(contact["id"])] = contact
        return contact

    def _create_contact(self, body: Any) -> Response:
        data = body.get("contact") if isinstance(body, dict) else None
        if not isinstance(data, dict) or set(body) - {"contact"}:
            return Response(400, {"error": "contact is missing"})
        unknown = set(data) - CONTACT_KEYS
        if unknown:
            return Response(422, {"error": {k: ["is not a known attribute"] for k in unknown}})
        if not any(
            str(data.get(k) or "").strip() for k in ("company_name", "firstname", "lastname")
        ):
            return Response(422, {"error": {"company_name": ["can't be blank"]}})
        cid = data.get("customer_id")
        if cid and any(c["customer_id"] == cid for c in self.contacts.values()):
            return Response(422, {"error": {"customer_id": ["is already in use"]}})
        if data.get("country") and not re.fullmatch(r"[A-Z]{2}", data["country"]):
            return Response(422, {"error": {"country": ["is invalid"]}})
        fields = {k: v for k, v in data.items() if v is not None}
        if not cid:
            fields.pop("customer_id", None)
        return Response(201, self.add_contact(**fields))

    def _update_contact(self, contact: dict[str, Any], body: Any) -> Response:
        data = body.get("contact") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            return Response(400, {"error": "contact is missing"})
        unknown = set(data) - CONTACT_KEYS
        if unknown:
            return Response(422, {"error": {k: ["is not a known attribute"] for k in unknown}})
        contact.update({k: v for k, v in data.items() if v is not None})
        contact["version"] += 1
        contact["updated_at"] = _now()
        return Response(200, contact)

    def _create_invoice(self, body: Any, kind: str = "sales_invoices") -> Response:
        root = kind[:-1]  # sales_invoice / external_sales_invoice
        data = body.get(root) if isinstance(body, dict) else None
        if not isinstance(data, dict):
            return Response(400, {"error": f"{root} is missing"})
        errors: dict[str, list[str]] = {}
        allowed = INVOICE_KEYS if kind == "sales_invoices" else EXTERNAL_INVOICE_KEYS
        for key in set(data) - allowed:
            errors[key] = ["is not a known attribute"]
        contact = self.contacts.get(str(data.get("contact_id")))
        if contact is None:
            errors["contact_id"] = ["is invalid"]
        details = self._details_in(data.get("details_attributes"), errors)
        incl = str(data.get("prices_are_incl_tax", False)).lower() == "true"
        date_key = "invoice_date" if kind == "sales_invoices" else "date"
        if data.get(date_key):
            try:
                date.fromisoformat(str(data[date_key]))
            except ValueError:
                errors[date_key] = ["is invalid"]
        if self._locked(data.get(date_key)):
            errors[date_key] = ["valt in een afgesloten periode (period is locked)"]
        if errors:
            return Response(422, {"error": errors})
        invoice = self._invoice_from(data, contact or {}, details, incl)
        if kind == "external_sales_invoices":
            # The shop's own invoice: open at once, numbered by its reference.
            invoice.update(state="open", invoice_id=data.get("reference"), date=data.get("date"),
                           source=data.get("source"))  # fmt: skip
            self.external_invoices[invoice["id"]] = invoice
        else:
            self.invoices[invoice["id"]] = invoice
        return Response(201, invoice)

    def _invoice_from(
        self, data: dict[str, Any], contact: dict[str, Any], details: list[Any], incl: bool
    ) -> dict[str, Any]:
        rows = [self._detail_row(d, rate, amount, price, n) for n, (d, rate, amount, price) in
                enumerate(details)]  # fmt: skip
        invoice = {
            "id": self.new_id(), "administration_id": int(self.administration_id),
            "contact_id": contact.get("id"), "contact": contact, "invoice_id": None,
            "workflow_id": data.get("workflow_id"), "document_style_id": data.get("document_style_id"),  # noqa: E501
            "state": "draft", "invoice_date": data.get("invoice_date"),
            "reference": data.get("reference", ""), "currency": data.get("currency", "EUR"),
            "prices_are_incl_tax": incl, "details": rows, "payments": [],
            "original_sales_invoice_id": None, "paid_at": None, "sent_at": None,
            "created_at": _now(), "updated_at": _now(), "version": int(time.time()),
        }  # fmt: skip
        self._recompute(invoice)
        return invoice

    def _detail_row(
        self, d: dict[str, Any], rate: dict[str, Any], amount: Decimal, price: Decimal, n: int
    ) -> dict[str, Any]:
        return {
            "id": self.new_id(), "tax_rate_id": rate["id"],
            "ledger_account_id": str(d["ledger_account_id"]),
            "amount": f"{amount.normalize():f} x", "amount_decimal": f"{amount:f}",
            "description": d.get("description", ""), "price": f"{price:f}",
            "row_order": n, "total_price_excl_tax_with_discount": None,
        }  # fmt: skip

    def _recompute(self, invoice: dict[str, Any]) -> None:
        """Totals from the details: VAT once per rate over the rate's summed line amounts."""
        incl = bool(invoice["prices_are_incl_tax"])
        per_rate: dict[str, list[Decimal]] = {}
        for row in invoice["details"]:
            amount, price = Decimal(row["amount_decimal"]), Decimal(row["price"])
            line_total = (amount * price).quantize(Decimal("0.01"), ROUND_HALF_UP)
            pct = next(Decimal(r["percentage"]) for r in self.tax_rates
                       if r["id"] == row["tax_rate_id"])  # fmt: skip
            per_rate.setdefault(row["tax_rate_id"], [pct, Decimal(0)])
            per_rate[row["tax_rate_id"]][1] += line_total
            row["total_price_excl_tax_with_discount"] = (
                f"{line_total * 100 / (100 + pct) if incl else line_total:.2f}"
            )
        per_euro = self.exchange_rates.get(str(invoice.get("currency") or "EUR"), Decimal(1))

        def euros(amount: Decimal) -> str:
            return f"{(amount / per_euro).quantize(Decimal('0.01'), ROUND_HALF_UP):.2f}"

        tax_totals, taxable_total, tax_total = [], Decimal(0), Decimal(0)
        for rate_id, (pct, base) in per_rate.items():
            divisor = (Decimal(100) + pct) if incl else Decimal(100)
            tax = (base * pct / divisor).quantize(Decimal("0.01"), ROUND_HALF_UP)
            taxable = base - tax if incl else base
            taxable_total += taxable
            tax_total += tax
            tax_totals.append({
                "tax_rate_id": rate_id, "taxable_amount": f"{taxable:.2f}",
                "taxable_amount_base": euros(taxable), "tax_amount": f"{tax:.2f}",
                "tax_amount_base": euros(tax),
            })  # fmt: skip
        total = taxable_total + tax_total
        paid = sum((Decimal(p["price"]) for p in invoice["payments"]), Decimal(0))
        invoice.update({
            "total_paid": f"{paid:.2f}", "total_unpaid": f"{total - paid:.2f}",
            "total_unpaid_base": euros(total - paid),
            "total_price_excl_tax": f"{taxable_total:.2f}", "total_price_excl_tax_base": euros(taxable_total),  # noqa: E501
            "total_price_incl_tax": f"{total:.2f}", "total_price_incl_tax_base": euros(total),
            "tax_totals": tax_totals,
        })  # fmt: skip

    def _details_in(
        self, details_in: Any, errors: dict[str, list[str]]
    ) -> list[tuple[dict[str, Any], dict[str, Any] | None, Decimal, Decimal]]:
        """Validate new or changed detail rows; rows with `id` may carry `_destroy` alone."""
        if isinstance(details_in, dict):
            details_in = list(details_in.values())
        details: list[tuple[dict[str, Any], dict[str, Any] | None, Decimal, Decimal]] = []
        for n, d in enumerate(details_in or []):
            bad = set(d) - DETAIL_KEYS
            if bad:
                errors[f"details.{n}"] = [f"unknown attribute(s) {sorted(bad)}"]
                continue
            if d.get("id") and str(d.get("_destroy")).lower() in ("true", "1"):
                details.append((d, None, Decimal(0), Decimal(0)))
                continue
            rate = next((r for r in self.tax_rates if r["id"] == str(d.get("tax_rate_id"))), None)
            if rate is None or rate["tax_rate_type"] != "sales_invoice" or not rate["active"]:
                errors[f"details.{n}.tax_rate_id"] = ["is invalid"]
                continue
            if not any(a["id"] == str(d.get("ledger_account_id")) for a in self.ledger_accounts):
                errors[f"details.{n}.ledger_account_id"] = ["is invalid"]
                continue
            try:
                price = Decimal(str(d.get("price")).replace(",", "."))
                amount = Decimal(str(d.get("amount", "1")).replace(",", "."))
            except InvalidOperation:
                errors[f"details.{n}.price"] = ["is not a number"]
                continue
            details.append((d, rate, amount, price))
        return details

    def _update_invoice(self, invoice: dict[str, Any], body: Any) -> Response:
        data = body.get("sales_invoice") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            return Response(400, {"error": "sales_invoice is missing"})
        errors: dict[str, list[str]] = {
            k: ["is not a known attribute"] for k in set(data) - INVOICE_KEYS
        }
        if invoice["state"] != "draft":
            errors["state"] = ["only drafts can be changed"]
        details = self._details_in(data.get("details_attributes"), errors)
        if data.get("invoice_date"):
            try:
                date.fromisoformat(str(data["invoice_date"]))
            except ValueError:
                errors["invoice_date"] = ["is invalid"]
        if errors:
            return Response(422, {"error": errors})
        for key in ("reference", "invoice_date"):
            if key in data:
                invoice[key] = data[key]
        if "prices_are_incl_tax" in data:
            invoice["prices_are_incl_tax"] = str(data["prices_are_incl_tax"]).lower() == "true"
        rows = invoice["details"]
        for d, rate, amount, price in details:
            if rate is None:
                invoice["details"] = rows = [r for r in rows if r["id"] != str(d["id"])]
            else:
                rows.append(self._detail_row(d, rate, amount, price, len(rows)))
        self._recompute(invoice)
        invoice["version"] += 1
        invoice["updated_at"] = _now()
        return Response(200, invoice)

    def _list_invoices(self, req: Request) -> Response:
        """`filter=state:draft,reference:X,created_after:...` (a subset of Moneybird's)."""
        terms = dict(
            term.split(":", 1) for term in (req.query.get("filter") or "").split(",") if ":" in term
        )
        rows = [
            i
            for i in self.invoices.values()
            if terms.get("state", "all") in ("all", i["state"])
            and ("reference" not in terms or i["reference"] == terms["reference"])
            and ("created_after" not in terms or i["created_at"] > terms["created_after"])
        ]
        return self._paged(req, rows)

    def _duplicate_credit(self, invoice_id: str) -> Response:
        original = self.invoices.get(invoice_id)
        if original is None:
            return Response(404, {"error": "Not found"})
        if original["state"] == "draft":
            return Response(422, {"error": "A draft cannot be credited"})
        first = original["details"][0]
        header = {
            **first, "id": self.new_id(), "amount": "1 x", "amount_decimal": "1.0", "price": "0.0",
            "description": f"**Creditfactuur voor factuur {original['invoice_id']}**",
        }  # fmt: skip
        negated = [
            {**row, "id": self.new_id(), "amount_decimal": f"{-Decimal(row['amount_decimal']):f}",
             "amount": f"{-Decimal(row['amount_decimal']).normalize():f} x"}
            for row in original["details"]
        ]  # fmt: skip
        credit = {
            **original, "id": self.new_id(), "invoice_id": None, "state": "draft",
            "invoice_date": None, "details": [header, *negated], "payments": [],
            "original_sales_invoice_id": original["id"], "paid_at": None, "sent_at": None,
            "created_at": _now(), "updated_at": _now(), "version": int(time.time()),
        }  # fmt: skip
        self._recompute(credit)
        self.invoices[credit["id"]] = credit
        return Response(200, credit)

    def _settle_credit(self, credit_id: str) -> Response:
        credit = self.invoices.get(credit_id)
        if credit is None:
            return Response(404, {"error": "Not found"})
        original = self.invoices.get(str(credit.get("original_sales_invoice_id")))
        payable = ("open", "late", "reminded", "pending_payment")
        if original is None or credit["state"] not in payable or original["state"] not in payable:
            return Response(422, {"error": "Both invoices must accept a payment"})
        amount = Decimal(credit["total_price_incl_tax"])
        today = date.today().isoformat()
        for invoice, price in ((credit, amount), (original, -amount)):
            self._add_payment(invoice, price, today, None, None, "invoices_settlement")
        return Response(200, credit)

    def _add_payment(
        self,
        invoice: dict[str, Any],
        price: Decimal,
        payment_date: str,
        account: str | None,
        identifier: str | None,
        action: str | None,
    ) -> dict[str, Any]:
        payment = {
            "id": self.new_id(), "administration_id": int(self.administration_id),
            "invoice_type": "SalesInvoice", "invoice_id": invoice["id"],
            "financial_account_id": account, "transaction_identifier": identifier,
            "price": f"{price:f}", "price_base": f"{price:f}", "payment_date": payment_date,
            "manual_payment_action": action, "created_at": _now(), "updated_at": _now(),
        }  # fmt: skip
        invoice["payments"].append(payment)
        self._recompute(invoice)
        if Decimal(invoice["total_unpaid"]) == 0:
            invoice["state"], invoice["paid_at"] = "paid", payment_date
        invoice["version"] += 1
        return payment

    def _send(self, invoice_id: str, body: Any) -> Response:
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            return Response(404, {"error": "Not found"})
        sending = (body or {}).get("sales_invoice_sending") or {}
        method = sending.get("delivery_method", "Email")
        if method not in ("Email", "Peppol", "Manual"):
            return Response(422, {"error": {"delivery_method": ["is not included in the list"]}})
        if invoice["state"] == "draft" and self._locked(invoice.get("invoice_date")):
            return Response(422, {"error": {"invoice_date": ["valt in een afgesloten periode"]}})
        if invoice["state"] == "draft":
            year = (invoice.get("invoice_date") or date.today().isoformat())[:4]
            invoice["invoice_id"] = f"{year}-{next(self._numbers):04d}"
            invoice["state"] = "open"
            invoice["sent_at"] = date.today().isoformat()
            if Decimal(invoice["total_unpaid"]) == 0:
                invoice["state"] = "paid"
                invoice["paid_at"] = date.today().isoformat()
        invoice["delivery_method"] = method
        invoice["version"] += 1
        return Response(200, invoice)

    def _pay(
        self, invoice_id: str, body: Any, table: dict[str, dict[str, Any]] | None = None
    ) -> Response:
        invoice = (self.invoices if table is None else table).get(invoice_id)
        if invoice is None:
            return Response(404, {"error": "Not found"})
        data = body.get("payment") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            return Response(400, {"error": "payment is missing"})
        errors: dict[str, list[str]] = {
            k: ["is not a known attribute"] for k in set(data) - PAYMENT_KEYS
        }
        if invoice["state"] == "draft":
            errors["invoice"] = ["Payments cannot be made on drafts"]
        action = data.get("manual_payment_action")
        if action is not None and action not in PAYMENT_ACTIONS:
            errors["manual_payment_action"] = ["is not included in the list"]
        account = data.get("financial_account_id")
        if account is not None and not any(
            a["id"] == str(account) for a in self.financial_accounts
        ):
            errors["financial_account_id"] = ["is invalid"]
        ledger_id = data.get("ledger_account_id")
        if ledger_id is not None:
            ledger = next((a for a in self.ledger_accounts if a["id"] == str(ledger_id)), None)
            # A ledger limited to other documents ("Kruisposten": financial mutations and
            # journal entries only) takes no payment.
            if ledger is None:
                errors["ledger_account_id"] = ["is invalid"]
            elif "payment" not in (ledger.get("allowed_document_types") or ["payment"]):
                errors["ledger_account_id"] = ["is not allowed for this document type"]
        try:
            price = Decimal(str(data.get("price")).replace(",", "."))
            date.fromisoformat(str(data.get("payment_date"))[:10])
        except (InvalidOperation, ValueError):
            errors["payment"] = ["price and payment_date are required"]
            price = Decimal(0)
        if self._locked(str(data.get("payment_date"))[:10]):
            errors["payment_date"] = ["valt in een afgesloten periode (period is locked)"]
        base = data.get("price_base")
        if invoice.get("currency", "EUR") != "EUR" and base is None:
            errors["price_base"] = ["is required for a document in another currency"]
        if errors:
            return Response(422, {"error": errors})
        payment = self._add_payment(
            invoice,
            price,
            str(data["payment_date"])[:10],
            str(account) if account else None,
            data.get("transaction_identifier"),
            action,
        )
        if base is not None:
            payment["price_base"] = str(base)
        if ledger_id is not None:
            payment["ledger_account_id"] = str(ledger_id)
        return Response(201, payment)

    # --- the bank: financial statements, mutations and their links ------------------------

    # A router, as for invoices: one branch per bank endpoint of Moneybird's API.
    def _bank_route(self, req: Request, m: str, path: str, body: Any) -> Response:
        if not self.bank_scope:
            return Response(403, {"error": "Token has insufficient scope: bank"})
        if path == "financial_statements" and m == "POST":
            return self._create_statement(body)
        if (found := re.fullmatch(r"financial_statements/(\d+)", path)) and m == "DELETE":
            return self._delete_statement(found.group(1))
        if path == "financial_mutations" and m == "GET":
            rows = self._filtered_mutations(req.query.get("filter"), MUTATION_FILTERS)
            if isinstance(rows, Response):
                return rows
            return Response(200, rows[:MOST_MUTATIONS_LISTED])
        if path == "financial_mutations/synchronization":
            if m == "GET":
                rows = self._filtered_mutations(req.query.get("filter"), MUTATION_SYNC_FILTERS)
                if isinstance(rows, Response):
                    return rows
                return Response(200, [{"id": r["id"], "version": r["version"]} for r in rows])
            if m == "POST":
                return self._sync_fetch(body, self.financial_mutations)
        found = re.fullmatch(r"financial_mutations/(\d+)(/link_booking|/unlink_booking)?", path)
        if found is None:
            return Response(404, {"error": "Not found"})
        mutation = self.financial_mutations.get(found.group(1))
        if mutation is None:
            return Response(404, {"error": "record not found", "symbolic": {"id": "not_found"}})
        action = found.group(2)
        if action is None and m == "GET":
            return Response(200, mutation)
        if action == "/link_booking" and m == "PATCH":
            return self._link_booking(mutation, body)
        if action == "/unlink_booking" and m == "DELETE":
            return self._unlink_booking(mutation, req.json())
        return Response(404, {"error": "Not found"})

    def _create_statement(self, body: Any) -> Response:
        data = body.get("financial_statement") if isinstance(body, dict) else None
        if not isinstance(data, dict) or set(body) - {"financial_statement"}:
            return Response(400, {"error": "financial_statement is missing"})
        errors: dict[str, list[str]] = {
            k: ["is not a known attribute"] for k in set(data) - STATEMENT_KEYS
        }
        account = str(data.get("financial_account_id") or "")
        if not any(a["id"] == account for a in self.financial_accounts):
            errors["financial_account_id"] = ["is invalid"]
        reference = str(data.get("reference") or "")
        if not reference:
            errors["reference"] = ["can't be blank"]
        elif any(
            s["reference"] == reference and s["financial_account_id"] == account
            for s in self.financial_statements.values()
        ):
            # Unique per financial account, like a bank's statement numbers.
            errors["reference"] = ["has already been taken"]
        lines = data.get("financial_mutations_attributes") or []
        if isinstance(lines, dict):  # Moneybird also takes {"1": {...}, "2": {...}}
            lines = list(lines.values())
        mutations = [self._mutation_in(n, line, errors) for n, line in enumerate(lines)]
        if errors:
            return Response(422, {"error": errors})
        statement = self._statement(account, reference, data.get("official_date"), None)
        for line in mutations:
            self._book_mutation(statement, line)
        return Response(201, statement)

    def _mutation_in(self, n: int, line: Any, errors: dict[str, list[str]]) -> dict[str, Any]:
        if not isinstance(line, dict):
            errors[f"financial_mutations.{n}"] = ["is invalid"]
            return {}
        unknown = set(line) - MUTATION_KEYS
        if unknown:
            errors[f"financial_mutations.{n}"] = [f"unknown attribute(s) {sorted(unknown)}"]
        try:
            amount = Decimal(str(line.get("amount")).replace(",", "."))
            day = date.fromisoformat(str(line.get("date")))
        except (InvalidOperation, ValueError):
            errors[f"financial_mutations.{n}"] = ["date and amount are required"]
            return {}
        if self._locked(day.isoformat()):
            errors[f"financial_mutations.{n}.date"] = ["valt in een afgesloten periode"]
        return {**line, "amount": amount, "date": day.isoformat()}

    def _statement(
        self, account: str, reference: str, official_date: Any, importer: str | None
    ) -> dict[str, Any]:
        statement = {
            "id": self.new_id(), "financial_account_id": account, "reference": reference,
            "official_date": official_date, "official_balance": None,
            "importer_service": importer, "financial_mutations": [],
        }  # fmt: skip
        self.financial_statements[statement["id"]] = statement
        return statement

    def _book_mutation(self, statement: dict[str, Any], line: dict[str, Any]) -> dict[str, Any]:
        amount: Decimal = line["amount"]
        mutation = {
            "id": self.new_id(), "administration_id": int(self.administration_id),
            "amount": f"{amount:.2f}", "code": line.get("code"), "date": line["date"],
            "message": line.get("message"),
            "contra_account_name": line.get("contra_account_name"),
            "contra_account_number": line.get("contra_account_number") or "",
            "state": "unprocessed", "settlement_state": "settled",
            "amount_open": f"{amount:.2f}", "sepa_fields": None,
            "batch_reference": line.get("batch_reference"),
            "financial_account_id": statement["financial_account_id"], "currency": "EUR",
            "original_amount": None, "created_at": _now(), "updated_at": _now(),
            "version": int(time.time()), "financial_statement_id": statement["id"],
            "processed_at": None,
            "account_servicer_transaction_id": line.get("account_servicer_transaction_id"),
            "payments": [], "ledger_account_bookings": [],
        }  # fmt: skip
        self.financial_mutations[mutation["id"]] = mutation
        statement["financial_mutations"].append(mutation)
        return mutation

    def _delete_statement(self, statement_id: str) -> Response:
        statement = self.financial_statements.get(statement_id)
        if statement is None:
            return Response(404, {"error": "record not found", "symbolic": {"id": "not_found"}})
        if any(
            m["payments"] or m["ledger_account_bookings"] for m in statement["financial_mutations"]
        ):
            return Response(422, {"error": {"base": ["has booked financial mutations"]}})
        for mutation in statement["financial_mutations"]:
            self.financial_mutations.pop(mutation["id"], None)
        del self.financial_statements[statement_id]
        return Response(204, None)

    def _filtered_mutations(
        self, filter_text: str | None, known: set[str]
    ) -> list[dict[str, Any]] | Response:
        """Moneybird's mutation filter: `period` (this year unless named), `state` and
        `mutation_type` (several joined by `|`), `financial_account_id`, and on the list the
        absolute-amount bounds `amount_from`/`amount_to`."""
        terms = dict(t.split(":", 1) for t in (filter_text or "").split(",") if ":" in t)
        unknown = set(terms) - known
        if unknown:
            return Response(400, {"error": f"filter: unknown key(s) {sorted(unknown)}"})
        rows = _in_period(self.financial_mutations.values(), filter_text)
        if rows is None:
            return Response(400, {"error": "filter: period is invalid"})
        states = set(terms.get("state", "all").split("|"))
        kinds = set(terms.get("mutation_type", "all").split("|"))
        if not states <= {"all", "unprocessed", "processed", "auto_booked"}:
            return Response(400, {"error": "filter: state is invalid"})
        if not kinds <= {"all", "debit", "credit"}:
            return Response(400, {"error": "filter: mutation_type is invalid"})
        try:
            low = abs(Decimal(terms["amount_from"])) if "amount_from" in terms else None
            high = abs(Decimal(terms["amount_to"])) if "amount_to" in terms else None
        except InvalidOperation:
            return Response(400, {"error": "filter: amount is invalid"})

        def wanted(row: dict[str, Any]) -> bool:
            amount = Decimal(row["amount"])
            kind = "credit" if amount > 0 else "debit"
            return (
                ("all" in states or row["state"] in states)
                and ("all" in kinds or kind in kinds)
                and terms.get("financial_account_id", row["financial_account_id"])
                == row["financial_account_id"]
                and (low is None or abs(amount) >= low)
                and (high is None or abs(amount) <= high)
            )

        return sorted((r for r in rows if wanted(r)), key=lambda r: (r["date"], r["id"]))

    def _link_booking(self, mutation: dict[str, Any], body: Any) -> Response:  # noqa: C901
        if not isinstance(body, dict):
            return Response(400, {"error": "booking_type is missing"})
        unknown = set(body) - LINK_KEYS
        if unknown:
            return Response(400, {"error": f"unknown attribute(s) {sorted(unknown)}"})
        kind = body.get("booking_type")
        if kind not in BOOKING_TYPES:
            return Response(400, {"error": "Booking type isn't an option",
                                  "symbolic": {"booking_type": "in"}})  # fmt: skip
        if kind not in SANDBOX_BOOKINGS:
            return Response(422, {"error": f"the sandbox does not book {kind}"})
        booking_id = str(body.get("booking_id") or "")
        not_found = Response(404, {"error": "record not found",
                                   "symbolic": {"booking_id": "not_found"}})  # fmt: skip
        amount = Decimal(mutation["amount"])
        if kind == "LedgerAccount":
            ledger = next((a for a in self.ledger_accounts if a["id"] == booking_id), None)
            if ledger is None:
                return not_found
            price = _money(body.get("price_base"))
            if price is None:
                return Response(400, {"error": "Price can't be nil", "symbolic": {"price": "nils"}})
            direction = 1 if amount >= 0 else -1
            if amount > 0 and Decimal(mutation["amount_open"]) < 0:
                direction = -direction  # an over-booked incoming mutation: the signs swap
            mutation["ledger_account_bookings"].append({
                "id": self.new_id(), "administration_id": int(self.administration_id),
                "financial_mutation_id": mutation["id"], "ledger_account_id": booking_id,
                "project_id": None, "description": body.get("description"),
                "price": f"{price * direction:.2f}", "created_at": _now(), "updated_at": _now(),
            })  # fmt: skip
        elif kind in ("SalesInvoice", "ExternalSalesInvoice"):
            table = self.invoices if kind == "SalesInvoice" else self.external_invoices
            invoice = table.get(booking_id)
            if invoice is None:
                return not_found
            price = _money(body.get("price", body.get("price_base")))
            if price is None:
                return Response(400, {"error": "Price can't be nil", "symbolic": {"price": "nils"}})
            if price < 0:
                return Response(422, {"error": {"price": ["must be positive"]}})
            if invoice["state"] == "draft":
                return Response(422, {"error": {"invoice": ["Payments cannot be made on drafts"]}})
            # Always positive: the direction is the mutation's (a refund pays a credit invoice).
            signed = price if amount >= 0 else -price
            payment = self._add_payment(invoice, signed, mutation["date"],
                                        mutation["financial_account_id"], None, None)  # fmt: skip
            payment["financial_mutation_id"] = mutation["id"]
            self._linked_payments.add(payment["id"])
            mutation["payments"].append(payment)
        else:  # Payment: one already registered on an invoice, its amount its own
            found = self._payment(booking_id)
            if found is None:
                return not_found
            payment = found[1]
            if payment.get("financial_mutation_id"):
                return Response(422, {"error": {"payment": ["is already linked"]}})
            if payment.get("financial_account_id") not in (None, mutation["financial_account_id"]):
                return Response(422, {"error": {"payment": ["is on another financial account"]}})
            payment["financial_mutation_id"] = mutation["id"]
            mutation["payments"].append(payment)
        self._settle_mutation(mutation)
        if self.link_booking_answer == "integer":
            return Response(200, 200)
        return Response(200, mutation)

    def _unlink_booking(self, mutation: dict[str, Any], body: Any) -> Response:
        kind = body.get("booking_type") if isinstance(body, dict) else None
        if kind not in ("Payment", "LedgerAccountBooking"):
            return Response(400, {"error": "Booking Type isn't an option",
                                  "symbolic": {"booking_type": "in"}})  # fmt: skip
        booking_id = str(body.get("booking_id") or "")
        key = "payments" if kind == "Payment" else "ledger_account_bookings"
        booking = next((b for b in mutation[key] if b["id"] == booking_id), None)
        if booking is None:
            return Response(404, {"error": "record not found",
                                  "symbolic": {"booking_id": "not_found"}})  # fmt: skip
        mutation[key].remove(booking)
        if kind == "Payment":
            found = self._payment(booking_id)
            if found is not None and booking_id in self._linked_payments:
                # The link made this payment: unlinking takes it off the invoice again.
                invoice = found[0]
                invoice["payments"].remove(booking)
                self._linked_payments.discard(booking_id)
                self._recompute(invoice)
                if Decimal(invoice["total_unpaid"]) != 0 and invoice["state"] == "paid":
                    invoice["state"], invoice["paid_at"] = "open", None
                invoice["version"] += 1
            else:
                booking["financial_mutation_id"] = None
        self._settle_mutation(mutation)
        return Response(200, mutation)

    def _payment(self, payment_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The invoice holding the payment, and the payment."""
        for invoice in [*self.invoices.values(), *self.external_invoices.values()]:
            for payment in invoice["payments"]:
                if payment["id"] == payment_id:
                    return invoice, payment
        return None

    def _settle_mutation(self, mutation: dict[str, Any]) -> None:
        booked = sum((Decimal(p["price_base"]) for p in mutation["payments"]), Decimal(0))
        booked += sum(
            (Decimal(b["price"]) for b in mutation["ledger_account_bookings"]), Decimal(0)
        )
        open_amount = Decimal(mutation["amount"]) - booked
        mutation["amount_open"] = f"{open_amount:.2f}"
        done = open_amount == 0
        mutation["state"] = "processed" if done else "unprocessed"
        mutation["processed_at"] = _now() if done else None
        mutation["version"] += 1
        mutation["updated_at"] = _now()

    def add_bank_line(
        self,
        financial_account_id: str,
        day: date,
        amount: Decimal | str,
        message: str,
        contra_account_name: str | None = None,
    ) -> dict[str, Any]:
        """A line the bank's own import brings in (a test's hand): unprocessed, on a
        statement of its own."""
        with self._lock:
            statement = self._statement(
                financial_account_id, f"bank-import-{self.new_id()}", day.isoformat(), "bank"
            )
            line = {"date": day.isoformat(), "amount": Decimal(str(amount)), "message": message,
                    "contra_account_name": contra_account_name}  # fmt: skip
            return self._book_mutation(statement, line)

    # --- the VAT report --------------------------------------------------------------------

    def _tax_report(self, period: str) -> Response:
        """Per tax rate, the turnover and VAT of the finalized documents dated in one whole
        month, over the whole administration (Moneybird's `reports/tax`)."""
        month = _report_month(period)
        if isinstance(month, str):
            return Response(400, {"error": month})
        low, high = month
        per_rate: dict[str, list[Decimal]] = {}
        for invoice in [*self.invoices.values(), *self.external_invoices.values()]:
            day = invoice.get("invoice_date") or invoice.get("date")
            if invoice["state"] == "draft" or not day:
                continue
            if not low <= date.fromisoformat(str(day)[:10]) <= high:
                continue
            for row in invoice["tax_totals"]:  # in euros: a document in another currency too
                sums = per_rate.setdefault(row["tax_rate_id"], [Decimal(0), Decimal(0)])
                sums[0] += Decimal(row["taxable_amount_base"])
                sums[1] += Decimal(row["tax_amount_base"])
        rows = []
        for rate in self.tax_rates:
            if rate["id"] not in per_rate:
                continue
            amount, tax = per_rate[rate["id"]]
            rows.append({
                "tax_rate_id": rate["id"], "name": rate["name"], "percentage": rate["percentage"],
                "report_reference": rate.get("report_reference") or _return_box(rate),
                "amount": f"{amount:f}",
                "type": rate["tax_rate_type"], "tax": f"{tax:f}",
            })  # fmt: skip
        return Response(200, {"tax_rates": rows})

    # --- a bookkeeper's hand in Moneybird (tests) ------------------------------------------

    def edit_line(self, invoice_id: str, row: int, price: str) -> None:
        """Change a line's price on a finalized invoice, as someone in Moneybird might."""
        with self._lock:
            invoice = self.invoices[invoice_id]
            invoice["details"][row]["price"] = price
            self._recompute(invoice)
            if Decimal(invoice["total_unpaid"]) != 0 and invoice["state"] == "paid":
                invoice["state"], invoice["paid_at"] = "open", None
            invoice["version"] += 1
            invoice["updated_at"] = _now()

    def delete_document(self, invoice_id: str) -> None:
        with self._lock:
            self.invoices.pop(invoice_id, None) or self.external_invoices.pop(invoice_id, None)

    def delete_payment(self, invoice_id: str, payment_id: str) -> None:
        """Take a payment off a (external) sales invoice, as someone in Moneybird might."""
        with self._lock:
            invoice = self.invoices.get(invoice_id) or self.external_invoices[invoice_id]
            invoice["payments"] = [p for p in invoice["payments"] if p["id"] != payment_id]
            self._recompute(invoice)
            if Decimal(invoice["total_unpaid"]) != 0 and invoice["state"] == "paid":
                invoice["state"], invoice["paid_at"] = "open", None
            invoice["version"] += 1
            invoice["updated_at"] = _now()

    def duplicate_document(self, invoice_id: str, reference: str | None = None) -> str:
        """A copy of a finalized invoice under its own number: the same reference, or another."""
        with self._lock:
            original = self.invoices[invoice_id]
            copy = copy_module.deepcopy(original)
            year = str(original.get("invoice_date") or date.today().isoformat())[:4]
            copy.update(id=self.new_id(), invoice_id=f"{year}-{next(self._numbers):04d}",
                        created_at=_now(), updated_at=_now())  # fmt: skip
            if reference is not None:
                copy["reference"] = reference
            self.invoices[copy["id"]] = copy
            return str(copy["id"])


def _in_period(rows: Any, filter_text: str | None) -> list[dict[str, Any]] | None:
    """The documents whose date falls in the filter's period (`this_year`, `prev_year` or
    `YYYYMMDD..YYYYMMDD`); no period term means this year. None: a period it cannot read."""
    terms = dict(t.split(":", 1) for t in (filter_text or "").split(",") if ":" in t)
    period = terms.get("period", "this_year")
    year = date.today().year
    if period in ("this_year", "prev_year"):
        y = year if period == "this_year" else year - 1
        low, high = date(y, 1, 1), date(y, 12, 31)
    elif found := re.fullmatch(r"(\d{8})\.\.(\d{8})", period):
        try:
            low, high = (datetime.strptime(g, "%Y%m%d").date() for g in found.groups())
        except ValueError:
            return None
    else:
        return None

    def day(row: dict[str, Any]) -> date:
        text = row.get("invoice_date") or row.get("date") or row["created_at"]
        return date.fromisoformat(str(text)[:10])

    return [row for row in rows if low <= day(row) <= high]


def _money(value: Any) -> Decimal | None:
    """An amount as Moneybird takes one (a number, or a string with `.` or `,`), or None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value).replace(",", "."))
    except InvalidOperation:
        return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return -1


def _report_month(period: str) -> tuple[date, date] | str:
    """The one whole month a report period names (Moneybird's `period_month`), or why not."""
    today = date.today().replace(day=1)
    presets = {
        "this_month": today,
        "prev_month": (today - timedelta(days=1)).replace(day=1),
        "next_month": (today + timedelta(days=32)).replace(day=1),
    }
    if period in presets:
        first = presets[period]
        return first, _month_end(first)
    found = re.fullmatch(r"(\d{6}|\d{8})(?:\.\.(\d{6}|\d{8}))?", period)
    if not found:
        return "Period is invalid"
    low, high = found.group(1), found.group(2) or found.group(1)
    try:
        if len(low) == 6 and len(high) == 6:
            first = datetime.strptime(low, "%Y%m").date()
            if high != low:
                return "Period cannot exceed 1 month"
            return first, _month_end(first)
        start = datetime.strptime(low, "%Y%m%d").date()
        end = datetime.strptime(high, "%Y%m%d").date()
    except ValueError:
        return "Period is invalid"
    if len(low) != len(high) or start.day != 1 or end != _month_end(start):
        return "Period cannot exceed 1 month" if end > _month_end(start) else "Period is invalid"
    return start, end


def _month_end(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _return_box(rate: dict[str, Any]) -> str:
    """The Dutch VAT return box a sales or purchase rate reports in (1a high, 1b low...)."""
    if rate["tax_rate_type"] != "sales_invoice":
        return "NL/5b"
    name, pct = str(rate["name"]).lower(), Decimal(str(rate["percentage"]))
    if "icp" in name or "intracommunautair" in name:
        return "NL/3b"
    if "export" in name:
        return "NL/3a"
    if rate.get("country"):
        return f"{rate['country']}/OSS"
    return {Decimal(21): "NL/1a", Decimal(9): "NL/1b"}.get(pct, "NL/1e")
