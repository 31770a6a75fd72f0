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
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import load_config
from connector.dashboard.app import Source, create_app
from connector.dashboard.live import Live
from connector.dashboard.server import DashboardServer
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import LOTTE, Item, demo_orders, seed_shop, woo_order
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import OrderState, Store
from tests.conftest import ROOT, secrets_env, write_config
from tests.e2e.test_reconcile import november_known

runner = CliRunner()
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
TOKEN = "dashboard-token-for-tests"
FIRST_ORDER = datetime(2026, 10, 4, 22, 57, tzinfo=UTC)  # paid two minutes later
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
def october(
    tmp_path: Path, moneybird: MoneybirdSandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, WooCommerceSandbox]]:
    """October booked and reconciled, the configuration checked: a month of the demo shop
    (its configuration, and the shop)."""
    woo = WooCommerceSandbox()
    # The first order paid at 22:59 UTC, 00:59 the next day in Amsterdam: its invoice is dated
    # 5 October, and the dashboard must say so too.
    seed_shop(woo, demo_orders(FIRST_ORDER))
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
        yield path, woo
    finally:
        woo.stop()


@pytest.fixture
def october_books(october: tuple[Path, WooCommerceSandbox]) -> Path:
    return october[0]


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
        assert row.startswith("1006 46.79 parked no tax rule maps shop rate 3 'MwSt' (19%)")
        assert "fix what the reason names (a mapping table" in row
        shot(browser, "attention")

        # Every booked order beside its invoice: the same VAT per rate, the same total.
        for record in store.orders({OrderState.PAID}):
            browser.get(f"{base}orders/{record.key}")
            vat = browser.find_elements(By.CSS_SELECTOR, "#vat tbody tr")
            assert vat and all(r.text.endswith("equal") for r in vat), record.number
            totals = browser.find_elements(By.CSS_SELECTOR, ".side tfoot td.total")
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
        # Warnings (the demo's German rate has no rule): never "All is well" above them.
        verdict = text_of(browser, "#verdict")
        assert verdict.startswith("No errors, but 2 warning(s) above to deal with"), verdict
        assert "All is well" not in verdict
        assert browser.find_elements(By.CSS_SELECTOR, "#verdict.warn")
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


# --- the pages read as the books do (issue 29, item 5) --------------------------------------

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NUMERIC = re.compile(r"^-?\d+(\.\d+)?( s)?$")  # an amount, a count, a quantity, seconds
IDENTIFIERS = {"order", "refund", "#", "correction"}  # numbers that name, not count
HEADER_OF = """
const cell = arguments[0], head = cell.closest('table').tHead;
if (!head) return null;
let column = 0;
for (const c of cell.parentElement.cells) { if (c === cell) break; column += c.colSpan; }
let at = 0;
for (const th of head.rows[0].cells) { at += th.colSpan; if (at > column) return th; }
return null;
"""
LINES = """
const range = document.createRange(); range.selectNodeContents(arguments[0]);
return new Set([...range.getClientRects()].filter(b => b.width > 0)
                .map(b => Math.round(b.top))).size;
"""


def misaligned(driver: Any) -> list[str]:
    """Each numeric cell of the page's tables, or its column's header, not aligned right."""
    from selenium.webdriver.common.by import By

    wrong = []
    for cell in driver.find_elements(By.CSS_SELECTOR, "table tbody td, table tfoot td"):
        if not NUMERIC.match(cell.text.strip()):
            continue
        header = driver.execute_script(HEADER_OF, cell)
        if header is not None and header.text.strip() in IDENTIFIERS:
            continue
        for element in (cell, header):
            if element is None:
                continue
            align = driver.execute_script(
                "return getComputedStyle(arguments[0]).textAlign", element
            )
            if align != "right":
                wrong.append(f"{element.tag_name} {element.text!r}: {align}")
    return wrong


def wrapped(driver: Any, css: str) -> list[str]:
    """The texts of the elements matching `css` that take more than one line."""
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, css)
    assert found, css
    return [e.text for e in found if e.text and driver.execute_script(LINES, e) > 1]


def row_with(driver: Any, table: str, first: str) -> str:
    from selenium.webdriver.common.by import By

    rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, f"{table} tbody tr")]
    return next(r for r in rows if r.split()[0] == first)


@contextlib.contextmanager
def dashboard(path: Path) -> Iterator[tuple[str, Store]]:
    server, store = serve(path, TOKEN)
    try:
        yield server.url, store
    finally:
        server.stop()
        store.close()


def test_times_are_in_the_books_time_zone(browser: Any, october_books: Path) -> None:
    from selenium.webdriver.common.by import By

    with dashboard(october_books) as (base, _store):
        browser.get(base)
        # sync.timezone (Europe/Amsterdam by default), said on every page.
        assert "Times in Europe/Amsterdam" in text_of(browser, "header #zone")
        # Order 1001 was paid at 22:59 UTC on the 4th: 00:59 on the 5th in Amsterdam, the day
        # its invoice is dated.
        assert "2026-10-05 00:59" in row_with(browser, "#orders", "1001")
        runs = browser.find_elements(By.CSS_SELECTOR, "#runs thead th")
        assert "UTC" not in " ".join(th.text for th in runs)
        browser.get(base + "orders/woocommerce:1001")
        assert "Times in Europe/Amsterdam" in text_of(browser, "header #zone")
        facts = text_of(browser, "#order-facts")
        assert "paid 2026-10-05 00:59" in facts and "2026-10-04" not in facts, facts
        assert "2026-10-05 iDEAL 66.84" in text_of(browser, "#shop-side .payments")
        invoice = browser.find_element(By.CSS_SELECTOR, ".side.moneybird")
        assert invoice.find_element(By.CSS_SELECTOR, ".dated").text == "2026-10-05"


def test_prices_say_whether_they_include_vat(
    browser: Any, october: tuple[Path, WooCommerceSandbox], moneybird: MoneybirdSandbox
) -> None:
    from selenium.webdriver.common.by import By

    # The demo's prices include VAT; a shop whose prices exclude it gets invoices that do too.
    path, woo = october
    espresso = Item("Espresso blend 1kg", "EB-1000", 1, "19.72", 2)
    woo.put_order(woo_order(1011, LOTTE, [espresso], "4.95", datetime(2026, 10, 8, 10, tzinfo=UTC),
                            prices_include_tax=False))  # fmt: skip
    assert runner.invoke(app, ["sync", "--config", str(path)]).exit_code == 0
    numbers = {i["invoice_id"]: i for i in moneybird.invoices.values()}
    labels = set()
    with dashboard(path) as (base, store):
        for record in store.orders({OrderState.PAID}):
            browser.get(f"{base}orders/{record.key}")
            for side in browser.find_elements(By.CSS_SELECTOR, ".side.moneybird"):
                invoice = numbers[side.find_element(By.CSS_SELECTOR, ".number").text]
                incl = "incl." if invoice["prices_are_incl_tax"] else "excl."
                headers = [th.text for th in side.find_elements(By.CSS_SELECTOR, "thead th")]
                assert f"price ({incl} VAT)" in headers, (record.number, headers)
                labels.add(incl)
                # Read as labelled, the lines add up to the invoice: with its VAT when excl.
                cells = side.find_elements(By.CSS_SELECTOR, "table.lines tbody td:last-child")
                lines = sum(Decimal(td.text) for td in cells)
                vat = sum(Decimal(t["tax_amount"]) for t in invoice["tax_totals"])
                total = Decimal(side.find_element(By.CSS_SELECTOR, "tfoot td.total").text)
                assert lines + (vat if incl == "excl." else 0) == total, record.number
    assert labels == {"incl.", "excl."}  # the demo's invoices are on both bases


def test_every_order_shows_its_amount(browser: Any, october_books: Path) -> None:
    # The parked order: the moka pot 34.95 incl. 19% (5.58), shipping 9.95 + 1.89 VAT.
    with dashboard(october_books) as (base, _store):
        browser.get(base)
        assert "46.79" in row_with(browser, "#orders", "1006")
        browser.get(base + "attention")
        assert "46.79" in row_with(browser, "#attention-orders", "1006")
        browser.get(base + "orders/woocommerce:1006")
        assert "Total 46.79" in text_of(browser, "#order-facts")


def test_numbers_line_up_and_nothing_breaks(browser: Any, october_books: Path) -> None:
    from selenium.webdriver.common.by import By

    with dashboard(october_books) as (base, _store):
        browser.get(base)
        ticks = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "figure.chart .tick")]
        assert ticks and all(t.isdigit() for t in ticks), ticks  # orders come whole
        unbroken = {  # months and document numbers read as one word
            "": "#orders tbody td.invoice",
            "orders/woocommerce:1001": "#refunds tbody td.invoice, .side .number",
            "months": "#months tbody td.month",
        }
        wrong = []
        for page in ["", "attention", "orders/woocommerce:1001", "orders/woocommerce:1006",
                     "months", "months/2026-10", "config"]:  # fmt: skip
            browser.get(base + page)
            wrong += [f"/{page}: {problem}" for problem in misaligned(browser)]
            if page in unbroken:
                wrong += [f"/{page}: wraps {t!r}" for t in wrapped(browser, unbroken[page])]
        assert not wrong, "\n".join(wrong)


def test_a_month_page_says_when_orders_changed_since(browser: Any, october_books: Path) -> None:
    from selenium.webdriver.common.by import By

    with dashboard(october_books) as (base, store):
        browser.get(base + "months/2026-10")
        assert "1006 (parked)" in text_of(browser, "#known")
        assert not browser.find_elements(By.ID, "changed")  # nothing changed since
        # The bookkeeper maps the German rate and retries: 1006 books after October was
        # reconciled, so the month page says it is out of date and how to bring it up to date.
        table = (ROOT / "mappings" / "tax.toml").read_text()
        table += (
            '\n[[rule]]\nshop_rate_id = 3\ntreatment = "oss"\ntax_rate_id = "400000000000000190"\n'
        )
        (october_books.parent / "tax.toml").write_text(table)
        text = october_books.read_text().replace(str(ROOT / "mappings" / "tax.toml"), "tax.toml")
        october_books.write_text(text + "\n[vat]\noss = true\n")
        config = ["--config", str(october_books)]
        assert runner.invoke(app, ["retry", "1006", *config]).exit_code == 0
        assert runner.invoke(app, ["sync", *config]).exit_code == 0
        assert store.order("woocommerce:1006").state == OrderState.PAID  # type: ignore[union-attr]
        done = store.reconciliation("2026-10")
        assert done is not None
        at = datetime.fromisoformat(done.reconciled_at).astimezone(AMSTERDAM)
        browser.get(base + "months/2026-10")
        changed = text_of(browser, "#changed")
        assert changed.startswith(
            f"1 order changed since this reconciliation ({at:%Y-%m-%d %H:%M}): 1006"
        ), changed
        assert "connector reconcile --month 2026-10" in changed
        reconcile = ["reconcile", "--month", "2026-10", *config]
        assert runner.invoke(app, reconcile).exit_code == 0
        browser.get(base + "months/2026-10")
        assert "1006" not in text_of(browser, "main")  # booked: no longer listed as parked
        assert not browser.find_elements(By.ID, "changed")


def test_known_not_in_moneybird_shows_each_ones_own_amount(
    browser: Any, october: tuple[Path, WooCommerceSandbox]
) -> None:
    """A parked refund shows the refund's amount, negative (never its order's total), also when
    its order was paid in an earlier month; a parked order shows the order's (figures in
    tests/e2e/test_reconcile.py's november_known)."""
    from selenium.webdriver.common.by import By

    path, woo = october
    refunds = november_known(woo)
    assert runner.invoke(app, ["sync", "--config", str(path)]).exit_code == 0
    month = ["reconcile", "--month", "2026-11", "--config", str(path)]
    assert runner.invoke(app, month).exit_code == 0
    with dashboard(path) as (base, _store):
        browser.get(base + "months/2026-11")
        body = browser.find_elements(By.CSS_SELECTOR, "#known tbody tr")
        amounts = sorted(
            (
                tr.find_element(By.TAG_NAME, "td").text,
                tr.find_element(By.CSS_SELECTOR, "td.num").text,
            )
            for tr in body
        )
        assert amounts == [
            ("1001 (parked)", "-10.00"), ("1011 (parked)", "-11.84"), ("1011 (parked)", "46.79")
        ]  # fmt: skip
        header = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#known thead th")]
        assert header == ["order", "what", "amount", "why"]
        rows = {tuple(td.text for td in tr.find_elements(By.TAG_NAME, "td")[:3]) for tr in body}
        assert rows == {
            ("1001 (parked)", f"refund {refunds['1001']}", "-10.00"),
            ("1011 (parked)", "order", "46.79"),
            ("1011 (parked)", f"refund {refunds['1011']}", "-11.84"),
        }
        assert not misaligned(browser)
