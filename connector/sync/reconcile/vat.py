"""VAT per rate, in euros: the shop's, the connector's documents', and Moneybird's own VAT report.

A document in another currency counts at the rate Moneybird converted it at (the VAT in euros it
carries), and its order's VAT counts in the shop's column at that same rate; each currency is
also listed apart, as the documents carry it. What cannot be counted is named in the note."""

from __future__ import annotations

from decimal import Decimal

from connector.money import BASE_CURRENCY, ZERO, cents
from connector.moneybird.documents import Document
from connector.sync.reconcile.expected import Expected
from connector.sync.reconcile.report import OtherCurrencyVat, Reconciliation, VatRow
from connector.sync.reconcile.scope import Scope
from connector.sync.reconcile.tax_report import reported_sales


class VatTable:
    """The VAT table, the other currencies apart, and the note."""

    def __init__(self, scope: Scope, result: Reconciliation) -> None:
        self.scope = scope
        self.result = result

    def table(
        self,
        expected: list[Expected],
        found: dict[str, list[Document]],
        unexplained: list[Document],
        rounded: list[tuple[Expected, Document, set[str]]],
    ) -> None:
        """`rounded`: the items that agree with their document by rounding, and its rates."""
        shop: dict[str, Decimal] = {}
        documents: dict[str, Decimal] = {}
        rounding: dict[str, Decimal] = {}
        # (currency, rate) -> the shop's VAT and the documents' in the currency, and in euros
        other: dict[tuple[str, str], list[Decimal]] = {}
        unworked: list[str] = []
        unconverted: list[str] = []
        for item in expected:
            if item.vat is None:
                unworked.append(item.order)
                continue
            if _in_base(item.currency):
                _add(shop, item.vat)
                continue
            for rate, amount in item.vat.items():
                other.setdefault((item.currency, rate), [ZERO, ZERO, ZERO])[0] += amount
            euros = _shop_in_euros(item, found.get(item.reference, []))
            if euros is None:
                vat = sum(item.vat.values(), ZERO)
                unconverted.append(f"{item.order} ({vat:.2f} {item.currency})")
                continue
            _add(shop, euros)
        # Every document of the connector's the comparison met: duplicates and unknown ones
        # count, as they count in Moneybird's books.
        met = {d.id: d for item in expected for d in found.get(item.reference, [])}
        met |= {d.id: d for d in unexplained}
        not_in_euros: list[str] = []
        for document in met.values():
            if _in_base(document.currency):
                _add(documents, document.vat)
                continue
            for rate, amount in document.vat.items():
                other.setdefault((document.currency, rate), [ZERO, ZERO, ZERO])[1] += amount
            if document.vat_in_euros is None:
                not_in_euros.append(document.label)
                continue
            _add(documents, document.vat_in_euros)
            for rate, amount in document.vat_in_euros.items():
                other.setdefault((document.currency, rate), [ZERO, ZERO, ZERO])[2] += amount
        for item, document, rates in rounded:
            theirs = document.vat if _in_base(document.currency) else document.vat_in_euros
            ours = item.vat if _in_base(item.currency) else _shop_in_euros(item, [document])
            for rate in rates:
                difference = (theirs or {}).get(rate, ZERO) - (ours or {}).get(rate, ZERO)
                rounding[rate] = rounding.get(rate, ZERO) + difference
        reported = reported_sales(self.scope)
        sales = {r for r, rate in self.scope.rates.items() if rate.tax_rate_type == "sales_invoice"}
        names = self.result.rate_names
        for rate in sorted((set(shop) | set(documents) | set(reported)) & (sales | set(shop))):
            row = reported.get(rate)
            known = self.scope.rates.get(rate)
            self.result.vat.append(
                VatRow(
                    rate,
                    known.name if known else rate,
                    f"{known.percentage}" if known else "",
                    row.box if row else "",
                    shop.get(rate, ZERO),
                    documents.get(rate, ZERO),
                    row.tax if row else ZERO,
                    rounding.get(rate, ZERO),
                )
            )
        self.result.vat_other_currencies = [
            OtherCurrencyVat(currency, rate, names.get(rate, rate), *amounts)
            for (currency, rate), amounts in sorted(
                other.items(), key=lambda kv: (kv[0][0], names.get(kv[0][1], kv[0][1]))
            )
        ]
        self.result.vat_note = " ".join(_notes(unworked, unconverted, not_in_euros, bool(other)))


def _in_base(currency: str) -> bool:
    return currency in (BASE_CURRENCY, "")


def _add(into: dict[str, Decimal], amounts: dict[str, Decimal]) -> None:
    for rate, amount in amounts.items():
        into[rate] = into.get(rate, ZERO) + amount


def _shop_in_euros(item: Expected, documents: list[Document]) -> dict[str, Decimal] | None:
    """An item in another currency: its VAT per rate in euros, at the rate Moneybird converted
    its document at; where the two agree, the document's own euro amount. None without a
    document of it in its currency that Moneybird converted."""
    own = [d for d in documents if d.currency == item.currency and d.vat_in_euros is not None]
    if not own or item.vat is None:
        return None
    document = own[0]
    in_euros = document.vat_in_euros or {}
    euros: dict[str, Decimal] = {}
    for rate, amount in item.vat.items():
        theirs, converted = document.vat.get(rate, ZERO), in_euros.get(rate)
        if converted is not None and theirs == amount:
            euros[rate] = converted
        elif converted is not None and theirs:
            euros[rate] = cents(amount * converted / theirs)
        elif document.total and document.total_in_euros is not None:
            euros[rate] = cents(amount * document.total_in_euros / document.total)
        else:
            return None
    return euros


def _listed(things: list[str]) -> str:
    return ", ".join(sorted(set(things))[:10]) + (", ..." if len(set(things)) > 10 else "")


def _notes(
    unworked: list[str], unconverted: list[str], not_in_euros: list[str], other: bool
) -> list[str]:
    notes = [
        "Moneybird's report covers the whole administration: where it is higher than the "
        "connector's documents, the difference is VAT on documents the connector did not "
        "make (other sales, manual invoices)."
    ]
    if other:
        notes.append(
            "Documents in other currencies count in euros as Moneybird converted them (the VAT "
            "in euros each carries), their orders' VAT in the shop's column at the same rate; "
            "each currency is listed apart as well."
        )
    if unworked:
        things = "order or refund" if len(unworked) == 1 else "orders or refunds"
        notes.append(
            f"Left out of the shop's column: {len(unworked)} {things} without VAT per rate "
            f"(parked, or not workable now): {_listed(unworked)}."
        )
    if unconverted:
        things = "order or refund" if len(unconverted) == 1 else "orders or refunds"
        notes.append(
            f"Left out of the shop's column: {len(unconverted)} {things} in another currency "
            "with no document of its own in Moneybird to take the rate in euros from: "
            f"{_listed(unconverted)}."
        )
    if not_in_euros:
        notes.append(
            "Left out of the documents' column: documents in another currency that Moneybird "
            f"gave no amounts in euros: {_listed(not_in_euros)}."
        )
    return notes
