"""The tax, ledger and payment tables read from their TOML files.

The rules themselves, and how they match, are booking's (booking/mappings.py); this is where
they come from disk, with a file:line message for every mistake in them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connector.booking.mappings import LedgerRule, Mappings, PaymentRule, TaxRule
from connector.errors import ConfigError
from connector.toml_files import explain, read_toml


class _TaxTable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: list[TaxRule] = Field(default_factory=list)


class _LedgerTable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: list[LedgerRule] = Field(default_factory=list)


class _PaymentTable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: list[PaymentRule] = Field(default_factory=list)


_T = TypeVar("_T", bound=BaseModel)


def load_mappings(
    tax_path: Path, ledger_path: Path, payment_path: Path | None, optional: bool = False
) -> Mappings:
    """The three tables. `optional`: missing or empty tables are fine (for `mappings suggest`,
    which writes them)."""
    tax = _table(tax_path, _TaxTable, optional)
    ledger = _table(ledger_path, _LedgerTable, optional)
    payment = _table(payment_path, _PaymentTable, True) if payment_path else _PaymentTable()
    if not optional and not tax.rule:
        raise ConfigError(f"{tax_path}: no [[rule]] entries; every order would be parked")
    if not optional and not ledger.rule:
        raise ConfigError(f"{ledger_path}: no [[rule]] entries; every order would be parked")
    return Mappings(tuple(tax.rule), tuple(ledger.rule), tuple(payment.rule))


def _table(path: Path, model: type[_T], optional: bool) -> _T:
    if optional and not path.exists():
        return model()
    try:
        return model.model_validate(read_toml(path))
    except ValidationError as exc:
        raise explain(path, exc) from None
