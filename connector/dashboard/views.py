"""What each page shows, gathered from the state (and, for one order, from the shop and
Moneybird when the secrets are at hand). Plain data for the templates; no HTML here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connector.booking.invoice import InvoiceDraft
from connector.config import Config
from connector.dashboard.charts import Bars, bars
from connector.dashboard.live import PAUSED, Live, Paused
from connector.errors import ConnectorError, internal
from connector.money import ZERO, parse
from connector.ops.health import health
from connector.ops.status import collect, config_status
from connector.shops.platforms import ADMIN_ORDER_URLS
from connector.state import (
    CorrectionRecord,
    Meta,
    OrderRecord,
    OrderState,
    RefundRecord,
    RefundState,
    Store,
    from_text,
    to_text,
    utcnow,
)

CENT = Decimal("0.01")


def zone(config: Config) -> ZoneInfo:
    """The books' time zone (sync.timezone): the day an invoice is dated in, and so the
    zone every time on the pages is shown in."""
    return ZoneInfo(config.sync.timezone)


def local(text: str | None, tz: tzinfo, seconds: bool = False) -> str:
    """A moment kept in UTC, as the books' clock showed it."""
    moment = from_text(text)
    if moment is None:
        return ""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def overview(
    store: Store, interval_minutes: float, tz: tzinfo = UTC, days: int = 30
) -> dict[str, Any]:
    ok, reason = health(store, interval_minutes)
    data = collect(store, runs=10)
    today = utcnow().astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    booked: dict[date, int] = {}
    parked: dict[date, int] = {}
    records = store.orders()  # read once: for the chart and the recent orders
    for record in records:
        when = from_text(record.booked_at)
        day = when.astimezone(tz).date() if when else None
        if record.state == OrderState.PAID and day is not None and day >= first:
            booked[day] = booked.get(day, 0) + 1
        changed = from_text(record.updated_at)
        day = changed.astimezone(tz).date() if changed else None
        if record.state == OrderState.PARKED and day is not None and day >= first:
            parked[day] = parked.get(day, 0) + 1
    labels = [first + timedelta(days=n) for n in range(days)]
    chart = bars(
        [d.strftime("%d %b") for d in labels],
        {
            "booked": [booked.get(d, 0) for d in labels],
            "parked": [parked.get(d, 0) for d in labels],
        },
        colours=("#2e7d5b", "#c0392b"),
    )
    recent = sorted(records, key=lambda r: r.updated_at, reverse=True)[:25]
    return {
        "healthy": ok,
        "health_reason": reason,
        "runs": data["runs"],
        "counts": data["counts"],
        "refund_counts": data["refund_counts"],
        "history": data["history"],
        "chart": chart,
        "recent": [_order_row(r) for r in recent],
        "reconciliation": (data.get("reconciliations") or [None])[0],
    }


def _order_row(record: OrderRecord) -> dict[str, Any]:
    return {
        "key": record.key,
        "number": record.number,
        "state": record.state,
        "invoice": record.invoice_number,
        "total": record.total,
        "currency": record.currency,
        "paid_at": record.paid_at,  # UTC; the page shows it in the books' zone
        "reason": record.park_reason or record.last_error,
    }


def attention(store: Store) -> dict[str, Any]:
    data = collect(store)
    return {"orders": data["attention"], "refunds": data["refunds_attention"]}


# --- one order ------------------------------------------------------------------------------


@dataclass
class Side:
    """One side of the order page: the shop's order, or Moneybird's documents."""

    lines: list[dict[str, str]] = field(default_factory=list)
    vat: dict[str, Decimal] = field(default_factory=dict)  # per Moneybird tax rate's name
    total: Decimal | None = None
    payments: list[dict[str, str]] = field(default_factory=list)
    link: str | None = None
    problem: str | None = None
    kind: str = ""  # a document's: invoice, credit invoice, day's document
    number: str = ""
    dated: str = ""
    prices: str = ""  # a document's prices: "incl." or "excl." VAT, as Moneybird holds them
    net: Decimal | None = None  # the shop's lines summed, without VAT and its VAT
    vat_total: Decimal | None = None


def order_page(store: Store, config: Config, key: str, live: Live | None) -> dict[str, Any] | None:
    record = store.order(key)
    if record is None:
        return None
    refunds = store.refunds(order_key=key)
    page: dict[str, Any] = {
        "record": _order_row(record),
        "refunds": [_refund_row(r) for r in refunds],
        # Summary mode: changes after its day's document, booked on the day they were seen.
        "corrections": [_correction_row(c) for c in store.corrections(order_key=key)],
        "shop_link": ADMIN_ORDER_URLS[config.shop.platform](config.shop.url, record.order_id),
        "shop": Side(),
        "documents": [],
        "live": False,
    }
    if live is None:
        page["note"] = (
            "The shop's and Moneybird's side need the connector's secrets (MONEYBIRD_TOKEN and "
            "the shop's keys) in this process's environment; the state's record is shown."
        )
        return page
    if live.paused():  # the books' budget is booking's: the state's record alone, at once
        page["note"] = PAUSED
        return page
    page["live"] = True
    try:
        rates = live.rates()
        accounts = live.accounts()
    except Paused:
        page["live"] = False
        page["note"] = PAUSED
        return page
    except Exception as exc:  # Moneybird cannot be read now: the state's record still shows
        page["live"] = False
        page["note"] = f"Moneybird cannot be read now: {_said(exc)}"
        return page
    names = {rate_id: rate.name for rate_id, rate in rates.items()}
    page["shop"] = _shop_side(live.engine, record, rates, names, zone(config))
    if page["record"]["total"] is None and page["shop"].total is not None:
        page["record"]["total"] = page["shop"].total  # recorded before amounts were kept
    if record.day:  # summary mode: booked in its day's document, compared as a whole monthly
        page["note"] = (
            f"Booked in the day's document {record.invoice_number or '(not made yet)'} with the "
            "other orders of that day; the Months page compares each day with its orders."
        )
        day_client = live.client.for_documents("external_sales_invoices")
        if record.invoice_id:
            page["documents"].append(
                _document_side(day_client, config, record.invoice_id, "day's document", names,
                               accounts)
            )  # fmt: skip
        page["vat_rows"], page["refund_rows"] = [], []
        return page
    ids = [(record.invoice_id, "invoice")] + [(r.invoice_id, "credit invoice") for r in refunds]
    for invoice_id, kind in ids:
        if invoice_id:
            page["documents"].append(
                _document_side(live.client, config, invoice_id, kind, names, accounts)
            )
    # The order against its invoice; each refund against its credit invoice by amount.
    invoice = page["documents"][0] if record.invoice_id and page["documents"] else None
    page["vat_rows"] = _vat_rows(page["shop"].vat, invoice.vat if invoice else {})
    credits = page["documents"][1:] if invoice else page["documents"]
    page["refund_rows"] = [
        {
            "refund": refund.refund_id,
            "shop": -parse(refund.amount, "amount") if refund.amount else None,
            "moneybird": credit.total,
            "agrees": refund.amount is not None and credit.total == -parse(refund.amount, "amount"),
        }
        for refund, credit in zip([r for r in refunds if r.invoice_id], credits, strict=False)
    ]
    return page


def _vat_rows(shop: dict[str, Decimal], documents: dict[str, Decimal]) -> list[dict[str, Any]]:
    return [
        {
            "rate": name,
            "shop": shop.get(name, ZERO),
            "moneybird": documents.get(name, ZERO),
            "agrees": shop.get(name, ZERO) == documents.get(name, ZERO),
        }
        for name in sorted(set(shop) | set(documents))
    ]


def _shop_side(
    engine: Any, record: OrderRecord, rates: Any, names: dict[str, str], tz: tzinfo
) -> Side:
    side = Side()
    try:
        payload = engine.shop.order(record.order_id)
        if payload is None:
            side.problem = "the shop no longer has this order"
            return side
        order = engine.order_from(payload)
        for line in order.lines:
            side.lines.append(
                {
                    "description": line.description,
                    "quantity": f"{line.quantity.normalize():f}",
                    "net": f"{line.net:.2f}",
                    "tax": f"{line.tax:.2f}",
                    "gross": f"{line.net + line.tax:.2f}",
                }
            )
        side.net = sum((line.net for line in order.lines), ZERO)
        side.vat_total = sum((line.tax for line in order.lines), ZERO)
        side.total = order.total
        draft = engine.booking(order, rates)
        if isinstance(draft, InvoiceDraft):
            # What the invoice must hold (refunds netted on it when they are booked so).
            side.vat = {names.get(r, r): v for r, v in draft.shop_totals.vat_by_rate.items()}
            for refund in order.refunds:
                side.payments.append(
                    {"date": refund.created_at.astimezone(tz).date().isoformat(),
                     "amount": f"-{refund.amount}", "account": "refunded"}
                )  # fmt: skip
        else:
            side.problem = f"booking would park it: {draft.reason}"
        paid_on = order.paid_at.astimezone(tz).date().isoformat() if order.paid_at else ""
        ways = [(p.method, p.amount) for p in order.payments] or [
            (order.payment_method_title or order.payment_method, order.total)
        ]
        for method, amount in ways:
            side.payments.insert(0, {"date": paid_on, "amount": str(amount), "account": method})
    except Exception as exc:  # the page still shows the state and Moneybird's side
        side.problem = _said(exc)
    return side


def _document_side(
    client: Any,
    config: Config,
    invoice_id: str,
    kind: str,
    names: dict[str, str],
    accounts: dict[str, str],
) -> Side:
    external = getattr(client, "documents", "") == "external_sales_invoices"
    side = Side(link=_moneybird_link(config, invoice_id, external), kind=kind)
    try:
        invoice = client.invoice(invoice_id)
    except Exception as exc:
        side.problem = _said(exc)
        return side
    side.number = str(invoice.get("invoice_id") or "draft")
    side.dated = str(invoice.get("invoice_date") or invoice.get("date") or "")
    # As `preview` labels them: Moneybird holds each document's prices incl. or excl. VAT.
    side.prices = "incl." if invoice.get("prices_are_incl_tax") else "excl."
    side.lines = [_detail(d, names) for d in invoice.get("details") or []]
    for row in invoice.get("tax_totals") or []:
        name = names.get(str(row["tax_rate_id"]), str(row["tax_rate_id"]))
        side.vat[name] = side.vat.get(name, ZERO) + parse(row["tax_amount"], "tax_amount")
    side.total = parse(invoice.get("total_price_incl_tax"), "total_price_incl_tax")
    side.payments = [
        {
            "date": str(p.get("payment_date") or ""),
            "amount": str(p.get("price") or ""),
            "account": accounts.get(str(p.get("financial_account_id")), "")
            or str(p.get("manual_payment_action") or ""),
        }
        for p in invoice.get("payments") or []
    ]
    return side


def _detail(detail: dict[str, Any], names: dict[str, str]) -> dict[str, str]:
    """A document's line: its quantity times its price is the line's amount, in cents as
    Moneybird rounds it (incl. or excl. VAT, as the document's prices are)."""
    quantity = str(detail.get("amount_decimal") or detail.get("amount") or "").removesuffix(" x")
    price = str(detail.get("price") or "")
    try:
        amount = f"{(Decimal(quantity) * Decimal(price)).quantize(CENT, ROUND_HALF_UP):.2f}"
        quantity = f"{Decimal(quantity).normalize():f}"
        price = (
            f"{Decimal(price):.2f}" if Decimal(price) == Decimal(price).quantize(CENT) else price
        )
    except ArithmeticError:
        amount = ""
    rate = str(detail.get("tax_rate_id"))
    return {
        "description": str(detail.get("description") or ""),
        "quantity": quantity,
        "price": price,
        "amount": amount,
        "rate": names.get(rate, rate),
    }


def _said(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ConnectorError) else internal(exc)


def _moneybird_link(config: Config, invoice_id: str, external: bool) -> str | None:
    """The invoice in Moneybird's web app (none for a sandbox, which has no web app)."""
    api = config.moneybird.api_url
    if not api.startswith("https://moneybird.com/"):
        return None
    path = "external_sales_invoices" if external else "sales_invoices"
    return f"https://moneybird.com/{config.moneybird.administration_id}/{path}/{invoice_id}"


def _correction_row(correction: CorrectionRecord) -> dict[str, Any]:
    """Summary mode: a change after the order's day's document, booked on the day it was
    seen (or parked, with why)."""
    day = f"the day {correction.day}" if correction.day else ""
    return {
        "reference": correction.reference,
        "amount": parse(correction.amount, "amount") if correction.amount else None,
        "state": correction.state,
        "document": correction.invoice_number or day,
        "reason": correction.park_reason or correction.notes or "",
    }


def _refund_row(record: RefundRecord) -> dict[str, Any]:
    return {
        "refund": record.refund_id,
        "state": record.state,
        "amount": record.amount,
        "invoice": record.invoice_number,
        "reason": record.park_reason or record.last_error,
    }


# --- months ---------------------------------------------------------------------------------


def months(store: Store, tz: tzinfo = UTC) -> list[dict[str, Any]]:
    return [
        {
            "month": done.month,
            "outcome": done.outcome,
            "summary": done.summary,
            "reconciled_at": done.reconciled_at,
            "changed": changed_since(store, done.month, done.reconciled_at, tz),
        }
        for done in sorted(store.reconciliations(), key=lambda d: d.month, reverse=True)
    ]


def month_page(store: Store, month: str, tz: tzinfo = UTC) -> dict[str, Any] | None:
    done = store.reconciliation(month)
    if done is None:
        return None
    report = json.loads(done.report or "{}")
    vat = report.get("vat") or []
    chart: Bars | None = None
    if vat:
        chart = bars(
            [row["name"] for row in vat],
            {
                "shop": [Decimal(row["shop"]) for row in vat],
                "documents": [Decimal(row["documents"]) for row in vat],
                "report": [Decimal(row["report"] or "0") for row in vat],
            },
        )
    return {
        "month": done.month,
        "outcome": done.outcome,
        "summary": done.summary,
        "reconciled_at": done.reconciled_at,
        "changed": changed_since(store, done.month, done.reconciled_at, tz),
        "known": known_rows(report),
        "report": report,
        "chart": chart,
        "has_csv": bool(report.get("csv")),
    }


# What the books show of an order or refund once a pass has settled it; the in-between states
# (pending, failed and retried, half-way in Moneybird) settle at a later pass, and are told then.
SETTLED_ORDERS = {OrderState.PARKED, OrderState.UNPAID, OrderState.BEFORE_START,
                  OrderState.IN_DAY}  # fmt: skip
SETTLED_REFUNDS = {RefundState.PARKED, RefundState.WAITING, RefundState.IN_DAY}
BOOKED_REFUNDS = {RefundState.PAID, RefundState.NET}


def _bounds(month: str, tz: tzinfo) -> tuple[str, str] | None:
    """The month's first moment and the next month's, in the books' zone, as the state keeps
    moments (UTC text)."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        return None
    after = (first + timedelta(days=31)).replace(day=1)
    start, end = (to_text(datetime.combine(day, time(), tz)) or "" for day in (first, after))
    return start, end


def known_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's orders and refunds known not to be in Moneybird, each with what it is and
    its own amount as the reconciliation recorded them (a refund's, negative: never its
    order's total)."""
    rows = []
    for state, listed in (("parked", report.get("parked")), ("", report.get("not_booked"))):
        for known in listed or []:
            kind = known.get("kind")
            what = kind or ""
            if kind == "refund" and known.get("refund_id"):
                what = f"refund {known['refund_id']}"
            if kind is None:  # recorded before reports said what each is
                missing = "not recorded by this reconciliation; reconcile the month again"
            else:
                missing = "the shop's data cannot say"
            rows.append(
                {
                    "order": known.get("order") or "",
                    "state": state,
                    "what": what,
                    "total": known.get("amount"),
                    "currency": known.get("currency"),
                    "reason": known.get("reason") or "",
                    "missing": missing,
                }
            )
    return rows


def changed_since(store: Store, month: str, reconciled_at: str, tz: tzinfo) -> list[str]:
    """The numbers of the month's orders (paid in it, or refunded in it, in the books' zone)
    that the connector booked or settled otherwise after the month's last reconciliation: what
    its page shows of them may no longer be so."""
    at, bounds = from_text(reconciled_at), _bounds(month, tz)
    if at is None or bounds is None:
        return []
    start, end = bounds

    def later(text: str | None) -> bool:
        moment = from_text(text)
        return moment is not None and moment > at

    numbers = {
        r.number
        for r in store.orders_paid_between(start, end)
        if (r.state == OrderState.PAID and later(r.booked_at))
        or (r.state in SETTLED_ORDERS and later(r.updated_at))
    }
    numbers |= {
        r.number
        for r in store.refunds_made_between(start, end)
        if (r.state in BOOKED_REFUNDS and later(r.booked_at or r.updated_at))
        or (r.state in SETTLED_REFUNDS and later(r.updated_at))
    }
    return sorted(numbers, key=lambda n: (len(n), n))


def month_csv(store: Store, month: str) -> list[list[str]] | None:
    done = store.reconciliation(month)
    if done is None:
        return None
    rows = json.loads(done.report or "{}").get("csv")
    return rows if isinstance(rows, list) else None


# --- configuration --------------------------------------------------------------------------


def configuration(store: Store, config: Config) -> dict[str, Any]:
    data = config_status(store, config.path)
    verdict = json.loads(store.get_meta(Meta.CONFIG_CHECK) or "null")
    tables = {
        "tax": [_rule(r) for r in config.mappings.tax],
        "ledger": [_rule(r) for r in config.mappings.ledger],
        "payment": [_rule(r) for r in config.mappings.payment],
    }
    return {
        "config": data,
        "platform": config.shop.platform,
        "shop_url": config.shop.url,
        "administration": config.moneybird.administration_id,
        "paths": {name: str(path) for name, path in config.mapping_paths().items()},
        "tables": tables,
        "verdict": verdict,
    }


def _rule(rule: Any) -> dict[str, str]:
    """A rule's keys and values as text, the unset ones left out."""
    return {
        key: (", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value))
        for key, value in rule.model_dump().items()
        # A switch left off is unset too; a 0 (a 0% rate) is a value: compared by identity.
        if value is not None and value is not False and value not in ("", [], ())
    }
