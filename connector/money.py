"""Decimal money helpers. Every amount in the program is a Decimal; floats never appear."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0")
BASE_CURRENCY = "EUR"  # the administration's currency: payments in another carry price_base
LIMIT = Decimal("1E12")  # Moneybird takes amounts up to 1e9; anything near this is bad data


class MoneyError(ValueError):
    """A value that should be an amount is not one."""


def parse(value: object, field: str = "amount") -> Decimal:
    """Read an amount as the shops send it (string, int or missing) without float rounding."""
    if value is None or value == "":
        return ZERO
    if isinstance(value, float):
        # JSON numbers arrive as float only from sloppy sources; go through repr to keep digits.
        value = repr(value)
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise MoneyError(f"{field}: {value!r} is not a number") from exc
    if not result.is_finite():
        raise MoneyError(f"{field}: {value!r} is not a finite number")
    if abs(result) >= LIMIT or (result and abs(result) < Decimal("1E-12")):
        raise MoneyError(f"{field}: {value!r} is out of the range the books can hold")
    return result


def cents(value: Decimal) -> Decimal:
    """Round half up to cents, the way both shops and Moneybird present amounts."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def split(amount: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """`amount` in cents over `weights`, in proportion; the residue goes to the largest."""
    if len(weights) == 1:
        return [amount]
    whole = sum(weights, ZERO)
    parts = [cents(amount * w / whole) for w in weights]
    largest = max(range(len(weights)), key=lambda i: weights[i])
    parts[largest] += amount - sum(parts, ZERO)
    return parts


def is_cents(value: Decimal) -> bool:
    return value == cents(value)


def fmt(value: Decimal) -> str:
    """Format for an API body or a table: plain decimal string, two places."""
    return f"{cents(value):.2f}"
