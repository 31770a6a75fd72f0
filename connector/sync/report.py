"""What one pass (or one import) did: counts, one decision per order or refund, and why it
ended early, if it did."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Decision:
    key: str
    number: str
    state: str
    message: str


@dataclass
class PassReport:
    seen: int = 0
    booked: int = 0
    parked: int = 0
    failed: int = 0
    unpaid: int = 0
    refunds_booked: int = 0
    refunds_parked: int = 0
    refunds_waiting: int = 0
    adopted: int = 0  # found already in Moneybird (another install, a restored state)
    before_start: int = 0  # paid before the start point: left for `connector import`
    in_days: int = 0  # summary mode: orders that joined their day's document
    unreadable: list[str] = field(default_factory=list)  # list elements that name no order
    moneybird_requests: int = 0
    payouts_booked: int = 0  # statements posted on a provider's account (or found there)
    payouts_linked: int = 0  # payouts whose bank line was linked
    payout_problems: list[str] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    error: str | None = None

    def summary(self, seen: str = "seen") -> str:
        """One line per pass or import; documents found already in Moneybird are not "booked"."""
        found = f"{self.adopted} already in Moneybird (adopted), " if self.adopted else ""
        return (
            f"{self.seen} orders {seen}, {self.booked} booked, {found}{self.parked} parked, "
            f"{self.failed} to retry, {self.unpaid} waiting for payment; "
            f"{self.moneybird_requests} Moneybird requests"
        )
