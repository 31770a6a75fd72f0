"""Shipping VAT in a mixed basket, split by the value of the goods (pure).

Shipping follows the main supply; when the goods carry different VAT rates the Dutch tax
authority has the shipping split over those rates in proportion to the goods' value. Shops
usually charge one rate on all shipping instead. With `shipping_vat = "split_by_goods_value"`
each shipping line becomes one line per rate of the goods: what the customer paid for shipping
(VAT included) is shared out in proportion to the goods' value excluding VAT, and the VAT in
each share is worked out at that rate, so the invoice gross stays what the customer paid.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from connector.booking.invoice import vat_in
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.money import ZERO, split
from connector.order import LineKind, OrderLine


def split_shipping(
    lines: list[OrderLine],
    shop_vat: dict[str | None, Decimal],
    mb_rate_for: dict[str | None, MoneybirdTaxRate],
) -> tuple[list[OrderLine], dict[str | None, Decimal], list[str]]:
    """The order's lines with shipping split, the VAT per shop rate that follows, and notes.
    Nothing changes for a basket whose goods are all at one rate."""
    goods: dict[str, Decimal] = {}  # Moneybird rate -> goods value excl. VAT
    shop_rate_of: dict[str, str | None] = {}  # Moneybird rate -> a shop rate id booked at it
    for line in lines:
        if line.kind is LineKind.PRODUCT and line.net > ZERO:
            mb_id = mb_rate_for[line.rate_id].id
            goods[mb_id] = goods.get(mb_id, ZERO) + line.net
            shop_rate_of.setdefault(mb_id, line.rate_id)
    shipping = [ln for ln in lines if ln.kind is LineKind.SHIPPING and (ln.net or ln.tax)]
    if len(goods) < 2 or not shipping:
        return lines, shop_vat, []
    vat = dict(shop_vat)
    result = [ln for ln in lines if ln not in shipping]
    rate_ids = sorted(goods, key=lambda r: -goods[r])
    for ship in shipping:
        gross = ship.net + ship.tax
        vat[ship.rate_id] = vat.get(ship.rate_id, ZERO) - ship.tax
        # The leftover cent goes on the largest share.
        parts = split(gross, [goods[r] for r in rate_ids])
        for mb_id, part in zip(rate_ids, parts, strict=True):
            tax = vat_in(part, mb_rate_for[shop_rate_of[mb_id]].percentage)
            target = shop_rate_of[mb_id]
            vat[target] = vat.get(target, ZERO) + tax
            result.append(replace(ship, net=part - tax, tax=tax, rate_id=target))
    note = (
        "shipping VAT split over the goods' rates in proportion to their value "
        "(shipping_vat = split_by_goods_value)"
    )
    return result, vat, [note]
