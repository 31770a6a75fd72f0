"""VIES checks of VAT numbers before intra-community 0%: the answer, the cache, an outage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from connector.booking.book import BookingSettings, Parked, book
from connector.booking.invoice import InvoiceDraft
from connector.booking.vat_rules import VatCheck
from connector.config import load_config
from connector.lookups.vies import read_answer
from connector.runtime import build
from connector.sandbox.http import LocalServer, Request, Response
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import MB_RATE_ICP, Item, Person, woo_order
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import OrderState
from tests.conftest import secrets_env, write_config
from tests.unit.booking.test_vat_rules import ICP, RATES, TABLE, rate_of, zero_rated

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ON = BookingSettings(vies_check=True)
BELGIAN = "BE0403170701"


def test_vies_answers_are_read_as_valid_invalid_or_unavailable() -> None:
    valid = read_answer(BELGIAN, {"valid": True, "requestIdentifier": "WAPIAAAAZ1"}, NOW)
    assert (valid.status, valid.consultation) == ("valid", "WAPIAAAAZ1")
    assert read_answer(BELGIAN, {"valid": False}, NOW).status == "invalid"
    assert read_answer(BELGIAN, {"isValid": True, "userError": "VALID"}, NOW).status == "valid"
    down = read_answer(
        BELGIAN, {"actionSucceed": False, "errorWrappers": [{"error": "MS_UNAVAILABLE"}]}, NOW
    )
    assert (down.status, down.detail) == ("unavailable", "MS_UNAVAILABLE")
    assert read_answer(BELGIAN, {"isValid": False, "userError": "TIMEOUT"}, NOW).status == (
        "unavailable"
    )  # an outage is never read as "not valid"
    assert read_answer(BELGIAN, {"errorWrappers": [{"error": "INVALID_INPUT"}]}, NOW).status == (
        "invalid"
    )
    assert read_answer(BELGIAN, {}, NOW).status == "unavailable"


def test_intra_community_zero_needs_vies_to_know_the_number() -> None:
    order = zero_rated("BE", "BE 0403.170.701")
    ok = book(order, TABLE, RATES, ON, VatCheck(BELGIAN, "valid", NOW, "WAPIAAAAZ1"))
    assert rate_of(ok) == ICP
    assert isinstance(ok, InvoiceDraft)
    assert any("valid in VIES on 2026-11-20, consultation WAPIAAAAZ1" in n for n in ok.notes)

    invalid = book(order, TABLE, RATES, ON, VatCheck(BELGIAN, "invalid", NOW))
    assert isinstance(invalid, Parked) and not invalid.later
    assert "VIES does not know the VAT number BE 0403.170.701" in invalid.reason

    down = book(order, TABLE, RATES, ON, VatCheck(BELGIAN, "unavailable", NOW, detail="TIMEOUT"))
    assert isinstance(down, Parked) and down.later  # VIES did not answer: may book later
    assert "VIES could not be reached" in down.reason
    # Checked on (vies_check) but no answer for this number: never 0% on an unchecked number.
    unchecked = book(order, TABLE, RATES, ON, VatCheck("DE136695976", "valid", NOW))
    assert isinstance(unchecked, Parked) and unchecked.later
    # vies_check off: the format check alone decides, as before.
    assert rate_of(book(order, TABLE, RATES, BookingSettings())) == ICP


class FakeVies:
    """VIES on 127.0.0.1: answers from a list, one per request, and records what was asked."""

    def __init__(self, answers: list[tuple[int, dict]]) -> None:
        self.answers = answers
        self.asked: list[dict] = []
        self.server = LocalServer(self.handle)

    def handle(self, req: Request) -> Response:
        assert req.method == "POST" and req.path.endswith("/check-vat-number")
        self.asked.append(req.json())
        status, body = self.answers.pop(0)
        return Response(status, body)


def vies_runtime(  # type: ignore[no-untyped-def]
    tmp_path: Path, shop: WooCommerceSandbox, mb: MoneybirdSandbox, vies_url: str, extra: str = ""
):
    """The connector with VIES checks on, asking the VIES stand-in."""
    config_path = write_config(tmp_path, shop.url, mb.api_url, mb.administration_id)
    config_path.write_text(
        config_path.read_text() + f'\n[vat]\nvies_check = true\nvies_url = "{vies_url}"\n' + extra
    )
    return build(load_config(config_path, environ=secrets_env(shop, mb)))


def test_vies_outage_waits_when_asked_to_then_books_at_icp_and_the_answer_is_kept(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    outage = {"actionSucceed": False, "errorWrappers": [{"error": "MS_UNAVAILABLE"}]}
    valid = {"countryCode": "BE", "vatNumber": "0403170701", "valid": True,
             "requestIdentifier": "WAPIAAAAZ1"}  # fmt: skip
    vies = FakeVies([(503, outage), (200, valid)])
    vies.server.start()
    try:
        rt = vies_runtime(tmp_path, shop, moneybird, f"{vies.server.url}/rest-api",
                          'vies_requester = "NL004495445B01"\nvies_unavailable = "wait"\n')  # fmt: skip
        rt.engine().run_pass()  # the demo orders first; none of them needs VIES
        assert vies.asked == []
        studio = Person("Lies", "Peeters", "lies@studio.be", "Meir 1", "2000", "Antwerpen",
                        "BE", "Studio Peeters", "BE 0403.170.701")  # fmt: skip
        now = datetime.now(UTC)
        # A lamp 100.00 and shipping 5.00, no VAT charged (the shop's 0% rate, id 4).
        shop.put_order(woo_order(1020, studio, [Item("Lamp", "L", 1, "100.00", 4)], "5.00", now))
        report = rt.engine().run_pass()
        assert report.booked == 0 and report.parked == 0 and report.failed == 1
        waiting = rt.store.order("woocommerce:1020")
        assert waiting is not None and waiting.state == OrderState.FAILED
        assert "VIES could not be reached to check BE 0403.170.701" in (waiting.last_error or "")
        assert not any(i["reference"] == "WC-1020" for i in moneybird.invoices.values())

        assert rt.engine().run_pass().booked == 1  # VIES answers on the next pass
        invoice = next(i for i in moneybird.invoices.values() if i["reference"] == "WC-1020")
        assert {d["tax_rate_id"] for d in invoice["details"]} == {MB_RATE_ICP}
        assert Decimal(invoice["total_price_incl_tax"]) == Decimal("105.00")
        assert vies.asked[-1] == {
            "countryCode": "BE", "vatNumber": "0403170701",
            "requesterMemberStateCode": "NL", "requesterNumber": "004495445B01",
        }  # fmt: skip
        booked = rt.store.order("woocommerce:1020")
        assert booked is not None and "consultation WAPIAAAAZ1" in (booked.notes or "")

        # The customer orders again: the answer is kept, VIES is not asked again.
        shop.put_order(
            woo_order(
                1021, studio, [Item("Lamp", "L", 1, "100.00", 4)], "0", now + timedelta(hours=1)
            )
        )
        assert rt.engine().run_pass().booked == 1
        assert len(vies.asked) == 2
        rt.close()
    finally:
        vies.server.stop()


def test_vies_refusing_the_number_parks_the_order(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    vies = FakeVies([(200, {"valid": False})])
    with vies.server:
        rt = vies_runtime(tmp_path, shop, moneybird, vies.server.url)
        gone = Person("Jan", "Claes", "jan@claes.be", "Markt 2", "9000", "Gent", "BE",
                      "Claes BV", "BE0403170701")  # fmt: skip
        shop.orders.clear()
        shop.put_order(
            woo_order(1030, gone, [Item("Lamp", "L", 1, "100.00", 4)], "0", datetime.now(UTC))
        )
        assert rt.engine().run_pass().parked == 1
        parked = rt.store.order("woocommerce:1030")
        assert parked is not None and parked.state == OrderState.PARKED
        assert "VIES does not know the VAT number BE0403170701" in (parked.park_reason or "")
        kept = rt.store.vat_check("BE0403170701")
        assert kept is not None and kept.status == "invalid"
        rt.close()
    assert json.dumps(vies.asked) == json.dumps([{"countryCode": "BE", "vatNumber": "0403170701"}])


def test_vies_outage_parks_by_default_and_retry_books_it(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    outage = {"actionSucceed": False, "errorWrappers": [{"error": "MS_MAX_CONCURRENT_REQ"}]}
    vies = FakeVies([(200, outage), (200, {"valid": True})])
    with vies.server:
        rt = vies_runtime(tmp_path, shop, moneybird, vies.server.url)
        studio = Person("Lies", "Peeters", "lies@studio.be", "Meir 1", "2000", "Antwerpen",
                        "BE", "Studio Peeters", "BE0403170701")  # fmt: skip
        shop.orders.clear()
        shop.put_order(
            woo_order(1022, studio, [Item("Lamp", "L", 1, "100.00", 4)], "0", datetime.now(UTC))
        )
        try:
            assert rt.engine().run_pass().parked == 1
            parked = rt.store.order("woocommerce:1022")
            assert parked is not None and parked.state == OrderState.PARKED
            reason = parked.park_reason or ""
            assert "VIES could not be reached to check BE0403170701" in reason
            assert "connector retry 1022" in reason
            assert rt.engine().run_pass().booked == 0  # parked stays parked: VIES not asked
            assert len(vies.asked) == 1

            assert [r.number for r in rt.store.requeue("1022")] == ["1022"]
            assert rt.engine().run_pass().booked == 1
        finally:
            rt.close()
    invoice = next(i for i in moneybird.invoices.values() if i["reference"] == "WC-1022")
    assert {d["tax_rate_id"] for d in invoice["details"]} == {MB_RATE_ICP}
