"""[payouts]: off by default (then nothing of it is read, no secret asked for), each missing
setting named with its file:line and what to set, MOLLIE_API_KEY read only where Mollie's
payouts are booked and scrubbed like every secret."""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path

import pytest

from connector.config import PayoutsConfig, load_config
from connector.errors import ConfigError
from connector.redact import redact
from tests.conftest import ROOT

ENV = {
    "MONEYBIRD_TOKEN": "mb-token-123",
    "WOOCOMMERCE_CONSUMER_KEY": "ck_abc",
    "WOOCOMMERCE_CONSUMER_SECRET": "cs_def",
}
MOLLIE_KEY = "access_Wwvu7egPcJLLJ9Kb7J632x8wJ2zMeJ"
BASE = f"""
[shop]
platform = "woocommerce"
url = "https://shop.example.nl/"

[moneybird]
administration_id = "123456789"

[mappings]
tax = "{ROOT / "mappings" / "tax.toml"}"
ledger = "{ROOT / "mappings" / "ledger.toml"}"
payment = "{ROOT / "mappings" / "payment.toml"}"
"""
MOLLIE = """
[payouts]
enabled = true
bank_account = "Bankrekening"
since = "2026-11-01"
bank_line_days = 7

[payouts.mollie]
financial_account = "Mollie"
transfer_ledger = "Betalingen onderweg"
fee_ledger = 410000000000008060
fees_payable_ledger = "Mollie fees payable"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(BASE + text, encoding="utf-8")
    return path


def test_off_by_default_nothing_read_and_no_key_asked_for(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), environ=ENV)
    assert config.payouts.enabled is False
    assert config.payouts.providers() == {}
    assert config.secrets.mollie_api_key.get_secret_value() == ""
    # A section written but switched off: not checked, no secret read even where one is set.
    off = MOLLIE.replace("enabled = true", "enabled = false").replace('"Bankrekening"', '""')
    off = off.replace("fee_ledger = 410000000000008060", 'fee_ledger = ""')
    config = load_config(write(tmp_path, off), environ={**ENV, "MOLLIE_API_KEY": MOLLIE_KEY})
    assert config.payouts.mollie is not None and config.payouts.providers() == {}
    assert config.secrets.mollie_api_key.get_secret_value() == ""
    assert MOLLIE_KEY not in config.secrets.values()


def test_the_shipped_config_has_payouts_off_and_its_documented_block_is_valid() -> None:
    config = load_config(ROOT / "config.toml", environ=ENV)
    assert config.payouts.enabled is False
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    block = text[text.index("\n[payouts]\n") :]
    # Every commented key and table of the block, uncommented, is a setting the model knows.
    lines = [
        line[2:].split("#")[0]
        for line in block.splitlines()
        if re.match(r"# (\[payouts\.\w+\]|\w+ = )", line)
    ]
    raw = tomllib.loads("[payouts]\n" + "\n".join(lines))["payouts"]
    assert {"mollie", "shopify_payments", "bank_account", "since"} <= set(raw)
    documented = PayoutsConfig.model_validate(raw)  # extra keys are refused: a typo fails
    assert documented.mollie is not None and documented.shopify_payments is not None
    assert documented.mollie.api_url == "https://api.mollie.com"


def test_enabled_is_read_whole_and_the_key_is_a_scrubbed_secret(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MOLLIE), environ={**ENV, "MOLLIE_API_KEY": MOLLIE_KEY})
    payouts = config.payouts
    assert payouts.enabled and payouts.bank_account == "Bankrekening"
    assert payouts.since == date(2026, 11, 1) and payouts.bank_line_days == 7
    mollie = payouts.providers()["mollie"]
    assert list(payouts.providers()) == ["mollie"]
    assert mollie.financial_account == "Mollie"
    assert mollie.fee_ledger == "410000000000008060"  # an id written as a number
    assert mollie.fees_payable_ledger == "Mollie fees payable"
    assert mollie.chargeback_ledger == "" and mollie.fee_vat_ledger == ""
    assert payouts.mollie is not None and payouts.mollie.api_url == "https://api.mollie.com"
    assert config.secrets.mollie_api_key.get_secret_value() == MOLLIE_KEY
    assert MOLLIE_KEY in config.secrets.values()
    assert MOLLIE_KEY not in repr(config.secrets) + str(config.secrets)
    said = redact(
        f"GET /v2/settlements Authorization: Bearer {MOLLIE_KEY}", config.secrets.values()
    )
    assert MOLLIE_KEY not in said


def test_the_key_from_a_file_and_missing_with_the_others(tmp_path: Path) -> None:
    key_file = tmp_path / "mollie.txt"
    key_file.write_text(MOLLIE_KEY + "\n", encoding="utf-8")
    config = load_config(
        write(tmp_path, MOLLIE), environ={**ENV, "MOLLIE_API_KEY_FILE": str(key_file)}
    )
    assert config.secrets.mollie_api_key.get_secret_value() == MOLLIE_KEY
    with pytest.raises(ConfigError, match=r"not set: MONEYBIRD_TOKEN, MOLLIE_API_KEY\."):
        load_config(
            write(tmp_path, MOLLIE),
            environ={k: v for k, v in ENV.items() if k != "MONEYBIRD_TOKEN"},
        )
    # Checking the files alone needs none.
    assert load_config(write(tmp_path, MOLLIE), environ={}, require_secrets=False).payouts.enabled


def line_of(path: Path, text: str) -> int:
    return path.read_text(encoding="utf-8").splitlines().index(text) + 1


@pytest.mark.parametrize(
    ("edit", "key", "line", "says"),
    [
        (("fee_ledger = 410000000000008060\n", ""), "payouts.mollie.fee_ledger",
         "[payouts.mollie]", "name the ledger the provider's fees are booked on"),
        (('financial_account = "Mollie"\n', 'financial_account = ""\n'),
         "payouts.mollie.financial_account", 'financial_account = ""',
         "name the provider's financial account in Moneybird"),
        (('transfer_ledger = "Betalingen onderweg"\n', ""), "payouts.mollie.transfer_ledger",
         "[payouts.mollie]", "name the ledger a payout and its bank line are linked to"),
        (('bank_account = "Bankrekening"\n', ""), "payouts.bank_account", "[payouts]",
         "name the Moneybird financial account the payouts arrive on"),
    ],
)  # fmt: skip
def test_a_missing_setting_is_named_where_and_what_to_set(
    tmp_path: Path, edit: tuple[str, str], key: str, line: str, says: str
) -> None:
    path = write(tmp_path, MOLLIE.replace(*edit))
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={**ENV, "MOLLIE_API_KEY": MOLLIE_KEY})
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"{path}:{line_of(path, line)}: {key} is not set: {says}")
    assert "connector mappings suggest" in message
    # `mappings suggest` loads the setup in progress it is to fill in.
    loaded = load_config(
        path, environ={**ENV, "MOLLIE_API_KEY": MOLLIE_KEY}, mappings_optional=True
    )
    assert loaded.payouts.enabled


def test_enabled_without_a_provider_and_shopify_payments_for_woocommerce(tmp_path: Path) -> None:
    bare = '[payouts]\nenabled = true\nbank_account = "Bankrekening"\n'
    with pytest.raises(ConfigError, match=r"add \[payouts.mollie\] or \[payouts.shopify_pay"):
        load_config(write(tmp_path, bare), environ=ENV)
    shopify = MOLLIE.replace("[payouts.mollie]", "[payouts.shopify_payments]")
    path = write(tmp_path, shopify)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=ENV)
    assert str(info.value) == (
        f"{path}:{line_of(path, '[payouts.shopify_payments]')}: [payouts.shopify_payments] "
        'needs a Shopify shop ([shop] platform = "shopify"); remove it for this shop'
    )
    # A Shopify shop takes it, and asks no Mollie key for it.
    shop = BASE.replace('"woocommerce"', '"shopify"').replace("shop.example.nl", "x.myshopify.com")
    path.write_text(shop + shopify, encoding="utf-8")
    config = load_config(path, environ={"MONEYBIRD_TOKEN": "t", "SHOPIFY_ACCESS_TOKEN": "shpat_a"})
    assert list(config.payouts.providers()) == ["shopify_payments"]
    assert config.secrets.mollie_api_key.get_secret_value() == ""


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("bank_line_days = 7", "bank_line_days = 0"), "payouts.bank_line_days"),
        (('since = "2026-11-01"', 'since = "1 November"'), "payouts.since"),
        (("[payouts.mollie]", '[payouts.mollie]\napi_url = "api.mollie.com"'),
         "payouts.mollie.api_url: Value error, must start with http"),
        (("[payouts.mollie]", "[payouts.mollie]\nfee_legder = 1"),
         "payouts.mollie.fee_legder: Extra inputs"),
        (("[payouts.mollie]", "[payouts.shopify_payments]\napi_url = \"https://x\""),
         "payouts.shopify_payments.api_url: Extra inputs"),
    ],
)  # fmt: skip
def test_invalid_values_name_the_key(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(write(tmp_path, MOLLIE.replace(*edit)), environ=ENV)


def test_a_since_written_as_a_toml_date(tmp_path: Path) -> None:
    text = MOLLIE.replace('since = "2026-11-01"', "since = 2026-11-01")
    config = load_config(write(tmp_path, text), environ={**ENV, "MOLLIE_API_KEY": MOLLIE_KEY})
    assert config.payouts.since == date(2026, 11, 1)
