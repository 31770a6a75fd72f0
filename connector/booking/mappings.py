"""The editable mapping tables' rules: shop tax -> Moneybird tax rate, line kind -> ledger
account, payment method -> financial account. First matching rule wins in every table. Read
from disk by connector/mapping_files.py."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from connector.booking.vat_rules import in_region
from connector.order import LineKind, Order, OrderLine

Identifier = str


def _id(value: object) -> str:
    text = str(value).strip()
    if not text.isdigit():
        raise ValueError(f"{value!r} is not a Moneybird id (digits only)")
    return text


def _percentage(value: object) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        found = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f'{value!r} is not a percentage; write it like "21"') from None
    if not found.is_finite() or not 0 <= found <= 100:
        raise ValueError(f'{value!r} is not a percentage; write it like "21"')
    return found


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = ""

    def covers(self, other: Any) -> bool:
        """Every order `other` (a rule of the same table) matches, this rule matches too."""
        raise NotImplementedError


class TaxRule(_Rule):
    shop_rate_id: str | None = None
    percentage: Decimal | None = None
    country: str | None = None  # destination: ISO code, "EU" or "non-EU"
    customer: Literal["any", "consumer", "business"] = "any"
    # What kind of supply the rate is for; its conditions are checked on every order.
    treatment: Literal["domestic", "oss", "icp", "export"] = "domestic"
    tax_rate_id: Identifier

    _norm_id = field_validator("tax_rate_id", mode="before")(_id)

    @field_validator("shop_rate_id", mode="before")
    @classmethod
    def _shop_id(cls, value: object) -> str | None:
        return None if value is None else str(value)

    _pct = field_validator("percentage", mode="before")(_percentage)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if not value:
            return None
        value = value.strip().upper()
        if value not in ("EU", "NON-EU") and not (len(value) == 2 and value.isalpha()):
            raise ValueError(f'{value!r}: use an ISO country code like "DE", or "EU" or "non-EU"')
        return value

    def covers(self, other: TaxRule) -> bool:
        """Every order `other` matches, this rule matches too."""
        same = all(
            getattr(self, f) is None or getattr(self, f) == getattr(other, f)
            for f in ("shop_rate_id", "percentage")
        )
        region = self.country is None or (
            other.country is not None
            and (
                self.country == other.country
                or (
                    other.country not in ("EU", "NON-EU") and in_region(self.country, other.country)
                )
            )
        )
        # A guarded rule can step aside for an order it does not fit: it shadows nothing.
        guarded = self.treatment != "domestic"
        return same and region and not guarded and self.customer in ("any", other.customer)

    def matches(
        self, rate_id: str | None, percentage: Decimal | None, country: str, business: bool
    ) -> bool:
        if self.shop_rate_id is not None and self.shop_rate_id != rate_id:
            return False
        if self.percentage is not None and (percentage is None or self.percentage != percentage):
            return False
        if self.country is not None and not in_region(self.country, country.upper()):
            return False
        if self.customer == "consumer" and business:
            return False
        return not (self.customer == "business" and not business)


class LedgerRule(_Rule):
    kind: Literal["product", "shipping", "fee", "discount", "any"] = "any"
    sku: str | None = None  # glob pattern, e.g. "BOOK-*"
    tax_class: str | None = None
    # The line's VAT rate: its percentage, or the Moneybird tax rate the tax table gave it.
    # Shopify's lines have no tax class; this is how 9% goods find the low-rate revenue.
    percentage: Decimal | None = None
    tax_rate_id: Identifier | None = None
    ledger_account_id: Identifier
    # sync.mode = "summary": an order with such a line keeps an invoice of its own
    individual: bool = False

    _norm_id = field_validator("ledger_account_id", mode="before")(_id)
    _pct = field_validator("percentage", mode="before")(_percentage)

    @field_validator("tax_rate_id", mode="before")
    @classmethod
    def _rate_id(cls, value: object) -> str | None:
        return None if value is None else _id(value)

    def covers(self, other: LedgerRule) -> bool:
        sku_covered = self.sku is None or (
            other.sku is not None and fnmatch.fnmatchcase(other.sku, self.sku)
        )
        return (
            self.kind in ("any", other.kind)
            and sku_covered
            and self.tax_class in (None, other.tax_class)
            and self.percentage in (None, other.percentage)
            and self.tax_rate_id in (None, other.tax_rate_id)
        )

    def matches(
        self,
        kind: LineKind,
        sku: str,
        tax_class: str,
        percentage: Decimal | None = None,
        tax_rate_id: str | None = None,
    ) -> bool:
        """`percentage` and `tax_rate_id`: the line's VAT rate; a rule that names one matches
        only a line known to be at it."""
        if not self.matches_line(kind, sku, tax_class):
            return False
        if self.percentage is not None and (percentage is None or self.percentage != percentage):
            return False
        return self.tax_rate_id is None or self.tax_rate_id == tax_rate_id

    def matches_line(self, kind: LineKind, sku: str, tax_class: str) -> bool:
        if self.kind != "any" and self.kind != kind.value:
            return False
        if self.sku is not None and not fnmatch.fnmatchcase(sku, self.sku):
            return False
        return self.tax_class is None or self.tax_class == tax_class


class PaymentRule(_Rule):
    method: str = "*"  # glob on the shop's payment method id, e.g. "mollie_*"
    financial_account_id: Identifier

    _norm_id = field_validator("financial_account_id", mode="before")(_id)

    def covers(self, other: PaymentRule) -> bool:
        return fnmatch.fnmatchcase(other.method, self.method)


@dataclass(frozen=True)
class Mappings:
    tax: tuple[TaxRule, ...]
    ledger: tuple[LedgerRule, ...]
    payment: tuple[PaymentRule, ...] = ()

    def tax_rate_for(
        self, rate_id: str | None, percentage: Decimal | None, country: str, business: bool
    ) -> TaxRule | None:
        return next(
            (r for r in self.tax if r.matches(rate_id, percentage, country, business)), None
        )

    def tax_rules_for(
        self, rate_id: str | None, percentage: Decimal | None, country: str, business: bool
    ) -> list[TaxRule]:
        """Every matching rule, in order: a guarded rule an order does not fit steps aside."""
        return [r for r in self.tax if r.matches(rate_id, percentage, country, business)]

    def ledger_for(
        self,
        kind: LineKind,
        sku: str = "",
        tax_class: str = "",
        percentage: Decimal | None = None,
        tax_rate_id: str | None = None,
    ) -> LedgerRule | None:
        """The first rule for a line; `percentage` and `tax_rate_id` are its VAT rate (the
        Moneybird rate's), so rules may tell the rates apart."""
        return next(
            (r for r in self.ledger if r.matches(kind, sku, tax_class, percentage, tax_rate_id)),
            None,
        )

    def individual_line(
        self, kind: LineKind, sku: str = "", tax_class: str = "", percentage: Decimal | None = None
    ) -> bool:
        """Whether the line's rule may say `individual = true` before its Moneybird tax rate is
        known (and its percentage, when None): every rule up to the first that matches whatever
        the rate is counts. An order kept apart in doubt is still booked right; one summed
        into its day cannot be taken out again."""
        for rule in self.ledger:
            if not rule.matches_line(kind, sku, tax_class):
                continue
            if None not in (rule.percentage, percentage) and rule.percentage != percentage:
                continue
            if rule.individual:
                return True
            if rule.tax_rate_id is None and (rule.percentage is None or percentage is not None):
                return False
        return False

    def financial_account_for(self, method: str) -> str | None:
        for rule in self.payment:
            if fnmatch.fnmatchcase(method or "", rule.method):
                return rule.financial_account_id
        return None


def line_percentage(order: Order, line: OrderLine) -> Decimal | None:
    """The VAT percentage of an order's line as the shop gives it (0 for a line without VAT),
    or None when it cannot be said: a line with more than one tax, a rate of unknown %."""
    if line.rate_id is None:
        return Decimal(0)
    rate = order.tax_rates.get(line.rate_id)
    if line.extra_rate_ids or rate is None:
        return None
    return rate.percentage


def unreachable(rules: Sequence[_Rule]) -> list[tuple[int, int]]:
    """(later, earlier) index pairs where an earlier rule matches everything a later one would:
    with first-match-wins, the later rule can never apply."""
    found = []
    for later in range(len(rules)):
        for earlier in range(later):
            if rules[earlier].covers(rules[later]):
                found.append((later, earlier))
                break
    return found
