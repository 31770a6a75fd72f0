"""What a shop's values must be before anything is built on them: a date that is a date and
could be this order's, a quantity that goes with its amount, amounts with the decimals money
has. A value that is not parks its own order, named with the field and the value, where the
order is read: nothing that serves every order (the documents scan, the period look-ups, the
watermark) ever sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from connector.errors import OrderDataError
from connector.money import CENT, ZERO
from connector.order import Order

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # no shop's order is older than this
AHEAD = timedelta(days=2)  # to the end of tomorrow: a shop's clock is never further ahead
# Shops keep line amounts to six decimals (WooCommerce's rounding precision) before they
# round a line; more than that no shop writes, so it is not money but noise.
LINE_PLACES = Decimal("0.000001")
SHOWN = 60  # characters of a bad value quoted in a reason


def shown(value: object) -> str:
    """A value as a reason quotes it: short, and on one line."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def moment(
    value: object, field: str, read: Callable[[str], datetime], now: datetime | None = None
) -> datetime | None:
    """A shop date, read by the platform's `read`, or None when the shop gives none; one that
    is not a date, or is before 2000 or after tomorrow, raises OrderDataError naming it."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise OrderDataError(f"{field} {shown(value)} is not a date")
    try:
        found = read(value)
    except (ValueError, TypeError, OverflowError):
        raise OrderDataError(f"{field} {shown(value)} is not a date") from None
    plausible(found, field, value, now)
    return found


def is_plausible(found: datetime, now: datetime | None = None) -> bool:
    """A moment an order of now can have: from 2000 to the end of tomorrow."""
    return EARLIEST <= found <= latest_plausible(now)


def plausible(found: datetime, field: str, value: object, now: datetime | None = None) -> None:
    if not is_plausible(found, now):
        raise OrderDataError(
            f"{field} {shown(value)} cannot be this order's (before 2000 or after tomorrow); "
            "correct it in the shop, then `connector retry`"
        )


def latest_plausible(now: datetime | None = None) -> datetime:
    """The end of tomorrow (UTC): no order of today can be dated later."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return datetime.combine(today + AHEAD, datetime.min.time(), tzinfo=UTC)


def stamp(value: object, read: Callable[[str], datetime]) -> datetime | None:
    """A date used for reading the list (paging, filtering), where a bad one must not stop the
    read: None for anything that is not a plausible date (its order is parked when read)."""
    try:
        return moment(value, "date", read)
    except OrderDataError:
        return None


# What reading a shop's payload raises when a value is not what it should be.
PARSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, OrderDataError)


@contextmanager
def reading(what: str = "this order") -> Iterator[None]:
    """Any value of the payload that is not what it should be parks the order it belongs to,
    named: never an internal error."""
    try:
        yield
    except PARSE_ERRORS as exc:
        raise OrderDataError(
            f"the shop's data for {what} is unreadable: {field_error(exc)}"
        ) from exc


def field_error(exc: Exception) -> str:
    """What a parse failure says about the field, for a reason a person reads."""
    if isinstance(exc, KeyError):
        return f"the field {exc.args[0]!r} is missing"
    return str(exc) or type(exc).__name__


def check_order(order: Order, now: datetime | None = None) -> Order:
    """The order as parsed, when its values could be a sale; else OrderDataError naming the
    field and its value, so the order parks on the first pass."""
    if order.paid_at is not None:
        plausible(order.paid_at, "paid date", order.paid_at.isoformat(), now)
    plausible(order.modified_at, "modification date", order.modified_at.isoformat(), now)
    _whole_cents(order.total, "order total")
    for payment in order.payments:
        _whole_cents(payment.amount, f"payment {payment.method or '(no method)'}")
    for rate in order.tax_rates.values():
        _whole_cents(rate.vat_total, f"VAT total of tax rate {rate.rate_id}")
    for line in order.lines:
        name = f"{line.kind.value} line {shown(line.description)}"
        if line.quantity <= ZERO and (line.net != ZERO or line.tax != ZERO):
            raise OrderDataError(
                f"{name} has quantity {line.quantity} with a total of {line.net}: a line "
                "that is paid for has a quantity above 0; correct it in the shop"
            )
        amounts = {"total": line.net, "tax": line.tax, "subtotal": line.net_before_discount,
                   "subtotal tax": line.tax_before_discount}  # fmt: skip
        for what, amount in amounts.items():
            if amount is not None and amount != amount.quantize(LINE_PLACES):
                raise OrderDataError(
                    f"{name} {what} {amount} has more decimals than a shop rounds a line to"
                )
    for refund in order.refunds:
        plausible(refund.created_at, f"refund {refund.refund_id} date",
                  refund.created_at.isoformat(), now)  # fmt: skip
        _whole_cents(refund.amount, f"refund {refund.refund_id} amount")
    return order


def _whole_cents(amount: Decimal, field: str) -> None:
    if amount != amount.quantize(CENT):
        raise OrderDataError(f"{field} {amount} has more decimals than the currency has")
