"""`mappings suggest` for a shop without a list of its tax rates (Shopify): a rule for each rate
its recent orders used that no rule maps, or a remark saying what to do by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from connector.admin.mappings_suggest import _rules_for_rates_in_use
from connector.sandbox.seed import MB_RATE_21, MB_RATE_DE_OSS
from connector.shops.shop import RateInUse, RatesInUse
from tests.unit.booking.test_default_tables import RATES
from tests.unit.booking.test_mappings_ledger_rates import DEFAULT_TABLES

D = Decimal


def proposed(oss: bool, *seen: RateInUse) -> list[tuple[str, dict[str, Any]]]:
    in_use = RatesInUse(seen, 40, datetime(2026, 9, 1, tzinfo=UTC))
    return _rules_for_rates_in_use(DEFAULT_TABLES, RATES, in_use, "NL", [], oss)


def rate(pct: str, country: str, business: bool = False) -> RateInUse:
    return RateInUse(pct if pct != "0" else None, D(pct), country, business, "", 2, "1042")


def test_a_mapped_rate_gets_no_rule() -> None:
    assert proposed(False, rate("21", "NL"), rate("9", "NL"), rate("0", "NL")) == []


@pytest.mark.parametrize("oss", [False, True])
def test_a_german_consumer_rate_becomes_an_oss_rule_for_moneybird_s_german_rate(oss: bool) -> None:
    [(why, fields)] = proposed(oss, rate("19", "DE"))
    assert fields == {"percentage": "19", "country": "DE", "customer": "consumer",
                      "treatment": "oss", "tax_rate_id": MB_RATE_DE_OSS}  # fmt: skip
    assert why.startswith("19% to DE, consumers (2 orders, e.g. #1042), read from the 40 orders")
    assert "One-Stop Shop: applies only with [vat] oss = true" in why


def test_a_consumer_elsewhere_in_the_eu_pays_the_home_rate_outside_the_one_stop_shop() -> None:
    [(why, fields)] = proposed(False, rate("21", "BE"))
    assert fields == {"percentage": "21", "country": "BE", "customer": "consumer",
                      "treatment": "domestic", "tax_rate_id": MB_RATE_21}  # fmt: skip
    assert "the NL rate, as [vat] oss is off" in why
    # In the One-Stop Shop, Belgium's 21% is Belgium's: Moneybird needs a rate for it.
    [(why, fields)] = proposed(True, rate("21", "BE"))
    assert fields == {} and "no active sales rate at 21% for BE; create one" in why


def test_an_untaxed_sale_abroad_the_tables_do_not_map_is_left_to_a_person() -> None:
    [(why, fields)] = proposed(False, rate("0", "DE"))  # a consumer: neither ICP nor export
    assert fields == {} and why.startswith("NOT MAPPED: no VAT to DE, consumers")
