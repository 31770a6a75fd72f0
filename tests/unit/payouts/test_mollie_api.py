"""Mollie's settlements read over HTTP from the Mollie sandbox (connector/sandbox/mollie.py),
whose answers are checked against the official client's fixtures (tests/fixtures/mollie/).

The demo's figures, by hand: the WooCommerce demo orders paid by iDEAL and completed are 1001
(66.84), 1003 (68.04), 1005 (70.33), 1006 (46.79), 1007 (32.85) and 1009 (36.29); 1008 is
still processing, so its payment stays in the open settlement. The first settlement holds
66.84 + 68.04 + 70.33 = 205.21 less 3 x 0.29 = 0.87 of costs + 21% VAT 0.1827 = 1.0527, so
1.05 (VAT 0.18): 204.16. The second 46.79 + 32.85 + 36.29 = 115.93 less 1.05: 114.88."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.errors import AuthError, ServiceDown, StopsPass
from connector.payouts import mollie_api
from connector.payouts.mollie import parse_settlement
from connector.payouts.mollie_api import MollieError, MollieProvider
from connector.payouts.records import PartKind, Payout, RefusedPayout
from connector.sandbox.http import Request, Response
from connector.sandbox.mollie import MollieSandbox, seed_mollie
from connector.sandbox.seed import demo_orders

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mollie"
START = datetime(2026, 10, 5, 9, tzinfo=UTC)
NOW = START + timedelta(days=5)
DAY0 = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[MollieSandbox]:
    server = MollieSandbox().start()
    yield server
    server.stop()


def provider(sandbox: MollieSandbox, **kwargs: Any) -> MollieProvider:
    options: dict[str, Any] = {"base_url": sandbox.url, "now": NOW, "sleep": lambda _s: None}
    options.update(kwargs)
    return MollieProvider(sandbox.api_key, **options)


def read(sandbox: MollieSandbox, since: datetime, **kwargs: Any) -> list[Payout | RefusedPayout]:
    return list(provider(sandbox, **kwargs).payouts(since))


def booked(found: list[Payout | RefusedPayout]) -> list[Payout]:
    assert all(isinstance(item, Payout) for item in found), found
    return [item for item in found if isinstance(item, Payout)]


def one_settlement(
    sandbox: MollieSandbox, number: int, day: int, amounts: list[str], status: str = "paidout"
) -> str:
    """A settlement of iDEAL payments made on DAY0 + `day`, paid out a day later."""
    made = DAY0 + timedelta(days=day)
    ids = []
    for index, amount in enumerate(amounts):
        payment_id = f"tr_s{number}p{index}"
        sandbox.add_payment(payment_id, amount, 5000 + number * 10 + index, made)
        ids.append(payment_id)
    settlement_id = f"stl_n{number:03d}"
    settled = made + timedelta(days=1) if status == "paidout" else None
    sandbox.settle(settlement_id, f"1234567.2606.{number:02d}", ids, settled_at=settled,
                   status=status, created_at=made)  # fmt: skip
    return settlement_id


def test_the_demo_settlements_come_oldest_first_with_their_fees(sandbox: MollieSandbox) -> None:
    ids = seed_mollie(sandbox, demo_orders(START), START)

    first, second = booked(read(sandbox, START - timedelta(days=1)))

    assert [first.payout_id, second.payout_id] == ids
    assert first.reference == "1234567.2610.01"
    assert first.net == Decimal("204.16")
    assert first.total(PartKind.PAYMENT) == Decimal("205.21")
    assert first.total(PartKind.FEE) == Decimal("1.05")
    assert first.fee_vat == Decimal("0.18")
    assert sorted(p.order_reference or "" for p in first.parts if p.kind is PartKind.PAYMENT) == [
        "1001", "1003", "1005"]  # fmt: skip
    assert {p.provider_id for p in first.parts} >= {"tr_7UhSN1zuXS", "tr_3kQ9aZ", "tr_p8Lm2Q"}
    assert second.net == Decimal("114.88")
    assert second.total(PartKind.PAYMENT) == Decimal("115.93")
    assert first.paid_out < second.paid_out
    # 1008's payment is in the open settlement, which is no payout yet.
    assert all(p.provider_id != "tr_Pr0cSs" for p in (*first.parts, *second.parts))


def test_several_pages_of_settlements_and_of_payments_are_read_whole(
    sandbox: MollieSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mollie_api, "PAGE", 2)
    for number in range(1, 6):
        one_settlement(sandbox, number, number, ["10.00", "20.00", "30.00", "40.00", "5.55"])

    payouts = booked(read(sandbox, DAY0))

    assert [p.payout_id for p in payouts] == [f"stl_n{n:03d}" for n in range(1, 6)]
    # 105.55 less 5 x 0.29 = 1.45 + 0.3045 VAT = 1.7545, so 1.75
    assert {p.net for p in payouts} == {Decimal("103.80")}
    assert all(p.total(PartKind.PAYMENT) == Decimal("105.55") for p in payouts)
    lists = [query for _m, path, query in sandbox.requests if path == "/v2/settlements"]
    assert [q.get("from") for q in lists] == [None, "stl_n003", "stl_n001"]
    payments = [
        q for _m, path, q in sandbox.requests if path == "/v2/settlements/stl_n001/payments"
    ]
    assert len(payments) == 3  # 5 payments, 2 a page


def test_reading_stops_a_fortnight_before_since(
    sandbox: MollieSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mollie_api, "PAGE", 2)
    for number in range(12):  # created on days 0, 5, ..., 55, paid out a day later
        one_settlement(sandbox, number, number * 5, ["10.00"])

    payouts = booked(read(sandbox, DAY0 + timedelta(days=40)))

    # Paid out on days 41, 46, 51 and 56; the one paid out on day 36 is before `since`.
    assert [p.payout_id for p in payouts] == ["stl_n008", "stl_n009", "stl_n010", "stl_n011"]
    pages = [q for _m, path, q in sandbox.requests if path == "/v2/settlements"]
    # Newest first: days 55 50 | 45 40 | 35 30 | 25 20 — there the oldest is before day 26.
    assert len(pages) == 4


def test_open_and_pending_settlements_are_no_payouts(sandbox: MollieSandbox) -> None:
    one_settlement(sandbox, 1, 1, ["10.00"])
    one_settlement(sandbox, 2, 2, ["20.00"], status="open")
    one_settlement(sandbox, 3, 3, ["30.00"], status="pending")

    assert [p.payout_id for p in booked(read(sandbox, DAY0))] == ["stl_n001"]
    assert not any("stl_n002" in path for _m, path, _q in sandbox.requests)


def test_a_settlement_that_cannot_be_booked_is_listed_with_its_date_and_the_others_are_read(
    sandbox: MollieSandbox,
) -> None:
    for number in (1, 2, 3):
        one_settlement(sandbox, number, number, ["10.00"])
    sandbox.settlements["stl_n002"]["amount"]["value"] = "9.99"  # does not add up

    found = read(sandbox, DAY0)

    assert [type(item).__name__ for item in found] == ["Payout", "RefusedPayout", "Payout"]
    refused = found[1]
    assert isinstance(refused, RefusedPayout)
    assert (refused.provider, refused.payout_id) == ("mollie", "stl_n002")
    # 10.00 less 0.29 + 21% VAT 0.0609 = 0.3509, so 0.35
    assert "add up to 9.65, not to the 9.99 paid out" in refused.reason
    # Paid out the day after its payments, made on DAY0 + 2 days.
    assert refused.paid_out == DAY0 + timedelta(days=3)


def test_a_settlement_whose_date_is_what_is_wrong_is_refused_without_a_date(
    sandbox: MollieSandbox,
) -> None:
    one_settlement(sandbox, 1, 1, ["10.00"])
    one_settlement(sandbox, 2, 2, ["20.00"])
    # A date UTC cannot hold: it refuses that settlement, not every one after it.
    sandbox.settlements["stl_n001"]["settledAt"] = "9999-12-31T23:59:59-01:00"
    sandbox.settlements["stl_n001"]["createdAt"] = "0001-01-01T00:30:00+01:00"

    refused, fine = read(sandbox, DAY0)

    assert isinstance(refused, RefusedPayout) and refused.payout_id == "stl_n001"
    assert "settledAt '9999-12-31T23:59:59-01:00' cannot be a payout's" in refused.reason
    assert refused.paid_out is None
    assert isinstance(fine, Payout) and fine.payout_id == "stl_n002"


def _broken_once(path: str, answer: Response) -> Any:
    left = [answer]

    def once(req: Request) -> Response | None:
        return left.pop() if req.path == path and left else None

    return once


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (Response(200, raw=b"<html>upstream timed out</html>", content_type="text/html"),
         "stl_n002/payments is not JSON"),
        (Response(200, raw=b"[" * 100_000, content_type="application/hal+json"),
         "stl_n002/payments is not JSON"),
        (Response(200, {"count": 1, "_links": {"next": None}}, content_type="application/hal+json"),
         "stl_n002's payments answer has no _embedded.payments list"),
        (Response(404, {"status": 404, "title": "Not Found"}), "answered 404"),
    ],
)  # fmt: skip
def test_a_list_that_cannot_be_read_once_ends_the_read_and_the_next_pass_books_it(
    sandbox: MollieSandbox, answer: Response, error: str
) -> None:
    for number in (1, 2, 3):
        one_settlement(sandbox, number, number, ["10.00"])
    sandbox.override = _broken_once("/v2/settlements/stl_n002/payments", answer)

    found: list[Payout | RefusedPayout] = []
    with pytest.raises(MollieError, match=error):
        found.extend(provider(sandbox).payouts(DAY0))
    # No refusal: a read that failed says nothing about the settlement's data.
    assert [item.payout_id for item in found] == ["stl_n001"]
    again = booked(read(sandbox, DAY0))
    assert [p.payout_id for p in again] == ["stl_n001", "stl_n002", "stl_n003"]


def test_a_part_list_down_ends_the_read_as_an_outage(sandbox: MollieSandbox) -> None:
    one_settlement(sandbox, 1, 1, ["10.00"])

    def down(req: Request) -> Response | None:
        return Response(502, raw=b"bad gateway") if req.path.endswith("/refunds") else None

    sandbox.override = down
    with pytest.raises(ServiceDown, match="HTTP 502"):
        read(sandbox, DAY0)


def test_a_settlement_with_more_payments_than_any_has_is_refused_and_the_others_read(
    sandbox: MollieSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mollie_api, "MAX_PAGES", 3)
    one_settlement(sandbox, 1, 1, ["10.00"])
    one_settlement(sandbox, 2, 2, ["20.00"])

    def endless(req: Request) -> Response | None:
        if req.path != "/v2/settlements/stl_n001/payments":
            return None
        body = {"count": 1, "_embedded": {"payments": []},
                "_links": {"next": {"href": f"{sandbox.url}{req.path}?from=tr_x&limit=250"}}}  # fmt: skip
        return Response(200, body, content_type="application/hal+json")

    sandbox.override = endless
    refused, fine = read(sandbox, DAY0)
    assert isinstance(refused, RefusedPayout)
    assert "stl_n001's payments go on past 3 pages of 250" in refused.reason
    assert isinstance(fine, Payout) and fine.payout_id == "stl_n002"


def test_a_wrong_key_says_so_without_the_key(sandbox: MollieSandbox) -> None:
    one_settlement(sandbox, 1, 1, ["10.00"])
    wrong = "access_WrongTokenThatLeaks12345"

    with pytest.raises(AuthError) as caught:
        list(MollieProvider(wrong, base_url=sandbox.url).payouts(DAY0))

    message = str(caught.value)
    assert message.startswith("MOLLIE_API_KEY is wrong or revoked: Mollie answered 401 ")
    assert "Missing authentication, or failed to authenticate" in message
    assert "organization access token" in message
    assert "WrongToken" not in message


def test_an_error_page_that_echoes_the_key_is_scrubbed(sandbox: MollieSandbox) -> None:
    def echo(req: Request) -> Response:
        detail = f"token {req.headers['authorization']} lacks settlements.read"
        return Response(403, {"status": 403, "title": "Forbidden", "detail": detail})

    sandbox.override = echo
    with pytest.raises(AuthError, match="may not read settlements") as caught:
        read(sandbox, DAY0)
    assert sandbox.api_key not in str(caught.value)
    assert sandbox.api_key[7:15] not in str(caught.value)


def test_a_mollie_that_is_down_stops_the_pass_for_the_next_one(sandbox: MollieSandbox) -> None:
    one_settlement(sandbox, 1, 1, ["10.00"])
    sandbox.down_status = 503
    waits: list[float] = []

    with pytest.raises(ServiceDown) as caught:
        read(sandbox, DAY0, sleep=waits.append)

    assert isinstance(caught.value, StopsPass)
    assert str(caught.value) == (
        f"Mollie at {sandbox.url.removeprefix('http://')} is unavailable (HTTP 503; "
        "3 requests in a row failed)"
    )
    assert waits == [2.0, 4.0]
    assert len(sandbox.requests) == 3


def test_no_answer_in_time_is_a_passing_outage(sandbox: MollieSandbox) -> None:
    one_settlement(sandbox, 1, 1, ["10.00"])
    sandbox.delay = 0.5

    with pytest.raises(ServiceDown, match=r"no answer in time \(ReadTimeout\)"):
        read(sandbox, DAY0, timeout=0.1)


def test_too_many_requests_waits_as_long_as_mollie_asks(sandbox: MollieSandbox) -> None:
    one_settlement(sandbox, 1, 1, ["10.00"])
    answered: list[str] = []

    def once(req: Request) -> Response | None:
        if not answered:
            answered.append(req.path)
            return Response(429, {"status": 429, "title": "Too Many Requests", "detail": "slow down"},
                            headers={"Retry-After": "7"})  # fmt: skip
        return None

    sandbox.override = once
    waits: list[float] = []
    assert len(booked(read(sandbox, DAY0, sleep=waits.append))) == 1
    assert waits == [7.0]


def page_to(next_href: str | None, items: list[Any] | None = None) -> Response:
    body = {"count": 10**9, "_embedded": {"settlements": items or []},
            "_links": {"next": {"href": next_href, "type": "application/hal+json"} if next_href else None}}  # fmt: skip
    return Response(200, body, content_type="application/hal+json")


def test_an_answer_without_end_is_bounded(
    sandbox: MollieSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mollie_api, "MAX_PAGES", 5)
    sandbox.override = lambda req: page_to(f"{sandbox.url}/v2/settlements?from=stl_x&limit=250")

    with pytest.raises(MollieError, match="go on past 5 pages of 250"):
        read(sandbox, DAY0)
    assert len(sandbox.requests) == 5


def test_a_next_page_elsewhere_is_not_followed(sandbox: MollieSandbox) -> None:
    sandbox.override = lambda req: page_to("https://collector.example/v2/settlements?from=x")

    with pytest.raises(MollieError, match=r"not http://127\.0\.0\.1:\d+; not followed"):
        read(sandbox, DAY0)
    assert len(sandbox.requests) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"count": 3}, "answer has no _embedded.settlements list"),
        ({"_embedded": {"settlements": {"id": "stl_1"}}}, "no _embedded.settlements list"),
        ({"_embedded": {"settlements": ["stl_1"]}}, "list of settlements holds 'stl_1'"),
        ({"_embedded": {"settlements": [{"status": "paidout"}]}}, "one without an id"),
        ([], r"answer is \[\], not a list"),
        ({"_embedded": {"settlements": []}, "_links": {"next": {"href": 7}}}, "without an address"),
    ],
)
def test_a_list_that_is_not_mollies_is_refused_naming_what_is_missing(
    sandbox: MollieSandbox, body: Any, reason: str
) -> None:
    sandbox.override = lambda req: Response(200, body, content_type="application/hal+json")
    with pytest.raises(MollieError, match=reason):
        read(sandbox, DAY0)


def test_an_answer_too_large_is_not_read_whole(
    sandbox: MollieSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mollie_api, "MAX_BODY", 1000)
    sandbox.override = lambda req: page_to(None, [{"id": f"stl_{n}"} for n in range(200)])
    with pytest.raises(MollieError, match="larger than 1000 bytes"):
        read(sandbox, DAY0)


# --- the sandbox answers as Mollie does ----------------------------------------------------


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def shape(value: Any) -> Any:
    """A JSON value's shape: keys and types, not values (lists by their first element)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def the_fixtures_settlement(sandbox: MollieSandbox) -> dict[str, Any]:
    """The official fixture's settlement rebuilt in the sandbox: 6 iDEAL payments of 86.10 in
    all at 0.35 each, and 2 refunds of 43.20 in all at 0.25 each, in April 2018."""
    at = datetime(2018, 4, 3, 10, tzinfo=UTC)
    for index, amount in enumerate(["5.00", "6.10", "10.00", "15.00", "25.00", "25.00"]):
        sandbox.add_payment(f"tr_test{index}", amount, 1000 + index, at)
    sandbox.add_refund("re_test0", "tr_test4", "20.00", at + timedelta(hours=1))
    sandbox.add_refund("re_test1", "tr_test5", "23.20", at + timedelta(hours=1))
    return sandbox.settle(
        "stl_jDk30akdN", "1234567.1804.03", [f"tr_test{i}" for i in range(6)],
        ["re_test0", "re_test1"], settled_at=datetime(2018, 4, 6, 9, 41, 44, tzinfo=UTC),
        costs={"ideal": ("0.35", None), "refund": ("0.25", None)}, invoice_id="inv_xBEbP9rvAq",
    )  # fmt: skip


def test_a_settlement_adds_up_exactly_as_the_official_fixture(sandbox: MollieSandbox) -> None:
    made = the_fixtures_settlement(sandbox)
    official = fixture("settlement_single")

    assert made["amount"] == official["amount"] == {"currency": "EUR", "value": "39.75"}
    assert made["periods"] == official["periods"]  # revenue, costs, VAT, invoice: all of it
    # The same fields, and two that today's answers carry as well.
    assert shape(made) == shape(official) | {"balanceId": "str"}


def test_the_lists_are_shaped_as_the_official_fixtures(sandbox: MollieSandbox) -> None:
    the_fixtures_settlement(sandbox)
    sandbox.add_chargeback("chb_n9z0tp", "tr_test2", "14.35", datetime(2018, 4, 4, tzinfo=UTC))
    sandbox.settle("stl_cb", "1234567.1804.04", chargeback_ids=["chb_n9z0tp"],
                   settled_at=datetime(2018, 4, 7, tzinfo=UTC))  # fmt: skip
    client = provider(sandbox)

    def answer(path: str) -> Any:
        return client._get(f"{sandbox.url}{path}?limit=5")

    payments = answer("/v2/settlements/stl_jDk30akdN/payments")
    refunds = answer("/v2/settlements/stl_jDk30akdN/refunds")
    chargebacks = answer("/v2/settlements/stl_cb/chargebacks")
    official_payment = fixture("payments_list")["_embedded"]["payments"][0]
    ours = payments["_embedded"]["payments"][0]
    for key, value in official_payment.items():
        if key == "expiresAt":
            assert key not in ours  # a paid payment no longer expires
            continue
        assert type(ours[key]) is type(value), key
        if key in ("amount", "settlementAmount"):
            assert set(ours[key]) == set(value)
    official_refund = fixture("refunds_list")["_embedded"]["refunds"][0]
    assert set(official_refund) <= set(refunds["_embedded"]["refunds"][0])
    official_chargeback = fixture("settlement_chargebacks_list")["_embedded"]["chargebacks"][0]
    assert shape(chargebacks["_embedded"]["chargebacks"][0]) == shape(official_chargeback) | {
        "settlementId": "str", "_links": shape(chargebacks["_embedded"]["chargebacks"][0]["_links"])}  # fmt: skip
    assert payments["count"] == 5 and refunds["count"] == 2
    assert payments["_links"]["next"]["href"].endswith("?from=tr_test5&limit=5")
    assert set(refunds) == set(fixture("refunds_list"))


def test_the_sandbox_settlement_parses_as_the_official_one(sandbox: MollieSandbox) -> None:
    made = the_fixtures_settlement(sandbox)
    official = fixture("settlement_single")
    now = datetime(2018, 4, 7, 12, tzinfo=UTC)
    payments = [sandbox.payments[f"tr_test{i}"] for i in range(6)]
    refunds = [sandbox.refunds["re_test0"], sandbox.refunds["re_test1"]]

    ours = parse_settlement(made, payments, refunds, now=now)
    theirs = parse_settlement(official, payments, refunds, now=now)

    assert ours == theirs
    assert ours.net == Decimal("39.75") and ours.fee_vat == Decimal("0.55")


def test_check_asks_mollie_once_whether_the_key_is_answered(sandbox: MollieSandbox) -> None:
    for number in range(3):
        one_settlement(sandbox, number, number, ["10.00"])
    waits: list[float] = []

    assert provider(sandbox, sleep=waits.append).check() is None
    assert sandbox.requests == [("GET", "/v2/settlements", {"limit": "1"})]

    wrong = "access_WrongTokenThatLeaks12345"
    with pytest.raises(AuthError) as refused:
        MollieProvider(wrong, base_url=sandbox.url).check()
    assert str(refused.value).startswith("MOLLIE_API_KEY is wrong or revoked: Mollie answered 401")
    assert "WrongToken" not in str(refused.value)

    sandbox.failing = {"/v2/settlements": 403}
    with pytest.raises(AuthError, match="MOLLIE_API_KEY may not read settlements"):
        provider(sandbox).check()

    # Down: said at once, from one request, not after the tries a pass makes.
    sandbox.failing, sandbox.down_status = {}, 503
    start = len(sandbox.requests)
    with pytest.raises(ServiceDown, match=r"unavailable \(HTTP 503; 1 request in a row failed\)"):
        provider(sandbox, sleep=waits.append).check()
    assert len(sandbox.requests) == start + 1 and waits == []

    sandbox.down_status = None
    sandbox.override = lambda _req: Response(200, {"count": 1})
    with pytest.raises(MollieError, match=r"no _embedded\.settlements list"):
        provider(sandbox).check()
