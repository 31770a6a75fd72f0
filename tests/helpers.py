"""Shared judgements of what landed in the sandbox Moneybird."""

from __future__ import annotations

from collections import Counter
from typing import Any

from connector.sandbox.moneybird import MoneybirdSandbox


def booked_exactly_once(
    mb: MoneybirdSandbox,
    count: int | None = None,
    *,
    paid: bool = False,
    payments: int | None = None,
    why: str = "",
) -> dict[str, dict[str, Any]]:
    """Judged by what Moneybird holds, not by the connector's report: every reference on one
    invoice only (`count` of them, when given), every customer one contact; with `paid`, every
    invoice paid, and by exactly `payments` payments when given. The invoices, by reference."""
    refs = Counter(i["reference"] for i in mb.invoices.values())
    twice = {ref: n for ref, n in refs.items() if n > 1}
    assert not twice, f"{why}booked twice: {twice}"
    if count is not None:
        assert len(refs) == count, f"{why}{len(refs)} invoices, not {count}: {sorted(refs)}"
    emails = Counter(c["send_invoices_to_email"].lower() for c in mb.contacts.values())
    doubled = {email: n for email, n in emails.items() if n > 1}
    assert not doubled, f"{why}contact twice: {doubled}"
    for invoice in mb.invoices.values():
        if paid:
            assert invoice["state"] == "paid", f"{why}{invoice['reference']} is {invoice['state']}"
        if payments is not None:
            got = len(invoice["payments"])
            assert got == payments, f"{why}{invoice['reference']} has {got} payments"
    return {i["reference"]: i for i in mb.invoices.values()}
