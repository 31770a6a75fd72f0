"""The Moneybird client: pacing, 429 handling, retries of reads only, error mapping."""

from __future__ import annotations

import httpx
import pytest

from connector.errors import AdministrationError, AuthError, Outcome, outcome
from connector.moneybird.client import Ambiguous, MoneybirdClient, NotFound, Rejected, Unavailable
from connector.moneybird.rate_limit import RateLimiter, retry_after_epoch


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def client_for(handler, clock: FakeClock | None = None, limit: int = 150) -> MoneybirdClient:  # type: ignore[no-untyped-def]
    clock = clock or FakeClock()
    limiter = RateLimiter(limit, 300, clock=clock.time, sleep=clock.sleep)
    return MoneybirdClient(
        "https://moneybird.test/api/v2", "123", "secret-token", limiter=limiter,
        transport=httpx.MockTransport(handler), sleep=clock.sleep,
    )  # fmt: skip


def test_sliding_window_never_exceeds_the_limit() -> None:
    clock = FakeClock()
    limiter = RateLimiter(150, 300, clock=clock.time, sleep=clock.sleep)
    sent = []
    for _ in range(400):
        limiter.acquire()
        sent.append(clock.now)
    for i, moment in enumerate(sent):
        in_window = [t for t in sent[: i + 1] if t > moment - 300]
        assert len(in_window) <= 150
    # 400 requests at 150 per 5 minutes: the 151st waits until 5 minutes after the first (plus
    # 50 ms, as the server counts a request when it arrives), the 301st until 10 minutes.
    assert sent[150] - sent[0] == pytest.approx(300.05)
    assert sent[300] - sent[0] == pytest.approx(600.10)


def test_headers_with_nothing_remaining_pause_until_the_reset() -> None:
    # Another program used the budget: our own window is nearly empty, the server's is not.
    clock = FakeClock()
    limiter = RateLimiter(150, 300, clock=clock.time, sleep=clock.sleep)
    limiter.observe({"RateLimit-Remaining": "0", "RateLimit-Reset": str(int(clock.now) + 42)})
    limiter.acquire()
    assert clock.slept == [pytest.approx(42)]


def test_own_full_window_is_not_held_up_by_a_whole_second_reset() -> None:
    clock = FakeClock(1_800_000_000.3)
    limiter = RateLimiter(2, 10, clock=clock.time, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()
    # The server rounds its reset up to the next whole second; our window knows better.
    limiter.observe({"RateLimit-Remaining": "0", "RateLimit-Reset": "1800000011"})
    limiter.acquire()
    assert clock.slept == [pytest.approx(10.05)]


def test_retry_after_is_an_absolute_epoch() -> None:
    now = 1_800_000_000.0
    assert retry_after_epoch("1800000120", now) == 1_800_000_120
    assert retry_after_epoch("30", now) == now + 30  # tolerated: plain seconds
    assert retry_after_epoch("Wed, 21 Oct 2026 07:28:00 GMT", now) == 1_792_567_680
    assert retry_after_epoch(None, now) == now + 1


def test_429_with_html_body_waits_until_retry_after_then_retries_a_post() -> None:
    clock = FakeClock()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            return httpx.Response(
                429, text="<html><body><h1>429 Too Many Requests</h1></body></html>",
                headers={"Retry-After": str(int(clock.now) + 90), "Content-Type": "text/html"},
            )  # fmt: skip
        return httpx.Response(201, json={"id": "1"})

    client = client_for(handler, clock)
    # A 429 was not processed, so even a write is safely sent again.
    assert client.create_contact({"firstname": "A"}) == {"id": "1"}
    assert calls == ["POST", "POST"]
    assert sum(clock.slept) == pytest.approx(90)


def test_reads_are_retried_on_5xx_writes_are_not() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if request.method == "GET" and len(calls) < 3:
            return httpx.Response(502, text="Bad gateway")
        if request.method == "POST":
            return httpx.Response(503, text="unavailable")
        return httpx.Response(200, json=[])

    client = client_for(handler)
    assert client.tax_rates() == []
    assert calls == ["GET", "GET", "GET"]
    calls.clear()
    with pytest.raises(Ambiguous):
        client.create_invoice({"sales_invoice": {}})
    assert calls == ["POST"]  # never blind-retried


def test_a_dropped_connection_on_a_write_is_ambiguous() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset", request=request)

    with pytest.raises(Ambiguous):
        client_for(handler).create_payment("1", {"price": "1.00", "payment_date": "2026-01-01"})


def test_unreachable_server_is_not_ambiguous() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(Unavailable):
        client_for(handler).create_invoice({"sales_invoice": {}})


def test_error_mapping_and_no_token_in_messages() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "find_by_reference" in request.url.path:
            return httpx.Response(404, json={"error": "not found"})
        if request.url.path.endswith("contacts.json"):
            return httpx.Response(422, json={"error": {"customer_id": ["is already in use"]}})
        return httpx.Response(401, json={"error": "Token is invalid"})

    client = client_for(handler)
    assert client.invoice_by_reference("WC-1") is None
    with pytest.raises(Rejected, match="customer_id is already in use"):
        client.create_contact({"customer_id": "X"})
    with pytest.raises(AuthError) as info:
        client.tax_rates()
    assert "secret-token" not in str(info.value)
    with pytest.raises(NotFound):
        client_for(lambda r: httpx.Response(404, json={})).invoice("5")


@pytest.mark.parametrize("status", [404, 403])
def test_an_administration_the_token_cannot_reach_is_a_configuration_error(status: int) -> None:
    """A wrong administration id answers 404 (or 403) to everything under it: the pass stops
    with config check's sentence instead of failing every order on "not found"."""
    asked = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path == "/api/v2/administrations.json":
            return httpx.Response(200, json=[{"id": 555, "name": "Bakkerij BV"}])
        return httpx.Response(status, json={"error": "Not found"})

    with pytest.raises(AdministrationError) as info:
        client_for(handler).tax_rates()
    message = str(info.value)
    assert message.startswith(
        "configuration error: the token has no access to administration 123; "
        "it can reach: 555 (Bakkerij BV)"
    )
    assert "moneybird.administration_id" in message
    assert outcome(info.value) is Outcome.STOP
    assert asked == ["/api/v2/123/tax_rates.json", "/api/v2/administrations.json"]  # no retries


def test_a_404_on_a_reachable_administration_stays_what_it_was() -> None:
    """Where the administration is there, a 404 still means the record (asked about only where
    nothing but the administration can be missing), and a 403 still a token's scope."""
    asked = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path == "/api/v2/administrations.json":
            return httpx.Response(200, json=[{"id": 123, "name": "Webwinkel BV"}])
        if request.url.path.endswith("tax_rates.json"):
            return httpx.Response(403, json={"error": "scope"})
        return httpx.Response(404, json={"error": "Not found"})

    client = client_for(handler)
    assert client.invoice_by_reference("WC-1") is None
    with pytest.raises(NotFound):
        client.invoice("5")
    assert asked == [
        "/api/v2/123/sales_invoices/find_by_reference/WC-1.json",
        "/api/v2/123/sales_invoices/5.json",
    ]  # a record's 404: not a question about the administration
    with pytest.raises(NotFound):
        client.ledger_accounts()
    with pytest.raises(AuthError) as info:
        client.tax_rates()
    assert not isinstance(info.value, AdministrationError)


def test_reference_is_escaped_in_the_path() -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(404, json={})

    client_for(handler).invoice_by_reference("WC 7/8")
    assert seen == ["/api/v2/123/sales_invoices/find_by_reference/WC%207%2F8.json"]


def test_requests_carry_the_bearer_token() -> None:
    headers = []

    def handler(request: httpx.Request) -> httpx.Response:
        headers.append(request.headers["Authorization"])
        return httpx.Response(200, json=[])

    client_for(handler).contact_versions()
    assert headers == ["Bearer secret-token"]


def test_the_arrival_margin_holds_when_old_requests_leave_the_window() -> None:
    """A request counts on the server until a window after it arrived: one asked for between
    10.000 s and 10.050 s after its counterpart must still wait for the margin."""
    clock = FakeClock(1_800_000_000.0)
    limiter = RateLimiter(2, 10, clock=clock.time, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()
    clock.now += 10.02  # the first is 10.02 s old: gone from a plain window, not the server's
    limiter.acquire()
    assert clock.slept == [pytest.approx(0.03)]


@pytest.mark.parametrize(
    "header",
    [
        "1800000000000000",  # an epoch in microseconds: decades ahead
        str(1_800_000_000 + 5 * 86400),  # days ahead
        "1800000120000",  # milliseconds: two minutes ahead
        "-30",
        "inf",
        "nan",
        "soon",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ],
)
def test_absurd_wait_headers_are_capped_and_never_raise(header: str) -> None:
    clock = FakeClock()
    limiter = RateLimiter(150, 300, clock=clock.time, sleep=clock.sleep)
    limiter.block_until(retry_after_epoch(header, clock.now))
    limiter.observe({"RateLimit-Remaining": "0", "RateLimit-Reset": header})
    limiter.acquire()
    assert sum(clock.slept) <= 300 + 5  # at most one window and a margin
    if header == "1800000120000":
        assert sum(clock.slept) == pytest.approx(120)  # read as milliseconds
