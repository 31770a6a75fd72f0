"""`connector preview` says what a pass would do, because it asks the pass's own decision path:
over every order of both demo shops, preview and a real pass agree on book / park / skip and
on the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector.runtime import Runtime
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import OrderState


def what_the_pass_did(runtime: Runtime, order_id: str) -> tuple[str, str]:
    record = runtime.store.order(f"{runtime.shop.name}:{order_id}")
    if record is None:
        return "skip", ""  # never listed by the pass
    if record.state == OrderState.PAID:
        return "book", ""
    if record.state == OrderState.PARKED:
        return "park", record.park_reason or ""
    if record.state in (OrderState.UNPAID, OrderState.BEFORE_START):
        return "skip", record.park_reason or ""
    return record.state, record.last_error or ""


def agree(runtime: Runtime, order_ids: list[str]) -> dict[str, str]:
    engine = runtime.engine()
    said = {}
    for order_id in order_ids:
        payload = runtime.shop.order(order_id)
        assert payload is not None
        said[order_id] = engine.verdict(payload)
    runtime.engine().run_pass()
    outcomes = {}
    for order_id, verdict in said.items():
        action, reason = what_the_pass_did(runtime, order_id)
        assert verdict.action == action, (order_id, verdict, action, reason)
        if action == "park":
            assert verdict.reason == reason, order_id
        if action == "skip" and reason:
            assert reason in verdict.reason, (order_id, verdict.reason, reason)
        if action == "book":
            record = runtime.store.order(f"{runtime.shop.name}:{order_id}")
            assert record is not None and verdict.draft is not None
            assert verdict.draft.reference == record.reference
        outcomes[order_id] = action
    return outcomes


def test_preview_and_a_pass_agree_on_every_woocommerce_demo_order(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    # The demo shop: eight orders that book, 1006 parked for its German VAT, 1008 paid but
    # still processing (the pass does not read that status).
    shop.orders[1008]["date_paid_gmt"] = shop.orders[1008]["date_created_gmt"]
    outcomes = agree(runtime, [str(i) for i in sorted(shop.orders)])
    assert sorted(outcomes.values()).count("book") == 8
    assert outcomes["1006"] == "park" and outcomes["1008"] == "skip"
    again = runtime.engine().verdict(runtime.shop.order("1001"))  # type: ignore[arg-type]
    assert again.action == "skip" and again.reason.startswith("already booked as invoice")


def test_preview_and_a_pass_agree_on_a_closed_period_and_a_first_start(
    tmp_path: Path, runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    moneybird.period_locked_until = "2099-12-31"  # the books are closed
    outcomes = agree(runtime, ["1001", "1002"])
    assert outcomes == {"1001": "park", "1002": "park"}


def test_preview_and_a_pass_agree_on_every_shopify_demo_order(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    from connector.runtime import build
    from tests.e2e.test_shopify import shopify_config

    runtime = build(shopify_config(tmp_path, shopify, moneybird))
    runtime.shop._sleep = lambda _s: None  # type: ignore[attr-defined]
    try:
        ids = [gid.rsplit("/", 1)[-1] for gid in shopify.orders]
        outcomes = agree(runtime, ids)
    finally:
        runtime.close()
    assert sorted(outcomes.values()).count("book") == 5  # as the Shopify sync test books
    assert "park" in outcomes.values() and "skip" in outcomes.values()


def test_preview_with_moneybird_down_says_so_without_speaking_of_a_pass(
    config_path: Path, moneybird: MoneybirdSandbox
) -> None:
    """preview is no pass: a service that is down is named with its cause, and nothing is said
    about a pass stopping or carrying on."""
    from typer.testing import CliRunner

    from connector.cli import app

    moneybird.down_status = 503
    result = CliRunner().invoke(app, ["preview", "1003", "--config", str(config_path)])
    assert result.exit_code == 1, result.output
    host = moneybird.api_url.split("/")[2]
    assert f"Moneybird at {host} is unavailable (it answered 503;" in result.output
    assert "pass" not in result.output.lower(), result.output
