"""Moneybird's sales-invoice format, both ways: the request bodies made from booking's drafts,
and what booking and the engine read back from Moneybird's answers. Booking never sees
Moneybird's JSON; this module is where it is written and read."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from connector import invoice_texts
from connector.booking.credit import CreditDraft, OriginalInvoice
from connector.booking.day import DayDraft
from connector.booking.invoice import InvoiceDraft, InvoiceLine, PaymentPlan, Totals
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.money import BASE_CURRENCY, ZERO, cents, fmt, parse
from connector.order import Customer

Invoice = dict[str, Any]  # a sales invoice as Moneybird answers it


def invoice_body(
    draft: InvoiceDraft, contact_id: str, external_source: str | None = None
) -> dict[str, Any]:
    """The create body; with `external_source` (the shop's name) an external sales invoice,
    whose legal original is the shop's own invoice."""
    date_key = "date" if external_source else "invoice_date"
    invoice: dict[str, Any] = {
        "contact_id": contact_id,
        "reference": draft.reference,
        date_key: draft.invoice_date.isoformat(),
        "currency": draft.currency,
        "prices_are_incl_tax": draft.prices_are_incl_tax,
        "details_attributes": details(draft.lines),
    }
    if external_source:
        invoice["source"] = external_source
        return {"external_sales_invoice": invoice}
    if draft.workflow_id:
        invoice["workflow_id"] = draft.workflow_id
    if draft.document_style_id:
        invoice["document_style_id"] = draft.document_style_id
    return {"sales_invoice": invoice}


def details(lines: tuple[InvoiceLine, ...]) -> list[dict[str, str]]:
    """Booking's lines as Moneybird's detail rows."""
    return [
        {
            "description": line.description,
            "amount": format(line.amount.normalize(), "f"),
            "price": fmt(line.price),
            "tax_rate_id": line.tax_rate_id,
            "ledger_account_id": line.ledger_account_id,
        }
        for line in lines
    ]


def day_body(draft: DayDraft, contact_id: str, source: str) -> dict[str, Any]:
    """A summary day's external sales invoice: the shop's own documents are the originals."""
    return {
        "external_sales_invoice": {
            "contact_id": contact_id,
            "reference": draft.reference,
            "date": draft.day.isoformat(),
            "currency": "EUR",
            "prices_are_incl_tax": draft.prices_are_incl_tax,
            "source": source,
            "details_attributes": details(draft.lines),
        }
    }


def credit_edit_body(credit: CreditDraft, duplicate: Invoice) -> dict[str, Any]:
    """The PATCH turning Moneybird's duplicate of the original into this credit invoice."""
    invoice: dict[str, Any] = {
        "reference": credit.reference,
        "invoice_date": credit.invoice_date.isoformat(),
    }
    if not credit.full:
        # Keep only the zero-priced heading Moneybird adds ("Creditfactuur voor ...").
        gone = [
            {"id": str(d["id"]), "_destroy": True}
            for d in duplicate.get("details") or []
            if parse(d.get("price"), "price") != ZERO
        ]
        new = [
            {
                "description": line.description,
                "amount": "-1",
                "price": fmt(line.price),
                "tax_rate_id": line.tax_rate_id,
                "ledger_account_id": line.ledger_account_id,
            }
            for line in credit.lines
        ]
        invoice["prices_are_incl_tax"] = True
        invoice["details_attributes"] = gone + new
    return {"sales_invoice": invoice}


def totals_of(invoice: Invoice) -> Totals:
    """Moneybird's own totals of a sales invoice: the total incl. VAT and the VAT per rate."""
    vat: dict[str, Decimal] = {}
    for row in invoice.get("tax_totals") or []:
        rate_id = str(row["tax_rate_id"])
        vat[rate_id] = vat.get(rate_id, ZERO) + parse(row["tax_amount"])
    return Totals(parse(invoice.get("total_price_incl_tax"), "total_price_incl_tax"), vat)


def original_of(invoice: Invoice) -> OriginalInvoice:
    """The invoice a refund credits, as booking needs it."""
    gross: dict[str, Decimal] = {}
    for row in invoice.get("tax_totals") or []:
        rate_id = str(row["tax_rate_id"])
        amount = parse(row.get("taxable_amount"), "taxable_amount") + parse(
            row.get("tax_amount"), "tax_amount"
        )
        gross[rate_id] = gross.get(rate_id, ZERO) + amount
    ledgers: dict[str, dict[str, Decimal]] = {}
    for detail in invoice.get("details") or []:
        amount = parse(detail.get("amount_decimal") or "1", "amount") * parse(
            detail.get("price"), "price"
        )
        at_rate = ledgers.setdefault(str(detail.get("tax_rate_id")), {})
        ledger = str(detail.get("ledger_account_id"))
        at_rate[ledger] = at_rate.get(ledger, ZERO) + amount
    return OriginalInvoice(
        number=str(invoice.get("invoice_id") or "?"),
        currency=str(invoice["currency"]) if invoice.get("currency") else None,
        totals=totals_of(invoice),
        gross_by_rate={rate: amount for rate, amount in gross.items() if amount != ZERO},
        ledgers=ledgers,
    )


def rates_from_response(rows: list[dict[str, Any]]) -> dict[str, MoneybirdTaxRate]:
    """Moneybird's tax rates, by id, as booking needs them."""
    return {
        str(row["id"]): MoneybirdTaxRate(
            id=str(row["id"]),
            name=str(row.get("name") or ""),
            percentage=parse(row.get("percentage"), "percentage"),
            tax_rate_type=str(row.get("tax_rate_type") or ""),
            active=bool(row.get("active")),
            country=(str(row["country"]) if row.get("country") else None),
        )
        for row in rows
    }


@dataclass(frozen=True)
class BookedInvoice:
    """A sales (or credit) invoice as Moneybird holds it: the fields the engine relies on.
    `raw` is Moneybird's answer itself, for what only this module reads of it."""

    id: str
    number: str | None  # set once finalized
    state: str  # draft, open, late, reminded, pending_payment, paid, ...
    reference: str
    contact_id: str | None
    total: str | None  # total incl. VAT as Moneybird wrote it
    total_unpaid: Decimal
    credits: str | None  # the id of the invoice a credit invoice credits
    created_at: str
    payments: dict[str, str]  # transaction identifier -> payment id
    has_payments: bool
    settled_by_credit: Decimal  # paid by settling a credit invoice against it
    raw: Invoice
    invoice_date: str = ""  # as Moneybird dates it (YYYY-MM-DD)
    contact_email: str = ""  # the contact's address for invoices, as Moneybird has it
    contact_name: str = ""  # the company, else the person
    contact_customer_id: str = ""  # the contact's customer_id (the connector's WEB-…)
    # transaction identifier -> the payment's amount (in the document's currency)
    payment_prices: dict[str, Decimal] = field(default_factory=dict)

    @property
    def described(self) -> str:
        """How a person finds it in Moneybird: number, total, customer and date."""
        parts = [self.number or "a draft", self.total or "?", self.contact_name or "no contact",
                 self.invoice_date or "no date"]  # fmt: skip
        return ", ".join(parts)

    @property
    def is_draft(self) -> bool:
        return self.state == "draft"

    @property
    def totals(self) -> Totals:
        """Moneybird's own totals: the total incl. VAT and the VAT per rate."""
        return totals_of(self.raw)


def booked(invoice: Invoice) -> BookedInvoice:
    payments = invoice.get("payments") or []
    contact: dict[str, Any] = invoice.get("contact") or {}
    if not isinstance(contact, dict):
        contact = {}
    return BookedInvoice(
        id=str(invoice["id"]),
        number=invoice.get("invoice_id") or None,
        state=str(invoice.get("state") or ""),
        reference=str(invoice.get("reference") or ""),
        contact_id=str(invoice["contact_id"]) if invoice.get("contact_id") else None,
        total=str(invoice.get("total_price_incl_tax") or "") or None,
        total_unpaid=parse(invoice.get("total_unpaid") or "0", "total_unpaid"),
        credits=(
            str(invoice["original_sales_invoice_id"])
            if invoice.get("original_sales_invoice_id")
            else None
        ),
        created_at=str(invoice.get("created_at") or ""),
        payments={
            str(p.get("transaction_identifier")): str(p["id"])
            for p in payments
            if p.get("transaction_identifier")
        },
        has_payments=bool(payments),
        payment_prices={
            str(p.get("transaction_identifier")): parse(p.get("price"), "payment price")
            for p in payments
            if p.get("transaction_identifier") and p.get("price") is not None
        },
        settled_by_credit=sum(
            (
                parse(p.get("price"), "payment price")
                for p in payments
                if p.get("manual_payment_action") == "invoices_settlement"
            ),
            ZERO,
        ),
        raw=invoice,
        invoice_date=str(invoice.get("invoice_date") or invoice.get("date") or "")[:10],
        contact_email=str(contact.get("send_invoices_to_email") or contact.get("email") or ""),
        contact_customer_id=str(contact.get("customer_id") or ""),
        contact_name=str(
            contact.get("company_name")
            or " ".join(str(contact.get(k) or "") for k in ("firstname", "lastname")).strip()
        ),
    )


def paid_on_account(invoice: BookedInvoice, account_id: str) -> Decimal:
    """What the document's payments on one financial account add up to (a provider's
    movements linked to it, the connector's own payment there), its rounding payment aside."""
    return sum(
        (
            parse(p.get("price"), "payment price")
            for p in invoice.raw.get("payments") or []
            if str(p.get("financial_account_id")) == account_id
            and p.get("price") is not None
            and not str(p.get("transaction_identifier") or "").endswith("-rounding")
        ),
        ZERO,
    )


def booked_or_none(invoice: Invoice | None) -> BookedInvoice | None:
    return booked(invoice) if invoice is not None else None


def payment_id(answer: dict[str, Any]) -> str:
    """The id of the payment a create_payment answer describes."""
    return str(answer["id"])


def payment_body(plan: PaymentPlan) -> dict[str, Any]:
    """A payment on a sales invoice, known in Moneybird by its transaction identifier."""
    body: dict[str, Any] = {
        "payment_date": plan.payment_date.isoformat(),
        "price": fmt(plan.amount),
        "transaction_identifier": plan.transaction_identifier,
    }
    if plan.financial_account_id:
        body["financial_account_id"] = plan.financial_account_id
    if plan.price_base is not None:
        body["price_base"] = fmt(plan.price_base)
    return body


def rounding_body(first: PaymentPlan, leftover: Decimal, identifier: str) -> dict[str, Any]:
    """What the payments leave of Moneybird's total, booked as a rounding difference (in the
    base currency at the first payment's own ratio)."""
    body: dict[str, Any] = {
        "payment_date": first.payment_date.isoformat(),
        "price": fmt(leftover),
        "transaction_identifier": identifier,
        "manual_payment_action": "rounding_error",
    }
    if first.price_base is not None and first.amount:
        body["price_base"] = fmt(cents(leftover * first.price_base / first.amount))
    return body


def listed_ids(rows: list[dict[str, Any]]) -> list[str]:
    """The ids in a listing of documents (ids and versions only)."""
    return [str(row["id"]) for row in rows]


# --- reconciliation ------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """A sales (credit) or external sales invoice as reconciliation compares it with the shop."""

    id: str
    number: str | None
    reference: str
    state: str
    day: date | None  # the document's date
    currency: str
    total: Decimal  # incl. VAT
    unpaid: Decimal
    vat: dict[str, Decimal]  # per tax rate
    net: dict[str, Decimal]  # the taxable amount per tax rate
    accounts: tuple[str, ...]  # the financial accounts its payments went to (ids)
    raw: Invoice
    # In euros as Moneybird converted them (its `*_base` amounts); a document in euros: the
    # same as `vat` and `total`. None when a document in another currency lacks them.
    vat_in_euros: dict[str, Decimal] | None = None
    total_in_euros: Decimal | None = None
    roundings: tuple[RoundingPayment, ...] = ()  # its payments booked as a rounding difference

    @property
    def is_draft(self) -> bool:
        return self.state == "draft"

    @property
    def label(self) -> str:
        """How a person finds it in Moneybird: its number, or the draft's id."""
        return self.number or f"draft {self.id}"


@dataclass(frozen=True)
class RoundingPayment:
    """A payment that books a rounding difference (`manual_payment_action: rounding_error`)."""

    id: str
    identifier: str  # its transaction identifier ("" when it has none)
    price: Decimal  # in the document's currency


def document_of(invoice: Invoice) -> Document:
    net: dict[str, Decimal] = {}
    for row in invoice.get("tax_totals") or []:
        rate_id = str(row["tax_rate_id"])
        net[rate_id] = net.get(rate_id, ZERO) + parse(row.get("taxable_amount"), "taxable_amount")
    day = invoice.get("invoice_date") or invoice.get("date")
    payments = invoice.get("payments") or []
    vat_in_euros, total_in_euros = _in_euros(invoice)
    return Document(
        id=str(invoice["id"]),
        number=invoice.get("invoice_id") or None,
        reference=str(invoice.get("reference") or ""),
        state=str(invoice.get("state") or ""),
        day=date.fromisoformat(str(day)[:10]) if day else None,
        currency=str(invoice.get("currency") or ""),
        total=parse(invoice.get("total_price_incl_tax"), "total_price_incl_tax"),
        unpaid=parse(invoice.get("total_unpaid") or "0", "total_unpaid"),
        vat=totals_of(invoice).vat_by_rate,
        net=net,
        accounts=tuple(
            dict.fromkeys(
                str(p["financial_account_id"]) for p in payments if p.get("financial_account_id")
            )
        ),
        raw=invoice,
        vat_in_euros=vat_in_euros,
        total_in_euros=total_in_euros,
        roundings=tuple(
            RoundingPayment(
                id=str(p.get("id")),
                identifier=str(p.get("transaction_identifier") or ""),
                price=parse(p.get("price"), "payment price"),
            )
            for p in payments
            if p.get("manual_payment_action") == "rounding_error"
        ),
    )


def _in_euros(invoice: Invoice) -> tuple[dict[str, Decimal] | None, Decimal | None]:
    """The document's VAT per rate and total in euros, as Moneybird converted them."""
    if str(invoice.get("currency") or BASE_CURRENCY) == BASE_CURRENCY:
        total = parse(invoice.get("total_price_incl_tax"), "total_price_incl_tax")
        return totals_of(invoice).vat_by_rate, total
    rows = invoice.get("tax_totals") or []
    if invoice.get("total_price_incl_tax_base") is None or any(
        row.get("tax_amount_base") is None for row in rows
    ):
        return None, None
    vat: dict[str, Decimal] = {}
    for row in rows:
        rate_id = str(row["tax_rate_id"])
        vat[rate_id] = vat.get(rate_id, ZERO) + parse(row["tax_amount_base"], "tax_amount_base")
    return vat, parse(invoice["total_price_incl_tax_base"], "total_price_incl_tax_base")


@dataclass(frozen=True)
class TaxReportRow:
    """One line of Moneybird's VAT report: a tax rate's turnover and VAT in the period."""

    tax_rate_id: str
    name: str
    box: str  # the VAT return box ("NL/1a")
    amount: Decimal
    tax: Decimal
    type: str  # sales_invoice, purchase_invoice


def tax_report_of(answer: dict[str, Any]) -> list[TaxReportRow]:
    return [
        TaxReportRow(
            tax_rate_id=str(row.get("tax_rate_id")),
            name=str(row.get("name") or ""),
            box=str(row.get("report_reference") or ""),
            amount=parse(row.get("amount") or "0", "amount"),
            tax=parse(row.get("tax") or "0", "tax"),
            type=str(row.get("type") or ""),
        )
        for row in answer.get("tax_rates") or []
    ]


# --- contacts ------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def is_email(text: str) -> bool:
    return bool(_EMAIL.match(text))


def contact_body(customer: Customer, customer_id: str) -> dict[str, Any]:
    b = customer.billing
    body: dict[str, Any] = {"customer_id": customer_id}
    fields = {
        "company_name": b.company,
        "firstname": b.first_name,
        "lastname": b.last_name,
        "address1": b.address1,
        "address2": b.address2,
        "zipcode": b.postcode,
        "city": b.city,
    }
    body.update({k: v for k, v in fields.items() if v})
    if _COUNTRY.match(b.country):
        body["country"] = b.country
    email = normalise_email(customer.email)
    if is_email(email):
        body["send_invoices_to_email"] = email
    if customer.vat_number:
        body["tax_number"] = customer.vat_number
    if not (b.company or b.first_name or b.last_name):
        # Moneybird needs a company name or a person's name.
        body["company_name"] = email if is_email(email) else invoice_texts.CONTACT_WITHOUT_NAME
    return body


# The contact fields an order decides; the email is the key and never changes here.
BOOKED_FIELDS = (
    "company_name", "firstname", "lastname", "address1", "address2", "zipcode", "city",
    "country", "tax_number",
)  # fmt: skip


def booked_fields(body: dict[str, Any]) -> dict[str, str]:
    return {k: str(body[k]) for k in BOOKED_FIELDS if body.get(k)}


def emails_of(contact: dict[str, Any]) -> set[str]:
    found = set()
    for key in ("send_invoices_to_email", "email"):
        for part in str(contact.get(key) or "").split(","):
            email = normalise_email(part)
            if is_email(email):
                found.add(email)
    return found


def contact_versions(rows: list[dict[str, Any]]) -> dict[str, int]:
    """A listing of contacts (ids and versions only), by id."""
    return {str(r["id"]): int(r.get("version") or 0) for r in rows}


def contact_id_and_version(contact: dict[str, Any]) -> tuple[str, int | None]:
    version = contact.get("version")
    return str(contact["id"]), int(version) if version is not None else None


def contact_customer_id(contact: dict[str, Any]) -> str | None:
    return str(contact["customer_id"]) if contact.get("customer_id") else None
