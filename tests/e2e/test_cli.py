"""The command line as a shop owner uses it: exit codes, status, retry, preview."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.woocommerce import WooCommerceSandbox

runner = CliRunner()


def test_sync_then_status_and_json(config_path: Path, moneybird: MoneybirdSandbox) -> None:
    result = runner.invoke(app, ["sync", "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    assert "8 booked, 1 parked" in result.output
    status = runner.invoke(app, ["status", "--config", str(config_path), "--json"])
    data = json.loads(status.stdout)
    assert data["counts"] == {"paid": 8, "parked": 1}
    assert data["attention"][0]["order"] == "1006"
    assert "no tax rule maps shop rate 3" in data["attention"][0]["reason"]
    assert data["runs"][0]["outcome"] == "ok" and data["runs"][0]["booked"] == 8
    table = runner.invoke(app, ["status", "--config", str(config_path)])
    assert "Orders needing attention" in table.output and "1006" in table.output
    for secret in (moneybird.token, "cs_sandbox_secret", "ck_sandbox_key"):
        assert secret not in result.output + status.output + table.output


def test_retry_requeues_a_parked_order(config_path: Path) -> None:
    runner.invoke(app, ["sync", "--config", str(config_path)])
    result = runner.invoke(app, ["retry", "1006", "--config", str(config_path)])
    assert result.exit_code == 0 and "1 order(s) queued" in result.output
    again = runner.invoke(app, ["retry", "1001", "--config", str(config_path)])
    assert again.exit_code == 1  # paid orders are not re-queued


def test_preview_shows_the_invoice_and_sends_nothing(
    config_path: Path, moneybird: MoneybirdSandbox
) -> None:
    result = runner.invoke(app, ["preview", "1003", "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    assert "Melkopschuimer" in result.output and "-6.90" in result.output
    assert "total 68.04 (shop: 68.04)" in result.output
    # Nothing written: reads only (the synchronization POSTs are bulk reads).
    assert moneybird.invoices == {}
    assert all(m == "GET" or "synchronization" in p for m, p, *_ in moneybird.received)
    parked = runner.invoke(app, ["preview", "1006", "--config", str(config_path)])
    assert "A pass would park it: order 1006: no tax rule maps shop rate 3" in parked.output


def test_configuration_error_exits_2_with_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[shop]\nplatform = "magento"\nurl = "https://x"\n')
    result = runner.invoke(app, ["sync", "--config", str(path)])
    assert result.exit_code == 2
    assert "shop.platform" in result.output


def test_a_setting_of_the_other_platform_is_named_and_booking_goes_on(
    config_path: Path, moneybird: MoneybirdSandbox
) -> None:
    """A WooCommerce config that still carries a Shopify key (from before [shop] was split by
    platform) books as before, and says at its line which key it ignores."""
    text = config_path.read_text()
    config_path.write_text(
        text.replace(
            "timeout_seconds = 10\n", 'timeout_seconds = 10\nfulfillment = "fulfilled"\n', 1
        )
    )
    result = runner.invoke(app, ["sync", "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    assert "8 booked, 1 parked" in result.output
    assert len(moneybird.invoices) == 8
    assert f"{config_path}:5: shop.fulfillment is a Shopify setting" in " ".join(
        result.output.split()
    )
    check = runner.invoke(app, ["config", "check", "--offline", "--config", str(config_path)])
    assert check.exit_code == 0, check.output
    assert "shop.fulfillment is a Shopify setting" in " ".join(check.output.split())


def test_wrong_token_exits_3(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, moneybird: MoneybirdSandbox
) -> None:
    monkeypatch.setenv("MONEYBIRD_TOKEN", "expired-token-xyz")
    result = runner.invoke(app, ["sync", "--config", str(config_path)])
    assert result.exit_code == 3
    assert "Moneybird refused the token" in result.output
    assert "expired-token-xyz" not in result.output
    assert moneybird.invoices == {}


def test_status_and_preview_include_refunds(
    config_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    runner.invoke(app, ["sync", "--config", str(config_path)])
    moka = shop.refund(1001, items=[(10012, 1, "28.88", "6.07")])
    waiting = shop.refund(1006, "5.00")  # 1006 is parked: the refund is not booked
    # Preview before the pass: the credit the moka refund would become, against 1001's invoice.
    preview = runner.invoke(app, ["preview", "1001", "--config", str(config_path)])
    assert preview.exit_code == 0, preview.output
    assert f"reference WC-1001-R{moka['id']}" in preview.output
    assert "-34.95" in preview.output and "Refund payment -34.95" in preview.output
    runner.invoke(app, ["sync", "--config", str(config_path)])
    status = runner.invoke(app, ["status", "--config", str(config_path), "--json"])
    data = json.loads(status.stdout)
    assert data["refund_counts"] == {"paid": 1, "waiting": 1}
    [row] = data["refunds_attention"]
    assert (row["order"], row["refund"], row["state"]) == ("1006", str(waiting["id"]), "waiting")
    assert "order 1006 is not booked" in row["reason"]
    table = runner.invoke(app, ["status", "--config", str(config_path)])
    assert (
        "Refunds needing attention" in table.output and "Refunds: 1 waiting, 1 paid" in table.output
    )
    again = runner.invoke(app, ["preview", "1001", "--config", str(config_path)])
    assert f"Refund {moka['id']}: already booked (paid)" in again.output


def test_status_keeps_section_names_in_its_advice(
    config_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    from connector.sandbox.seed import JEROEN, Item, woo_order

    gift = woo_order(1070, JEROEN, [Item("Cadeaubon", "GIFT-25", 1, "25.00", 2)], "0",
                     shop.now())  # fmt: skip
    line = gift["line_items"][0]
    line.update(total="25.00", subtotal="25.00", total_tax="0.00", subtotal_tax="0.00", taxes=[])
    gift.update(total="25.00", total_tax="0.00", cart_tax="0.00", tax_lines=[])  # no VAT
    shop.put_order(gift)
    config_path.write_text(config_path.read_text().replace(
        "[sync]\n", '[gift_cards]\nskus = ["GIFT-*"]\n\n[sync]\n'))  # fmt: skip
    runner.invoke(app, ["sync", "--config", str(config_path)])
    wide = CliRunner(env={**runner.env, "COLUMNS": "400"})  # one table row, one line
    result = wide.invoke(app, ["status", "--config", str(config_path)])
    assert "[gift_cards] sale = 'liability'" in result.output


def test_a_state_folder_that_cannot_be_made_is_one_line_and_exit_2(
    tmp_path: Path, config_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    config_path.write_text(
        config_path.read_text().replace('path = "state.db"', f'path = "{blocker}/state.db"')
    )
    for command in (["sync"], ["run"], ["import", "--since", "2026-01-01"]):
        result = runner.invoke(app, [*command, "--config", str(config_path)])
        assert result.exit_code == 2, (command, result.output)
        assert "Traceback" not in result.output and "cannot create state folder" in result.output
        assert "mount a volume at /data" in result.output


def test_the_container_keeps_the_state_on_its_volume(
    tmp_path: Path, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connector.config import load_config

    monkeypatch.setenv("CONNECTOR_STATE_DIR", str(tmp_path / "volume"))
    config = load_config(config_path)  # its [state] path is the relative "state.db"
    assert config.state_path == tmp_path / "volume" / "state.db"
    absolute = tmp_path / "elsewhere" / "my.db"
    config_path.write_text(
        config_path.read_text().replace('path = "state.db"', f'path = "{absolute}"')
    )
    assert load_config(config_path).state_path == absolute  # named on purpose: as given


@pytest.mark.parametrize(("shop", "secrets"), [
    ("woocommerce", {"WOOCOMMERCE_CONSUMER_KEY": "ck", "WOOCOMMERCE_CONSUMER_SECRET": "cs"}),
    ("shopify", {"SHOPIFY_ACCESS_TOKEN": "shpat_x"}),
])  # fmt: skip
def test_init_writes_a_starter_that_loads_and_never_overwrites(
    tmp_path: Path, shop: str, secrets: dict[str, str]
) -> None:
    from connector.config import load_config
    from connector.sync.settings import booking_settings

    folder = tmp_path / "mine"
    result = runner.invoke(app, ["init", str(folder), "--shop", shop])
    assert result.exit_code == 0, result.output
    assert "connector mappings suggest" in result.output
    config = load_config(folder / "config.toml", environ={"MONEYBIRD_TOKEN": "t", **secrets})
    assert config.shop.platform == shop
    expected = "SH-{number}" if shop == "shopify" else "WC-{number}"
    assert booking_settings(config).reference_template == expected
    text = (folder / "config.toml").read_text()
    if shop == "shopify":  # its comments speak of Shopify, not of WooCommerce's statuses
        assert '# reference_template = "SH-{number}"' in text and "WC-" not in text
        assert "statuses =" not in text
    (folder / "mappings" / "tax.toml").write_text("# mine\n")
    again = runner.invoke(app, ["init", str(folder), "--shop", shop])
    assert again.exit_code == 1 and "already there" in again.output
    assert (folder / "mappings" / "tax.toml").read_text() == "# mine\n"  # untouched


def test_an_idle_sync_asks_the_shop_two_things_and_the_capabilities_are_remembered(
    config_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """What the shop supports (modified_after, the shop-wide refunds list) is found once and
    kept in the state: an idle `connector sync` after that reads the changed orders and the
    recent refunds, nothing else (it used to probe both again: four requests)."""
    assert runner.invoke(app, ["sync", "--config", str(config_path)]).exit_code == 0
    first = [(m, p.rsplit("/", 1)[-1]) for m, p, _q in shop.requests]
    assert ("OPTIONS", "orders") in first  # found out once
    shop.requests.clear()
    assert runner.invoke(app, ["sync", "--config", str(config_path)]).exit_code == 0
    assert [(m, p.rsplit("/", 1)[-1]) for m, p, _q in shop.requests] == [
        ("GET", "orders"), ("GET", "refunds")
    ]  # fmt: skip


def test_inits_next_steps_work_as_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The steps init prints are followed literally: into the folder (a name with a space),
    then the commands without --config, as the README has them."""
    import shlex

    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["init", "my shop"])
    assert result.exit_code == 0, result.output
    steps = result.output.split("Next:\n", 1)[1].splitlines()
    assert steps[0].strip() == "1. cd 'my shop'"
    monkeypatch.chdir(tmp_path / shlex.split(steps[0].split(". ", 1)[1])[1])
    assert "  5. connector config check" in steps
    assert "--config" not in result.output
    check = runner.invoke(app, ["config", "check", "--offline"])
    assert check.exit_code == 0, check.output
    assert "are valid" in check.output
    same = runner.invoke(app, ["init", "--shop", "shopify"], env={})
    assert same.exit_code == 1  # already there; and from inside, no `cd` step is printed
    monkeypatch.chdir(tmp_path)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    inside = runner.invoke(app, ["init"])
    assert inside.exit_code == 0 and "cd " not in inside.output.split("Next:\n", 1)[1]
