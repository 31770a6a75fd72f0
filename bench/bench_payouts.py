"""Moneybird requests per payout and per order for Mollie's and Shopify Payments' payouts.
Against the sandboxes on 127.0.0.1; prints figures.

    python bench/bench_payouts.py                          # Mollie, then Shopify; both modes
    python bench/bench_payouts.py --provider shopify       # 100 orders, 10 payouts
    python bench/bench_payouts.py --orders 60              # quicker
    python bench/bench_payouts.py --mode summary

Mollie: a month of WooCommerce orders (300) paid by iDEAL through Mollie; one settlement a day
(20: the day's payments, and the refunds and the chargeback made that day) with iDEAL's and
refunds' fees; 6 refunds through Mollie and a chargeback; each settlement's bank line on the
bank account with its reference.

Shopify: Shopify orders (100) paid through Shopify Payments; one payout a day (10: the day's
charges less their fees, and the refunds made that day); 3 refunds of a line through Shopify
Payments; each payout's bank line on the bank account with its trace id.

Per provider and mode, two runs:

- turned on later: the orders are booked with `[payouts]` off, as today; then `[payouts]` is
  turned on and a pass books the payouts. Its Moneybird requests are what the payouts add.
- on from the start: `[payouts]` is on while the orders are booked, before the provider has
  paid them out (in summary mode the days then leave the provider's part to the payouts);
  then the payouts come and a pass books them; a pass while their bank lines are still to
  come (shown apart: each pass costs it); then the bank lines arrive and a pass links them.
  What the payouts add is these passes but the waiting one, against the first run's orders'
  pass.

After each, one more pass must write nothing. Moneybird's limit is opened wide in the sandbox
and the configuration so nothing waits; what the requests cost at the real 150 per 5 minutes
is computed from their number.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.admin.demo import write_demo_config  # noqa: E402
from connector.config import load_config  # noqa: E402
from connector.runtime import Runtime, build  # noqa: E402
from connector.sandbox.mollie import MollieSandbox  # noqa: E402
from connector.sandbox.moneybird import MoneybirdSandbox  # noqa: E402
from connector.sandbox.seed import (  # noqa: E402
    FIN_BANK,
    FIN_MOLLIE,
    LEDGER_FEES_PAYABLE,
    LEDGER_TRANSFERS,
    Item,
    Person,
    seed_moneybird,
    seed_payout_ledgers,
    seed_shop,
    woo_order,
)
from connector.sandbox.shopify import (  # noqa: E402
    PAYMENTS_GATEWAY,
    PAYOUTS_SCOPE,
    ShopifySandbox,
)
from connector.sandbox.shopify_seed import BEANS, MOKA, seed_shopify, shopify_order  # noqa: E402
from connector.sandbox.woocommerce import WooCommerceSandbox  # noqa: E402
from connector.state import Meta, PayoutRecord, PayoutState  # noqa: E402
from connector.sync.payouts import BANK_POLL  # noqa: E402
from connector.sync.report import PassReport  # noqa: E402

LIMIT, REAL_WINDOW = 150, 300.0  # Moneybird's budget: 150 requests per 5 minutes
WIDE = 1_000_000  # the sandbox's and the connector's limit here: nothing waits
WRITES = ("POST", "PATCH", "PUT", "DELETE")
MERCHANT = "1234567"
TRANSFER, FEES_PAYABLE = LEDGER_TRANSFERS, LEDGER_FEES_PAYABLE
CHARGEBACKS = "460000000000000903"
SHOPIFY_FEES = "460000000000000904"
FIN_SHOPIFY = "420000000000000901"
REFUNDS, CHARGEBACK_DAY = 6, 9
SHOPIFY_REFUNDS = 3
FIRST_ORDER = 70000
FIRST_SHOPIFY_ORDER = 3001
PASSES_A_DAY = 96  # [sync] interval_minutes = 15, the default
# At most this many more requests per order with [payouts] on.
TARGETS = {"per_order": Decimal("1.4"), "summary": Decimal("0.15")}
# The full Admin schema, so every query the connector makes is checked against 2026-10.
SHOPIFY_SCHEMA = ROOT / "contracts" / "shopify" / "admin_2026-10.json.gz"

PAYOUTS = """
[payouts]
enabled = true
bank_account = "Bankrekening"

[payouts.mollie]
financial_account = "Mollie"
transfer_ledger = "Betalingen onderweg"
fee_ledger = "Nog te betalen Mollie-kosten"
fees_payable_ledger = "Nog te betalen Mollie-kosten"
chargeback_ledger = "Chargebacks Mollie"
api_url = "{url}"
"""

SHOPIFY_PAYOUTS = """
[payouts]
enabled = true
bank_account = "Bankrekening"

[payouts.shopify_payments]
financial_account = "Shopify Payments"
transfer_ledger = "Betalingen onderweg"
fee_ledger = "Transactiekosten Shopify Payments"
"""

# The bookkeeper's rule for Shopify Payments (mappings/payment.toml leaves it to them).
SHOPIFY_PAYMENT_RULE = f"""[[rule]]
note = "Shopify Payments"
method = "{PAYMENTS_GATEWAY}"
financial_account_id = "{FIN_SHOPIFY}"

"""


@dataclass
class Month:
    """The shop's orders and what Mollie did with them."""

    orders: list[dict[str, Any]]
    first: datetime
    days: int
    # (order id, day of the refund, its line id) for the refunds made through Mollie
    refunds: list[tuple[int, int, int]] = field(default_factory=list)
    chargeback: tuple[int, int] | None = None  # (order id, its day)


def month(count: int, days: int) -> Month:
    """`count` orders over `days` days, ending a week ago (so summary mode's days are settled);
    refunds a day after some early orders, a chargeback a week after one."""
    first = (datetime.now(UTC) - timedelta(days=days + 7)).replace(
        hour=8, minute=0, second=0, microsecond=0
    )
    per_day = -(-count // days)
    orders = []
    for n in range(count):
        day, slot = divmod(n, per_day)
        who = Person(f"Klant{n % 40}", "Bench", f"klant{n % 40}@example.nl", f"Straat {n % 40}",
                     "3511 AB", "Utrecht")  # fmt: skip
        items = [
            Item("Moka pot 6 kops", "MP-6", 1, "34.95", 1),
            Item("Koffiebonen Ethiopië 500g", "KB", 1 + n % 3, "12.95", 2),
        ][n % 2 :]
        created = first + timedelta(days=day, minutes=slot * 720 // per_day)  # 08:00-20:00
        ideal = ("mollie_wc_gateway_ideal", "iDEAL", f"tr_bench{n:05d}")
        orders.append(woo_order(FIRST_ORDER + n, who, items, "4.95", created, payment=ideal))
    result = Month(orders, first, days)
    used_days = -(-count // per_day)
    for k in range(REFUNDS):
        day = (k * 3) % max(used_days - 1, 1)
        order = orders[min(day * per_day + 1, count - 1)]
        result.refunds.append((int(order["id"]), day + 1, int(order["line_items"][0]["id"])))
    if used_days > 2:
        cb_day = min(CHARGEBACK_DAY, used_days - 1)
        result.chargeback = (int(orders[min(per_day + 2, count - 1)]["id"]), cb_day)
    return result


@dataclass
class ShopifyMonth:
    """The Shopify shop's orders and what Shopify Payments did with them."""

    orders: list[dict[str, Any]]
    first: datetime
    days: int
    # (order gid, day of the refund, line item gid, its unit price, the VAT in it): one of the
    # line refunded through Shopify Payments
    refunds: list[tuple[str, int, str, str, str]] = field(default_factory=list)


def shopify_month(count: int, days: int) -> ShopifyMonth:
    """`count` Shopify orders paid through Shopify Payments over `days` days, ending a week
    ago; a line of some early orders refunded a day later."""
    first = (datetime.now(UTC) - timedelta(days=days + 7)).replace(
        hour=8, minute=0, second=0, microsecond=0
    )
    per_day = -(-count // days)
    orders = []
    for n in range(count):
        day, slot = divmod(n, per_day)
        who = Person(f"Klant{n % 40}", "Bench", f"klant{n % 40}@example.nl", f"Straat {n % 40}",
                     "3511 AB", "Utrecht")  # fmt: skip
        products = [MOKA, dataclasses.replace(BEANS, qty=1 + n % 3)][n % 2 :]
        created = first + timedelta(days=day, minutes=slot * 720 // per_day)  # 08:00-20:00
        orders.append(shopify_order(FIRST_SHOPIFY_ORDER + n, who, products, "4.95", created,
                                    gateway=PAYMENTS_GATEWAY))  # fmt: skip
    result = ShopifyMonth(orders, first, days)
    used_days = -(-count // per_day)
    refunded: set[str] = set()
    for k in range(SHOPIFY_REFUNDS):
        day = (k * 3) % max(used_days - 1, 1)
        order = orders[min(day * per_day + 1, count - 1)]
        if order["id"] in refunded:
            continue
        refunded.add(order["id"])
        line = order["lineItems"][0]
        price = Decimal(line["originalUnitPriceSet"]["shopMoney"]["amount"])
        rate = Decimal(str(line["taxLines"][0]["ratePercentage"]))
        tax = (price * rate / (100 + rate)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        result.refunds.append((order["id"], day + 1, line["id"], f"{price:.2f}", f"{tax:.2f}"))
    return result


class BankLine(NamedTuple):
    day: date
    amount: Decimal
    message: str


def at(m: Month | ShopifyMonth, day: int, hours: float) -> datetime:
    return m.first.replace(hour=0) + timedelta(days=day, hours=hours)


def paid_at(order: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(order["date_paid_gmt"]).replace(tzinfo=UTC)


def refund_in_shop(m: Month, shop: WooCommerceSandbox) -> list[str]:
    """The refunds as the shop owner makes them, through Mollie: their amounts."""
    amounts = []
    for order_id, day, line_id in m.refunds:
        refund = shop.refund_as_the_form_does(order_id, [(line_id, 1)], when=at(m, day, 10),
                                              refunded_payment=True, reason="Retour")  # fmt: skip
        amounts.append(str(refund["amount"]))
    return amounts


def pay(m: Month, mollie: MollieSandbox) -> None:
    """Mollie's payments, one per order, as the plugin makes them."""
    for order in m.orders:
        mollie.add_payment(order["transaction_id"], order["total"], int(order["id"]),
                           paid_at(order), order_number=str(order["number"]))  # fmt: skip


def settle(m: Month, refunded: list[str], mollie: MollieSandbox) -> list[BankLine]:
    """Mollie's refunds and chargeback, everything settled one settlement a day. Returns each
    settlement's bank line, as the bank will show it."""
    by_day: dict[int, dict[str, list[str]]] = {}
    lines: list[BankLine] = []

    def put(day: int, kind: str, ident: str) -> None:
        parts = by_day.setdefault(day, {"payments": [], "refunds": [], "chargebacks": []})
        parts[kind].append(ident)

    start = m.first.replace(hour=0)
    for order in m.orders:
        put((paid_at(order) - start).days, "payments", order["transaction_id"])
    for n, ((order_id, day, _line), amount) in enumerate(zip(m.refunds, refunded, strict=True)):
        payment = f"tr_bench{order_id - FIRST_ORDER:05d}"
        mollie.add_refund(f"re_bench{n:04d}", payment, amount, at(m, day, 10))
        put(day, "refunds", f"re_bench{n:04d}")
    if m.chargeback is not None:
        order_id, day = m.chargeback
        payment = f"tr_bench{order_id - FIRST_ORDER:05d}"
        amount = mollie.payments[payment]["amount"]["value"]
        mollie.add_chargeback("chb_bench0001", payment, amount, at(m, day, 11))
        put(day, "chargebacks", "chb_bench0001")
    for day, parts in sorted(by_day.items()):
        settled = at(m, day + 1, 4)
        reference = f"{MERCHANT}.{settled:%y%m}.{day + 1:02d}"
        settlement = mollie.settle(f"stl_bench{day:03d}", reference, parts["payments"],
                                   parts["refunds"], parts["chargebacks"],
                                   settled_at=settled)  # fmt: skip
        lines.append(BankLine((settled + timedelta(days=1)).date(),
                              Decimal(settlement["amount"]["value"]),
                              f"Stichting Mollie Payments {reference}"))  # fmt: skip
    return lines


def arrive(lines: list[BankLine], mb: MoneybirdSandbox) -> None:
    """The bank's own import brings the payouts' lines onto the bank account."""
    for line in lines:
        mb.add_bank_line(FIN_BANK, line.day, line.amount, line.message)


def refund_in_shopify(s: ShopifyMonth, shop: ShopifySandbox) -> list[tuple[str, dict[str, Any]]]:
    """The refunds as the shop owner makes them in Shopify's admin, each on its day: the order
    and the refund made."""
    made = []
    for gid, day, line, price, tax in s.refunds:
        shop.clock_offset = at(s, day, 10) - datetime.now(UTC)
        try:
            made.append((gid, shop.refund(gid, items=[(line, 1, price, tax)], note="Retour")))
        finally:
            shop.clock_offset = timedelta(0)
    return made


def pay_out_shopify(
    s: ShopifyMonth, made: list[tuple[str, dict[str, Any]]], shop: ShopifySandbox
) -> list[BankLine]:
    """Shopify Payments' charges (each less its fee) and the refunds, paid out one payout a
    day, at 04:00 the day after. Returns each payout's bank line, as the bank will show it."""
    for order in s.orders:
        shop.payments_charge(order["id"])
    for gid, refund in made:
        shop.payments_refund(gid, refund)
    start = s.first.replace(hour=0)
    days = sorted(
        {(datetime.fromisoformat(row["transactionDate"]) - start).days
         for row in shop.balance_transactions if row["associatedPayout"]["id"] is None}
    )  # fmt: skip
    lines = []
    for day in days:
        issued = at(s, day + 1, 4)
        payout = shop.pay_out(issued, trace_id=f"SP{issued:%y%m%d}")
        lines.append(BankLine((issued + timedelta(days=1)).date(),
                              Decimal(payout["net"]["amount"]),
                              f"SHOPIFY PAYMENTS {payout['externalTraceId']}"))  # fmt: skip
    return lines


def _ledger(mb: MoneybirdSandbox, lid: str, name: str, code: str, kind: str) -> dict[str, Any]:
    return {"id": lid, "administration_id": int(mb.administration_id), "name": name,
            "account_type": kind, "account_id": code, "parent_id": None,
            "allowed_document_types": []}  # fmt: skip


def ledgers(mb: MoneybirdSandbox) -> None:
    """What the bookkeeper makes for Mollie's payouts (docs/payouts.md), and a chargebacks
    ledger."""
    seed_payout_ledgers(mb)
    mb.ledger_accounts.append(_ledger(mb, CHARGEBACKS, "Chargebacks Mollie", "4990", "expenses"))


def shopify_ledgers(mb: MoneybirdSandbox) -> None:
    """What the bookkeeper makes for Shopify Payments' payouts: its financial account, a fee
    ledger and the transfer ledger."""
    mb.ledger_accounts += [
        _ledger(mb, TRANSFER, "Betalingen onderweg", "1999", "current_assets"),
        _ledger(mb, SHOPIFY_FEES, "Transactiekosten Shopify Payments", "4600", "expenses"),
    ]
    mb.financial_accounts.append(
        {"id": FIN_SHOPIFY, "type": "PaymentServiceProvider", "name": "Shopify Payments",
         "identifier": "Shopify Payments", "currency": "EUR", "active": True}
    )  # fmt: skip


@dataclass
class World:
    mb: MoneybirdSandbox
    shop: WooCommerceSandbox | ShopifySandbox
    folder: Path
    mode: str
    start: date  # the orders' first day: [sync] start
    payouts: str  # the [payouts] section
    env: dict[str, str]  # the shop's and the provider's secrets
    provider_requests: Callable[[], int]  # the provider's requests so far
    mollie: MollieSandbox | None = None
    payment: Path | None = None  # a payment table of its own

    def runtime(self, payouts: bool) -> Runtime:
        """A runtime on the one state file, with `[payouts]` on or off."""
        platform = "shopify" if isinstance(self.shop, ShopifySandbox) else "woocommerce"
        path = write_demo_config(self.folder, self.shop.url, self.mb, ROOT / "mappings", platform)
        text = path.read_text().replace(
            f'api_url = "{self.mb.api_url}"',
            f'api_url = "{self.mb.api_url}"\nrate_limit = {WIDE}\nrate_window_seconds = 1',
        )
        text = re.sub(r"(?m)^start = .*$", f"start = {self.start.isoformat()}", text)
        text = text.replace("[sync]\n", f'[sync]\nmode = "{self.mode}"\n')
        if self.payment is not None:
            shipped = ROOT / "mappings" / "payment.toml"
            text = text.replace(f'payment = "{shipped}"', f'payment = "{self.payment}"')
        if payouts:
            text += self.payouts
        path.write_text(text)
        return build(load_config(path, environ={"MONEYBIRD_TOKEN": self.mb.token, **self.env}))


@contextmanager
def mollie_world(m: Month, mode: str) -> Iterator[World]:
    mb = MoneybirdSandbox(rate_limit=WIDE, rate_window=1.0)
    seed_moneybird(mb)
    ledgers(mb)
    shop = WooCommerceSandbox()
    seed_shop(shop, copy.deepcopy(m.orders))  # the shop changes its orders (refunds)
    mollie = MollieSandbox()
    mb.start()
    shop.start()
    mollie.start()
    try:
        folder = Path(tempfile.mkdtemp(prefix="bench-payouts-"))
        env = {
            "WOOCOMMERCE_CONSUMER_KEY": shop.consumer_key,
            "WOOCOMMERCE_CONSUMER_SECRET": shop.consumer_secret,
            "MOLLIE_API_KEY": mollie.api_key,
        }
        yield World(mb, shop, folder, mode, m.first.date(), PAYOUTS.format(url=mollie.url), env,
                    lambda: len(mollie.requests), mollie=mollie)  # fmt: skip
    finally:
        mollie.stop()
        shop.stop()
        mb.stop()


@contextmanager
def shopify_world(s: ShopifyMonth, mode: str) -> Iterator[World]:
    mb = MoneybirdSandbox(rate_limit=WIDE, rate_window=1.0)
    seed_moneybird(mb)
    shopify_ledgers(mb)
    shop = ShopifySandbox(schema_path=SHOPIFY_SCHEMA, restore_rate=WIDE)
    shop.shopify_payments = True
    shop.scopes = (*shop.scopes, PAYOUTS_SCOPE)
    seed_shopify(shop, copy.deepcopy(s.orders))  # the shop changes its orders (refunds)
    mb.start()
    shop.start()
    try:
        folder = Path(tempfile.mkdtemp(prefix="bench-payouts-shopify-"))
        payment = folder / "payment.toml"
        shipped = (ROOT / "mappings" / "payment.toml").read_text(encoding="utf-8")
        payment.write_text(SHOPIFY_PAYMENT_RULE + shipped, encoding="utf-8")
        env = {"SHOPIFY_ACCESS_TOKEN": shop.access_token}
        yield World(mb, shop, folder, mode, s.first.date(), SHOPIFY_PAYOUTS, env,
                    lambda: len(shop.queries), payment=payment)  # fmt: skip
    finally:
        shop.stop()
        mb.stop()


@dataclass
class Scenario:
    """One provider's bench: its world, what the shop owner does before the orders' pass (it
    gives back what the provider then does: its payouts, with their bank lines), and words."""

    headline: Callable[[int], str]  # the orders and the payouts made of them, by their number
    world: Callable[[str], AbstractContextManager[World]]  # by mode
    before: Callable[[World], Callable[[], list[BankLine]]]
    account: str  # the provider's financial account in Moneybird
    account_name: str
    payouts_name: str  # "settlements"
    requests_name: str  # "Mollie requests"
    # Besides the reasons with their numbers as #, each cause of a payout not done, numbers kept.
    causes: bool = False


def mollie_scenario(m: Month, count: int) -> Scenario:
    def headline(settlements: int) -> str:
        return (f"{count} orders in {settlements} settlements ({len(m.refunds)} refunds, "
                f"{'a chargeback' if m.chargeback else 'no chargeback'})")  # fmt: skip

    def before(w: World) -> Callable[[], list[BankLine]]:
        assert isinstance(w.shop, WooCommerceSandbox) and w.mollie is not None
        mollie = w.mollie
        refunded = refund_in_shop(m, w.shop)
        pay(m, mollie)
        return lambda: settle(m, refunded, mollie)

    return Scenario(headline, lambda mode: mollie_world(m, mode), before, FIN_MOLLIE, "Mollie",
                    "settlements", "Mollie requests")  # fmt: skip


def shopify_scenario(s: ShopifyMonth, count: int) -> Scenario:
    def headline(payouts: int) -> str:
        return (f"{count} Shopify orders in {payouts} Shopify Payments payouts "
                f"({len(s.refunds)} refunds, Shopify Payments' fees)")  # fmt: skip

    def before(w: World) -> Callable[[], list[BankLine]]:
        assert isinstance(w.shop, ShopifySandbox)
        shop = w.shop
        made = refund_in_shopify(s, shop)
        return lambda: pay_out_shopify(s, made, shop)

    return Scenario(headline, lambda mode: shopify_world(s, mode), before, FIN_SHOPIFY,
                    "Shopify Payments", "payouts", "Shopify GraphQL queries",
                    causes=True)  # fmt: skip


ID = re.compile(r"/\d+(?=/|$)")


def endpoint(method: str, path: str) -> str:
    """`GET financial_mutations`, `PATCH financial_mutations/{id}/link_booking`, ..."""
    inner = path.split("/", 4)[-1].removesuffix(".json")
    return f"{method} {ID.sub('/{id}', '/' + inner).lstrip('/')}"


@dataclass
class Pass:
    requests: int
    writes: int
    seconds: float
    by_endpoint: Counter[str]
    provider: int  # the provider's requests (Shopify: every GraphQL query, the orders' too)
    report: PassReport


def counted(
    runtime: Runtime, mb: MoneybirdSandbox, provider: Callable[[], int] | None = None
) -> Pass:
    """One pass, and the Moneybird requests it made (link_booking by what it links to)."""
    before, provider_before = len(mb.received), provider() if provider else 0
    t0 = time.monotonic()
    report = runtime.engine().run_pass()
    seconds = time.monotonic() - t0
    new = mb.received[before:]
    by_endpoint: Counter[str] = Counter()
    for method, path, _query, body in new:
        name = endpoint(method, path)
        if name.endswith("/link_booking") and isinstance(body, dict):
            name += f" ({body.get('booking_type')})"
        by_endpoint[name] += 1
    return Pass(
        requests=len(new),
        writes=sum(1 for r in new if r[0] in WRITES),
        seconds=seconds,
        by_endpoint=by_endpoint,
        provider=provider() - provider_before if provider else 0,
        report=report,
    )


@dataclass
class Run:
    settlements: int
    booking: Pass  # the orders' pass
    payouts: list[Pass]  # the passes after the provider's payouts came
    waiting: Pass | None  # a pass while the payouts wait for their bank lines
    again: Pass
    records: list[PayoutRecord]
    balance: Decimal  # of the provider's account in Moneybird


def run(sc: Scenario, mode: str, on_from_start: bool) -> Run:
    """Turned on later: the orders booked with [payouts] off; then on, with the provider's
    payouts and their bank lines there. On from the start: the orders booked with [payouts]
    on; then the payouts; a pass; one more while the bank lines are still to come; then they
    arrive, and a pass links them."""
    with sc.world(mode) as w:
        pay_out = sc.before(w)
        runtime = w.runtime(payouts=on_from_start)
        calls = w.provider_requests
        waiting = None
        try:
            booking = counted(runtime, w.mb, calls)
            if not on_from_start:
                runtime.close()
                runtime = w.runtime(payouts=True)
            lines = pay_out()
            if on_from_start:
                payouts = [counted(runtime, w.mb, calls)]
                waiting = counted(runtime, w.mb, calls)
                arrive(lines, w.mb)
                # The bank account is looked at every BANK_POLL (12 hours) while payouts wait:
                # the pass that links the lines is the first one that long after the last look.
                looked = runtime.store.get_meta(Meta.BANK_SEARCHED_AT)
                if looked:
                    back = datetime.fromisoformat(looked) - BANK_POLL - timedelta(minutes=1)
                    runtime.store.set_meta(Meta.BANK_SEARCHED_AT, back.isoformat())
                payouts.append(counted(runtime, w.mb, calls))
            else:
                arrive(lines, w.mb)
                payouts = [counted(runtime, w.mb, calls)]
            again = counted(runtime, w.mb, calls)
            records = runtime.store.payouts()
        finally:
            runtime.close()
        balance = sum(
            (Decimal(x["amount"]) for x in w.mb.financial_mutations.values()
             if x["financial_account_id"] == sc.account),
            Decimal(0),
        )  # fmt: skip
    return Run(len(lines), booking, payouts, waiting, again, records, balance)


def show(sc: Scenario, mode: str, count: int) -> None:
    later, start = run(sc, mode, False), run(sc, mode, True)
    print(f"\n== {mode} mode: {sc.headline(later.settlements)}, "
          f"Moneybird's limit opened to {WIDE:,} so nothing waited ==")  # fmt: skip
    base = later.booking
    r = base.report
    print(f"orders' pass, [payouts] off: {r.booked} booked ({r.in_days} in days), {r.parked} "
          f"parked, {r.refunds_booked} refunds booked; {base.requests} Moneybird requests "
          f"({base.requests / count:.2f} per order)")  # fmt: skip
    print("\n[payouts] turned on after the orders were booked:")
    _payouts(sc, later, 0, count, mode)
    print(f"\n[payouts] on from the start, the {sc.payouts_name} made after the orders' pass:")
    own = start.booking
    print(f"orders' pass, [payouts] on: {own.requests} Moneybird requests "
          f"({own.requests - base.requests:+d} against [payouts] off), {own.provider} "
          f"{sc.requests_name}; " + _endpoints(own.by_endpoint - base.by_endpoint, "more: ")
          + _endpoints(base.by_endpoint - own.by_endpoint, "; fewer: "))  # fmt: skip
    _payouts(sc, start, own.requests - base.requests, count, mode)


def _payouts(sc: Scenario, r: Run, before: int, count: int, mode: str) -> None:
    """The payouts' passes: what they requested, what they made of the payouts, the pass
    after."""
    requests = sum(p.requests for p in r.payouts)
    by_endpoint = sum((p.by_endpoint for p in r.payouts), Counter[str]())
    extra = before + requests
    what = "payouts' pass" if len(r.payouts) == 1 else "payouts' passes (the bank lines' last)"
    print(f"{what}: {requests} Moneybird requests ({sum(p.writes for p in r.payouts)} writes), "
          f"{sum(p.provider for p in r.payouts)} {sc.requests_name}, "
          f"{sum(p.seconds for p in r.payouts):.1f} s")  # fmt: skip
    for name, n in sorted(by_endpoint.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {n:>6}  {name}")
    states = Counter(str(rec.state) for rec in r.records)
    booked = sum(p.report.payouts_booked for p in r.payouts)
    linked = sum(p.report.payouts_linked for p in r.payouts)
    print(f"payouts: {dict(sorted(states.items()))}; statements {booked}, bank lines linked "
          f"{linked}; the {sc.account_name} account in Moneybird holds {r.balance:.2f}")  # fmt: skip
    reasons = Counter(
        (str(rec.state), _alike(rec.reason or rec.last_error))
        for rec in r.records
        if rec.state != PayoutState.DONE
    )
    for (state, reason), n in reasons.most_common(5):
        print(f"  {n} {state}: {reason}")
    first = next((rec for rec in r.records if rec.state != PayoutState.DONE), None)
    if sc.causes and first is not None:
        print(f"  the first of them, {first.key}, numbers kept:")
        for cause in _causes(first):
            print(f"    {cause}")
    for problem in [q for p in r.payouts for q in p.report.payout_problems][:3]:
        print(f"  problem: {problem[:300]}")
    minutes = extra / LIMIT * REAL_WINDOW / 60
    settlements = max(r.settlements, 1)
    print(f"more than with [payouts] off: {extra} Moneybird requests = {extra / count:.3f} per "
          f"order (target: at most {TARGETS[mode]}), {extra / settlements:.1f} per "
          f"payout; at {LIMIT} per {REAL_WINDOW / 60:.0f} minutes {minutes:.1f} minutes "
          f"({minutes * 60 / settlements:.0f} s a payout)")  # fmt: skip
    if r.waiting is not None:
        w = r.waiting
        day = w.requests * PASSES_A_DAY
        print(f"a pass while the {r.settlements} payouts wait for their bank lines (not counted "
              f"above): {w.requests} Moneybird requests, {w.provider} {sc.requests_name}; "
              + _endpoints(w.by_endpoint, "")
              + f"; at a pass every {24 * 60 // PASSES_A_DAY} minutes {day:,} a day, the bank "
              f"looked at every {BANK_POLL.total_seconds() / 3600:.0f} hours")  # fmt: skip
    a = r.again
    print(f"the pass after: {a.requests} Moneybird requests, {a.writes} writes (must be 0), "
          f"{a.provider} {sc.requests_name}; " + _endpoints(a.by_endpoint, ""))  # fmt: skip


def _endpoints(counts: Counter[str], lead: str) -> str:
    if not counts:
        return ""
    return lead + ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))


def _causes(record: PayoutRecord) -> list[str]:
    """A payout's reason, one line per `; `, a long list of the parts it names shortened in the
    middle, so what went wrong shows."""
    causes = (record.reason or record.last_error or "(no reason)").split("; ")
    return [c if len(c) <= 240 else f"{c[:90]} … {c[-150:]}" for c in causes]


def _alike(text: str | None) -> str:
    """A reason with its numbers as #, so the same reason for several payouts counts once."""
    return re.sub(r"\d[\d.,-]*\d|\d", "#", text or "(no reason)")[:400]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, help="Mollie: 300 by default, Shopify: 100")
    parser.add_argument("--settlements", type=int,
                        help="payouts, one a day; Mollie: 20 by default, Shopify: 10")  # fmt: skip
    parser.add_argument("--mode", choices=("per_order", "summary", "both"), default="both")
    parser.add_argument("--provider", choices=("mollie", "shopify", "both"), default="both")
    args = parser.parse_args()
    modes = ("per_order", "summary") if args.mode == "both" else (args.mode,)
    if args.provider in ("mollie", "both"):
        count = args.orders or 300
        mollie = mollie_scenario(month(count, args.settlements or 20), count)
        for mode in modes:
            show(mollie, mode, count)
    if args.provider in ("shopify", "both"):
        count = args.orders or 100
        shopify = shopify_scenario(shopify_month(count, args.settlements or 10), count)
        for mode in modes:
            show(shopify, mode, count)


if __name__ == "__main__":
    main()
