"""What a WooCommerce shop supports is concluded only from what the shop says about itself: its
description of the order list (OPTIONS) or, where OPTIONS is not served as WordPress serves it
(refused by a firewall with 401/403/405, or answered by a CORS rule or a plugin with an empty
204 or 200), the list's own answer to a filter no order passes. A probe that got no such answer
(the shop down, a 503 from a proxy, a rate limit) concludes nothing: that pass reads every
order and filters them here, nothing is remembered, and the next pass asks again."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.errors import AuthError
from connector.runtime import Runtime
from connector.sandbox.http import Request, Response
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import Meta

FALSE_CLAIM = "does not support modified_after"
runner = CliRunner()


def probes(shop: WooCommerceSandbox) -> int:
    return sum(1 for method, path, _q in shop.requests if method == "OPTIONS")


def order_lists(shop: WooCommerceSandbox) -> list[dict[str, str]]:
    return [q for m, p, q in shop.requests if m == "GET" and p.endswith("/orders")]


def options_answered(
    monkeypatch: pytest.MonkeyPatch, shop: WooCommerceSandbox, answer: Response
) -> None:
    """OPTIONS on the order list answered by something in front of WordPress (a CORS
    preflight rule, a plugin) with `answer`; every other request reaches the shop."""
    served = shop._outage

    def outage(req: Request) -> Response | None:
        if req.method == "OPTIONS" and req.path.rstrip("/").endswith("/orders"):
            shop.requests.append((req.method, req.path, dict(req.query)))
            return answer
        return served(req)

    monkeypatch.setattr(shop, "_outage", outage)


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


# --- A shop (or a firewall in front of it) that refuses OPTIONS --------------------------------


def test_options_refused_403_says_nothing_about_the_keys(
    config_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """A firewall answers 403 to OPTIONS while GETs with the same keys work: the pass books,
    never stops on "keys refused"."""
    shop.failing[("OPTIONS", "orders")] = 403
    result = runner.invoke(app, ["sync", "--config", str(config_path)])
    assert "refused the API keys" not in result.output
    assert result.exit_code == 0, result.output
    assert len(moneybird.invoices) == 8


@pytest.mark.parametrize("status", [401, 403, 405])
def test_a_refused_description_is_replaced_by_asking_the_list_itself(
    config_path: Path, shop: WooCommerceSandbox, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Refused for good (401/403/405): the list is asked once for the orders changed after a
    day far ahead; none come, so it filters, and every later pass reads only what changed."""
    shop.failing[("OPTIONS", "orders")] = status
    for _ in range(3):
        result = runner.invoke(app, ["sync", "--config", str(config_path)])
        assert result.exit_code == 0, result.output
    assert probes(shop) == 1  # remembered from the first pass on
    far_ahead = [q for q in order_lists(shop) if q.get("modified_after", "").startswith("2999")]
    assert len(far_ahead) == 1 and far_ahead[0]["per_page"] == "1"
    # The second and third passes asked for what changed since the pass before.
    since = [q.get("modified_after", "") for q in order_lists(shop)[-2:]]
    assert all(s and not s.startswith("2999") for s in since), since
    assert "could not ask the shop" not in caplog.text
    assert FALSE_CLAIM not in caplog.text


def test_a_shop_that_refuses_options_and_ignores_the_filter_is_found_out(
    runtime: Runtime, shop: WooCommerceSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """Asked for the orders changed after a day far ahead, an old shop answers its orders:
    it ignores the filter, and every pass reads all orders (filtered here)."""
    shop.supports_modified_after = False  # the filter is ignored, as before WooCommerce 5.8
    shop.failing[("OPTIONS", "orders")] = 405
    report = runtime.engine().run_pass()
    assert report.error is None and report.booked == 8
    assert remembered(runtime)["modified_after"] is False
    assert FALSE_CLAIM in caplog.text
    since = datetime.now(UTC) - timedelta(days=30)
    orders = [o for page in runtime.shop.changed_orders(since).pages for o in page]
    assert len(orders) == 9  # all read, filtered here
    assert "modified_after" not in order_lists(shop)[-1]


def test_an_empty_shop_that_refuses_options_concludes_nothing(
    runtime: Runtime, shop: WooCommerceSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """No order at all: the list cannot tell whether it filters; asked again next time."""
    shop.orders.clear()
    shop.failing[("OPTIONS", "orders")] = 403
    report = runtime.engine().run_pass()
    assert report.error is None and report.booked == 0
    assert "modified_after" not in remembered(runtime)
    assert "has no order to tell by" in caplog.text


# --- OPTIONS answered, but not with a description (a CORS rule, a plugin) ------------------------

NO_DESCRIPTION = {
    # nginx `if ($request_method = OPTIONS) { return 204; }`, for browsers' CORS preflight
    "cors-204": Response(204, raw=b"", content_type="text/plain"),
    # a plugin answering every OPTIONS with an empty page
    "empty-200": Response(200, raw=b"", content_type="text/html; charset=UTF-8"),
    "page-200": Response(200, raw=b"<html><body></body></html>", content_type="text/html"),
    "json-200": Response(200, {"ok": True}),
}


@pytest.mark.parametrize("answer", NO_DESCRIPTION.values(), ids=NO_DESCRIPTION.keys())
def test_options_answered_without_a_description_asks_the_list_itself(
    config_path: Path,
    shop: WooCommerceSandbox,
    moneybird: MoneybirdSandbox,
    answer: Response,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """OPTIONS is answered, but by no description of the order list: the list is asked once for
    the orders changed after a day far ahead; none come, so it filters, and every later pass
    reads only what changed, without a warning each time."""
    options_answered(monkeypatch, shop, answer)
    for _ in range(3):
        result = runner.invoke(app, ["sync", "--config", str(config_path)])
        assert result.exit_code == 0, result.output
    assert len(moneybird.invoices) == 8
    assert probes(shop) == 1  # remembered from the first pass on
    far_ahead = [q for q in order_lists(shop) if q.get("modified_after", "").startswith("2999")]
    assert len(far_ahead) == 1 and far_ahead[0]["per_page"] == "1"
    since = [q.get("modified_after", "") for q in order_lists(shop)[-2:]]
    assert all(s and not s.startswith("2999") for s in since), since
    assert "could not ask the shop" not in caplog.text
    assert FALSE_CLAIM not in caplog.text


@pytest.mark.parametrize("answer", NO_DESCRIPTION.values(), ids=NO_DESCRIPTION.keys())
def test_options_answered_without_a_description_by_an_old_shop_finds_it_out(
    runtime: Runtime, shop: WooCommerceSandbox, answer: Response, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same answer from a shop whose list ignores the filter: its orders come back for a
    day far ahead, so every pass reads them all (filtered here)."""
    shop.supports_modified_after = False
    options_answered(monkeypatch, shop, answer)
    report = runtime.engine().run_pass()
    assert report.error is None and report.booked == 8
    assert remembered(runtime)["modified_after"] is False


@pytest.mark.parametrize("status", [408, 429])
def test_options_timed_out_or_rate_limited_concludes_nothing(
    runtime: Runtime, shop: WooCommerceSandbox, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A timeout or a rate limit passes: nothing is concluded, nor is the list asked in its
    place; the next pass asks again."""
    shop.failing[("OPTIONS", "orders")] = status
    report = runtime.engine().run_pass()
    assert report.error is None and report.booked == 8
    assert "modified_after" not in remembered(runtime)
    assert not [q for q in order_lists(shop) if q.get("modified_after", "").startswith("2999")]
    assert "could not ask the shop" in caplog.text
    del shop.failing[("OPTIONS", "orders")]
    runtime.engine().run_pass()
    assert remembered(runtime)["modified_after"] is True


def test_keys_refused_by_the_list_too_are_refused(
    runtime: Runtime, shop: WooCommerceSandbox
) -> None:
    """OPTIONS and GET both refused (401): the keys are wrong, and the pass says so."""
    shop.consumer_secret = "cs_other"
    with pytest.raises(AuthError, match="refused the API keys"):
        runtime.shop.changed_orders(None).orders  # noqa: B018
