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

from connector.errors import ConnectorError
from connector.invoice import PaymentPlan
from connector.mappings import Mappings
from connector.money import BASE_CURRENCY, ZERO, cents, fmt
from connector.order import Order, Payment

# The shop's name for paying with its own gift cards (Shopify's gateway).
GIFT_CARD_METHODS = ("gift_card",)


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
        account = mappings.financial_account_for(payment.method)
        if account is None and is_gift_card(payment.method, gift_card_methods):
            raise PaymentProblem(
                f"paid {fmt(payment.amount)} with a gift card: add a payment rule for method "
                f"'{payment.method}' with the gift-card account (a payment, not a discount)"
            )
        identifier = payment.transaction_id or f"{order.shop}-order-{order.order_id}"
        if not payment.transaction_id and n:
            identifier += f"-{n + 1}"
        base = _in_euros(order, payment)
        plans.append(PaymentPlan(payment.amount, payment_date, identifier, account, base))
    return tuple(plans)


def _resized(payment: Payment, amount: Decimal) -> Payment:
    """The payment for another amount; the shop's euro amount at the shop's own ratio."""
    base = payment.amount_base
    if base is not None and payment.amount:
        base = cents(amount * base / payment.amount)
    return replace(payment, amount=amount, amount_base=base)


def _in_euros(order: Order, payment: Payment) -> Decimal | None:
    """A payment's amount in euros: the shop's own conversion where it gives one, else the
    configured rate source's; in euros already: None (no price_base)."""
    if order.currency == BASE_CURRENCY:
        return None
    if payment.amount_base is not None:
        return payment.amount_base
    if order.exchange_rate:
        return cents(payment.amount / order.exchange_rate)
    raise PaymentProblem(no_euro_amount("payment", order.currency))


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
