"""Moneybird's sales-invoice format, both ways: the request bodies made from booking's drafts,
and what booking and the engine read back from Moneybird's answers. Booking never sees
Moneybird's JSON; this module is where it is written and read."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector.booking.credit import CreditDraft, OriginalInvoice
from connector.booking.invoice import InvoiceDraft, Totals
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.money import ZERO, fmt, parse

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
        "details_attributes": [
            {
                "description": line.description,
                "amount": format(line.amount.normalize(), "f"),
                "price": fmt(line.price),
                "tax_rate_id": line.tax_rate_id,
                "ledger_account_id": line.ledger_account_id,
            }
            for line in draft.lines
        ],
    }
    if external_source:
        invoice["source"] = external_source
        return {"external_sales_invoice": invoice}
    if draft.workflow_id:
        invoice["workflow_id"] = draft.workflow_id
    if draft.document_style_id:
        invoice["document_style_id"] = draft.document_style_id
    return {"sales_invoice": invoice}


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
