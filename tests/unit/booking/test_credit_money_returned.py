"""A credit invoice equals the money returned: the real WooCommerce 10.0.2 order and refund
recorded in tests/fixtures/realshop/ (order 28, prices incl. VAT: a coffee grinder at 21%, 2
teas at 9% for 10.06 + 0.91, shipping, a 15% coupon; refund 39 returns 1 of the 2 teas worked
out per unit from the figures the API shows: 5.03 + 0.455 VAT, paid back 5.49; the refund form
itself divides the stored unrounded figures and pays back 5.48), booked by hand:

- the credit has one line, the tea at 9% on its ledger, 5.03 + 0.46 = 5.49 incl. VAT (the
  line's `taxes[].total`; its `total_tax` of 0.45 would make 5.48, a cent short);
- the shop's VAT is 0.46; Moneybird computes 5.49 x 9/109 = 0.4532... = 0.45 on a price incl.
  VAT, a cent of VAT rounding within the tolerance, noted;
- paid out 5.49, no remainder left for a rounding payment.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.booking.book import book
from connector.booking.credit import (
    CreditDraft,
    book_refund,
    line_map,
    net_of_refunds,
    original_from_draft,
)
from connector.booking.invoice import InvoiceDraft, Totals
from connector.shops.woocommerce.parse import order_from_woocommerce
from tests.unit.booking.test_book import EUR, NL, R9, R21, RATES

D = Decimal
RECORDED = Path(__file__).parents[2] / "fixtures" / "realshop"


def recorded(variant: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    answers = json.loads((RECORDED / f"{variant}.json").read_text())
    return (
        answers["order-partial-quantity"]["body"],
        answers["refunds-of-order-partial-quantity"]["body"],
    )


@pytest.mark.parametrize("variant", ["hpos_incl", "posts_incl"])
def test_the_real_partial_quantity_refund_is_credited_as_the_money_returned(variant: str) -> None:
    payload, refunds = recorded(variant)
    order = order_from_woocommerce(payload, refunds=refunds)
    [refund] = order.refunds
    draft = book(order, NL, RATES, EUR)
    assert isinstance(draft, InvoiceDraft)
    credit = book_refund(order, refund, original_from_draft(draft), line_map(draft), RATES, NL, EUR)
    assert isinstance(credit, CreditDraft) and not credit.full
    assert [(ln.description, ln.total, ln.tax_rate_id, ln.ledger_account_id)
            for ln in credit.lines] == [("Thee Earl Grey 100g", D("-5.49"), R9, "8010")]  # fmt: skip
    assert credit.expected == Totals(D("-5.49"), {R9: D("-0.46")})
    assert credit.predicted == Totals(D("-5.49"), {R9: D("-0.45")})  # what Moneybird computes
    [payout] = credit.payments
    assert payout.amount == D("-5.49")
    # Nothing refunded without lines, nothing left over: Moneybird's VAT rounding is all.
    assert credit.notes == ("within rounding tolerance: VAT at '9% btw' 0.01 off the shop's",)


def test_the_real_refund_booked_net_on_the_order_invoice_takes_the_money_returned_off() -> None:
    payload, refunds = recorded("hpos_incl")
    order = order_from_woocommerce(payload, refunds=refunds)
    net_settings = replace(EUR, refunds_net=True)
    draft = book(order, NL, RATES, net_settings)
    assert isinstance(draft, InvoiceDraft)
    net = net_of_refunds(draft, order, RATES, net_settings)
    assert isinstance(net, InvoiceDraft)
    [returned] = [ln for ln in net.lines if ln.line_id == "18" and ln.total < 0]
    assert (returned.total, returned.tax_rate_id) == (D("-5.49"), R9)
    # 70.33 paid less 5.49 returned; VAT 21% 8.84 + 1.46 shipping, 9% 0.91 less 0.46.
    assert net.shop_totals == Totals(D("64.84"), {R21: D("10.30"), R9: D("0.45")})
