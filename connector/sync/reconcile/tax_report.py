"""Reading Moneybird's VAT report: per sales tax rate, the VAT of the whole administration's
documents dated in the month (not only the connector's)."""

from __future__ import annotations

from connector.moneybird.documents import TaxReportRow, tax_report_of
from connector.sync.reconcile.scope import Scope


def reported_sales(scope: Scope) -> dict[str, TaxReportRow]:
    """The report's rows of the tax rates the connector knows, by tax rate id."""
    month = scope.month
    report = tax_report_of(scope.client.tax_report(month.first, month.last))
    return {row.tax_rate_id: row for row in report if row.tax_rate_id in scope.rates}
