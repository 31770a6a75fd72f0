"""The dashboard in a real browser (Debian's headless Chromium, driven by selenium), over the
state of a month of demo orders booked into the sandbox Moneybird: each page shows the
expected orders, reasons and figures, and Retry works with the token and only with it.

Hand-worked figures (see test_reconcile.py): order 1001 holds 2.14 VAT at 9% and 7.11 at
21% (66.84 in all); October's VAT is 33.05 at 9% and 26.44 at 21% after the moka pot's
refund (-6.07). Order 1006 is parked: its German 19% rate is not mapped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import load_config
from connector.dashboard.app import Source, create_app
from connector.dashboard.live import Live
from connector.dashboard.server import DashboardServer
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import demo_orders, seed_shop
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import OrderState, Store
from tests.conftest import secrets_env, write_config

runner = CliRunner()
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
TOKEN = "dashboard-token-for-tests"
SHOTS = (
    Path(os.environ.get("DASHBOARD_SCREENSHOTS", ""))
    if os.environ.get("DASHBOARD_SCREENSHOTS")
    else None
)


def _browser_or_skip() -> None:
    if shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER):
        return
    if os.environ.get("BROWSER_REQUIRED"):
        pytest.fail(
            f"{CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)"
        )
    pytest.skip("no Chromium here (BROWSER_REQUIRED=1 makes this a failure, as in .ci/run)")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1200,1400", f"--user-data-dir={tmp_path / 'chromium'}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.implicitly_wait(5)  # an element not there yet is waited for, a little
    yield driver
    driver.quit()


@pytest.fixture
def october_books(
    tmp_path: Path, moneybird: MoneybirdSandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """October booked and reconciled, the configuration checked: a month of the demo shop."""
    woo = WooCommerceSandbox()
    seed_shop(woo, demo_orders(datetime(2026, 10, 5, 9, tzinfo=UTC)))
    woo.start()
    try:
        for name, value in secrets_env(woo, moneybird).items():
            monkeypatch.setenv(name, value)
        path = write_config(tmp_path, woo.url, moneybird.api_url, moneybird.administration_id)
        assert runner.invoke(app, ["sync", "--config", str(path)]).exit_code == 0
        woo.refund(1001, items=[(10012, 1, "28.88", "6.07")],
                   when=datetime(2026, 10, 20, 12, tzinfo=UTC))  # fmt: skip
        assert runner.invoke(app, ["sync", "--config", str(path)]).exit_code == 0
        month = ["reconcile", "--month", "2026-10", "--config", str(path)]
        assert runner.invoke(app, month).exit_code == 0
        assert runner.invoke(app, ["config", "check", "--config", str(path)]).exit_code == 0
        yield path
    finally:
        woo.stop()


def serve(path: Path, token: str | None) -> tuple[DashboardServer, Store]:
    config = load_config(path)
    store = Store(config.state_path)
    source = Source(lambda: config, lambda: store, Live(lambda: config), token)
    return DashboardServer(create_app(source), "127.0.0.1", 0).start(), store


def shot(driver: Any, name: str) -> None:
    """Screenshots for people: in the test's folder, and in docs/ when asked to refresh them."""
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SHOTS / f"dashboard-{name}.png"))


def text_of(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def shows(driver: Any, css: str, expected: str) -> str:
    """The element's text once it says `expected` (a form's answer is a new page: the old one
    may still be there for a moment); its last text if it never does, for the assertion."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    seen = [""]

    def says(d: Any) -> bool:
        try:
            seen[0] = text_of(d, css)
        except (StaleElementReferenceException, WebDriverException):
            return False
        return expected in seen[0]

    with contextlib.suppress(WebDriverException):  # timed out: the assertion shows the text
        WebDriverWait(driver, 10).until(says)
    return seen[0]


def test_every_page_shows_the_month_as_it_landed_in_moneybird(
    browser: Any, october_books: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    server, store = serve(october_books, TOKEN)
    try:
        base = server.url
        browser.get(base)
        assert text_of(browser, "#health").startswith("Healthy: last pass succeeded")
        runs = text_of(browser, "#runs").splitlines()
        assert any(" ok 9 8 0 1 0 " in f" {row} " for row in runs)  # seen, booked, ..., parked
        orders = text_of(browser, "#orders")
        assert "1006" in orders and "no tax rule maps shop rate 3 'MwSt' (19%)" in orders
        bars = [
            t.get_attribute("textContent")
            for t in browser.find_elements(By.CSS_SELECTOR, "rect title")
        ]
        assert any(b.endswith("booked: 8") for b in bars)  # all eight booked today
        assert "agrees" in text_of(browser, "#last-reconciliation")
        browser.save_screenshot(str(tmp_path / "overview.png"))
        shot(browser, "overview")

        browser.get(base + "attention")
        row = text_of(browser, "#attention-orders tbody tr")
        assert row.startswith("1006 parked no tax rule maps shop rate 3 'MwSt' (19%)")
        assert "fix what the reason names (a mapping table" in row
        shot(browser, "attention")

        # Every booked order beside its invoice: the same VAT per rate, the same total.
        for record in store.orders({OrderState.PAID}):
            browser.get(f"{base}orders/{record.key}")
            vat = browser.find_elements(By.CSS_SELECTOR, "#vat tbody tr")
            assert vat and all(r.text.endswith("equal") for r in vat), record.number
            totals = browser.find_elements(By.CSS_SELECTOR, ".side tfoot td")
            assert totals[0].text == totals[1].text == record.total, record.number
        browser.get(base + "orders/woocommerce:1001")
        vat_1001 = text_of(browser, "#vat tbody")
        assert "21% btw 7.11 7.11 equal" in vat_1001 and "9% btw 2.14 2.14 equal" in vat_1001
        # The moka pot's refund beside its credit invoice.
        assert text_of(browser, "#refund-totals tbody").endswith("-34.95 -34.95 equal")
        shot(browser, "order")

        browser.get(base + "months")
        assert "2026-10" in text_of(browser, "#months") and "agrees" in text_of(browser, "#months")
        browser.find_element(By.LINK_TEXT, "2026-10").click()
        vat_month = shows(browser, "#vat tbody", "9% btw")
        assert "9% btw NL/1b 33.05 33.05 33.05 equal" in vat_month
        assert "21% btw NL/1a 26.44 26.44 26.44 equal" in vat_month
        assert len(browser.find_elements(By.CSS_SELECTOR, "figure.chart rect")) >= 6
        csv_link = browser.find_element(By.PARTIAL_LINK_TEXT, "CSV").get_attribute("href")
        rows = httpx.get(csv_link).text.splitlines()
        assert rows[0].startswith("order,kind,date,document") and len(rows) == 11  # 10 + header
        shot(browser, "month")

        browser.get(base + "config")
        assert "All is well" in text_of(browser, "#verdict")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#table-tax tbody tr")) >= 3
        page = browser.page_source
        for secret in [*secrets_env_values(october_books), TOKEN]:
            assert secret not in page
        shot(browser, "config")
    finally:
        server.stop()
        store.close()


def secrets_env_values(path: Path) -> list[str]:
    return load_config(path).secrets.values()


def test_retry_needs_the_token_and_a_form_from_the_dashboard(
    browser: Any, october_books: Path
) -> None:
    from selenium.webdriver.common.by import By

    # Without a token the dashboard is read-only: it says how to enable Retry, and offers no
    # button that could only be refused; a Retry posted anyway is refused.
    server, store = serve(october_books, None)
    try:
        browser.get(server.url + "attention")
        assert "DASHBOARD_TOKEN" in text_of(browser, "main .note")
        assert "1006" in text_of(browser, "#attention-orders")
        assert not browser.find_elements(By.XPATH, "//button[text()='Retry']")
        assert store.order("woocommerce:1006").state == OrderState.PARKED  # type: ignore[union-attr]
    finally:
        server.stop()
        store.close()

    server, store = serve(october_books, TOKEN)
    try:
        browser.get(server.url + "attention")
        assert not browser.find_elements(By.XPATH, "//button[text()='Retry']")  # sign in first
        browser.find_element(By.NAME, "token").send_keys("not-the-token")
        browser.find_element(By.XPATH, "//button[text()='Sign in to retry']").click()
        assert "not the dashboard's token" in shows(browser, ".flash", "not the")
        browser.find_element(By.NAME, "token").send_keys(TOKEN)
        browser.find_element(By.XPATH, "//button[text()='Sign in to retry']").click()
        assert "Signed in" in shows(browser, ".flash", "Signed in")
        browser.find_element(By.XPATH, "//button[text()='Retry']").click()
        assert "Order 1006: queued for the next pass" in shows(browser, ".flash", "queued")
        assert store.order("woocommerce:1006").state == OrderState.PENDING  # type: ignore[union-attr]
        # A form from elsewhere (no CSRF token of this session) changes nothing.
        forged = httpx.post(server.url + "retry", data={"order": "1006"})
        assert forged.status_code == 403 and "stale or not from this dashboard" in forged.text
        assert httpx.get(server.url + "retry").status_code == 405  # changes only by POST
        too_big = httpx.post(server.url + "sign-in", data={"token": "x" * 40_000})
        assert too_big.status_code == 413
    finally:
        server.stop()
        store.close()
