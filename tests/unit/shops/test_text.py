"""Text hygiene at the shop edge: a customer's mangled name books, and nothing downstream
(Moneybird, the state, the terminal) sees a lone surrogate, NUL or terminal escape."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from connector.runtime import Runtime
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import Item, Person, woo_order
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.shops import text as shop_text
from connector.state import OrderState

BAD = "\udc80\x00\x1b[31m"


def test_an_order_with_a_lone_surrogate_nul_and_escape_books_clean(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    person = Person(f"Jo{BAD}s", "Visser", "jos@example.nl", "Laan 1", "1234 AB", "Delft")
    order = woo_order(1050, person, [Item(f"Moka pot{BAD}", "MP-6", 1, "34.95", 1)], "0",
                      datetime.now(UTC) - timedelta(hours=1))  # fmt: skip
    shop.put_order(order)
    runtime.engine().run_pass()
    record = runtime.store.order("woocommerce:1050")
    assert record is not None and record.state == OrderState.PAID, record
    assert "control characters removed" in (record.notes or "")
    [invoice] = [i for i in moneybird.invoices.values() if i["reference"] == "WC-1050"]
    sent = json.dumps([invoice, list(moneybird.contacts.values())], ensure_ascii=False)
    for bad in ("\udc80", "\x00", "\x1b"):
        assert bad not in sent
    assert "Moka pot\ufffd[31m" in {d["description"] for d in invoice["details"]}
    assert any(c.get("firstname") == "Jo\ufffd[31ms" for c in moneybird.contacts.values())


def test_bytes_that_are_not_utf8_are_replaced_not_refused() -> None:
    body = b'[{"id": 1, "billing": {"first_name": "Ren\xe9"}}]'  # Latin-1, not UTF-8
    [order] = shop_text.read(body)
    assert order["billing"]["first_name"] == "Ren\ufffd"
    assert shop_text.note(order) == (
        "unreadable or control characters removed from the shop's text: billing.first_name",
    )
    assert shop_text.clean({"a": "ok"}) == {"a": "ok"}
