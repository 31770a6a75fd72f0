"""Pure: how what the customer paid is registered in Moneybird, one payment per way of paying.

Each payment lands on the financial account the payment table names for its method, so each
provider's clearing account reconciles with its payouts. Paying with a gift card is a payment
too (on its own account: the gift-card liability), never a discount line.
"""

from __future__ import annotations

import fnmatch
from dataclasses import replace
from datetime import date
from decimal import Decimal

from connector.booking.invoice import PaymentPlan
from connector.booking.mappings import Mappings
from connector.defaults import GIFT_CARD_METHODS
from connector.errors import ConnectorError
from connector.money import BASE_CURRENCY, ZERO, cents, fmt, split
from connector.order import Order, Payment, Refund

# The shop's name for paying with its own gift cards (Shopify's gateway).


class PaymentProblem(ConnectorError):
    """The payments cannot be told apart without guessing: the order is parked."""


def is_gift_card(method: str, gift_card_methods: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(method, glob) for glob in gift_card_methods)


def payment_plans(
    order: Order,
    mappings: Mappings,
    amount: Decimal,
    payment_date: date,
    gift_card_methods: tuple[str, ...] = GIFT_CARD_METHODS,
) -> tuple[PaymentPlan, ...]:
    """`amount`: what the invoice asks (the order total, less a gift card sale left off it).
    Gift-card payments count at their amount; one other way of paying takes the rest, several
    must add up to it (else parked: which one paid less is not ours to guess)."""
    given = order.payments or (Payment(order.payment_method, order.total, order.transaction_id),)
    gift = [p for p in given if is_gift_card(p.method, gift_card_methods)]
    others = [p for p in given if not is_gift_card(p.method, gift_card_methods)]
    rest = amount - sum((p.amount for p in gift), ZERO)
    if rest < ZERO:
        raise PaymentProblem(
            f"gift cards paid {fmt(amount - rest)}, more than the invoice's {fmt(amount)}"
        )
    if len(others) <= 1:
        main = others[0] if others else Payment(order.payment_method, ZERO, order.transaction_id)
        others = [_resized(main, rest)] if rest or not gift else []
    elif sum((p.amount for p in others), ZERO) != rest:
        paid = ", ".join(f"{p.method or '?'} {fmt(p.amount)}" for p in others)
        raise PaymentProblem(
            f"the order's payments ({paid}) do not add up to the {fmt(rest)} left to pay"
        )
    plans = []
    for n, payment in enumerate([*gift, *others]):
        account = _account(payment, mappings, gift_card_methods, "paid")
        identifier = payment.transaction_id or f"{order.shop}-order-{order.order_id}"
        if not payment.transaction_id and n:
            identifier += f"-{n + 1}"
        base = _in_euros(order, payment)
        plans.append(PaymentPlan(payment.amount, payment_date, identifier, account, base))
    return tuple(plans)


def payout_plans(
    order: Order,
    refund: Refund,
    mappings: Mappings,
    payment_date: date,
    gift_card_methods: tuple[str, ...] = GIFT_CARD_METHODS,
) -> tuple[PaymentPlan, ...]:
    """How a refund's money went back, negative: one payout per way the shop paid it back
    (a gift card back onto its account), else the whole refund by the order's main method.
    Several must add up to the refund (else parked, as for payments)."""
    given = list(refund.payouts) or [
        Payment(order.payment_method, refund.amount, amount_base=refund.amount_base)
    ]
    if len(given) == 1:
        only = given[0]
        base = only.amount_base if only.amount_base is not None else refund.amount_base
        given = [_resized(replace(only, amount_base=base), refund.amount)]
    elif sum((p.amount for p in given), ZERO) != refund.amount:
        paid = ", ".join(f"{p.method or '?'} {fmt(p.amount)}" for p in given)
        raise PaymentProblem(
            f"the refund's payouts ({paid}) do not add up to the refund of {fmt(refund.amount)}"
        )
    elif refund.amount_base is not None and any(p.amount_base is None for p in given):
        given = _split_base(given, refund.amount_base)
    plans = []
    for n, payout in enumerate(given):
        account = _account(payout, mappings, gift_card_methods, "refunded")
        # The first keeps the identifier refunds always had, so a payout in progress is found.
        identifier = f"{order.shop}-refund-{refund.refund_id}" + (f"-{n + 1}" if n else "")
        base = _in_euros(order, payout, "refund")
        plans.append(
            PaymentPlan(
                -payout.amount, payment_date, identifier, account, None if base is None else -base
            )
        )
    return tuple(plans)


def _account(
    payment: Payment, mappings: Mappings, gift_card_methods: tuple[str, ...], verb: str
) -> str | None:
    """The payment table's account for a payment's method; a gift card must have one."""
    account = mappings.financial_account_for(payment.method)
    if account is None and is_gift_card(payment.method, gift_card_methods):
        raise PaymentProblem(
            f"{verb} {fmt(payment.amount)} with a gift card: add a payment rule for method "
            f"'{payment.method}' with the gift-card account (a payment, not a discount)"
        )
    return account


def _split_base(payments: list[Payment], total_base: Decimal) -> list[Payment]:
    """A euro amount known for the whole only, shared in proportion; the largest takes the
    rest so the parts add up to it."""
    parts = split(total_base, [p.amount for p in payments])
    return [replace(p, amount_base=b) for p, b in zip(payments, parts, strict=True)]


def _resized(payment: Payment, amount: Decimal) -> Payment:
    """The payment for another amount; the shop's euro amount at the shop's own ratio."""
    base = payment.amount_base
    if base is not None and payment.amount:
        base = cents(amount * base / payment.amount)
    return replace(payment, amount=amount, amount_base=base)


def _in_euros(order: Order, payment: Payment, what: str = "payment") -> Decimal | None:
    """A payment's amount in euros: the shop's own conversion where it gives one, else the
    configured rate source's (the paid date's: for payments only, a refund has its own);
    in euros already: None (no price_base)."""
    if order.currency == BASE_CURRENCY:
        return None
    if payment.amount_base is not None:
        return payment.amount_base
    if order.exchange_rate and what == "payment":
        return cents(payment.amount / order.exchange_rate)
    raise PaymentProblem(no_euro_amount(what, order.currency))


def no_euro_amount(what: str, currency: str) -> str:
    """Why a payment or refund in another currency cannot be booked: no euro amount."""
    return (
        f"a {what} in {currency} needs its amount in euros (price_base) and the shop gives "
        "none: set [sync] exchange_rates = 'ecb' to use the ECB's reference rates"
    )


def less(plans: tuple[PaymentPlan, ...], by: Decimal) -> tuple[PaymentPlan, ...]:
    """The payments with `by` taken off the largest (money refunded or settled otherwise)."""
    if not by or not plans:
        return plans
    largest = max(range(len(plans)), key=lambda i: plans[i].amount)
    return tuple(
        replace(p, amount=p.amount - by) if i == largest else p for i, p in enumerate(plans)
    )
