"""How exact is booking? Random baskets computed the way shops compute them, booked twice:
always on the shop's own basis (sync.invoice_basis = "shop", as before) and on the exact basis
(the default). Prints the share booked exactly on the first try, the share that needed the
rounding policy, and the share parked. Pure CPU, no I/O.

    python bench/bench_exactness.py              # 20,000 baskets
    python bench/bench_exactness.py --baskets 2000 --seed 7
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.booking.book import BookingSettings, Parked, book
from connector.booking.mappings import LedgerRule, Mappings, TaxRule
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.shops.woocommerce.parse import order_from_woocommerce

D = Decimal
CENT = D("0.01")
PERCENT = {1: D(21), 2: D(9), 3: D(0)}
RATES = {
    "21": MoneybirdTaxRate("21", "21% btw", D("21.0"), "sales_invoice", True),
    "9": MoneybirdTaxRate("9", "9% btw", D("9.0"), "sales_invoice", True),
    "0": MoneybirdTaxRate("0", "0% btw", D("0.0"), "sales_invoice", True),
}
MAPPINGS = Mappings(
    tax=(
        TaxRule(shop_rate_id="1", tax_rate_id="21"),
        TaxRule(shop_rate_id="2", tax_rate_id="9"),
        TaxRule(shop_rate_id="3", tax_rate_id="0"),
    ),
    ledger=(
        LedgerRule(kind="product", ledger_account_id="8000"),
        LedgerRule(kind="shipping", ledger_account_id="8050"),
        LedgerRule(kind="discount", ledger_account_id="8090"),
    ),
)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def basket(rng: random.Random) -> dict[str, Any]:
    """A WooCommerce order as the shop computes it: prices incl. or excl. VAT, VAT rounded per
    line or on the subtotal per rate, mixed 21/9/0, an optional percentage coupon, shipping."""
    incl = rng.random() < 0.6
    per_line = rng.random() < 0.5
    coupon = rng.choice([D(0), D(0), D(10), D(15), D(25)])
    lines: list[dict[str, Any]] = []
    unrounded: dict[int, Decimal] = {}
    for n in range(rng.randint(1, 6)):
        rate = rng.choices([1, 2, 3], weights=[6, 3, 1])[0]
        pct = PERCENT[rate]
        qty = rng.randint(1, 3)
        price = D(rng.randint(99, 9999)) / 100
        before = cents(price * qty)
        after = cents(before * (1 - coupon / 100))
        if incl:  # the price includes VAT: the net is what is left of it
            exact_tax = after * pct / (100 + pct)
            tax = cents(exact_tax)
            net, sub_net = after - tax, before - cents(before * pct / (100 + pct))
            sub_tax = cents(before * pct / (100 + pct))
        else:
            exact_tax = after * pct / 100
            tax, net = cents(exact_tax), after
            sub_net, sub_tax = before, cents(before * pct / 100)
        unrounded[rate] = unrounded.get(rate, D(0)) + exact_tax
        lines.append({
            "id": n + 1, "name": f"Item {n}", "quantity": qty, "sku": "", "tax_class": "",
            "subtotal": f"{sub_net}", "subtotal_tax": f"{sub_tax}", "total": f"{net}",
            "total_tax": f"{tax}", "taxes": [{"id": rate, "total": f"{tax}", "subtotal": f"{sub_tax}"}],
        })  # fmt: skip
    ships = []
    if rng.random() < 0.7:
        gross = rng.choice([D("4.95"), D("6.95"), D("3.99"), D("9.50")])
        ship_tax_exact = gross * 21 / 121 if incl else gross * D("0.21")
        ship_tax = cents(ship_tax_exact)
        ship_net = gross - ship_tax if incl else gross
        ships.append({"id": 90, "method_title": "PostNL", "total": f"{ship_net}",
                      "total_tax": f"{ship_tax}", "taxes": [{"id": 1, "total": f"{ship_tax}"}]})  # fmt: skip
    tax_lines, vat_total = [], D(0)
    for rate in sorted({ln["taxes"][0]["id"] for ln in lines} | ({1} if ships else set())):
        line_taxes = sum(D(ln["total_tax"]) for ln in lines if ln["taxes"][0]["id"] == rate)
        cart = line_taxes if per_line else cents(unrounded.get(rate, D(0)))
        ship = D(ships[0]["total_tax"]) if ships and rate == 1 else D(0)
        tax_lines.append({"id": 500 + rate, "rate_id": rate, "label": f"{PERCENT[rate]}%",
                          "rate_percent": str(PERCENT[rate]), "tax_total": f"{cart}",
                          "shipping_tax_total": f"{ship}"})  # fmt: skip
        vat_total += cart + ship
    net_total = sum(D(ln["total"]) for ln in lines) + sum(D(s["total"]) for s in ships)
    return {
        "id": 1, "number": "1", "status": "completed", "currency": "EUR",
        "prices_include_tax": incl, "total": f"{net_total + vat_total}",
        "date_paid_gmt": "2026-10-05T10:00:00", "date_modified_gmt": "2026-10-05T10:01:00",
        "billing": {"first_name": "A", "last_name": "B", "email": "a@example.nl", "country": "NL"},
        "shipping": {"country": "NL"}, "payment_method": "bacs", "transaction_id": "",
        "line_items": lines, "shipping_lines": ships, "fee_lines": [], "tax_lines": tax_lines,
        "coupon_lines": [], "meta_data": [],
    }  # fmt: skip


def outcome(payload: dict[str, Any], basis: str) -> str:
    result = book(
        order_from_woocommerce(payload), MAPPINGS, RATES, BookingSettings(invoice_basis=basis)
    )
    if isinstance(result, Parked):
        return "parked"
    exact = result.predicted == result.shop_totals and not any(
        "residue" in n or "tolerance" in n for n in result.notes
    )
    return "exact" if exact else "rounding policy"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baskets", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    baskets = [basket(rng) for _ in range(args.baskets)]
    print(f"{args.baskets:,} random baskets (seed {args.seed}): incl./excl. VAT, VAT per line or "
          "per subtotal, 21/9/0%, coupons, taxed shipping")  # fmt: skip
    for basis, label in (("shop", "shop's own basis (before)"), ("exact", "exact basis (now)")):
        counts = Counter(outcome(p, basis) for p in baskets)
        shares = ", ".join(
            f"{name} {counts[name] / len(baskets):.2%}"
            for name in ("exact", "rounding policy", "parked")
        )
        print(f"{label:28}: {shares}")


if __name__ == "__main__":
    main()
