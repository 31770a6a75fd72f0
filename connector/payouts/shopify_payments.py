"""Shopify Payments' payouts, read through the shop's GraphQL Admin API into checked
`records.Payout`s (scope `read_shopify_payments_payouts`; no payout webhook exists, so polled).

The GraphQL transport is injected (`run_query`: a document and its variables in, the answer's
`data` out, Shopify's refusals raised as the shop client raises them), so this module knows no
shop adapter. Per payout: its balance transactions (`payments_transfer_id:<payout id>`), and
the fees Shopify states on the orders' transactions (`fees { amount taxAmount }`), read for up
to ORDERS_PER_FEE_QUERY orders in one query, since a balance transaction does not lead to
them. `parse_payout` is pure.

A balance transaction moves the balance by `amount - fee = net`: a charge is an order's
payment, a refund a refund, a dispute taken back a chargeback, the payout's own transfer is
the payout itself (left out), and anything else (adjustments, reserves, Shopify's other
credits and debits) a part of its own that booking leaves for a person.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from connector.errors import ShopError
from connector.money import BASE_CURRENCY, ZERO, MoneyError, is_cents, parse
from connector.payouts.records import (
    PartKind,
    Payout,
    PayoutDataError,
    PayoutPart,
    RefusedPayout,
    check_id,
    check_payout,
    parse_amount,
    parse_moment,
    shown,
)

PROVIDER = "shopify_payments"
LABEL = "Shopify Payments"
PAYOUTS_PER_PAGE = 50
# 2 + 100 x 6 points a page: well under Shopify's 1,000-point cap for one query.
TRANSACTIONS_PER_PAGE = 100
ORDERS_PER_FEE_QUERY = 25
MAX_PAYOUT_PAGES = 200  # 10,000 payouts since the moment asked for
MAX_TRANSACTION_PAGES = 50  # 5,000 balance transactions in one payout

RunQuery = Callable[[str, Mapping[str, object]], Mapping[str, object]]

_MONEY = "amount currencyCode"

PAYOUTS = f"""
query ShopifyPaymentsPayouts($after: String, $query: String) {{
  shopifyPaymentsAccount {{
    payouts(first: {PAYOUTS_PER_PAGE}, after: $after, query: $query, sortKey: ISSUED_AT) {{
      nodes {{
        id legacyResourceId issuedAt status transactionType externalTraceId
        net {{ {_MONEY} }}
      }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}
"""

PAYOUT_TRANSACTIONS = f"""
query ShopifyPaymentsPayoutTransactions($after: String, $query: String!) {{
  shopifyPaymentsAccount {{
    balanceTransactions(
      first: {TRANSACTIONS_PER_PAGE}, after: $after, query: $query, sortKey: PROCESSED_AT
    ) {{
      nodes {{
        id type test transactionDate adjustmentReason
        sourceId sourceType sourceOrderTransactionId
        amount {{ {_MONEY} }}
        fee {{ {_MONEY} }}
        net {{ {_MONEY} }}
        associatedOrder {{ id name }}
        associatedPayout {{ id }}
      }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}
"""


def order_fees_query(count: int) -> str:
    """The fees on the transactions of `count` orders (variables $o0 … $o<count-1>), each
    order by its id: a balance transaction names its order transaction only by number."""
    if not 1 <= count <= ORDERS_PER_FEE_QUERY:
        raise ValueError(f"order_fees_query reads 1 to {ORDERS_PER_FEE_QUERY} orders")
    names = [f"o{index}" for index in range(count)]
    variables = ", ".join(f"${name}: ID!" for name in names)
    fees = f"fees {{ amount {{ {_MONEY} }} taxAmount {{ {_MONEY} }} }}"
    fields = "\n".join(
        f"  {name}: order(id: ${name}) {{ id transactions {{ id {fees} }} }}" for name in names
    )
    return f"query ShopifyPaymentsFees({variables}) {{\n{fields}\n}}\n"


ORDER_FEES = order_fees_query(ORDERS_PER_FEE_QUERY)

# Every document this module sends (the Shopify sandbox's shipped schema is cut to these).
QUERIES = {
    "ShopifyPaymentsPayouts": PAYOUTS,
    "ShopifyPaymentsPayoutTransactions": PAYOUT_TRANSACTIONS,
    "ShopifyPaymentsFees": ORDER_FEES,
}

PAYMENT_TYPES = frozenset({"CHARGE"})
REFUND_TYPES = frozenset({"REFUND"})
# A dispute's money taken back (Shopify books a dispute as an adjustment whose source is the
# dispute, or holds it back as a chargeback hold); given back again it is no chargeback.
CHARGEBACK_TYPES = frozenset({"DISPUTE_WITHDRAWAL", "CHARGEBACK_HOLD"})
TRANSFER = "TRANSFER"  # the payout's own movement to the bank: the payout, not a part of it
# The fees stated on an order transaction are those of the charge or refund it made; a dispute
# names the charge's order transaction too, but its fee is the dispute's own.
FEES_STATED_FOR = PAYMENT_TYPES | REFUND_TYPES
GID = re.compile(r"^gid://shopify/[A-Za-z]+/([0-9]{1,20})$")


def is_paid(payout: Mapping[str, object]) -> bool:
    """Only a payout Shopify has deposited is booked; a scheduled one may still change, a
    failed or canceled one returns to the balance."""
    return payout.get("status") == "PAID"


def fee_orders(transactions: Sequence[Mapping[str, object]]) -> list[str]:
    """The orders (ids as Shopify gives them) whose transactions' fees a payout needs: those
    of its balance transactions that took a fee; each once, in the order met."""
    found: dict[str, None] = {}
    for item in transactions:
        if not isinstance(item, Mapping) or item.get("type") not in FEES_STATED_FOR:
            continue
        order = item.get("associatedOrder")
        fee = item.get("fee")
        gid = order.get("id") if isinstance(order, Mapping) else None
        amount = fee.get("amount") if isinstance(fee, Mapping) else None
        if not isinstance(gid, str) or item.get("sourceOrderTransactionId") is None:
            continue
        try:
            taken = parse(amount, "fee")
        except MoneyError:
            continue  # the parse names it
        if taken != ZERO:
            found.setdefault(gid, None)
    return list(found)


def stated_fees(orders: Mapping[str, object]) -> dict[str, list[object]]:
    """Order transaction number -> the `fees` Shopify states on it, from the answers of
    order_fees_query (aliases to orders, an order Shopify no longer has as None)."""
    found: dict[str, list[object]] = {}
    for order in orders.values():
        if not isinstance(order, Mapping):
            continue
        transactions = order.get("transactions")
        for transaction in transactions if isinstance(transactions, list) else []:
            if not isinstance(transaction, Mapping):
                continue
            number = _gid_number(transaction.get("id"))
            fees = transaction.get("fees")
            if number is not None and isinstance(fees, list):
                found[number] = fees
    return found


def parse_payout(
    payout: Mapping[str, object],
    transactions: Sequence[Mapping[str, object]],
    fees: Mapping[str, Sequence[object]] | None = None,
    now: datetime | None = None,
) -> Payout:
    """A paid payout and its balance transactions (all pages) as a checked Payout; `fees`
    maps an order transaction's number to the fees Shopify states on it (stated_fees).
    Anything Shopify would not send, or that cannot be booked as it is, raises
    PayoutDataError naming the field."""
    if not isinstance(payout, Mapping):
        raise PayoutDataError(f"{LABEL} payout {shown(payout)} is not a payout")
    payout_id = _number(payout.get("legacyResourceId"), f"{LABEL} payout legacyResourceId")
    where = f"{LABEL} payout {payout_id}"
    if not is_paid(payout):
        raise PayoutDataError(f"{where} is {shown(payout.get('status'))}, not paid out yet")
    if payout.get("transactionType") not in (None, "DEPOSIT"):
        raise PayoutDataError(
            f"{where} is a {shown(payout.get('transactionType'))}: money taken from the bank "
            "to Shopify Payments is not booked yet; book it by hand"
        )
    net = _money(payout, "net", where)
    paid_out = _moment(payout, "issuedAt", where, now)
    gid = payout.get("id")
    parts: list[PayoutPart] = []
    tests: list[str] = []
    for index, item in enumerate(transactions):
        at = f"{where}: balance transaction [{index}]"
        if not isinstance(item, Mapping):
            raise PayoutDataError(f"{at} {shown(item)} is not a balance transaction")
        transaction_id = _number(_gid_number(item.get("id")) or item.get("id"), f"{at}.id")
        at = f"{where}: balance transaction {transaction_id}"
        belongs = item.get("associatedPayout")
        if isinstance(belongs, Mapping) and belongs.get("id") not in (None, gid):
            raise PayoutDataError(
                f"{at} belongs to payout {shown(belongs.get('id'))}; Shopify listed it under "
                "this one, so its list cannot be trusted"
            )
        if item.get("test") is True:
            tests.append(transaction_id)
            continue
        if item.get("test") is not False:
            raise PayoutDataError(f"{at}.test {shown(item.get('test'))} is not true or false")
        if item.get("type") == TRANSFER:
            continue
        parts.append(_part(item, transaction_id, at, fees or {}, now))
    if tests:
        raise PayoutDataError(
            f"{where} holds {len(tests)} test-mode transaction(s) ({', '.join(tests[:5])}); a "
            "payout to the bank pays out no test money, so it is not booked; check it in "
            "Shopify and book it by hand"
        )
    reference = payout.get("externalTraceId")
    try:
        # What the bank line carries when Shopify knows it ("transfer reference number");
        # else the payout's own number.
        reference = check_id(reference, f"{where}: externalTraceId")
    except PayoutDataError:
        reference = payout_id
    return check_payout(
        Payout(
            provider=PROVIDER,
            payout_id=payout_id,
            reference=reference,
            currency=BASE_CURRENCY,
            paid_out=paid_out,
            net=net,
            parts=tuple(parts),
        ),
        now,
    )


def _part(
    item: Mapping[str, object],
    transaction_id: str,
    at: str,
    fees: Mapping[str, Sequence[object]],
    now: datetime | None,
) -> PayoutPart:
    amount = _money(item, "amount", at)
    fee = _money(item, "fee", at)
    net = _money(item, "net", at)
    if amount - fee != net:
        raise PayoutDataError(
            f"{at}: amount {amount} less fee {fee} is not its net {net}; Shopify's figures "
            "disagree, so it is not booked"
        )
    kind_name = item.get("type")
    source = item.get("sourceType")
    if not isinstance(kind_name, str) or not kind_name:
        raise PayoutDataError(f"{at}.type {shown(kind_name)} is not a transaction type")
    order = item.get("associatedOrder")
    order_reference = None
    order_name = ""
    if order is not None:
        if not isinstance(order, Mapping) or _gid_number(order.get("id")) is None:
            raise PayoutDataError(f"{at}.associatedOrder {shown(order)} is not an order")
        order_reference = _gid_number(order.get("id"))
        name = order.get("name")
        order_name = name if isinstance(name, str) else ""
    order_transaction = _optional_number(item, "sourceOrderTransactionId", at)
    if kind_name in PAYMENT_TYPES:
        kind = PartKind.PAYMENT
    elif kind_name in REFUND_TYPES:
        kind = PartKind.REFUND
    elif (kind_name in CHARGEBACK_TYPES or source == "DISPUTE") and amount <= ZERO:
        kind = PartKind.CHARGEBACK
    else:
        kind = PartKind.OTHER
    refund_reference = None
    if kind is PartKind.REFUND and source == "REFUND":
        refund_reference = _optional_number(item, "sourceId", at)
    label = kind_name.lower().replace("_", " ")
    reason = item.get("adjustmentReason")
    description = f"{LABEL} {label}"
    if order_name:
        description += f" order {order_name}"
    if isinstance(reason, str) and reason.strip():
        description += f": {reason.strip()}"
    return PayoutPart(
        kind=kind,
        provider_id=transaction_id,
        gross=amount,
        date=_moment(item, "transactionDate", at, now),
        fee=fee,
        fee_vat=_fee_vat(fee, order_transaction, fees, at)
        if kind_name in FEES_STATED_FOR
        else None,
        order_reference=order_reference,
        payment_id=order_transaction,
        description=" ".join(description.split())[:200],
        refund_reference=refund_reference,
    )


def _fee_vat(
    fee: Decimal, order_transaction: str | None, fees: Mapping[str, Sequence[object]], at: str
) -> Decimal | None:
    """The tax in a balance transaction's fee, as the order transaction's fees state it: the
    fees' amounts and their taxAmount together make up the fee taken, so the tax is inside it.
    None when Shopify states no fees for it; a statement that does not make up the fee taken
    is not guessed at."""
    if fee == ZERO or order_transaction is None or not fees.get(order_transaction):
        return None
    where = f"{at}: the fees of order transaction {order_transaction}"
    amounts = taxes = ZERO
    for index, stated in enumerate(fees[order_transaction]):
        if not isinstance(stated, Mapping):
            raise PayoutDataError(f"{where} [{index}] {shown(stated)} is not a fee")
        amounts += _money(stated, "amount", f"{where} [{index}]")
        taxes += _money(stated, "taxAmount", f"{where} [{index}]")
    if amounts + taxes == fee:
        return taxes
    raise PayoutDataError(
        f"{where} (amount {amounts}, tax {taxes}) do not make up the fee of {fee} taken; "
        "which part is tax is not known, so it is not booked; book it by hand"
    )


def _money(item: Mapping[str, object], key: str, where: str) -> Decimal:
    """A MoneyV2 in the administration's currency, in whole cents."""
    money = item.get(key)
    if not isinstance(money, Mapping):
        raise PayoutDataError(f"{where}.{key} {shown(money)} is not an amount")
    currency = money.get("currencyCode")
    if currency != BASE_CURRENCY:
        raise PayoutDataError(
            f"{where}.{key} is in {shown(currency)}; only {BASE_CURRENCY} is booked"
        )
    value = money.get("amount")
    # Shopify's Decimal is a string, trailing zeros dropped ("10.5").
    amount = parse_amount(value, f"{where}.{key}.amount", 10)
    if not is_cents(amount):
        raise PayoutDataError(f"{where}.{key}.amount {value} is not in whole cents")
    return amount


def _moment(item: Mapping[str, object], key: str, where: str, now: datetime | None) -> datetime:
    return parse_moment(item.get(key), f"{where}.{key}", now)


def _number(value: object, where: str) -> str:
    """A Shopify number (UnsignedInt64 and BigInt come as strings of digits)."""
    number = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**20
    text = str(value) if number else value
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{1,20}", text):
        raise PayoutDataError(f"{where} {shown(value)} is not a Shopify id")
    return text


def _optional_number(item: Mapping[str, object], key: str, where: str) -> str | None:
    value = item.get(key)
    return None if value is None else _number(value, f"{where}.{key}")


def _gid_number(gid: object) -> str | None:
    """'gid://shopify/Order/450789469' -> '450789469' (None: not such an id)."""
    found = GID.match(gid) if isinstance(gid, str) else None
    return found.group(1) if found else None


class ShopifyPaymentsProvider:
    """The PayoutProvider for Shopify Payments, reading through the shop's GraphQL client."""

    name = PROVIDER

    def __init__(self, run_query: RunQuery, now: datetime | None = None) -> None:
        self._run = run_query
        self._now = now
        self.queries = 0  # documents sent (for the figures)

    def payouts(
        self, since: datetime, known: Collection[str] = frozenset()
    ) -> Iterator[Payout | RefusedPayout]:
        """Every payout Shopify deposited at or after `since`, oldest first: scheduled ones
        are left until they are paid, failed and canceled ones are none. One whose data
        cannot be booked comes as a RefusedPayout; an answer that cannot be read (ShopError:
        no account, not the shape Shopify sends) ends the read for this pass, and the next
        pass reads again from the same place."""
        since = since.astimezone(UTC)
        search = f"issued_at:>='{since.strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        after: object = None
        for _page in range(MAX_PAYOUT_PAGES):
            connection = self._connection(PAYOUTS, {"after": after, "query": search}, "payouts")
            for node in _nodes(connection, "payouts"):
                if not is_paid(node):
                    continue
                try:
                    issued = _moment(node, "issuedAt", f"{LABEL} payout", self._now)
                except PayoutDataError as exc:
                    yield RefusedPayout(PROVIDER, _refused_id(node), str(exc))
                    continue
                if issued >= since and _refused_id(node) not in known:
                    yield self._payout(node, issued)
            after = _next(connection, "payouts")
            if after is None:
                return
        raise ShopError(
            f"{LABEL} lists more than {MAX_PAYOUT_PAGES * PAYOUTS_PER_PAGE} payouts since "
            f"{since.date().isoformat()}; set [payouts] since to a later day"
        )

    def _payout(self, node: Mapping[str, object], issued: datetime) -> Payout | RefusedPayout:
        """The payout read whole; refused when its data cannot be booked. A read that fails
        (ShopError, an outage) is raised: it passes, and the payout is read again next pass."""
        try:
            payout_id = _number(node.get("legacyResourceId"), f"{LABEL} payout legacyResourceId")
            transactions = self._transactions(payout_id)
            fees = self._fees(fee_orders(transactions))
            return parse_payout(node, transactions, fees, self._now)
        except PayoutDataError as exc:
            return RefusedPayout(PROVIDER, _refused_id(node), str(exc), issued)

    def _transactions(self, payout_id: str) -> list[Mapping[str, object]]:
        """The payout's balance transactions, every page."""
        found: list[Mapping[str, object]] = []
        after: object = None
        variables = {"query": f"payments_transfer_id:{payout_id}"}
        for _page in range(MAX_TRANSACTION_PAGES):
            connection = self._connection(
                PAYOUT_TRANSACTIONS, {**variables, "after": after}, "balanceTransactions"
            )
            found += _nodes(connection, "balanceTransactions")
            after = _next(connection, "balanceTransactions")
            if after is None:
                return found
        raise PayoutDataError(
            f"{LABEL} payout {payout_id} has more than "
            f"{MAX_TRANSACTION_PAGES * TRANSACTIONS_PER_PAGE} transactions; book it by hand"
        )

    def _fees(self, orders: list[str]) -> dict[str, list[object]]:
        """The fees stated on the transactions of these orders, ORDERS_PER_FEE_QUERY a query."""
        found: dict[str, list[object]] = {}
        for start in range(0, len(orders), ORDERS_PER_FEE_QUERY):
            batch = orders[start : start + ORDERS_PER_FEE_QUERY]
            variables = {f"o{index}": gid for index, gid in enumerate(batch)}
            self.queries += 1
            found.update(stated_fees(self._run(order_fees_query(len(batch)), variables)))
        return found

    def _connection(
        self, document: str, variables: Mapping[str, object], field: str
    ) -> Mapping[str, object]:
        self.queries += 1
        data = self._run(document, variables)
        account = data.get("shopifyPaymentsAccount") if isinstance(data, Mapping) else None
        if account is None:
            raise ShopError(
                f"the shop has no {LABEL} account (or the app may not read it): turn "
                "[payouts.shopify_payments] off, or give the app the "
                "read_shopify_payments_payouts scope"
            )
        connection = account.get(field) if isinstance(account, Mapping) else None
        if not isinstance(connection, Mapping):
            raise ShopError(f"{LABEL} answered {field} with {shown(connection)}")
        return connection


def _nodes(connection: Mapping[str, object], field: str) -> list[Mapping[str, object]]:
    nodes = connection.get("nodes")
    if not isinstance(nodes, list) or not all(isinstance(n, Mapping) for n in nodes):
        raise ShopError(f"{LABEL} answered {field} without a list of nodes")
    return nodes


def _next(connection: Mapping[str, object], field: str) -> str | None:
    """The cursor to read on from, None when this was the last page."""
    info = connection.get("pageInfo")
    if not isinstance(info, Mapping) or not isinstance(info.get("hasNextPage"), bool):
        raise ShopError(f"{LABEL} answered {field} without its pageInfo")
    if not info["hasNextPage"]:
        return None
    cursor = info.get("endCursor")
    if not isinstance(cursor, str) or not cursor:
        raise ShopError(f"{LABEL} answered {field} with a next page but no cursor")
    return cursor


def _refused_id(node: Mapping[str, object]) -> str:
    """The payout's number for a refusal, as well as it can be told."""
    value = node.get("legacyResourceId")
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).isdigit():
        return str(value)
    return _gid_number(node.get("id")) or shown(node.get("id"))
