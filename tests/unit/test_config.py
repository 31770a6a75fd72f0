"""Configuration: one clear message naming the file and key; secrets only from the environment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector.config import load_config, read_secret
from connector.errors import ConfigError
from connector.mapping_files import load_mappings
from connector.order import LineKind
from connector.sync.settings import booking_settings
from tests.conftest import ROOT

ENV = {
    "MONEYBIRD_TOKEN": "mb-token-123",
    "WOOCOMMERCE_CONSUMER_KEY": "ck_abc",
    "WOOCOMMERCE_CONSUMER_SECRET": "cs_def",
}
MAPPINGS = f"""
[mappings]
tax = "{ROOT / "mappings" / "tax.toml"}"
ledger = "{ROOT / "mappings" / "ledger.toml"}"
payment = "{ROOT / "mappings" / "payment.toml"}"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text + MAPPINGS)
    return path


BASE = """
[shop]
platform = "woocommerce"
url = "https://shop.example.nl/"

[moneybird]
administration_id = "123456789"
"""


def test_the_shipped_example_config_is_valid(tmp_path: Path) -> None:
    config = load_config(ROOT / "config.toml", environ=ENV)
    assert config.sync.interval_minutes == 15
    assert config.sync.statuses == ["completed"]
    assert config.sync.delivery_method == "Manual"
    assert config.moneybird.api_url == "https://moneybird.com/api/v2"


def test_defaults_and_resolved_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE), environ=ENV)
    assert config.shop.url == "https://shop.example.nl"
    assert config.state_path == tmp_path / "data" / "state.db"
    assert str(config.sync.rounding_tolerance) == "0.02"
    assert booking_settings(config).reference_template == "WC-{number}"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ('[sync]\ninterval_minutes = "soon"', "sync.interval_minutes"),
        ('[sync]\ndelivery_method = "Post"', "sync.delivery_method"),
        ('[sync]\nreference_template = "WC-{order}"', "sync.reference_template"),
        ('[sync]\nreference_template = "WEBSHOP"', "must contain {number}"),
        ('[sync]\nstatuses = ["completed,processing"]', "sync.statuses"),
        ('[sync]\ntimezone = "Mars/Olympus"', "unknown time zone"),
        ("[sync]\nintervall_minutes = 5", "sync.intervall_minutes: Extra inputs"),
        ('[sync]\nrounding_tolerance = "5"', "sync.rounding_tolerance"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, change: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, BASE + change), environ=ENV)
    assert expected in str(info.value)
    # file:line of the offending key (the [sync] table starts right after BASE)
    assert re.search(rf"{re.escape(str(tmp_path / 'config.toml'))}:(9|10): sync", str(info.value))


SHOPIFY = BASE.replace('"woocommerce"', '"shopify"').replace("shop.example.nl", "x.myshopify.com")


def shop_keys(base: str, keys: str) -> str:
    """`base` with `keys` at the end of its [shop] section (from line 5 on)."""
    head, tail = base.split("\n\n[moneybird]")
    return f"{head}\n{keys}\n[moneybird]{tail}"


SHOPIFY_ENV = {"MONEYBIRD_TOKEN": "mb-token-123", "SHOPIFY_ACCESS_TOKEN": "shpat_abc"}


def test_the_shop_section_holds_only_its_platforms_settings(tmp_path: Path) -> None:
    woo = load_config(
        write(tmp_path, shop_keys(BASE, "query_string_auth = true\n")), environ=ENV
    ).shop
    assert woo.platform == "woocommerce" and woo.query_string_auth is True
    assert not hasattr(woo, "fulfillment") and not hasattr(woo, "api_version")
    shopify = load_config(
        write(tmp_path, shop_keys(SHOPIFY, 'fulfillment = "fulfilled"\n')), environ=SHOPIFY_ENV
    ).shop
    assert shopify.platform == "shopify" and shopify.fulfillment == "fulfilled"
    assert shopify.api_version == "2026-10"
    assert not hasattr(shopify, "query_string_auth")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BASE.replace("https://shop", "ftp://shop"), r":4: shop\.url: Value error, must start"),
        (shop_keys(BASE, "urll = 1\n"), r":5: shop\.urll: Extra inputs"),
        (
            BASE.replace('"woocommerce"', '"magento"'),
            r":3: shop\.platform: Input should be 'woocommerce' or 'shopify'",
        ),
        (BASE.replace('platform = "woocommerce"\n', ""), r":2: shop\.platform: Field required"),
        (shop_keys(SHOPIFY, 'api_version = "latest"\n'), r":5: shop\.api_version: Value error"),
        (shop_keys(SHOPIFY, 'vat_number_metafield = "vat"\n'), r":5: shop\.vat_number_metafield"),
    ],
)
def test_shop_section_errors_name_the_key_as_it_is_written(
    tmp_path: Path, text: str, expected: str
) -> None:
    """The platform picks the section's shape; the message still names shop.<key> at its line
    (pydantic's own location would read shop.woocommerce.url and miss the line)."""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ=ENV | SHOPIFY_ENV)
    assert re.search(re.escape(str(tmp_path / "config.toml")) + expected, str(info.value))


def test_the_other_platforms_settings_load_with_a_warning_not_an_error(tmp_path: Path) -> None:
    """A config file that loaded before [shop] was split by platform still loads after the
    upgrade; `config check` names each key the platform ignores, at its line."""
    from connector.admin.config_check import WARNING, check

    path = write(
        tmp_path, shop_keys(BASE, 'fulfillment = "fulfilled"\nvat_number_attribute = "btw"\n')
    )
    config = load_config(path, environ=ENV)
    assert not hasattr(config.shop, "fulfillment")
    assert config.shop.ignored == ("fulfillment", "vat_number_attribute")
    report = check(path, environ=ENV, live=False)
    assert not report.errors
    warnings = [f for f in report.findings if f.level == WARNING]
    assert [w.where for w in warnings] == [f"{path}:5", f"{path}:6"]
    assert "shop.fulfillment is a Shopify setting" in warnings[0].message
    assert "a WooCommerce shop ignores it" in warnings[0].message
    shopify = write(tmp_path, shop_keys(SHOPIFY, "query_string_auth = true\n"))
    assert load_config(shopify, environ=SHOPIFY_ENV).shop.ignored == ("query_string_auth",)
    note = [f.message for f in check(shopify, environ=SHOPIFY_ENV, live=False).findings]
    assert any("shop.query_string_auth is a WooCommerce setting" in m for m in note)


def test_bad_administration_id_and_missing_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"moneybird\.administration_id"):
        load_config(write(tmp_path, BASE.replace('"123456789"', '"my shop"')), environ=ENV)
    with pytest.raises(ConfigError, match="shop: Field required"):
        load_config(write(tmp_path, "[moneybird]\nadministration_id = 1\n"), environ=ENV)


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, BASE + "[sync\n"), environ=ENV)
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "nope.toml", environ=ENV)


def test_missing_secret_is_named_and_file_variant_works(tmp_path: Path) -> None:
    env = {k: v for k, v in ENV.items() if k != "MONEYBIRD_TOKEN"}
    with pytest.raises(ConfigError, match="not set: MONEYBIRD_TOKEN"):
        load_config(write(tmp_path, BASE), environ=env)
    # Every missing one at once, not one per run.
    with pytest.raises(ConfigError) as every:
        load_config(write(tmp_path, BASE), environ={})
    assert "WOOCOMMERCE_CONSUMER_KEY, WOOCOMMERCE_CONSUMER_SECRET, MONEYBIRD_TOKEN" in str(
        every.value
    )
    # Checking the files needs none of them.
    from connector.admin.config_check import check

    offline = check(write(tmp_path, BASE), environ={}, live=False)
    assert not offline.errors
    secret = tmp_path / "token.txt"
    secret.write_text("from-a-file\n")
    assert read_secret("MONEYBIRD_TOKEN", {"MONEYBIRD_TOKEN_FILE": str(secret)}) == "from-a-file"
    with pytest.raises(ConfigError, match="MONEYBIRD_TOKEN_FILE: cannot read"):
        read_secret("MONEYBIRD_TOKEN", {"MONEYBIRD_TOKEN_FILE": str(tmp_path / "gone")})


def test_secrets_never_show_in_the_config_objects_text(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE), environ=ENV)
    text = repr(config.secrets) + str(config.secrets)
    assert all(secret not in text for secret in ENV.values())


def test_mapping_table_errors_name_file_and_rule(tmp_path: Path) -> None:
    tax = tmp_path / "tax.toml"
    tax.write_text('[[rule]]\nshop_rate_id = 1\ntax_rate_id = "21% btw"\n')
    with pytest.raises(ConfigError) as info:
        load_mappings(tax, ROOT / "mappings" / "ledger.toml", None)
    assert f"{tax}:3: rule.0.tax_rate_id" in str(info.value)  # file:line: key
    tax.write_text('[[rule]]\nshop_rate = 1\ntax_rate_id = "1"\n')
    with pytest.raises(ConfigError, match=r"rule\.0\.shop_rate: Extra inputs"):
        load_mappings(tax, ROOT / "mappings" / "ledger.toml", None)
    tax.write_text("")
    with pytest.raises(ConfigError, match="no \\[\\[rule\\]\\] entries"):
        load_mappings(tax, ROOT / "mappings" / "ledger.toml", None)


def test_default_tables_first_match_wins() -> None:
    m = load_mappings(
        ROOT / "mappings" / "tax.toml",
        ROOT / "mappings" / "ledger.toml",
        ROOT / "mappings" / "payment.toml",
    )
    assert m.ledger_for(LineKind.PRODUCT, "KB-1", "reduced-rate").ledger_account_id.endswith("8010")  # type: ignore[union-attr]
    assert m.ledger_for(LineKind.PRODUCT, "KB-1", "").ledger_account_id.endswith("8000")  # type: ignore[union-attr]
    assert m.ledger_for(LineKind.SHIPPING).ledger_account_id.endswith("8050")  # type: ignore[union-attr]
    assert m.financial_account_for("mollie_wc_gateway_creditcard") == "420000000000000001"
    assert m.financial_account_for("paypal") == "420000000000000003"
    assert m.financial_account_for("cod") is None
