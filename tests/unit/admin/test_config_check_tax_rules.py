"""`config check` on tax rules whose percentage is not their Moneybird rate's: a rate charged
together with others on a line, booked at their sum as a park reason advises, is no error;
a percentage that differs by mistake is."""

from __future__ import annotations

from decimal import Decimal

from connector.admin.config_check import _combined, _tax_rule_problem
from connector.booking.mappings import TaxRule
from connector.booking.tax_rates import MoneybirdTaxRate

D = Decimal
R12 = MoneybirdTaxRate("12", "GST 12%", D("12.0"), "sales_invoice", True)
R21 = MoneybirdTaxRate("21", "21% btw", D("21.0"), "sales_invoice", True)


def rule(pct: str, rate: str) -> TaxRule:
    return TaxRule(percentage=pct, tax_rate_id=rate)


def test_one_rate_twice_to_the_rate_of_their_sum_is_no_error() -> None:
    six = rule("6", "12")
    assert _tax_rule_problem(six, R12, (six,)) is None
    assert _combined(six, R12, (six,)) == (
        "is for 6% and tax_rate_id 12 ('GST 12%') is 12%: it books lines charged at rates "
        "together that add up to 12%; a line charged at 6% alone parks"
    )


def test_two_rates_to_the_rate_of_their_sum_are_no_error() -> None:
    gst, pst = rule("5", "12"), rule("7", "12")  # British Columbia: GST 5% + PST 7%
    assert _tax_rule_problem(gst, R12, (gst, pst)) is None
    assert _tax_rule_problem(pst, R12, (gst, pst)) is None
    # Without the other, 5% cannot add up to 12%: the percentages differ.
    assert _tax_rule_problem(gst, R12, (gst,)) == (
        "the rule is for 5% but tax_rate_id 12 ('GST 12%') is 12.0%"
    )


def test_a_percentage_that_differs_by_mistake_is_an_error() -> None:
    nine, standard = rule("9", "21"), rule("21", "21")
    assert _tax_rule_problem(nine, R21, (nine, standard)) == (
        "the rule is for 9% but tax_rate_id 21 ('21% btw') is 21.0%"
    )
    higher = rule("21", "12")
    assert _tax_rule_problem(higher, R12, (higher,)) is not None
    assert _combined(rule("0", "12"), R12, (rule("0", "12"),)) is None
