"""`config check` and `mappings suggest` against the sandboxes, as a new user would use them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import (
    MB_RATE_0,
    MB_RATE_9,
    MB_RATE_21,
    MB_RATE_21_PURCHASE,
    MB_RATE_DE_OSS,
    MB_RATE_OLD,
)
from connector.sandbox.woocommerce import WooCommerceSandbox
from tests.conftest import ROOT, secrets_env, write_config


def own_tables(tmp_path: Path, shop: WooCommerceSandbox, mb: MoneybirdSandbox) -> Path:
    """A config whose tables live in tmp_path/mappings (copied from the defaults if asked)."""
    path = write_config(tmp_path, shop.url, mb.api_url, mb.administration_id)
    text = path.read_text().replace(str(ROOT / "mappings"), str(tmp_path / "mappings"))
    path.write_text(text)
    (tmp_path / "mappings").mkdir(exist_ok=True)
    return path


def copy_defaults(tmp_path: Path) -> None:
    for name in ("tax.toml", "ledger.toml", "payment.toml"):
        (tmp_path / "mappings" / name).write_text((ROOT / "mappings" / name).read_text())


@pytest.fixture
def cli(shop: WooCommerceSandbox, moneybird: MoneybirdSandbox) -> CliRunner:
    return CliRunner(env=secrets_env(shop, moneybird))


def test_new_user_suggests_reviews_and_passes_config_check(
    tmp_path: Path, cli: CliRunner, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    config = own_tables(tmp_path, shop, moneybird)
    before = cli.invoke(app, ["config", "check", "--config", str(config)])
    assert before.exit_code == 2 and "tax.toml: file not found" in before.output
    preview = cli.invoke(app, ["mappings", "suggest", "--config", str(config)])
    assert preview.exit_code == 0, preview.output
    assert "+++" in preview.output and not (tmp_path / "mappings" / "tax.toml").exists()
    written = cli.invoke(app, ["mappings", "suggest", "--config", str(config), "--write"])
    assert written.exit_code == 0, written.output
    tax = (tmp_path / "mappings" / "tax.toml").read_text()
    assert f'tax_rate_id = "{MB_RATE_21}"' in tax and f'tax_rate_id = "{MB_RATE_9}"' in tax
    assert "shop rate 1 'BTW hoog' (NL 21%) -> Moneybird '21% btw'" in tax  # says why
    assert MB_RATE_21_PURCHASE not in tax and MB_RATE_OLD not in tax
    # The German rate has a Moneybird OSS rate: proposed as a guarded OSS rule.
    assert "shop rate 3 'MwSt' (DE 19%) -> Moneybird '19% Duitsland (OSS)'" in tax
    assert 'treatment = "oss"' in tax and "applies only with [vat] oss = true" in tax
    payment = (tmp_path / "mappings" / "payment.toml").read_text()
    assert 'method = "mollie_wc_gateway_*"' in payment
    check = cli.invoke(app, ["config", "check", "--config", str(config)])
    assert check.exit_code == 0, check.output
    assert "an OSS rule applies only with [vat] oss = true" in check.output.replace("\n", "")
    # Warnings that orders will park (German businesses: no rule) are never followed by
    # "All is well.".
    assert "shop tax rate 3 'MwSt' (DE, 19%): no tax rule maps it for businesses" in check.output
    assert "All is well." not in check.output
    assert check.stdout.rstrip().splitlines()[-1] == (
        "No errors, but 2 warning(s) above to deal with."
    )
    # With an empty ledger table, 9% goods were given the low-rate revenue account.
    ledger = (tmp_path / "mappings" / "ledger.toml").read_text()
    assert (
        "products at 9% -> 'Omzet laag tarief' (revenue account named like it)\n"
        'kind = "product"\npercentage = "9"\nledger_account_id = "410000000000008010"' in ledger
    )
    assert "product lines -> 'Omzet hoog tarief'" in ledger
    # And the connector books with the suggested tables.
    sync = cli.invoke(app, ["sync", "--config", str(config)])
    assert "8 booked, 1 parked" in sync.output
    again = cli.invoke(app, ["mappings", "suggest", "--config", str(config)])
    assert "already cover everything" in again.output


def test_suggest_keeps_the_admins_comments_and_never_picks_a_purchase_or_inactive_rate(
    tmp_path: Path, cli: CliRunner, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    config = own_tables(tmp_path, shop, moneybird)
    copy_defaults(tmp_path)
    tax_path = tmp_path / "mappings" / "tax.toml"
    mine = "# Afgestemd met onze boekhouder, 3 maart.\n" + tax_path.read_text()
    mine = mine.replace('tax_rate_id = "400000000000000009"', f'tax_rate_id = "{MB_RATE_OLD}"', 1)
    tax_path.write_text(mine)
    # Besides the good OSS rate for Germany (400000000000000190, in the sandbox's seed), the
    # bookkeeper has an inactive one and a purchase one, listed before it.
    base = {**moneybird.tax_rates[0], "percentage": "19.0", "country": "DE"}
    assert any(r["id"] == "400000000000000190" for r in moneybird.tax_rates)
    moneybird.tax_rates[:0] = [
        {**base, "id": "400000000000000191", "name": "19% DE oud", "active": False},
        {**base, "id": "400000000000000192", "name": "19% DE", "tax_rate_type": "purchase_invoice"},
    ]
    result = cli.invoke(app, ["mappings", "suggest", "--config", str(config), "--write"])
    assert result.exit_code == 0, result.output
    new = tax_path.read_text()
    old_lines, new_lines = mine.splitlines(), new.splitlines()
    # Every line the admin wrote is still there, in order; only a CHECK remark was added to one.
    assert len(new_lines) > len(old_lines)
    for before, after in zip(old_lines, new_lines, strict=False):
        assert after == before or (after.startswith(before) and "# CHECK:" in after)
    flagged = [ln for ln in new_lines if "# CHECK:" in ln]
    assert flagged == [
        f"tax_rate_id = \"{MB_RATE_OLD}\" # CHECK: '6% btw (oud)' is inactive in Moneybird"
    ]
    assert 'tax_rate_id = "400000000000000190"' in new
    assert "400000000000000191" not in new and "400000000000000192" not in new


@pytest.mark.parametrize(
    ("rate_id", "expected"),
    [
        (MB_RATE_21_PURCHASE, "is '21% btw', a purchase_invoice rate"),
        (MB_RATE_OLD, "('6% btw (oud)') is inactive"),
        ("400000000000999999", "does not exist in the administration"),
    ],
)
def test_config_check_refuses_unusable_tax_rates_by_name_and_line(
    tmp_path: Path, cli: CliRunner, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox,
    rate_id: str, expected: str,
) -> None:  # fmt: skip
    config = own_tables(tmp_path, shop, moneybird)
    copy_defaults(tmp_path)
    tax_path = tmp_path / "mappings" / "tax.toml"
    tax_path.write_text(tax_path.read_text().replace(f'"{MB_RATE_21}"', f'"{rate_id}"'))
    line = next(n for n, ln in enumerate(tax_path.read_text().splitlines(), 1) if rate_id in ln)
    result = cli.invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 2
    assert f"{tax_path}:{line}" in result.output.replace("\n", "")
    assert expected in result.output.replace("\n", "")


def test_config_check_reports_missing_ids_and_rules_that_can_never_apply(
    tmp_path: Path, cli: CliRunner, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    config = own_tables(tmp_path, shop, moneybird)
    copy_defaults(tmp_path)
    ledger = tmp_path / "mappings" / "ledger.toml"
    ledger.write_text(
        ledger.read_text() + '\n[[rule]]\nkind = "shipping"\nledger_account_id = "999"\n'
    )
    payment = tmp_path / "mappings" / "payment.toml"
    payment.write_text('[[rule]]\nmethod = "*"\nfinancial_account_id = "420000000000000002"\n\n'
                       '[[rule]]\nmethod = "paypal"\nfinancial_account_id = "1234"\n')  # fmt: skip
    result = cli.invoke(app, ["config", "check", "--config", str(config)])
    out = result.output.replace("\n", "")
    assert result.exit_code == 2
    shadow = f"{ledger}:"
    assert shadow in out and "rule 7 duplicates rule 4" in out
    assert f"{payment}:5: rule 2 is shadowed by rule 1 ({payment}:1)" in out
    assert f"{payment}:7: financial_account_id 1234 does not exist" in out
    assert "ledger_account_id 999 does not exist" in out


def test_config_check_explains_a_typo_with_file_line_and_key(
    tmp_path: Path, cli: CliRunner, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    config = own_tables(tmp_path, shop, moneybird)
    copy_defaults(tmp_path)
    tax = tmp_path / "mappings" / "tax.toml"
    tax.write_text(tax.read_text().replace("shop_rate_id = 2", "shop_rateid = 2"))
    result = cli.invoke(app, ["config", "check", "--config", str(config), "--offline"])
    assert result.exit_code == 2
    assert f"{tax}:40: rule.1.shop_rateid: Extra inputs are not permitted" in result.output.replace(
        "\n", ""
    )


def test_config_check_with_wrong_credentials(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    config = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    env = {
        **secrets_env(shop, moneybird),
        "MONEYBIRD_TOKEN": "bad",
        "WOOCOMMERCE_CONSUMER_SECRET": "cs_bad",
    }
    result = CliRunner(env=env).invoke(app, ["config", "check", "--config", str(config)])
    out = result.output.replace("\n", "")
    assert result.exit_code == 2
    assert "Moneybird refused the token (401)" in out
    assert "WooCommerce refused the API keys (401" in out
    assert "cs_bad" not in out


def test_config_check_names_an_unusable_fixed_refund_rate(
    tmp_path: Path, cli: CliRunner, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    config = own_tables(tmp_path, shop, moneybird)
    copy_defaults(tmp_path)
    config.write_text(
        config.read_text().replace(
            "[mappings]",
            f'[refunds]\namount_only = "fixed"\nledger_account_id = "777"\n'
            f'tax_rate_id = "{MB_RATE_21_PURCHASE}"\n\n[mappings]',
        )
    )
    result = cli.invoke(app, ["config", "check", "--config", str(config)])
    out = result.output.replace("\n", "")
    assert result.exit_code == 2
    assert "ledger_account_id 777 does not exist" in out
    assert f"tax_rate_id {MB_RATE_21_PURCHASE} is not an active sales tax rate" in out
    assert f"{config}:" in out  # with the line in config.toml


def test_an_offline_check_says_what_it_did_not_check(
    tmp_path: Path, cli: CliRunner, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    config = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    result = CliRunner().invoke(app, ["config", "check", "--config", str(config), "--offline"])
    assert result.exit_code == 0, result.output
    out = result.output.replace("\n", " ")
    assert "unchecked  Moneybird and the shop: not contacted (--offline)" in out
    assert result.stdout.rstrip().splitlines()[-1] == (
        "No errors, but not checked: Moneybird and the shop."
    )


def test_all_is_well_only_when_everything_was_checked_and_nothing_warns(
    tmp_path: Path, cli: CliRunner, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    config = own_tables(tmp_path, shop, moneybird)
    copy_defaults(tmp_path)
    config.write_text(config.read_text().replace("[mappings]", "[vat]\noss = true\n\n[mappings]"))
    tax = tmp_path / "mappings" / "tax.toml"
    tax.write_text(  # the sandbox shop's German rate (3) and its 0% for any country (4)
        f'{tax.read_text()}\n[[rule]]\nshop_rate_id = 3\ntreatment = "oss"\n'
        f'tax_rate_id = "{MB_RATE_DE_OSS}"\n\n[[rule]]\nshop_rate_id = 4\n'
        f'tax_rate_id = "{MB_RATE_0}"\n'
    )
    result = cli.invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output and "unchecked" not in result.output
    assert result.stdout.rstrip().splitlines()[-1] == "All is well."


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (f'tax_rate_id = "{MB_RATE_21_PURCHASE}"', "is not an active sales tax rate"),
        (f'percentage = "21"\ntax_rate_id = "{MB_RATE_9}"', "the rule is for 21% but"),
    ],
)
def test_config_check_names_a_ledger_rule_for_a_rate_no_line_is_booked_at(
    tmp_path: Path, cli: CliRunner, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox,
    rule: str, expected: str,
) -> None:  # fmt: skip
    config = own_tables(tmp_path, shop, moneybird)
    copy_defaults(tmp_path)
    ledger = tmp_path / "mappings" / "ledger.toml"
    text = ledger.read_text()
    ledger.write_text(
        f'[[rule]]\nkind = "product"\n{rule}\nledger_account_id = "410000000000008010"\n\n' + text
    )
    line = 4 if rule.startswith("percentage") else 3
    result = cli.invoke(app, ["config", "check", "--config", str(config)])
    out = result.output.replace("\n", "")
    assert result.exit_code == 2, result.output
    assert f"{ledger}:{line}: " in out and expected in out and "never matches" in out
