"""Mollie settlements read into payouts, on the shapes of Mollie's official client's fixtures
(tests/fixtures/mollie/). The settlement fixture states 6 iDEAL payments of 86.10, 2 refunds of
43.20 and costs of 2.5410 + 0.6050 = 3.1460 (VAT 0.4410 + 0.1050 = 0.5460), paid out as 39.75:
86.10 - 43.20 - 3.15 = 39.75. The payments and refunds here are the fixtures' items with
amounts that add up to that."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.payouts.mollie import is_paid_out, parse_settlement
from connector.payouts.records import PartKind, PayoutDataError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mollie"
NOW = datetime(2018, 4, 7, 12, tzinfo=UTC)
PAYMENTS = ["10.00", "12.50", "14.35", "15.00", "16.25", "18.00"]  # 86.10
REFUNDS = ["5.95", "37.25"]  # 43.20


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def settlement() -> dict[str, Any]:
    return fixture("settlement_single")  # type: ignore[no-any-return]


def payments() -> list[dict[str, Any]]:
    template = fixture("payments_list")["_embedded"]["payments"][0]
    made = []
    for index, value in enumerate(PAYMENTS):
        item = copy.deepcopy(template)
        item["id"] = f"tr_test{index}"
        item["amount"] = {"value": value, "currency": "EUR"}
        item["metadata"] = {"order_id": 1000 + index}
        item["createdAt"] = f"2018-04-0{index % 3 + 1}T10:00:00+02:00"  # before the payout
        made.append(item)
    return made


def refunds() -> list[dict[str, Any]]:
    template = fixture("refunds_list")["_embedded"]["refunds"][0]
    made = []
    for index, value in enumerate(REFUNDS):
        item = copy.deepcopy(template)
        item["id"] = f"re_test{index}"
        item["amount"] = {"value": value, "currency": "EUR"}
        made.append(item)
    return made


def test_a_settlement_parses_to_parts_that_add_up_to_what_was_paid_out() -> None:
    payout = parse_settlement(settlement(), payments(), refunds(), now=NOW)

    assert payout.provider == "mollie"
    assert payout.payout_id == "stl_jDk30akdN"
    assert payout.reference == "1234567.1804.03"  # what the bank line shows
    assert payout.currency == "EUR"
    assert payout.paid_out == datetime(2018, 4, 6, 9, 41, 44, tzinfo=UTC)
    assert payout.net == Decimal("39.75")
    assert payout.total(PartKind.PAYMENT) == Decimal("86.10")
    assert payout.total(PartKind.REFUND) == Decimal("-43.20")
    assert payout.total(PartKind.FEE) == Decimal("3.15")
    assert payout.parts_net == Decimal("39.75")
    kinds = [part.kind for part in payout.parts]
    assert kinds == [PartKind.PAYMENT] * 6 + [PartKind.REFUND] * 2 + [PartKind.FEE]


def test_payments_carry_their_id_and_the_shops_order_number() -> None:
    payout = parse_settlement(settlement(), payments(), refunds(), now=NOW)
    first = payout.parts[0]
    assert first.provider_id == "tr_test0"
    assert first.payment_id == "tr_test0"
    assert first.order_reference == "1000"
    assert first.gross == Decimal("10.00")
    assert first.fee == Decimal("0")
    assert first.date == datetime(2018, 4, 1, 8, tzinfo=UTC)  # converted to UTC


def test_the_order_number_is_read_from_the_description_without_metadata() -> None:
    items = payments()
    del items[0]["metadata"]
    items[0]["description"] = "Order 20431"
    items[1]["metadata"] = None
    items[1]["description"] = "My first iDEAL API payment"
    payout = parse_settlement(settlement(), items, refunds(), now=NOW)
    assert payout.parts[0].order_reference == "20431"
    assert payout.parts[1].order_reference is None


def test_the_fees_come_from_the_costs_with_their_21_percent_vat() -> None:
    payout = parse_settlement(settlement(), payments(), refunds(), now=NOW)
    (fee,) = [part for part in payout.parts if part.kind is PartKind.FEE]
    assert fee.gross == Decimal("0")
    assert fee.fee == Decimal("3.15")  # 2.5410 + 0.6050, rounded once
    assert fee.fee_vat == Decimal("0.55")  # 0.4410 + 0.1050: 21% of the 2.60 net
    assert fee.net == Decimal("-3.15")
    assert fee.provider_id == "stl_jDk30akdN.fees.201804"
    assert "inv_xBEbP9rvAq" in fee.description  # Mollie's monthly invoice that charges them
    assert payout.fee_vat == Decimal("0.55")


def test_a_refund_and_a_chargeback_take_from_the_balance() -> None:
    data = settlement()
    data["amount"]["value"] = "4.68"  # 39.75 - 35.07
    data["periods"]["2018"]["4"]["revenue"].append(
        {"description": "Chargebacks", "method": "chargeback", "count": 1,
         "amountNet": {"currency": "EUR", "value": "-35.0700"}, "amountVat": None,
         "amountGross": {"currency": "EUR", "value": "35.0700"}}
    )  # fmt: skip
    chargeback = fixture("settlement_chargebacks_list")["_embedded"]["chargebacks"][0]
    chargeback["amount"] = {"currency": "EUR", "value": "35.07"}

    payout = parse_settlement(data, payments(), refunds(), [chargeback], now=NOW)

    refund = payout.parts[6]
    assert (refund.kind, refund.gross, refund.payment_id) == (
        PartKind.REFUND, Decimal("-5.95"), "tr_7UhSN1zuXS")  # fmt: skip
    (found,) = [part for part in payout.parts if part.kind is PartKind.CHARGEBACK]
    assert found.provider_id == "chb_n9z0tp"
    assert found.gross == Decimal("-35.07")
    assert found.payment_id == "tr_7UhSN1zuXS"
    assert payout.net == Decimal("4.68")


def test_only_a_paid_out_settlement_is_a_payout() -> None:
    assert not is_paid_out(settlement())  # the fixture is still open
    assert is_paid_out({**settlement(), "status": "paidout"})


def test_a_settlement_that_does_not_add_up_is_refused_with_the_difference() -> None:
    data = settlement()
    data["amount"]["value"] = "39.76"
    with pytest.raises(PayoutDataError, match=r"add up to 39\.75, not to the 39\.76"):
        parse_settlement(data, payments(), refunds(), now=NOW)


def test_a_list_read_incompletely_is_refused() -> None:
    with pytest.raises(PayoutDataError, match=r"revenue is 42\.90; a list was read incompletely"):
        parse_settlement(settlement(), payments()[:-1], refunds(), now=NOW)


def test_the_fixtures_own_items_in_other_currencies_are_refused_naming_the_field() -> None:
    real = fixture("payments_list")["_embedded"]["payments"]  # its second payment is in GBP
    with pytest.raises(PayoutDataError, match=r"payments\[1\]\.amount\.currency is 'GBP'"):
        parse_settlement(settlement(), real, now=datetime(2018, 7, 20, tzinfo=UTC))
    chargebacks = fixture("settlement_chargebacks_list")["_embedded"]["chargebacks"]
    with pytest.raises(PayoutDataError, match=r"chargebacks\[0\]\.amount\.currency is 'USD'"):
        parse_settlement(settlement(), payments(), refunds(), chargebacks, now=NOW)


def _broken(path: list[str | int], value: object) -> dict[str, Any]:
    data = settlement()
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (["amount"], KeyError, r"settlement stl_jDk30akdN\.amount is missing"),
        (["amount", "value"], 39.75, r"\.amount\.value 39\.75 is not an amount string"),
        (["amount", "value"], "NaN", r"\.amount\.value 'NaN' is not an amount string"),
        (["amount", "value"], "1e400", r"\.amount\.value '1e400' is not an amount string"),
        (["amount", "value"], "39.754", r"\.amount\.value 39\.754 is not in whole cents"),
        (["amount", "currency"], "GBP", r"\.amount\.currency is 'GBP'"),
        (["amount"], "39.75", r"\.amount '39\.75' is not an amount"),
        (["settledAt"], "1970-01-01T00:00:00Z", r"settledAt .*cannot be a payout's"),
        (["settledAt"], "2999-04-06T09:41:44Z", r"settledAt .*cannot be a payout's"),
        (["settledAt"], "2018-04-06T09:41:44", r"settledAt '2018-04-06T09:41:44' has no time"),
        (["settledAt"], "yesterday", r"settledAt 'yesterday' is not a date"),
        # Dates Python holds, but not in UTC: refused as any other implausible date.
        (["settledAt"], "9999-12-31T23:59:59-01:00", r"settledAt '9999-12-31T23:59:59-01:00' cannot be a payout's"),
        (["settledAt"], "0001-01-01T00:30:00+01:00", r"settledAt '0001-01-01T00:30:00\+01:00' cannot be a payout's"),
        (["settledAt"], 1523007704, r"settledAt 1523007704 is not a date"),
        (["periods", "2018", "²"], {}, r"periods\.2018\.² is not a month"),
        (["periods", "²⁰¹⁸"], {}, r"periods '²⁰¹⁸' is not a year"),
        (["amount", "value"], "٣٩.٧٥", r"\.amount\.value '٣٩\.٧٥' is not an amount string"),
        (["settledAt"], None, r"settledAt None is not a date"),
        (["reference"], "1234567 1804", r"reference '1234567 1804' is not an id"),
        (["id"], "x" * 500, r"Mollie settlement id 'x+… is not an id"),
        (["periods", "2018", "4", "costs", 0, "amountGross", "value"], 2.541,
         r"periods\.2018\.4\.costs\[0\]\.amountGross\.value 2\.541 is not an amount string"),
        (["periods", "2018", "13"], {}, r"periods\.2018\.13 is not a month"),
    ],
)  # fmt: skip
def test_a_malformed_settlement_is_refused_naming_the_field(
    path: list[str | int], value: object, reason: str
) -> None:
    with pytest.raises(PayoutDataError, match=reason):
        parse_settlement(_broken(path, value), payments(), refunds(), now=NOW)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("amount", None, r"payments\[2\]\.amount is missing"),
        ("amount", {"currency": "EUR", "value": 14.35}, r"payments\[2\]\.amount\.value 14\.35 is"),
        (
            "amount",
            {"currency": "EUR", "value": "-14.35"},
            r"payments\[2\]\.amount\.value -14\.35 is negative",
        ),
        ("createdAt", "2018-13-45T00:00:00Z", r"payments\[2\]\.createdAt .* is not a date"),
        ("createdAt", "0001-01-01T00:30:00+01:00", r"payments\[2\]\.createdAt .* cannot be a"),
        ("paidAt", "9999-12-31T23:59:59-01:00", r"payments\[2\]\.paidAt .* cannot be a"),
        ("id", None, r"payments\[2\]\.id None is not an id"),
    ],
)
def test_a_malformed_payment_is_refused_naming_it(field: str, value: object, reason: str) -> None:
    items = payments()
    items[2][field] = value
    with pytest.raises(PayoutDataError, match=reason):
        parse_settlement(settlement(), items, refunds(), now=NOW)


def test_a_payment_listed_twice_is_refused() -> None:
    items = payments()
    items[1]["id"] = items[0]["id"]
    with pytest.raises(PayoutDataError, match="payment tr_test0 appears twice"):
        parse_settlement(settlement(), items, refunds(), now=NOW)


def test_a_reversed_chargeback_and_captures_are_left_to_a_person() -> None:
    chargeback = fixture("settlement_chargebacks_list")["_embedded"]["chargebacks"][0]
    chargeback["amount"]["currency"] = "EUR"
    chargeback["reversedAt"] = "2018-03-20T10:00:00Z"
    with pytest.raises(PayoutDataError, match="chargeback chb_n9z0tp was reversed"):
        parse_settlement(settlement(), payments(), refunds(), [chargeback], now=NOW)
    with pytest.raises(PayoutDataError, match="settles captures"):
        parse_settlement(settlement(), payments(), refunds(), captures=[{"id": "cpt_1"}], now=NOW)
