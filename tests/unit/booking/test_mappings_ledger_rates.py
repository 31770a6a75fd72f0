"""Ledger rules that match a line's VAT rate (`percentage`, `tax_rate_id`): Shopify's lines have
no tax class, so this is how its reduced-rate goods reach the low-rate revenue account."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.booking.book import BookingSettings, book
from connector.booking.day import individual_reason
from connector.booking.invoice import InvoiceDraft
from connector.booking.mappings import LedgerRule, Mappings, TaxRule, unreachable
from connector.errors import ConfigError
from connector.mapping_files import load_mappings
from connector.order import LineKind
from connector.sandbox.seed import ANNA, LEDGER_HIGH, LEDGER_LOW, LEDGER_SHIPPING, MB_RATE_9
from connector.sandbox.shopify_seed import Product, shopify_order
from connector.shops.shopify.parse import order_from_shopify
from tests.conftest import ROOT
from tests.unit.booking.test_book import R9, R21, RATES, line, order, shipping, tax_line
from tests.unit.booking.test_default_tables import RATES as DEFAULT_RATES

D = Decimal
DEFAULT_TABLES = load_mappings(
    ROOT / "mappings" / "tax.toml",
    ROOT / "mappings" / "ledger.toml",
    ROOT / "mappings" / "payment.toml",
)


def ledgers(draft: object) -> list[tuple[str, str]]:
    assert isinstance(draft, InvoiceDraft), getattr(draft, "reason", draft)
    return [(ln.description, ln.ledger_account_id) for ln in draft.lines]


def test_a_shopify_order_at_nine_percent_books_its_goods_on_the_low_rate_ledger() -> None:
    # Shopify lines carry no tax class: 2 x beans 12.95 at 9% (2.14 VAT), a moka pot 34.95
    # at 21% (6.07), shipping 5.95 at 21% (1.03); the default tables, as `init` writes them.
    payload = shopify_order(
        2001,
        ANNA,
        [Product("Espresso blend 1kg", "EB-1000", "12.95", 9, qty=2),
         Product("Moka pot 6 kops", "MP-6", "34.95", 21)],
        "5.95",
        datetime(2026, 10, 5, 10, tzinfo=UTC),
    )  # fmt: skip
    # As a query answers: the lines are connections.
    payload["lineItems"] = {"pageInfo": {"hasNextPage": False}, "nodes": payload["lineItems"]}
    payload["shippingLines"] = {"nodes": payload["shippingLines"]}
    draft = book(order_from_shopify(payload), DEFAULT_TABLES, DEFAULT_RATES, BookingSettings())
    assert sorted(ledgers(draft)) == [
        ("Espresso blend 1kg", LEDGER_LOW),
        ("Moka pot 6 kops", LEDGER_HIGH),
        ("PostNL standaard", LEDGER_SHIPPING),
    ]
    assert isinstance(draft, InvoiceDraft)
    low = [ln for ln in draft.lines if ln.ledger_account_id == LEDGER_LOW]
    assert [ln.tax_rate_id for ln in low] == [MB_RATE_9]


def rate_tables() -> Mappings:
    return Mappings(
        tax=(
            TaxRule(shop_rate_id="1", tax_rate_id=R21),
            TaxRule(shop_rate_id="2", tax_rate_id=R9),
        ),
        ledger=(
            LedgerRule(kind="product", tax_rate_id=R9, ledger_account_id="8010"),
            LedgerRule(kind="discount", percentage="9", ledger_account_id="8091"),
            LedgerRule(kind="discount", ledger_account_id="8090"),
            LedgerRule(kind="any", ledger_account_id="8000"),
        ),
    )


def test_the_rate_decides_the_ledger_of_products_and_of_their_discount() -> None:
    # 10% coupon: beans 20.00 + 1.80 at 9% (after: 18.00 + 1.62), mok 10.00 + 2.10 at 21%
    # (after: 9.00 + 1.89); shipping 5.00 + 1.05 at 21%. 19.62 + 10.89 + 6.05 = 36.56.
    o = order(
        "36.56",
        [line(1, "Bonen", 1, "20.00", "1.80", "18.00", "1.62", 2),
         line(2, "Mok", 1, "10.00", "2.10", "9.00", "1.89", 1)],
        [shipping("5.00", "1.05", 1)],
        [tax_line(1, "21", "1.89", "1.05"), tax_line(2, "9", "1.62")],
    )  # fmt: skip
    draft = book(o, rate_tables(), RATES, BookingSettings())
    assert isinstance(draft, InvoiceDraft)
    assert [(ln.description, ln.price, ln.ledger_account_id) for ln in draft.lines] == [
        ("Bonen", D("21.80"), "8010"),
        ("Korting", D("-2.18"), "8091"),  # the 9% part of the coupon: 21.80 - 19.62
        ("Mok", D("12.10"), "8000"),
        ("PostNL", D("6.05"), "8000"),
        ("Korting", D("-1.21"), "8090"),  # the 21% part: 12.10 - 10.89
    ]


@pytest.mark.parametrize(
    ("percentage", "tax_rate_id", "expected"),
    [
        (D("9"), "900", "8010"),  # by the Moneybird rate
        (D("9.0"), "999", "8009"),  # another 9% rate: by percentage, written either way
        (D("21"), "2100", "8000"),
        (D("0"), "1", "8000"),
        (None, None, "8000"),  # a rate not known: only rules without one can match
    ],
)
def test_a_ledger_rule_matches_a_vat_rate_only_on_a_line_at_it(
    percentage: Decimal | None, tax_rate_id: str | None, expected: str
) -> None:
    tables = Mappings(
        tax=(),
        ledger=(
            LedgerRule(tax_rate_id="900", ledger_account_id="8010"),
            LedgerRule(percentage="9", ledger_account_id="8009"),
            LedgerRule(ledger_account_id="8000"),
        ),
    )
    rule = tables.ledger_for(LineKind.PRODUCT, "SKU", "", percentage, tax_rate_id)
    assert rule is not None and rule.ledger_account_id == expected


@given(
    written=st.sampled_from(['"9"', '"9.0"', "9", "9.0", '"9.00"']),
    line_rate=st.sampled_from([D("9"), D("9.00"), D("21"), D("0"), D("19"), D("8.875")]),
)
def test_a_percentage_matches_the_same_number_however_it_is_written(
    tmp_path_factory: pytest.TempPathFactory, written: str, line_rate: Decimal
) -> None:
    folder = tmp_path_factory.mktemp("tables")
    (folder / "tax.toml").write_text('[[rule]]\npercentage = "9"\ntax_rate_id = "1"\n')
    (folder / "ledger.toml").write_text(
        f'[[rule]]\nkind = "product"\npercentage = {written}\nledger_account_id = "8010"\n\n'
        '[[rule]]\nledger_account_id = "8000"\n'
    )
    tables = load_mappings(folder / "tax.toml", folder / "ledger.toml", None)
    rule = tables.ledger_for(LineKind.PRODUCT, "", "", line_rate, "1")
    assert rule is not None
    assert rule.ledger_account_id == ("8010" if line_rate == 9 else "8000")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("percentage", '"negen"', "is not a percentage"),
        ("percentage", '"-9"', "is not a percentage"),
        ("tax_rate_id", '"21% btw"', "is not a Moneybird id"),
    ],
)
def test_a_wrong_rate_in_a_ledger_rule_is_named_with_file_line_and_key(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    (tmp_path / "tax.toml").write_text('[[rule]]\npercentage = "9"\ntax_rate_id = "1"\n')
    ledger = tmp_path / "ledger.toml"
    ledger.write_text(
        '# my ledger table\n\n[[rule]]\nkind = "shipping"\nledger_account_id = "8050"\n\n'
        f'[[rule]]\nkind = "product"\n{key} = {value}\nledger_account_id = "8010"\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_mappings(tmp_path / "tax.toml", ledger, None)
    assert f"{ledger}:9: rule.1.{key}: Value error, " in str(raised.value)
    assert message in str(raised.value)


def test_a_rule_after_one_for_any_rate_can_never_apply_but_one_before_it_can() -> None:
    rules = [
        LedgerRule(kind="product", percentage="9", ledger_account_id="8010"),
        LedgerRule(kind="product", tax_rate_id="900", ledger_account_id="8011"),
        LedgerRule(kind="product", ledger_account_id="8000"),
        LedgerRule(kind="product", percentage="21", ledger_account_id="8001"),
        LedgerRule(kind="product", percentage="9.0", ledger_account_id="8012"),
    ]
    assert unreachable(rules) == [(3, 2), (4, 0)]


def test_summary_mode_keeps_apart_an_order_whose_rate_rule_says_individual() -> None:
    tables = Mappings(
        tax=(),
        ledger=(
            LedgerRule(kind="product", percentage="9", ledger_account_id="8010", individual=True),
            LedgerRule(ledger_account_id="8000"),
        ),
    )
    low = order(
        "10.90",
        [line(1, "Bonen", 1, "10.00", "0.90", "10.00", "0.90", 2)],
        [],
        [tax_line(2, "9", "0.90")],
    )
    high = order(
        "12.10",
        [line(1, "Mok", 1, "10.00", "2.10", "10.00", "2.10", 1)],
        [],
        [tax_line(1, "21", "2.10")],
    )
    assert "'Bonen' on an invoice of its own" in (individual_reason(low, tables) or "")
    assert individual_reason(high, tables) is None
    # A rule for a Moneybird rate: the rate is known only once booked, so in doubt, apart.
    by_rate = replace(
        tables,
        ledger=(
            LedgerRule(
                kind="product", tax_rate_id="900", ledger_account_id="8010", individual=True
            ),
            LedgerRule(ledger_account_id="8000"),
        ),
    )
    assert individual_reason(high, by_rate) is not None
    assert individual_reason(high, replace(tables, ledger=tables.ledger[1:])) is None
