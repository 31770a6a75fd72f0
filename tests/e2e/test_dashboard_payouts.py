"""The dashboard's Payouts page (issue 31, item 5) in a real browser (Debian's headless
Chromium, driven by selenium): each provider's payouts per month in the books' zone, their
figures right-aligned, where each stands in a bookkeeper's words, the counts, the pass's payout
trouble; absent with [payouts] off; behind the same sign-in as every page; reasons escaped.

Hand-worked figures of the state below (fees and what the provider took shown negative, so a
row adds up to its net):
  A  done     205.21 - 10.00 (refund) - 1.05 (fees, 0.18 VAT)               = 194.16
  B  linked   90.00 - 2.00 (fees, 0.35 VAT)                                 =  88.00  overdue
  C  linked   50.00 - 0.58 (fees, 0.10 VAT)                                 =  49.42
  D  waiting  46.79 - 0.35 (0.06)                                           =  46.44
  E  parked   68.04 - 20.00 (chargeback) - 0.64 (0.11)                      =  47.40
  G  linked, two bank lines fit: 30.35 - 0.35 (0.06)                        =  30.00
  F  refused, never dated
October 2026 (D, E, G): 145.18 - 20.00 - 1.34 (0.23 VAT) = 123.84.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from connector.config import load_config
from connector.dashboard.app import Source, create_app, serving
from connector.dashboard.payouts import payouts_page, standing
from connector.dashboard.server import DashboardServer
from connector.runtime import Runtime
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import FIN_BANK
from connector.state import Meta, PayoutRecord, PayoutState, Store
from connector.sync.payouts import bank_line_overdue
from tests.conftest import write_config
from tests.e2e.test_dashboard import TOKEN, browser, misaligned, shot, text_of
from tests.e2e.test_payouts_mollie import mollie, paid_out

__all__ = ["browser", "mollie", "paid_out"]  # the fixtures, used by name

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NOW = datetime.now(UTC).replace(microsecond=0)
PAYOUTS = """
[payouts]
enabled = true
bank_account = "Bankrekening"
bank_line_days = 5

[payouts.mollie]
financial_account = "Mollie"
transfer_ledger = "Betalingen onderweg"
fee_ledger = "Nog te betalen Mollie-kosten"
"""
SCRIPT = "<script>document.title='owned'</script>"
PROBLEM = "mollie: MOLLIE_API_KEY is wrong or revoked: Missing authentication"


def figures(gross: str, fees: str, fee_vat: str, refunds: str = "0.00",
            chargebacks: str = "0.00") -> str:  # fmt: skip
    return json.dumps({"gross": gross, "refunds": refunds, "chargebacks": chargebacks,
                       "other": "0.00", "fees": fees, "fee_vat": fee_vat, "parts": 3})  # fmt: skip


def payout(
    provider: str, payout_id: str, state: PayoutState, paid_out: datetime | None, **kw: Any
) -> PayoutRecord:
    return PayoutRecord(
        key=f"{provider}:{payout_id}",
        provider=provider,
        payout_id=payout_id,
        state=state.value,
        paid_out=paid_out.isoformat() if paid_out else None,
        **kw,
    )


# B and C wait for their bank lines: B for longer than bank_line_days, C since yesterday.
B_PAID, C_PAID = NOW - timedelta(days=10), NOW - timedelta(days=1)
RECORDS = [
    # 23:30 UTC on 31 October is 00:30 on 1 November in Amsterdam: a November payout.
    payout("mollie", "stl_A", PayoutState.DONE, datetime(2026, 10, 31, 23, 30, tzinfo=UTC),
           reference="1234567.2611.01", net="194.16",
           figures=figures("205.21", "1.05", "0.18", refunds="-10.00")),
    payout("shopify_payments", "91234567", PayoutState.LINKED, B_PAID, reference="SHOPIFY 91234567",
           net="88.00", figures=figures("90.00", "2.00", "0.35"),
           reason="waits for the bank line of 88.00 with reference SHOPIFY 91234567"),
    payout("mollie", "stl_C", PayoutState.LINKED, C_PAID, reference="1234567.2612.02",
           net="49.42", figures=figures("50.00", "0.58", "0.10")),
    payout("mollie", "stl_D", PayoutState.WAITING, datetime(2026, 10, 15, 10, tzinfo=UTC),
           reference="1234567.2610.01", net="46.44", figures=figures("46.79", "0.35", "0.06"),
           reason="mollie payout stl_D waits until these are booked: mollie payment tr_WDqYK6vllg "
                  "(order 1006)"),
    payout("mollie", "stl_E", PayoutState.PARKED, datetime(2026, 10, 20, 9, tzinfo=UTC),
           reference="1234567.2610.02", net="47.40",
           figures=figures("68.04", "0.64", "0.11", chargebacks="-20.00"),
           reason=f"mollie payout stl_E: mollie chargeback chb_{SCRIPT} (order 1003): name a "
                  "chargebacks ledger to book chargebacks on"),
    payout("mollie", "stl_G", PayoutState.LINKED, datetime(2026, 10, 25, 9, tzinfo=UTC),
           reference="1234567.2610.03", net="30.00", figures=figures("30.35", "0.35", "0.06"),
           reason="2 bank lines of 30.00 carry reference 1234567.2610.03: 11 (2026-10-26), "
                  "12 (2026-10-27); link the right one to the transfer ledger by hand"),
    payout("mollie", "stl_F", PayoutState.REFUSED, None,
           reason="mollie settlement stl_F: its parts add up to 10.00, not to the 9.00 paid out"),
]  # fmt: skip
IDS = [r.payout_id for r in RECORDS]


def books(tmp_path: Path, extra: str = PAYOUTS) -> Path:
    """A configuration; nothing is served behind it: the page reads the state alone."""
    return write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9/api/v2", "1",
                        extra=extra)  # fmt: skip


@contextlib.contextmanager
def dashboard(
    path: Path, token: str | None = TOKEN, beyond_loopback: bool = False
) -> Iterator[tuple[DashboardServer, Store]]:
    """The dashboard on 127.0.0.1; `beyond_loopback`: told, as DashboardServer tells an app
    bound to every address, that it listens beyond this computer."""
    config = load_config(path, require_secrets=False)
    store = Store(config.state_path)
    app = create_app(Source(lambda: config, lambda: store, None, token))
    server = DashboardServer(app, "127.0.0.1", 0).start()
    if beyond_loopback:
        serving(app, "0.0.0.0", int(server.url.rstrip("/").rsplit(":", 1)[1]))
    try:
        yield server, store
    finally:
        server.stop()
        store.close()


@pytest.fixture(autouse=True)
def _bank_looked_at_every_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bank line brought in is looked for at the next pass (the scheduler: every 12 hours)."""
    monkeypatch.setattr("connector.sync.payouts.BANK_POLL", timedelta(0))


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    path = books(tmp_path)
    store = Store(load_config(path, require_secrets=False).state_path)
    for record in RECORDS:
        store.save(record)
    store.set_meta(Meta.PAYOUTS_PROBLEM, PROBLEM)
    store.close()
    return path


def cells(driver: Any, table: str) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    return [
        [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")
    ]


def row_of(driver: Any, payout_id: str) -> list[str]:
    from selenium.webdriver.common.by import By

    for tr in driver.find_elements(By.CSS_SELECTOR, "table.payouts tbody tr"):
        tds = [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        if tds[2] == payout_id:
            return tds
    raise AssertionError(f"no row for {payout_id}")


def month_of(moment: datetime) -> str:
    return moment.astimezone(AMSTERDAM).strftime("%Y-%m")


def test_the_payouts_page_shows_each_payout_its_figures_and_where_it_stands(
    browser: Any, filled: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    with dashboard(filled) as (server, _store):
        browser.get(server.url)
        browser.find_element(By.LINK_TEXT, "Payouts").click()
        assert browser.find_element(By.CSS_SELECTOR, "h1").text == "Payouts"
        nav = browser.find_element(By.CSS_SELECTOR, "nav a[aria-current='page']")
        assert nav.text == "Payouts"
        browser.save_screenshot(str(tmp_path / "payouts.png"))
        shot(browser, "payouts")

        # The pass's trouble with the providers, on top.
        assert text_of(browser, "#payouts-problem") == (
            f"The last pass could not book payouts: {PROBLEM}"
        )
        counts = text_of(browser, "#payout-counts")
        assert counts.splitlines() == [
            "booked 1",
            "waiting for orders 1",
            "waiting for the bank line 2 (1 overdue)",
            "needing a person 3",
        ], counts

        # A table per month, newest first; the payout that could never be dated above them.
        headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "section h2")]
        months = sorted({"2026-11", "2026-10", month_of(B_PAID), month_of(C_PAID)}, reverse=True)
        assert headings == ["Not dated: the provider's figures could not be read", *months]
        header = [
            th.text for th in browser.find_elements(By.CSS_SELECTOR, "#payouts-2026-10 thead th")
        ]
        assert header == [
            "date", "provider", "payout", "bank reference", "gross", "refunds", "chargebacks",
            "fees", "VAT in fees", "net", "state",
        ]  # fmt: skip

        # Each row: the day in the books' zone, the figures, the state in words.
        assert row_of(browser, "stl_A") == [
            "2026-11-01", "Mollie", "stl_A", "1234567.2611.01",
            "205.21", "-10.00", "0.00", "-1.05", "-0.18", "194.16", "booked, bank line linked",
        ]  # fmt: skip
        b = row_of(browser, "91234567")
        assert b[:10] == [
            B_PAID.astimezone(AMSTERDAM).date().isoformat(), "Shopify Payments", "91234567",
            "SHOPIFY 91234567", "90.00", "0.00", "0.00", "-2.00", "-0.35", "88.00",
        ]  # fmt: skip
        assert b[10] == "booked, waiting for the bank line bank line overdue"
        assert row_of(browser, "stl_C")[4:] == [
            "50.00", "0.00", "0.00", "-0.58", "-0.10", "49.42", "booked, waiting for the bank line"
        ]  # fmt: skip
        overdue = browser.find_elements(By.CSS_SELECTOR, "tr.bank-overdue td:nth-child(3)")
        assert [td.text for td in overdue] == ["91234567"]
        assert row_of(browser, "stl_D")[10] == (
            "waiting for orders: mollie payment tr_WDqYK6vllg (order 1006)"
        )
        assert row_of(browser, "stl_E")[4:10] == [
            "68.04", "0.00", "-20.00", "-0.64", "-0.11", "47.40"
        ]  # fmt: skip
        assert row_of(browser, "stl_E")[10] == (
            f"needs you: mollie payout stl_E: mollie chargeback chb_{SCRIPT} (order 1003): name "
            "a chargebacks ledger to book chargebacks on"
        )
        assert row_of(browser, "stl_G")[10].startswith(
            "needs you: 2 bank lines of 30.00 carry reference 1234567.2610.03"
        )
        assert cells(browser, "payouts-undated") == [[
            "", "Mollie", "stl_F", "", "", "", "", "", "", "",
            "needs you: mollie settlement stl_F: its parts add up to 10.00, not to the 9.00 "
            "paid out",
        ]]  # fmt: skip

        # October, newest first, and its totals.
        october = cells(browser, "payouts-2026-10")
        assert [row[2] for row in october] == ["stl_G", "stl_E", "stl_D"]
        foot = [
            td.text for td in browser.find_elements(By.CSS_SELECTOR, "#payouts-2026-10 tfoot td")
        ]
        assert foot == ["145.18", "0.00", "-20.00", "-1.34", "-0.23", "123.84", ""]
        assert text_of(browser, "#payouts-2026-10 tfoot th") == "3 payouts"

        # Every figure right-aligned under a right-aligned header, as on the other pages; a
        # payout's id names it (Shopify's are digits), as an order's number does.
        named = {"th 'payout': left", *(f"td {i!r}: left" for i in IDS)}
        assert [wrong for wrong in misaligned(browser) if wrong not in named] == []
        # A reason from outside is text, never markup: no script element came of it.
        assert browser.execute_script("return document.querySelectorAll('main script').length") == 0
        assert browser.title == "Payouts · Moneybird shop connector"
        raw = httpx.get(server.url + "payouts").text
        assert SCRIPT not in raw and "&lt;script&gt;" in raw


def test_without_payouts_the_page_is_absent(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    with dashboard(books(tmp_path, extra="")) as (server, _store):
        browser.get(server.url)
        nav = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "header nav a")]
        assert nav == ["Overview", "Needs attention", "Months", "Configuration"]
        browser.get(server.url + "payouts")
        assert "Not Found" in text_of(browser, "h1")
        assert "[payouts] enabled = true" in text_of(browser, "#error")
        assert httpx.get(server.url + "payouts").status_code == 404


def test_with_payouts_and_none_read_yet_the_page_says_so(browser: Any, tmp_path: Path) -> None:
    with dashboard(books(tmp_path)) as (server, _store):
        browser.get(server.url + "payouts")
        assert text_of(browser, "#no-payouts").startswith("No payout has been read yet")
        assert text_of(browser, "#payout-counts").splitlines() == [
            "booked 0", "waiting for orders 0", "waiting for the bank line 0",
            "needing a person 0",
        ]  # fmt: skip
        assert not browser.find_elements("id", "payouts-problem")


def test_bound_beyond_loopback_the_payouts_page_needs_sign_in(browser: Any, filled: Path) -> None:
    from selenium.webdriver.common.by import By

    shown = [*IDS, "194.16", "1234567.2611.01", "order 1006", PROBLEM, "MOLLIE_API_KEY"]
    with dashboard(filled, beyond_loopback=True) as (server, _store):
        answer = httpx.get(server.url + "payouts")
        assert answer.status_code == 401
        assert not [s for s in shown if s in answer.text], answer.text
        browser.get(server.url + "payouts")
        assert browser.find_elements(By.NAME, "token")  # the sign-in form, and nothing else
        page = browser.find_element(By.TAG_NAME, "main").text
        assert not [s for s in shown if s in page], page
        # Signed in, the same page shows.
        browser.find_element(By.NAME, "token").send_keys(TOKEN)
        browser.find_element(By.XPATH, "//button[text()='Sign in']").click()
        assert row_of(browser, "stl_A")[9] == "194.16"

    with dashboard(filled, token=None, beyond_loopback=True) as (server, _store):
        answer = httpx.get(server.url + "payouts")
        assert answer.status_code == 403 and "set DASHBOARD_TOKEN" in answer.text
        assert not [s for s in shown if s in answer.text]


def test_the_mollie_settlements_as_the_pass_booked_them(
    browser: Any, paid_out: Runtime, moneybird: MoneybirdSandbox
) -> None:
    """The demo shop's Mollie settlements (tests/e2e/test_payouts_mollie.py): the first over
    1001, 1003 and 1005 booked and linked (205.21 less iDEAL fees 3 x 0.29 + 21% VAT 0.18 =
    1.05: 204.16), the second waiting for the parked order 1006; then its bank line arrives."""
    report = paid_out.engine().run_pass()
    assert report.error is None, report.error
    store = paid_out.store
    booked = next(r for r in store.payouts() if r.state == PayoutState.LINKED)
    waiting = next(r for r in store.payouts() if r.state == PayoutState.WAITING)
    with dashboard(paid_out.config.path) as (server, _store):
        browser.get(server.url + "payouts")
        row = row_of(browser, booked.payout_id)
        day = datetime.fromisoformat(booked.paid_out or "").astimezone(AMSTERDAM).date()
        assert row[:4] == [day.isoformat(), "Mollie", booked.payout_id, booked.reference]
        assert row[4] == "205.21" and row[7] == "-1.05" and row[9] == "204.16", row
        assert Decimal(row[4]) + Decimal(row[5]) + Decimal(row[6]) + Decimal(row[7]) == Decimal(
            row[9]
        )
        assert row[10] == "booked, waiting for the bank line"
        words = row_of(browser, waiting.payout_id)[10]
        assert words.startswith("waiting for orders: ") and "(order 1006)" in words, words
        assert text_of(browser, "#payout-counts").splitlines()[:3] == [
            "booked 0", "waiting for orders 1", "waiting for the bank line 1",
        ]  # fmt: skip
        assert not browser.find_elements("id", "payouts-problem")

        moneybird.add_bank_line(
            FIN_BANK, day + timedelta(days=1), Decimal("204.16"),
            f"Stichting Mollie Payments {booked.reference}",
        )  # fmt: skip
        assert paid_out.engine().run_pass().error is None
        browser.get(server.url + "payouts")
        assert row_of(browser, booked.payout_id)[10] == "booked, bank line linked"
        assert text_of(browser, "#payout-counts").splitlines()[0] == "booked 1"


def test_every_state_is_said_in_words_and_counted_once() -> None:
    """The flow's states (connector/state.py PayoutState), each as the page says it."""
    paid = NOW - timedelta(days=2)

    def said(state: PayoutState, **kw: Any) -> tuple[str, str, bool]:
        record = payout("mollie", "stl_X", state, kw.pop("paid", paid), **kw)
        where = standing(record, bank_line_overdue(record, 5, NOW))
        return where.kind, where.words, where.overdue

    assert said(PayoutState.DONE) == ("booked", "booked, bank line linked", False)
    assert said(PayoutState.LINKED) == ("bank", "booked, waiting for the bank line", False)
    late = NOW - timedelta(days=6)
    assert said(PayoutState.LINKED, paid=late) == ("bank", "booked, waiting for the bank line",
                                                   True)  # fmt: skip
    assert said(PayoutState.WAITING, reason="p waits until these are booked: x (order 7)") == (
        "orders", "waiting for orders: x (order 7)", False
    )  # fmt: skip
    for state in (PayoutState.PARKED, PayoutState.REFUSED):
        assert said(state, reason="fix Y") == ("person", "needs you: fix Y", False)
    refused = "Moneybird refused to link 'x' to Payment 1: gone; link it by hand"
    assert said(PayoutState.BOOKED, reason=refused) == ("person", f"needs you: {refused}", False)
    assert said(PayoutState.FAILED, last_error="Moneybird is down (503)") == (
        "again", "tried again at the next pass: Moneybird is down (503)", False
    )  # fmt: skip
    assert said(PayoutState.BOOKED) == (
        "again", "booked, its movements are linked at the next pass", False
    )  # fmt: skip


def test_other_movements_get_their_column_only_where_a_payout_has_them(tmp_path: Path) -> None:
    path = books(tmp_path)
    store = Store(load_config(path, require_secrets=False).state_path)
    try:
        plain = payout("mollie", "stl_1", PayoutState.DONE, NOW, net="9.71",
                       figures=figures("10.00", "0.29", "0.05"))  # fmt: skip
        store.save(plain)
        page = payouts_page(store, AMSTERDAM, 5, NOW)
        assert page["other"] is False
        data = json.loads(figures("10.00", "0.29", "0.05"))
        other = payout("mollie", "stl_2", PayoutState.DONE, NOW, net="8.71",
                       figures=json.dumps({**data, "other": "-1.00"}))  # fmt: skip
        store.save(other)
        page = payouts_page(store, AMSTERDAM, 5, NOW)
        assert page["other"] is True
        assert page["months"][0]["totals"]["other"] == Decimal("-1.00")
        assert page["months"][0]["totals"]["net"] == Decimal("18.42")
    finally:
        store.close()
