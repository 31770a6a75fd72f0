"""`mappings suggest` for a shop without a list of its tax rates (Shopify): a rule for each rate
its recent orders used that no rule maps, or a remark saying what to do by hand."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.admin.mappings_suggest import _rules_for_rates_in_use, suggest
from connector.booking.mappings import Mappings, TaxRule
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.config import load_config
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


def test_one_percentage_charged_twice_gets_the_rate_of_their_sum() -> None:
    """SGST 6% and CGST 6% on a line are Shopify's rate "6" twice; booking takes the line at
    one Moneybird rate of 12%, so that is the rate proposed for 6%, never a 6% one."""
    six = MoneybirdTaxRate("600", "GST 6%", D("6.0"), "sales_invoice", True)
    twelve = MoneybirdTaxRate("1200", "GST 12%", D("12.0"), "sales_invoice", True)
    both = RateInUse("6", D(6), "IN", False, "SGST / CGST", 3, "1001", together=2)
    in_use = RatesInUse((both,), 3, datetime(2026, 9, 1, tzinfo=UTC))
    rates = {r.id: r for r in (six, twelve)}
    empty = Mappings((), ())
    [(why, fields)] = _rules_for_rates_in_use(empty, rates, in_use, "IN", [], False)
    assert fields == {"percentage": "6", "country": "IN", "tax_rate_id": "1200"}
    assert why.startswith(
        "6% twice on a line ('SGST / CGST', together 12%) to IN, consumers (3 orders, e.g. "
        "#1001), read from the 3 orders of the last 90 days -> Moneybird 'GST 12%'"
    ), why
    # Without a 12% rate in Moneybird: what to make, not the 6% rate.
    [(why, fields)] = _rules_for_rates_in_use(empty, {"600": six}, in_use, "IN", [], False)
    assert fields == {} and "Moneybird has no active sales rate at 12%; create one" in why
    # A rule that maps 6% to the 6% rate would park these orders: said, not passed over.
    wrong = Mappings((TaxRule(percentage="6", tax_rate_id="600"),), ())
    [(why, fields)] = _rules_for_rates_in_use(wrong, rates, in_use, "IN", [], False)
    assert fields == {}
    assert why.startswith("NOT MAPPED: 6% twice on a line") and (
        "the tax table maps 6% to 'GST 6%' (6%), but booking takes such lines at one rate of "
        "12%: map it to 'GST 12%' in a rule before that one" in why
    ), why


def test_a_shopify_shop_at_home_gets_no_rule_for_the_percentage_it_charges_twice(
    tmp_path: Path,
) -> None:
    """Shopify's rules by percentage for the administration's own rates would map 6% to the
    6% rate; orders charging 6% twice on a line (SGST + CGST) need the 12% one, and the two
    rules would contradict each other (the first would win): only the 12% one is proposed."""
    for name in ("tax", "ledger", "payment"):
        (tmp_path / f"{name}.toml").write_text("")
    path = tmp_path / "config.toml"
    path.write_text(
        '[shop]\nplatform = "shopify"\nurl = "https://chai.myshopify.com"\n\n'
        '[moneybird]\nadministration_id = "1"\n\n[state]\npath = "state.db"\n\n'
        f'[mappings]\ntax = "{tmp_path / "tax.toml"}"\nledger = "{tmp_path / "ledger.toml"}"\n'
        f'payment = "{tmp_path / "payment.toml"}"\n'
    )
    config = load_config(path, mappings_optional=True, require_secrets=False)
    rates = [{"id": i, "name": n, "percentage": p, "tax_rate_type": "sales_invoice",
              "active": True, "country": None}
             for i, n, p in (("600", "GST 6%", "6.0"), ("1200", "GST 12%", "12.0"))]  # fmt: skip
    both = RateInUse("6", D(6), "IN", False, "SGST / CGST", 3, "1001", together=2)
    in_use = RatesInUse((both,), 3, datetime(2026, 9, 1, tzinfo=UTC))
    [tax, _ledger, _payment] = suggest(config, rates, [], [], [], [], "IN", in_use)
    rules = tomllib.loads(tax.new)["rule"]
    assert [(r["percentage"], r["tax_rate_id"]) for r in rules] == [("12", "1200"), ("6", "1200")]
