"""Reconciliation: does Moneybird hold, for one month, exactly what the shop sold and paid back?

Read only, from three sources. The shop: every order paid, and every refund made, in the month
(in sync.timezone) that the connector's rules say belongs in the books. Moneybird: the documents
dated in the month carrying the connector's references, read in bulk, and its VAT report. The
state: what the connector believes it booked, which finds a document dated outside the month and
the days of summary mode. Nothing is written to Moneybird; the pass lock keeps it from sharing
the budget with a pass.

The modules, in the order `run` uses them:

  month.py        the month asked for, as a span of moments
  scope.py        what every part reads through: the engine, the month, Moneybird's tax rates
  expected.py     what a document must show for one order, refund or day
  reading the sources:
    shop.py         the shop's orders paid and refunds made in the month
    days.py         summary mode: the items a day's document holds, joined into that day
    documents.py    Moneybird's documents under the connector's references
    credits.py      a credit's figures, worked out from the invoice it credits
    tax_report.py   Moneybird's VAT report
    payouts.py      [payouts] on: the month's payouts against the providers' accounts and
                    the bank lines in Moneybird, checked there too
  comparing:
    compare.py      each item against its documents; documents no item explains
    vat.py          VAT per rate: the shop's, the documents', the report's
  reporting:
    report.py       the Reconciliation: findings, rows, VAT table; summary, JSON and CSV
  run.py          reconcile(): the lock, the steps in order, an error made incomplete

A new source (a payment provider's payouts, say) gets its own reading module beside shop.py and
documents.py, its comparison beside compare.py, and its findings or rows in report.py.
"""

from connector.sync.reconcile.expected import Expected
from connector.sync.reconcile.month import Month
from connector.sync.reconcile.payouts import MonthPayouts
from connector.sync.reconcile.report import (
    AGREES,
    DIFFERENCES,
    FINDINGS,
    INCOMPLETE,
    PAYOUTS,
    Finding,
    Known,
    OtherCurrencyVat,
    PayoutBalance,
    PayoutRow,
    PayoutSection,
    Reconciliation,
    Row,
    VatRow,
)
from connector.sync.reconcile.run import Busy, NotBegun, reconcile

__all__ = [
    "AGREES",
    "DIFFERENCES",
    "FINDINGS",
    "INCOMPLETE",
    "PAYOUTS",
    "Busy",
    "Expected",
    "Finding",
    "Known",
    "Month",
    "MonthPayouts",
    "NotBegun",
    "OtherCurrencyVat",
    "PayoutBalance",
    "PayoutRow",
    "PayoutSection",
    "Reconciliation",
    "Row",
    "VatRow",
    "reconcile",
]
