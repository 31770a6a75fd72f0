"""The month page's "Known, not in Moneybird": what each is and its own amount, as the
reconciliation recorded them."""

from __future__ import annotations

from connector.dashboard.views import known_rows


def test_each_shows_what_it_is_and_its_own_amount() -> None:
    report = {
        "parked": [
            {"order": "1001", "reference": "WC-1001-R9002", "reason": "lines add up to more",
             "kind": "refund", "refund_id": "9002", "amount": "-10.00", "currency": "EUR"},
            {"order": "1011", "reference": "WC-1011", "reason": "no tax rule", "kind": "order",
             "refund_id": None, "amount": "46.79", "currency": "EUR"},
        ],
        "not_booked": [
            {"order": "1012", "reference": "WC-1012", "reason": "unreadable", "kind": "order",
             "refund_id": None, "amount": None, "currency": None},
        ],
    }  # fmt: skip
    rows = [(r["order"], r["state"], r["what"], r["total"]) for r in known_rows(report)]
    assert rows == [
        ("1001", "parked", "refund 9002", "-10.00"),
        ("1011", "parked", "order", "46.79"),
        ("1012", "", "order", None),
    ]


def test_a_report_recorded_before_it_said_what_each_is_shows_no_amount() -> None:
    """Such a report cannot tell a refund from its order: no amount is better than the order's
    total beside a refund; reconciling the month again records them."""
    report = {"parked": [{"order": "1001", "reference": "WC-1001-R9002", "reason": "parked"}]}
    [row] = known_rows(report)
    assert (row["order"], row["what"], row["total"]) == ("1001", "", None)
    assert "reconcile the month again" in row["missing"]
