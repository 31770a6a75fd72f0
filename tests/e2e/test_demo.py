"""`connector demo` does what the README promises a newcomer."""

from __future__ import annotations

import io

from rich.console import Console

from connector.admin.demo import run_demo


def test_demo_books_every_mappable_order_and_parks_the_unmapped_one() -> None:
    out = io.StringIO()
    assert run_demo(Console(file=out, width=200)) == 0
    text = out.getvalue()
    assert "9 orders seen, 8 booked, 1 parked, 0 waiting for payment" in text
    assert "Invoices whose total and VAT equal the shop order's to the cent: 8 of 8" in text
    assert "Parked order 1006: no tax rule maps shop rate 3 'MwSt' (19%)" in text
    assert "Contacts: 4 created, 1 already in Moneybird" in text
    assert "0 booked, 0 parked; 0 Moneybird requests" in text
    assert "duplicate references: none" in text
    # The month reconciled: it agrees; after an invoice is deleted and another edited in
    # Moneybird, exactly those two orders are named (run_demo returns 1 otherwise).
    assert "Moneybird agrees with the shop" in text
    assert "order booked as 2026-0003, no longer in Moneybird" in text
    assert "total 11.38 in Moneybird, 70.33 in the shop" in text  # 1005: its 59.95 line at 1.00


def test_shopify_demo_books_exactly_and_parks_what_it_must() -> None:
    # The shipped part of Shopify's schema (connector/sandbox/shopify_schema.py): no
    # shared contracts needed, as after a pip install.
    out = io.StringIO()
    assert run_demo(Console(file=out, width=200), platform="shopify") == 0
    text = out.getvalue()
    assert "8 orders seen, 5 booked, 2 parked, 1 waiting for payment" in text
    assert "Invoices whose total and VAT equal the shop order's to the cent: 5 of 5" in text
    assert "Parked order 2006: the order sells a gift card" in text
    assert "set [gift_cards] sale = 'liability'" in text  # the section name kept
    assert "Parked order 2007: no tax rule maps shop rate 19" in text
