"""The tax rates a shop uses, where it has no list of them (Shopify): read from its recent
orders, for `mappings suggest` to propose rules for and `config check` to check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.shops.shop import RateInUse, RatesFromOrders, RatesInUse

DAYS = 90  # how far back the orders are read


def rates_in_use(shop: RatesFromOrders, now: datetime | None = None) -> RatesInUse:
    """The rates of the orders of the last DAYS days (as far as the shop lets them be read)."""
    return shop.rates_in_use((now or datetime.now(UTC)) - timedelta(days=DAYS))


def orders_read(found: RatesInUse) -> str:
    """What the rates were read from, said plainly."""
    orders = f"{found.orders} order{'' if found.orders == 1 else 's'}"
    if found.complete:
        return f"the {orders} of the last {DAYS} days"
    return f"the {orders} most recent (of the last {DAYS} days)"


def rate_in_use_label(rate: RateInUse) -> str:
    """E.g. "19% to DE, consumers ('BTW 19%', 3 orders, e.g. #2007)"."""
    percentage = f"{rate.percentage.normalize():f}%"
    what = f"{percentage} ('{rate.label}')" if rate.label else percentage
    if rate.together > 1:  # e.g. "6% twice on a line ('SGST / CGST', together 12%)"
        times = "twice" if rate.together == 2 else f"{rate.together} times"
        named = f"'{rate.label}', " if rate.label else ""
        summed = (rate.percentage * rate.together).normalize()
        what = f"{percentage} {times} on a line ({named}together {summed:f}%)"
    if rate.rate_id is None:
        what = "no VAT"
    who = "businesses" if rate.business else "consumers"
    orders = f"{rate.orders} order{'' if rate.orders == 1 else 's'}"
    return f"{what} to {rate.country or 'no country'}, {who} ({orders}, e.g. #{rate.example})"
