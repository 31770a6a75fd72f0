"""Which orders' VAT numbers VIES is asked about ([vat] vies_check), and the answers kept.

Only numbers that could earn intra-community 0% are checked: a valid EU number from another
member state than the shop's. A "valid" answer is kept `vies_cache_days`, an "invalid" one a
day (a new registration shows up soon); an outage is never kept.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.booking.vat_rules import VatCheck, compact_vat_number, vat_number_country
from connector.lookups.vies import ViesClient
from connector.order import Order
from connector.state import Store, VatCheckRecord, from_text, to_text


class VatNumberChecks:
    def __init__(
        self,
        store: Store,
        client: ViesClient,
        shop_country: str,
        cache_days: int = 30,
    ) -> None:
        self.store = store
        self.client = client
        self.shop_country = shop_country
        self.keep_valid = timedelta(days=cache_days)

    def check(self, order: Order) -> VatCheck | None:
        number = order.customer.vat_number
        country = vat_number_country(number)
        if country is None or country == self.shop_country:
            return None  # not a candidate for intra-community 0%; the guard says why
        compact = compact_vat_number(number)
        now = datetime.now(UTC)
        kept = self.store.vat_check(compact)
        if kept is not None:
            checked_at = from_text(kept.checked_at) or now
            keep = self.keep_valid if kept.status == "valid" else timedelta(days=1)
            if now - checked_at < keep:
                return VatCheck(compact, "valid" if kept.status == "valid" else "invalid",
                                checked_at, kept.consultation)  # fmt: skip
        answer = self.client.check(compact)
        if answer.status != "unavailable":
            self.store.save(
                VatCheckRecord(
                    number=compact,
                    status=answer.status,
                    checked_at=to_text(answer.checked_at) or "",
                    consultation=answer.consultation,
                )
            )
        return answer
