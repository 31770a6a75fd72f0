"""The payout flow (docs/payouts.md): each provider's payouts read, each booked once as a
statement on the provider's financial account in Moneybird, every part linked to what it pays,
and the bank line linked to the transfer ledger when it has arrived.

Every write is preceded by its intent on the payout's record. A statement whose answer was lost
is found by its mutations' `account_servicer_transaction_id` (the provider's ids) before one is
posted again; a link whose answer was lost is settled by reading the mutation. Mutations already
on the provider's account that the connector did not post (Moneybird's own Mollie link imports
them) are taken as they are and only linked: nothing is imported twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from connector import shutdown
from connector.booking.book import Parked
from connector.booking.payout import (
    Booked,
    Link,
    PayoutSettings,
    StatementDraft,
    Waits,
    book_payout,
)
from connector.errors import (
    AuthError,
    ConnectorError,
    Interrupted,
    StateError,
    StopsPass,
    internal,
)
from connector.money import ZERO, fmt, parse
from connector.moneybird import bank
from connector.moneybird.client import Ambiguous, MoneybirdClient, NotFound, Rejected
from connector.moneybird.documents import BookedInvoice
from connector.moneybird.documents import booked as booked_invoice
from connector.payouts.provider import PayoutProvider
from connector.payouts.records import PartKind, Payout, PayoutPart, RefusedPayout
from connector.state import (
    DayRecord,
    DayState,
    Meta,
    OrderRecord,
    OrderState,
    PayoutIntent,
    PayoutRecord,
    PayoutState,
    RefundRecord,
    RefundState,
    Store,
    from_text,
    to_text,
    utcnow,
)

log = logging.getLogger(__name__)

BANK_BEFORE = timedelta(days=2)  # a bank may date the line before the provider's payout date
BANK_AFTER = timedelta(days=10)  # and it arrives within days; later ones are looked for too
BANK_POLL = timedelta(hours=12)  # how often the bank account is looked at while payouts wait
# A payout waiting for orders this long is parked: they may be no orders of this shop.
WAIT_FOR_ORDERS = timedelta(days=7)
# Mollie's ids (tr_…, re_…, chb_…): a payment there may be of another shop of the organization.
SHARED_ID_PREFIXES = ("tr", "re", "chb")
MESSAGE_ID_LENGTH = 8  # a provider id this long is looked for in a movement's message too
WINDOW = timedelta(days=1)  # around a statement's days, where its mutations are looked for
DAY_DOCUMENT = "ExternalSalesInvoice"  # a day's summary document


@dataclass(frozen=True)
class PayoutSetup:
    """The `[payouts]` configuration as Moneybird ids, resolved at the start of a pass."""

    bank_account_id: str
    settings: Mapping[str, PayoutSettings]  # by provider name
    since: datetime  # payouts paid out before this are not booked
    bank_line_days: int = 5
    fed: frozenset[str] = frozenset()  # providers whose account Moneybird's own link feeds


@dataclass
class PayoutReport:
    """What the payouts part of a pass did."""

    booked: int = 0  # statements posted (or found, posted before)
    linked: int = 0  # bank lines linked
    waiting: int = 0
    parked: int = 0
    errors: list[str] = field(default_factory=list)


def _lines_json(draft: StatementDraft) -> str:
    return json.dumps(
        [
            {
                "date": line.date.isoformat(),
                "amount": fmt(line.amount),
                "message": line.message,
                "transaction_id": line.transaction_id,
                "links": [
                    {
                        "booking_type": link.booking_type,
                        "booking_id": link.booking_id,
                        "price": None if link.price is None else fmt(link.price),
                        "price_base": None if link.price_base is None else fmt(link.price_base),
                        "description": link.description,
                    }
                    for link in line.links
                ],
                "part_ids": list(line.part_ids),
                "fee_ids": list(line.fee_ids),
                "mutation_id": None,
                "linked": 0,
                "pending": False,
            }
            for line in draft.lines
        ]
    )


def _link_of(data: Mapping[str, Any]) -> Link:
    def amount(key: str) -> Decimal | None:
        value = data.get(key)
        return None if value is None else parse(value, key)

    return Link(
        str(data["booking_type"]),
        str(data["booking_id"]),
        amount("price"),
        amount("price_base"),
        str(data.get("description") or ""),
    )


def _bank_line(line: Mapping[str, Any]) -> bank.BankLine:
    return bank.BankLine(
        date=date.fromisoformat(line["date"]),
        amount=parse(line["amount"], "amount"),
        message=line["message"],
        account_servicer_transaction_id=line["transaction_id"],
    )


def figures(payout: Payout) -> str:
    """What reconcile and the dashboard show of a payout, kept with its record."""
    return json.dumps(
        {
            "gross": fmt(payout.total(PartKind.PAYMENT)),
            "refunds": fmt(payout.total(PartKind.REFUND)),
            "chargebacks": fmt(payout.total(PartKind.CHARGEBACK)),
            "other": fmt(payout.total(PartKind.OTHER)),
            "fees": fmt(payout.total(PartKind.FEE)),
            "fee_vat": None if payout.fee_vat is None else fmt(payout.fee_vat),
            "parts": len(payout.parts),
        }
    )


class PayoutFlow:
    """Books each provider's payouts; one payout's trouble never holds up another's."""

    def __init__(
        self,
        store: Store,
        client: MoneybirdClient,
        shop: str,
        providers: Sequence[PayoutProvider],
        external: bool = False,
    ) -> None:
        self.store = store
        self.client = client
        self.shop = shop
        self.providers = list(providers)
        self.document_type = "ExternalSalesInvoice" if external else "SalesInvoice"
        self._used: set[str] | None = None
        # This pass's reads of the providers' accounts: (first day covered, the mutations).
        self._accounts: dict[str, tuple[date, list[bank.Mutation]]] = {}
        self._fresh: set[str] = set()  # the payouts this pass has worked on already
        self._documents: dict[str, BookedInvoice | None] = {}  # days' documents read
        self._days: dict[str, DayRecord] | None = None  # the days' records by document
        self._account_of: dict[str, str] = {}  # provider -> its financial account

    # --- the pass --------------------------------------------------------------------------

    def book(self, setup: PayoutSetup) -> PayoutReport:
        done = PayoutReport()
        self._used = None
        self._accounts = {}
        self._fresh = set()
        self._documents = {}
        self._days = None
        self._account_of = {n: s.financial_account_id for n, s in setup.settings.items()}
        for provider in self.providers:
            settings = setup.settings.get(provider.name)
            if settings is None:
                continue
            items = provider.payouts(self._since(provider.name, setup), self._known(provider.name))
            while (item := self._next(provider.name, items, done)) is not None:
                shutdown.check()
                self._one(item, settings, setup, done)
        # Statements posted earlier carry on linking without the provider.
        for record in self.store.payouts({PayoutState.BOOKED}):
            settings = setup.settings.get(record.provider)
            if settings is None or record.key in self._fresh:
                continue
            shutdown.check()
            self._guarded(record, partial(self._carry_on, record))
        self._bank_lines(setup, done)
        return done

    @staticmethod
    def _next(
        name: str, items: Iterator[Payout | RefusedPayout], done: PayoutReport
    ) -> Payout | RefusedPayout | None:
        """The provider's next payout; None at the end, or when the provider cannot be read
        (down, or its key refused): said, and the orders' pass is not stopped by it."""
        try:
            return next(items, None)
        except (Interrupted, StateError):
            raise
        except ConnectorError as exc:
            done.errors.append(f"{name}: {exc}")
            log.error("payouts of %s not read: %s", name, exc)
            return None

    def _known(self, provider: str) -> frozenset[str]:
        """The payouts the provider need not give again: posted, parked or refused (the ones
        waiting for orders, or failed, are read again)."""
        again = (PayoutState.WAITING, PayoutState.FAILED)
        return frozenset(
            r.payout_id
            for r in self.store.payouts(provider=provider)
            if r.statement_id is not None or r.state not in again
        )

    def _since(self, provider: str, setup: PayoutSetup) -> datetime:
        """Read back to the oldest payout not booked yet (a waiting one completes when its
        orders are booked), else from the newest one recorded, else from the start."""
        records = self.store.payouts(provider=provider)
        # Parked and refused ones wait for a person (`connector retry` puts them back).
        again = (PayoutState.WAITING, PayoutState.FAILED)
        unbooked = [
            r for r in records if r.statement_id is None and r.paid_out and r.state in again
        ]
        moments = [from_text(r.paid_out) for r in unbooked] or [
            from_text(r.paid_out) for r in records[-1:] if r.paid_out
        ]
        known = [m for m in moments if m is not None]
        return max(setup.since, min(known)) if known else setup.since

    def _guarded(self, record: PayoutRecord, work: Callable[[], None]) -> None:
        """One payout's work: a passing error leaves it for the next pass, a bug too (logged),
        a stop of the pass stops it."""
        try:
            work()
        except StopsPass:
            raise
        except ConnectorError as exc:  # Ambiguous among them: the next pass reads first
            self._failed(record, str(exc))
        except Exception as exc:  # a bug: recorded on the payout, the others go on
            log.exception("payout %s", record.key)
            self._failed(record, internal(exc))

    def _failed(self, record: PayoutRecord, why: str) -> None:
        record.last_error = why
        record.attempts += 1
        if record.statement_id is None and record.state != PayoutState.PARKED:
            record.state = PayoutState.FAILED.value
        self.store.save(record)

    def _one(
        self,
        item: Payout | RefusedPayout,
        settings: PayoutSettings,
        setup: PayoutSetup,
        done: PayoutReport,
    ) -> None:
        key = f"{item.provider}:{item.payout_id}"
        record = self.store.payout(key) or PayoutRecord(
            key=key, provider=item.provider, payout_id=item.payout_id
        )
        if record.statement_id is not None:
            return  # posted: carried on below
        if record.state in (PayoutState.PARKED, PayoutState.REFUSED):
            return  # a person's: `connector retry` puts it back in line
        if isinstance(item, RefusedPayout):
            record.state, record.reason = PayoutState.REFUSED.value, item.reason
            record.paid_out = to_text(item.paid_out) or record.paid_out
            self.store.save(record)
            done.parked += 1
            return
        self._fresh.add(key)
        record.reference, record.net = item.reference, fmt(item.net)
        record.paid_out, record.figures = to_text(item.paid_out), figures(item)
        self._guarded(record, lambda: self._book(record, item, settings, setup, done))

    # --- booking the statement -------------------------------------------------------------

    def _book(
        self,
        record: PayoutRecord,
        payout: Payout,
        settings: PayoutSettings,
        setup: PayoutSetup,
        done: PayoutReport,
    ) -> None:
        if record.intent == PayoutIntent.STATEMENT and record.lines:
            lines = json.loads(record.lines)  # as it was to be posted: found, or posted again
        else:
            result = self._draft(payout, settings)
            seen = from_text(record.first_seen) or utcnow()
            if isinstance(result, Waits) and utcnow() - seen > WAIT_FOR_ORDERS:
                result = Parked(
                    f"{result.reason}, for {WAIT_FOR_ORDERS.days} days now: if they are "
                    "not this shop's orders (another shop on the same account, a payment link), "
                    "book this payout by hand in Moneybird; if they are, book them (`connector "
                    "import --since`)"
                )
            if isinstance(result, (Waits, Parked)):
                waits = isinstance(result, Waits)
                record.state = (PayoutState.WAITING if waits else PayoutState.PARKED).value
                record.reason, record.last_error = result.reason, None
                if not waits:
                    record.reason += f"; then `connector retry {record.payout_id}`"
                self.store.save(record)
                if waits:
                    done.waiting += 1
                else:
                    done.parked += 1
                return
            lines = json.loads(_lines_json(result))
        found = self._on_the_account(settings.financial_account_id, lines)
        if found:
            lines = self._taken_over(record, lines, found)
            if not lines:
                done.parked += 1
                return
            for line in lines:
                mutation = found[line["transaction_id"]]
                line["mutation_id"] = mutation.id
                if mutation.processed:  # linked already (by Moneybird or by hand)
                    line["linked"] = len(line["links"])
            record.statement_id = found[lines[0]["transaction_id"]].statement_id or "found"
        elif record.provider in setup.fed and record.intent is None:
            # Moneybird imports this account itself: posting would book the payout twice.
            record.state = PayoutState.WAITING.value
            record.reason = (
                "waits for Moneybird's own link to import its movements on the provider's "
                "account (the connector imports nothing there), then links them"
            )
            self.store.save(record)
            done.waiting += 1
            return
        else:
            record.intent, record.intent_at = PayoutIntent.STATEMENT.value, utcnow().isoformat()
            record.lines = json.dumps(lines)
            self.store.save(record)
            answer = self._post(record, settings, lines)
            if answer is None:
                return
            created = bank.statement_mutations(answer)
            if len(created) != len(lines):
                raise Ambiguous("Moneybird's answer does not list the statement's mutations")
            for line, mutation in zip(lines, created, strict=True):
                line["mutation_id"] = mutation.id
            record.statement_id = str(answer.get("id"))
        record.lines = json.dumps(lines)
        if self._used is not None:  # what this statement links is taken for later payouts
            self._used |= {str(link["booking_id"]) for line in lines for link in line["links"]}
        record.intent = record.reason = record.last_error = None
        record.state, record.booked_at = PayoutState.BOOKED.value, utcnow().isoformat()
        self.store.save(record)
        done.booked += 1
        self._carry_on(record)

    def _taken_over(
        self, record: PayoutRecord, lines: list[dict[str, Any]], found: dict[str, bank.Mutation]
    ) -> list[dict[str, Any]]:
        """The lines to take as they are on the provider's account (nothing is posted then):
        all of them; or, when Moneybird's own feed imported the payments and refunds under the
        provider's ids and the fees and the payout as lines of its own (which no id of ours
        finds), those it imported. Else none: parked, some there and some not."""
        ours = [line for line in lines if line["part_ids"]]  # the provider's own ids
        if len(found) == len(lines):
            record.notes = (
                "its movements were on the provider's account already (Moneybird's own feed "
                "or an earlier post); linked, not imported again"
            )
            return lines
        if ours and all(line["transaction_id"] in found for line in ours):
            missing = [line["message"] for line in lines if line["transaction_id"] not in found]
            record.notes = (
                "Moneybird's own link imported this payout's movements: linked, not imported "
                f"again; link its own lines for {'; '.join(missing)} by hand in Moneybird"
            )
            return [line for line in lines if line["transaction_id"] in found]
        record.reason = (
            "some of its movements are on the provider's account in Moneybird already, others "
            "not: book the rest by hand in Moneybird, or delete those movements, then "
            f"`connector retry {record.payout_id}`"
        )
        record.state = PayoutState.PARKED.value
        self.store.save(record)
        return []

    def _post(
        self, record: PayoutRecord, settings: PayoutSettings, lines: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        first = min(date.fromisoformat(line["date"]) for line in lines)
        official = from_text(record.paid_out)
        day = official.astimezone(settings.timezone).date() if official else first
        try:
            return self.client.create_financial_statement(
                settings.financial_account_id,
                f"{record.provider} {record.payout_id}",
                day,
                [_bank_line(line) for line in lines],
            )
        except Rejected as exc:
            # The reference is taken (a lost answer, found by the next read) or Moneybird
            # refuses the movements: a person decides either way, told what Moneybird said.
            record.intent = None
            record.state = PayoutState.PARKED.value
            record.reason = (
                f"Moneybird refused the statement: {exc}; if a statement "
                f"'{record.provider} {record.payout_id}' is on the provider's account, delete "
                f"it, or correct what Moneybird names, then `connector retry {record.payout_id}`"
            )
            self.store.save(record)
            return None

    def _on_the_account(
        self, account_id: str, lines: list[dict[str, Any]]
    ) -> dict[str, bank.Mutation] | None:
        """The statement's lines already on the provider's account, by the provider's id: all
        of them (a lost answer, Moneybird's own feed), none ({}), or some (None: a person).
        The account is read once a pass, from the earliest day asked for to tomorrow."""
        days = [date.fromisoformat(line["date"]) for line in lines]
        first = min(days) - WINDOW
        covered = self._accounts.get(account_id)
        if covered is None or first < covered[0]:
            terms: dict[str, bank.FilterValue] = {
                "period": (first, max(max(days), utcnow().date()) + WINDOW),
                "financial_account_id": account_id,
            }
            rows = self.client.every_financial_mutation(terms)
            covered = (first, [bank.mutation_of(row) for row in rows])
            self._accounts[account_id] = covered
        wanted = {line["transaction_id"]: parse(line["amount"], "amount") for line in lines}
        found: dict[str, bank.Mutation] = {}
        for mutation in covered[1]:
            ident = mutation.account_servicer_transaction_id
            if ident is not None and ident in wanted and mutation.amount == wanted[ident]:
                found.setdefault(ident, mutation)
        taken = {m.id for m in found.values()}
        for ident, amount in wanted.items():
            # A feed that keeps the provider's id only in the message (tr_…, re_…: long and
            # unique enough not to be met by chance), with the same amount.
            if ident in found or len(ident) < MESSAGE_ID_LENGTH:
                continue
            named = [
                m
                for m in covered[1]
                if m.id not in taken and m.amount == amount and ident in m.message.split()
            ]
            if len(named) == 1:
                found[ident] = named[0]
                taken.add(named[0].id)
        return found if found else {}

    # --- where each part's order or refund is booked ---------------------------------------

    def _draft(self, payout: Payout, settings: PayoutSettings) -> StatementDraft | Waits | Parked:
        booked: dict[str, Booked] = {}
        problems: list[str] = []
        taken: set[str] = set()
        shown: list[PayoutPart] = []  # each part naming its order as people know it
        for part in payout.parts:
            shown.append(self._named(part))
            account = settings.financial_account_id
            if part.kind is PartKind.PAYMENT and part.gross != ZERO:
                where = self._payment(part, account)
            elif part.kind is PartKind.REFUND and part.gross != ZERO:
                where = self._refund(part, taken, account)
            else:
                continue
            if isinstance(where, str):
                problems.append(f"{payout.provider} {part.kind.value} {part.provider_id}: {where}")
            elif where is not None:
                booked[part.provider_id] = where
        if problems:
            return Parked(f"{payout.provider} payout {payout.payout_id}: " + "; ".join(problems))
        return book_payout(replace(payout, parts=tuple(shown)), booked, settings)

    def _named(self, part: PayoutPart) -> PayoutPart:
        """The part with its order's number (a Shopify order's #name, not its id) when the
        state knows the order: reasons name orders as the shop owner sees them."""
        if part.kind not in (PartKind.PAYMENT, PartKind.REFUND):
            return part
        order = self._order_of(part)
        if isinstance(order, OrderRecord) and order.number:
            return replace(part, order_reference=order.number)
        return part

    def _order_of(self, part: PayoutPart) -> OrderRecord | str | None:
        """The order a payment (or a refund's payment) is of: by the provider's payment id as
        the shop recorded it, else by the order the provider names."""
        payment = part.payment_id if part.kind is not PartKind.PAYMENT else part.provider_id
        candidates: list[OrderRecord] = []
        if payment:
            candidates = self.store.orders_by_transaction(self.shop, payment)
        if not candidates and part.order_reference:
            ref = part.order_reference
            found = self.store.order(f"{self.shop}:{ref}")
            candidates = [found] if found else self.store.orders_by_number(self.shop, ref)
            # A provider that pays out for several shops (Mollie: per organization) names an
            # order by its number, which another shop may have too: such a name is trusted only
            # for an order whose payment ids the state does not know (booked before it kept
            # them); an order paid by another payment is not this payment's.
            if part.provider_id.split("_", 1)[0] in SHARED_ID_PREFIXES:
                candidates = [c for c in candidates if not c.transaction_ids]
        if len(candidates) > 1:
            keys = ", ".join(sorted(c.number or c.order_id for c in candidates))
            return f"more than one order matches it ({keys}); book this payout by hand in Moneybird"
        return candidates[0] if candidates else None

    def _payment(self, part: PayoutPart, account: str) -> Booked | str | None:
        order = self._order_of(part)
        if order is None or isinstance(order, str):
            return order
        if order.state != OrderState.PAID or not order.invoice_id:
            return None  # not booked yet: the payout waits
        if order.day:
            return self._in_day(order.day, order.key, f"order {order.number}", account)
        if order.payment_id is None:
            return Booked(self.document_type, order.invoice_id)
        if order.payment_id == "settled":
            return (
                f"order {order.number}'s invoice was settled in Moneybird otherwise than by the "
                "payment the connector registers; book this payout by hand in Moneybird"
            )
        if "," in order.payment_id:
            return (
                f"order {order.number}'s invoice was paid in several payments, so which one "
                "this is cannot be told; book this payout by hand in Moneybird"
            )
        total = parse(order.total, "total") if order.total else None
        return Booked(self.document_type, order.invoice_id, order.payment_id, total)

    def _in_day(self, day: str, key: str, what: str, account: str) -> Booked | str | None:
        """Summary mode: the day's document pays with the provider's movements; one the
        connector paid itself (made before [payouts] was on) takes them on that payment, when a
        payout holds all of the day's (booking checks the amounts)."""
        record = self.store.day_of(self.shop, day, key)
        if record is None or record.state != DayState.PAID or not record.invoice_id:
            return None  # the day's document is not made yet: the payout waits
        if account in json.loads(record.payout_accounts or "[]"):
            return Booked(DAY_DOCUMENT, record.invoice_id)
        document = self._day_document(record.invoice_id)
        identifier = f"{record.reference}/{account}"
        payment = document.payments.get(identifier) if document else None
        price = document.payment_prices.get(identifier) if document else None
        if payment is None or price is None:
            return (
                f"{what} is in the day's document {record.invoice_number or record.reference}, "
                "which has no payment on the provider's account; book this payout by hand in "
                "Moneybird"
            )
        return Booked(DAY_DOCUMENT, record.invoice_id, payment, abs(price))

    def _day_document(self, invoice_id: str) -> BookedInvoice | None:
        """A day's document as Moneybird holds it, read once a pass."""
        if invoice_id not in self._documents:
            try:
                answer = self.client.for_documents("external_sales_invoices").invoice(invoice_id)
            except NotFound:
                self._documents[invoice_id] = None
            else:
                self._documents[invoice_id] = booked_invoice(answer)
        return self._documents[invoice_id]

    def _refund(self, part: PayoutPart, taken: set[str], account: str) -> Booked | str | None:
        order = self._order_of(part)
        if order is None or isinstance(order, str):
            return order
        refunds = [r for r in self.store.refunds(order_key=order.key)]
        if part.refund_reference:
            refunds = [r for r in refunds if r.refund_id == part.refund_reference]
        else:
            amount = -part.gross
            refunds = [
                r
                for r in refunds
                if r.amount is not None and abs(parse(r.amount, "amount")) == amount
            ]
        used = self._used_bookings()
        refunds = [
            r for r in refunds if r.key not in taken and (r.payment_id or r.invoice_id) not in used
        ]
        if not refunds:
            return None  # not seen or not booked yet: the payout waits
        refund = min(refunds, key=lambda r: (r.refunded_at or "", r.key))
        taken.add(refund.key)
        if refund.day:
            if refund.state != RefundState.PAID:
                return None
            return self._in_day(refund.day, refund.key, f"refund {refund.refund_id}", account)
        return self._credit(refund, order)

    def _used_bookings(self) -> set[str]:
        """What the statements posted so far link to (payments, documents): a refund of the
        same amount as one booked in an earlier payout is not taken for it again."""
        if self._used is None:
            self._used = {
                str(link["booking_id"])
                for record in self.store.payouts()
                if record.lines and record.statement_id
                for line in json.loads(record.lines)
                for link in line["links"]
            }
        return self._used

    def _credit(self, refund: RefundRecord, order: OrderRecord) -> Booked | str | None:
        if refund.state == RefundState.NET:
            return (
                f"refund {refund.refund_id} of order {order.number} was booked on the order's "
                "own invoice, not as a payment back; book this payout by hand in Moneybird"
            )
        if refund.state != RefundState.PAID or not refund.invoice_id:
            return None
        amount = abs(parse(refund.amount, "amount")) if refund.amount else None
        if refund.payment_id is None:
            return Booked(self.document_type, refund.invoice_id)
        if refund.payment_id == "settled" or "," in refund.payment_id:
            return (
                f"refund {refund.refund_id} of order {order.number} was settled against the "
                "order's invoice, not paid out; book this payout by hand in Moneybird"
            )
        return Booked(self.document_type, refund.invoice_id, refund.payment_id, amount)

    # --- links -----------------------------------------------------------------------------

    def _carry_on(self, record: PayoutRecord) -> None:
        """Link the statement's lines; once all are, the payout waits for its bank line."""
        if record.state == PayoutState.BOOKED and self._link_parts(record):
            record.state = PayoutState.LINKED.value
            record.reason = record.last_error = None
            self.store.save(record)

    def _link_parts(self, record: PayoutRecord) -> bool:
        """Each line's links, once; True when every line is linked."""
        lines = json.loads(record.lines or "[]")
        for line in lines:
            links = [_link_of(link) for link in line["links"]]
            mutation_id = line["mutation_id"]
            if line["pending"] or (line.get("refused") and line["linked"] < len(links)):
                # A lost answer, or a link refused that a person may have made by hand since:
                # Moneybird's mutation says what is linked.
                made = self._links_made(mutation_id, len(links))
                if made is None:
                    return self._statement_gone(record, mutation_id)
                line["linked"] = max(line["linked"], made)
                line["pending"] = line["refused"] = False
                record.intent, record.lines = None, json.dumps(lines)
                self.store.save(record)
            while line["linked"] < len(links):
                link = links[line["linked"]]
                if not self._still_left(record, link):
                    return False
                line["pending"] = True
                record.intent, record.lines = PayoutIntent.LINK.value, json.dumps(lines)
                self.store.save(record)
                try:
                    self.client.link_booking(
                        mutation_id,
                        link.booking_type,
                        link.booking_id,
                        link.price,
                        link.price_base,
                        link.description or None,
                    )
                except NotFound:
                    return self._statement_gone(record, mutation_id)
                except Rejected as exc:
                    line["pending"], line["refused"] = False, True
                    record.intent, record.lines = None, json.dumps(lines)
                    record.state = PayoutState.PARKED.value  # not tried again every pass
                    record.reason = (
                        f"Moneybird refused to link '{line['message']}' to {link.booking_type} "
                        f"{link.booking_id}: {exc}; correct what Moneybird names, or link it by "
                        f"hand in Moneybird, then `connector retry {record.payout_id}`"
                    )
                    self.store.save(record)
                    return False
                line["linked"] += 1
                line["pending"] = False
                record.intent, record.lines = None, json.dumps(lines)
                self.store.save(record)
        return True

    def _still_left(self, record: PayoutRecord, link: Link) -> bool:
        """A link that pays a day's document is made only while the day still leaves this
        provider's part to its payouts: a day the connector paid itself meanwhile ([payouts]
        turned off and on again) would be paid twice. Parked then, saying what to do."""
        if link.booking_type != DAY_DOCUMENT or link.price is None:
            return True
        day = self._day_by_document().get(link.booking_id)
        account = self._account_of.get(record.provider)
        if day is None or account is None:
            return True
        if account in json.loads(day.payout_accounts or "[]"):
            return True
        record.state, record.intent = PayoutState.PARKED.value, None
        record.reason = (
            f"the day's document {day.invoice_number or day.reference} was paid by the connector "
            "while payouts were off, so this payout's movement for it would pay it twice: link "
            "that movement to the connector's payment on the document by hand in Moneybird "
            f"(or unlink that payment), then `connector retry {record.payout_id}`"
        )
        self.store.save(record)
        return False

    def _day_by_document(self) -> dict[str, DayRecord]:
        if self._days is None:
            self._days = {d.invoice_id: d for d in self.store.days() if d.invoice_id}
        return self._days

    def _links_made(self, mutation_id: str, wanted: int) -> int | None:
        """How many of a line's links Moneybird holds (each link leaves a payment or a ledger
        booking on the mutation; a processed one has them all); None: the mutation is gone."""
        try:
            mutation = bank.mutation_of(self.client.financial_mutation(mutation_id))
        except NotFound:
            return None
        if mutation.processed:
            return wanted
        return min(wanted, len(mutation.payment_ids) + len(mutation.ledger_booking_ids))

    def _statement_gone(self, record: PayoutRecord, mutation_id: str) -> bool:
        """A movement of the statement is gone from Moneybird (the statement deleted by hand):
        parked, the statement forgotten, so that `connector retry` posts it anew."""
        record.state, record.intent = PayoutState.PARKED.value, None
        record.statement_id = record.lines = None
        record.reason = (
            f"its movement {mutation_id} is gone from the provider's account in Moneybird (the "
            "statement deleted?): delete what is left of the statement "
            f"'{record.provider} {record.payout_id}', then `connector retry {record.payout_id}` "
            "posts it anew"
        )
        self.store.save(record)
        return False

    # --- the bank line ---------------------------------------------------------------------

    def _bank_lines(self, setup: PayoutSetup, done: PayoutReport) -> None:
        """The bank lines of the payouts waiting for theirs: one search of the bank account
        for all of them, when a payout has just come to wait, else every BANK_POLL (a bank
        line arrives a day or so after the payout; looking every pass would cost a request
        every 15 minutes for nothing)."""
        waiting = [
            r for r in self.store.payouts({PayoutState.LINKED}) if r.provider in setup.settings
        ]
        for record in [r for r in waiting if r.intent == PayoutIntent.BANK]:
            self._guarded(record, partial(self._settle_bank, record, setup, done))
        waiting = [r for r in waiting if r.intent != PayoutIntent.BANK]
        if not waiting:
            return
        now = utcnow()
        last = from_text(self.store.get_meta(Meta.BANK_SEARCHED_AT))
        fresh = any(r.key in self._fresh or r.reason is None for r in waiting)
        if not fresh and last is not None and now - last < BANK_POLL:
            return
        moments = [from_text(r.paid_out) or now for r in waiting]
        terms: dict[str, bank.FilterValue] = {
            "period": ((min(moments) - BANK_BEFORE).date(), (max(moments) + BANK_AFTER).date()),
            "financial_account_id": setup.bank_account_id,
        }
        try:
            rows = self.client.every_financial_mutation(terms)
        except (Interrupted, StateError, AuthError):
            raise
        except ConnectorError as exc:
            done.errors.append(f"the bank account's lines not read: {exc}")
            return
        self.store.set_meta(Meta.BANK_SEARCHED_AT, now.isoformat())
        lines = [bank.mutation_of(row) for row in rows]
        taken: set[str] = set()
        for record in waiting:
            shutdown.check()
            self._guarded(record, partial(self._match_bank, record, lines, taken, setup, done))

    def _match_bank(
        self,
        record: PayoutRecord,
        lines: list[bank.Mutation],
        taken: set[str],
        setup: PayoutSetup,
        done: PayoutReport,
    ) -> None:
        net = parse(record.net, "net") if record.net else ZERO
        if net == ZERO:
            self._done(record)
            return
        paid_out = (from_text(record.paid_out) or utcnow()).astimezone(UTC).date()
        wanted = _squeezed(record.reference)

        def near(m: bank.Mutation) -> bool:
            return m.amount == net and paid_out - BANK_BEFORE <= m.date <= paid_out + BANK_AFTER

        named = [m for m in lines if near(m) and m.id not in taken and wanted
                 and wanted in _squeezed(m.message)]  # fmt: skip
        settings = setup.settings[record.provider]
        claimed = {r.bank_mutation_id for r in self.store.payouts() if r.bank_mutation_id}
        # A line a person linked to the transfer ledger (told to choose between two, or its
        # reference printed otherwise) closes it: by the reference, else by amount and date.
        by_hand = [m for m in named if m.processed and m.id not in claimed
                   and settings.transfer_ledger_id in m.ledger_ids] or [
            m for m in lines if near(m) and m.processed and m.id not in claimed | taken
            and settings.transfer_ledger_id in m.ledger_ids
        ]  # fmt: skip
        if by_hand:
            taken.add(by_hand[0].id)
            record.bank_mutation_id = by_hand[0].id
            self._done(record)
            done.linked += 1
            return
        candidates = [m for m in named if not m.processed]
        if len(candidates) == 1:
            taken.add(candidates[0].id)
            record.bank_mutation_id = candidates[0].id
            self._link_bank(record, setup, done)
            return
        record.reason = self._no_bank_line(record, net, candidates)
        if len(candidates) > 1:  # never guessed: a person links the right one
            record.state = PayoutState.PARKED.value
        self.store.save(record)

    def _settle_bank(self, record: PayoutRecord, setup: PayoutSetup, done: PayoutReport) -> None:
        """A bank link whose answer was lost: Moneybird's mutation says whether it landed."""
        mutation = bank.mutation_of(self.client.financial_mutation(record.bank_mutation_id or ""))
        if mutation.processed or mutation.ledger_booking_ids:
            self._done(record)
            done.linked += 1
        else:
            self._link_bank(record, setup, done)

    def _link_bank(self, record: PayoutRecord, setup: PayoutSetup, done: PayoutReport) -> None:
        settings = setup.settings[record.provider]
        net = parse(record.net, "net") if record.net else ZERO
        record.intent = PayoutIntent.BANK.value
        self.store.save(record)
        what = f"{record.provider} payout {record.payout_id}, reference {record.reference}"
        try:
            self.client.link_booking(
                record.bank_mutation_id or "",
                bank.LEDGER_BOOKING,
                settings.transfer_ledger_id,
                None,
                abs(net),
                what,
            )
        except Rejected as exc:
            record.intent, record.bank_mutation_id = None, None
            record.state = PayoutState.PARKED.value
            record.reason = (
                f"Moneybird refused to link the bank line: {exc}; link it to the transfer "
                f"ledger by hand, then `connector retry {record.payout_id}`"
            )
            self.store.save(record)
            return
        self._done(record)
        done.linked += 1

    def _done(self, record: PayoutRecord) -> None:
        record.state, record.intent = PayoutState.DONE.value, None
        record.reason = record.last_error = None
        record.done_at = utcnow().isoformat()
        self.store.save(record)

    def _no_bank_line(
        self, record: PayoutRecord, net: Decimal, candidates: Iterable[bank.Mutation]
    ) -> str:
        found = list(candidates)
        if found:
            ids = ", ".join(f"{m.id} ({m.date})" for m in found)
            return (
                f"{len(found)} bank lines of {fmt(net)} carry reference {record.reference}: {ids}; "
                "link the right one to the transfer ledger by hand, then `connector retry "
                f"{record.payout_id}`"
            )
        return f"waits for the bank line of {fmt(net)} with reference {record.reference}"


def _squeezed(text: str | None) -> str:
    """A reference as banks print it: spaces and case vary."""
    return "".join((text or "").split()).casefold()


def bank_line_overdue(record: PayoutRecord, days: int, now: datetime | None = None) -> bool:
    """Whether a payout has waited longer than `days` for its bank line."""
    paid_out = from_text(record.paid_out)
    if record.state != PayoutState.LINKED or paid_out is None:
        return False
    return (now or utcnow()) - paid_out > timedelta(days=days)
