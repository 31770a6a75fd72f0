"""What a WooCommerce shop supports is concluded only from what the shop says about itself. A
probe that got no such answer (the shop down, a 503 from a proxy) concludes nothing: that pass
reads every order and filters them here, nothing is remembered, and the next pass asks again."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from connector.runtime import Runtime
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import Meta

FALSE_CLAIM = "does not support modified_after"


def probes(shop: WooCommerceSandbox) -> int:
    return sum(1 for method, path, _q in shop.requests if method == "OPTIONS")


def order_lists(shop: WooCommerceSandbox) -> list[dict[str, str]]:
    return [q for m, p, q in shop.requests if m == "GET" and p.endswith("/orders")]


def remembered(runtime: Runtime) -> dict[str, bool]:
    kept = json.loads(runtime.store.get_meta(Meta.SHOP_CAPABILITIES) or "{}")
    return dict(kept.get("found") or {})


def test_a_probe_answered_503_concludes_nothing_and_is_asked_again(
    runtime: Runtime, shop: WooCommerceSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    shop.failing[("OPTIONS", "orders")] = 503
    since = datetime.now(UTC) - timedelta(days=30)
    orders = [o for page in runtime.shop.changed_orders(since).pages for o in page]
    assert len(orders) == 9  # this pass still sees every order: read in full, filtered here
    assert "modified_after" not in order_lists(shop)[-1]
    assert "modified_after" not in runtime.shop.capabilities()
    assert FALSE_CLAIM not in caplog.text
    assert "could not ask the shop whether it filters orders by modification date" in caplog.text
    # The shop answers again: asked again, and now it is known.
    del shop.failing[("OPTIONS", "orders")]
    before = probes(shop)
    orders = [o for page in runtime.shop.changed_orders(since).pages for o in page]
    assert len(orders) == 9
    assert probes(shop) == before + 1
    assert runtime.shop.capabilities()["modified_after"] is True
    assert "modified_after" in order_lists(shop)[-1]


def test_a_pass_against_a_shop_that_is_down_remembers_no_capability(
    runtime: Runtime, shop: WooCommerceSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    shop.down_status = 503
    report = runtime.engine().run_pass()
    assert report.error and "503" in report.error
    assert FALSE_CLAIM not in caplog.text
    assert "modified_after" not in remembered(runtime)
    shop.down_status = None
    report = runtime.engine().run_pass()
    assert report.error is None and report.booked == 8
    assert remembered(runtime)["modified_after"] is True


def test_a_pass_whose_probe_alone_failed_books_and_leaves_the_question_open(
    runtime: Runtime, shop: WooCommerceSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    shop.failing[("OPTIONS", "orders")] = 502
    report = runtime.engine().run_pass()
    assert report.error is None and report.booked == 8
    assert FALSE_CLAIM not in caplog.text
    assert "modified_after" not in remembered(runtime)
    del shop.failing[("OPTIONS", "orders")]
    runtime.engine().run_pass()
    assert remembered(runtime)["modified_after"] is True


def test_a_shop_that_says_it_has_no_such_filter_is_believed(
    runtime: Runtime, shop: WooCommerceSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    shop.supports_modified_after = False
    runtime.engine().run_pass()
    assert remembered(runtime)["modified_after"] is False
    assert FALSE_CLAIM in caplog.text
