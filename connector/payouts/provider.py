"""What the payout flow needs from any payment provider (a Protocol): its name, and the payouts
it made since a moment. A provider's module reads its own API into `records.Payout`, checked;
booking, the flow and reconciliation never see a provider's JSON.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Protocol

from connector.payouts.records import Payout, RefusedPayout


class PayoutProvider(Protocol):
    """One payment provider's payouts (Mollie's settlements, Shopify Payments' payouts, …)."""

    @property
    def name(self) -> str:
        """The provider as `[payouts]` and `mappings/payment.toml` name it, e.g. "mollie"."""
        ...

    def payouts(
        self, since: datetime, known: Collection[str] = frozenset()
    ) -> Iterator[Payout | RefusedPayout]:
        """Every payout paid out at or after `since` (aware UTC), oldest first, with its parts,
        checked by `records.check_payout`, but for those in `known` (ids the flow booked or
        set aside already: their parts need not be read). One whose data cannot be booked
        comes as a RefusedPayout with the reason (and its date, when that could be read), so
        the flow lists it as waiting and reads on. A read that fails (the provider down, its key
        refused, an answer that is not the provider's) raises a ConnectorError that is no
        ParksItem: nothing is refused for it, and the next pass reads again."""
        ...
