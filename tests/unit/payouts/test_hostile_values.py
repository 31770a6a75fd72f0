"""Property-based: whatever value a provider's answer holds in whatever field, the pure parse
either gives a checked Payout or refuses that payout with PayoutDataError, naming the field.
Nothing else escapes: any other exception would end the provider's payouts (or the pass)
instead of refusing the one payout, every pass. HYPOTHESIS_PROFILE=long runs more examples."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import ConnectorError, ParksItem
from connector.payouts import mollie_api
from connector.payouts.mollie import parse_settlement
from connector.payouts.mollie_api import MollieError
from connector.payouts.records import Payout, PayoutDataError, RefusedPayout, parse_moment
from connector.payouts.shopify_payments import (
    ShopifyPaymentsProvider,
    fee_orders,
    parse_payout,
    stated_fees,
)
from tests.unit.payouts import test_mollie as mollie_case
from tests.unit.payouts import test_shopify_payments as shopify_case

settings.register_profile(
    "ci", max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Dates at the ends of what Python holds: in UTC they fall outside it (OverflowError).
EDGE_DATES = [
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:30:00+01:00",
    "9999-12-31T23:59:59.999999-23:59",
    "0001-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-02-30T00:00:00Z",
    "2026-01-01T00:00:00",
    "2026-01-01",
    "²⁰²⁶-01-01T00:00:00Z",
    "2026-01-01T00:00:00\ud800",
]
zones = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-23 * 60 - 59, 23 * 60 + 59)
)
dates = st.one_of(
    st.sampled_from(EDGE_DATES),
    st.builds(lambda moment: moment.isoformat(), st.datetimes(timezones=zones)),
    st.builds(lambda moment: moment.isoformat(), st.datetimes()),
)
amounts = st.one_of(
    st.sampled_from(["-0.00", "١٢.٣٤", "1e400", "NaN", "9" * 30, "0.001", "1_000.00", " 1.00"]),
    st.decimals(allow_nan=True).map(str),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    dates,
    amounts,
)
hostile = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value, the value itself first."""
    yield at
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from paths(inner, (*at, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from paths(inner, (*at, index))


def replaced(value: Any, at: tuple[Any, ...], new: Any) -> Any:
    if not at:
        return new
    changed = copy.deepcopy(value)
    target = changed
    for key in at[:-1]:
        target = target[key]
    target[at[-1]] = new
    return changed


def only_refused(parse: Any) -> Payout | None:
    """The parse's Payout, None when it refused; any other exception fails the test."""
    try:
        found = parse()
    except PayoutDataError as exc:
        assert str(exc), "a refusal says why"
        return None
    assert isinstance(found, Payout)
    return found


# --- Mollie ---------------------------------------------------------------------------------

MOLLIE = {
    "settlement": mollie_case.settlement(),
    "payments": mollie_case.payments(),
    "refunds": mollie_case.refunds(),
}
# The lists themselves come from the paging, always lists; what they hold is Mollie's.
MOLLIE_PATHS = [at for at in list(paths(MOLLIE))[1:] if at not in (("payments",), ("refunds",))]


@given(st.sampled_from(MOLLIE_PATHS), hostile)
def test_any_value_anywhere_in_a_mollie_settlement_is_booked_or_refused(
    at: tuple[Any, ...], value: Any
) -> None:
    data = replaced(MOLLIE, at, value)
    only_refused(
        lambda: parse_settlement(
            data["settlement"], data["payments"], data["refunds"], now=mollie_case.NOW
        )
    )


@given(st.sampled_from(["settledAt", "createdAt", "paidAt"]), dates)
def test_any_date_in_a_mollie_settlement_is_booked_or_refused(key: str, value: str) -> None:
    data = copy.deepcopy(MOLLIE)
    if key == "settledAt":
        data["settlement"]["settledAt"] = value
    else:
        data["payments"][0][key] = value
    only_refused(
        lambda: parse_settlement(
            data["settlement"], data["payments"], data["refunds"], now=mollie_case.NOW
        )
    )


@given(hostile)
def test_a_mollie_list_answer_is_read_or_a_passing_read_error(body: Any) -> None:
    try:
        items, following = mollie_api._page_of(body, "payments", "payments")
    except MollieError:
        return
    assert isinstance(items, list)
    assert following is None or isinstance(following, str)


@given(st.one_of(dates, hostile))
def test_a_date_is_read_or_refused_whatever_the_value(value: Any) -> None:
    try:
        found = parse_moment(value, "date", now=mollie_case.NOW)
    except PayoutDataError:
        return
    assert found.utcoffset() == timedelta(0)
    assert datetime(2000, 1, 1, tzinfo=UTC) <= found <= mollie_case.NOW + timedelta(days=2)


# --- Shopify Payments -----------------------------------------------------------------------

SHOPIFY = {
    "payout": shopify_case.payout(),
    "transactions": shopify_case.transactions(),
    "fees": shopify_case.fees_stated(),
}
# The transactions come from the paging, always a list; the fees from stated_fees, a dict of
# lists. What they hold is as Shopify sent it.
SHOPIFY_PATHS = [
    at
    for at in list(paths(SHOPIFY))[1:]
    if at != ("transactions",) and (at[0] != "fees" or len(at) > 2)
]


@given(st.sampled_from(SHOPIFY_PATHS), hostile)
def test_any_value_anywhere_in_a_shopify_payout_is_booked_or_refused(
    at: tuple[Any, ...], value: Any
) -> None:
    data = replaced(SHOPIFY, at, value)
    only_refused(
        lambda: parse_payout(data["payout"], data["transactions"], data["fees"], shopify_case.NOW)
    )


@given(st.sampled_from(["issuedAt", "transactionDate"]), dates)
def test_any_date_in_a_shopify_payout_is_booked_or_refused(key: str, value: str) -> None:
    data = copy.deepcopy(SHOPIFY)
    if key == "issuedAt":
        data["payout"]["issuedAt"] = value
    else:
        data["transactions"][0]["transactionDate"] = value
    only_refused(
        lambda: parse_payout(data["payout"], data["transactions"], data["fees"], shopify_case.NOW)
    )


@given(hostile, hostile)
def test_the_fee_reads_take_any_answer(transactions: Any, orders: Any) -> None:
    if isinstance(transactions, list):
        assert all(isinstance(gid, str) for gid in fee_orders(transactions))
    if isinstance(orders, dict):
        assert all(isinstance(fees, list) for fees in stated_fees(orders).values())


@given(st.sampled_from(list(paths(shopify_case.payout()))[1:]), hostile)
def test_a_hostile_payout_node_refuses_that_payout_or_ends_the_read_for_the_pass(
    at: tuple[Any, ...], value: Any
) -> None:
    """A node as the payouts list gives it: its payout is refused (with its date when that
    can be read), or the read ends with a passing error; the next payout is read either way."""
    node = replaced(shopify_case.payout(), at, value)
    fine = shopify_case.payout(legacyResourceId="556")

    def run(document: str, variables: Any) -> dict[str, Any]:
        if "ShopifyPaymentsPayouts(" in document:
            page = {"nodes": [node, fine], "pageInfo": {"hasNextPage": False, "endCursor": None}}
            return {"shopifyPaymentsAccount": {"payouts": page}}
        if "ShopifyPaymentsPayoutTransactions" in document:
            page = {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
            return {"shopifyPaymentsAccount": {"balanceTransactions": page}}
        return {}

    reader = ShopifyPaymentsProvider(run, now=shopify_case.NOW)
    try:
        found = list(reader.payouts(shopify_case.EARLY))
    except ConnectorError as exc:
        assert not isinstance(exc, ParksItem), exc  # passing, read again next pass
        return
    assert all(isinstance(item, Payout | RefusedPayout) for item in found)
    assert any(getattr(item, "payout_id", None) == "556" for item in found)
    for item in found:
        if isinstance(item, RefusedPayout) and item.paid_out is not None:
            assert item.paid_out.utcoffset() == timedelta(0)
