"""One month's reconciliation from start to end: under the pass lock, the sources read in turn,
compared, and told in one Reconciliation (an error makes it incomplete, never agreeing)."""

from __future__ import annotations

from datetime import timedelta

from connector.errors import ConnectorError, StateError, internal
from connector.state import PassLock, utcnow
from connector.sync.engine import SyncEngine
from connector.sync.reconcile.compare import Comparison
from connector.sync.reconcile.credits import CreditFigures
from connector.sync.reconcile.days import Days
from connector.sync.reconcile.documents import MoneybirdDocuments
from connector.sync.reconcile.month import Month
from connector.sync.reconcile.payouts import Payouts
from connector.sync.reconcile.report import Reconciliation
from connector.sync.reconcile.scope import Scope
from connector.sync.reconcile.shop import ShopMonth
from connector.sync.reconcile.vat import VatTable


class Busy(ConnectorError):
    """A pass (or an import) holds the state: reconciliation waits for its turn."""


class NotBegun(ConnectorError):
    """The month asked for has not begun: there is nothing to compare yet."""


def reconcile(engine: SyncEngine, month: Month, lookback_days: int = 92) -> Reconciliation:
    """Compare the month in the shop with Moneybird, reading only; holds the pass lock. A
    month that has not begun (in sync.timezone) is refused, not reported as agreeing."""
    tz = engine.settings.timezone
    today = utcnow().astimezone(tz).date()
    if month.first > today:
        raise NotBegun(f"{month} has not begun (today is {today}, {tz.key})")
    lock = PassLock(engine.store.path)
    if not lock.acquire():
        raise Busy("a pass or an import is running; reconcile when it is done")
    try:
        return _run(Scope(engine, month, timedelta(days=lookback_days)))
    finally:
        lock.release()


def _run(scope: Scope) -> Reconciliation:
    result = Reconciliation(scope.month, str(scope.tz))
    client = scope.client
    before = client.limiter.requests
    try:
        scope.rates = scope.engine.writer.rates_for_reading()  # no pass set-up: no writes
        result.rate_names = {r: rate.name for r, rate in scope.rates.items()}
        scope.accounts = {
            str(a.get("id")): str(a.get("name") or a.get("identifier") or a.get("id"))
            for a in client.financial_accounts()
        }
        expected = Days(scope, result).joined(ShopMonth(scope, result).expected())
        moneybird = MoneybirdDocuments(scope, result)
        documents = moneybird.of_month()
        by_reference = moneybird.by_reference(documents, expected)
        CreditFigures(scope).complete(expected, by_reference)
        comparison = Comparison(scope, result)
        comparison.compare(expected, by_reference)
        comparison.unknown(documents, expected)
        VatTable(scope, result).table(
            expected, by_reference, comparison.unexplained, comparison.rounded
        )
        Payouts(scope, result).read()  # with [payouts] off: nothing read
    except (ConnectorError, StateError) as exc:
        result.error = str(exc)
    except Exception as exc:  # reported as incomplete, never as agreeing
        result.error = internal(exc)
    finally:
        result.requests = client.limiter.requests - before
    return result
