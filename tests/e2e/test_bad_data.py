"""Bad data never stops a pass: an element of the order list that is no order, an order whose
data trips a bug on every pass, and a bug at the pass's own level are each reported, and the
other orders are booked."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.ops.alerts import open_problems
from connector.ops.health import health
from connector.runtime import Runtime
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import OrderState
from tests.conftest import secrets_env

BOOKED = 8  # the demo shop's bookable orders


def test_an_element_without_an_id_is_reported_and_every_other_order_is_booked(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    original = shop._list

    def poisoned(req: Any) -> Any:
        response = original(req)
        if isinstance(response.body, list) and response.body:
            broken = {k: v for k, v in response.body[0].items() if k != "id"}
            broken["number"] = "GHOST"
            response.body = [*response.body, broken, "not even an object"]
        return response

    shop._list = poisoned  # type: ignore[method-assign]
    report = runtime.engine().run_pass()
    assert len(moneybird.invoices) == BOOKED  # the good orders are all booked
    assert report.error is None and len(report.unreadable) == 2
    problems = {p.key: p.message for p in open_problems(runtime.config, runtime.store)}
    assert any("not an order" in m for k, m in problems.items() if k.startswith("shop-data"))
    result = CliRunner().invoke(
        app, ["status", "--config", str(runtime.config.path)], env=secrets_env(shop, moneybird)
    )
    assert "The shop listed something that is not an order" in result.output
    assert "GHOST" in result.output


def test_an_order_that_trips_the_same_bug_every_pass_is_parked_after_three(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    engine = runtime.engine()
    real = engine.shop.to_order

    def buggy(payload: dict[str, Any]) -> Any:
        if payload.get("id") == 1003:
            raise ZeroDivisionError("division by zero")
        return real(payload)

    monkeypatch.setattr(engine.shop, "to_order", buggy)
    for _ in range(3):
        engine.run_pass()
    record = runtime.store.order("woocommerce:1003")
    assert record is not None and record.state == OrderState.PARKED
    assert "ZeroDivisionError" in (record.park_reason or "")
    assert "the same on 3 passes" in (record.park_reason or "")
    assert len(moneybird.invoices) == BOOKED - 1  # the others were booked on the first pass


def test_a_bug_at_the_pass_level_is_an_error_run_alerted_and_unhealthy(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = runtime.engine()

    def broken() -> Any:
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(runtime.store, "orders_with_open_refunds", broken)
    report = engine.run_pass()  # never raised out of the pass
    assert report.error == "internal error: RuntimeError: something nobody expected"
    [run] = runtime.store.runs(1)
    assert run.outcome == "error" and "RuntimeError" in (run.error or "")
    ok, why = health(runtime.store, runtime.config.sync.interval_minutes)
    assert not ok and "RuntimeError" in why
    problems = {p.key: p.message for p in open_problems(runtime.config, runtime.store)}
    assert "RuntimeError" in problems["pass"]
