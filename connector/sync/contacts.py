"""Customers -> Moneybird contacts, one contact per email address, never created twice.

Known customers are answered from the local email map (learned from Moneybird on first run).
An unknown email is searched in Moneybird before anything is created, and every create carries
a `customer_id` derived from the email, so an ambiguous create can be found again by that id.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from connector.moneybird.client import Ambiguous, MoneybirdClient, NotFound, Rejected, Unavailable
from connector.moneybird.documents import (
    booked_fields,
    contact_body,
    contact_customer_id,
    contact_id_and_version,
    contact_versions,
    emails_of,
    is_email,
    normalise_email,
)
from connector.order import Customer
from connector.state import ContactFieldsRecord, ContactRecord, Store

log = logging.getLogger(__name__)


def email_key(customer: Customer) -> str:
    """The dedupe key: the email, or for orders without one, name + postcode + country."""
    email = normalise_email(customer.email)
    if is_email(email):
        return email
    b = customer.billing
    parts = [b.company, b.first_name, b.last_name, b.postcode.replace(" ", ""), b.country]
    return "noemail:" + "|".join(p.strip().lower() for p in parts)


def customer_id_for(key: str) -> str:
    return "WEB-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12].upper()


def changed_fields(before: dict[str, str], now: dict[str, str]) -> dict[str, str]:
    """What an order changes: fields it gives that differ; a field it leaves empty is kept."""
    return {k: v for k, v in now.items() if before.get(k) != v}


class ContactBook:
    def __init__(self, store: Store, client: MoneybirdClient) -> None:
        self.store = store
        self.client = client
        self.refreshed = False

    def refresh(self) -> int:
        """Bring the email map up to date with Moneybird before a pass books anything: one
        request for all ids and versions, plus one per 100 new or changed contacts. The first
        time this learns every existing customer; later it is the exact-email look-up for all
        customers at once, so a new customer costs only the create."""
        versions = contact_versions(self.client.contact_versions())
        known = self.store.contact_versions()
        changed = [cid for cid, version in versions.items() if known.get(cid) != version]
        learned = 0
        for contact in self.client.contacts_by_ids(changed):
            learned += self._remember(contact)
        self.store.save_contact_versions({cid: versions[cid] for cid in changed})
        self.refreshed = True
        if learned:
            log.info("learned %d contact email addresses from Moneybird", learned)
        return learned

    def resolve(self, customer: Customer) -> str:
        key = email_key(customer)
        record = self.store.contact(key)
        if record and record.contact_id and not record.creating:
            self._update_if_changed(key, record.contact_id, customer, record.customer_id)
            return record.contact_id
        if (record is None and not self.refreshed) or (record is not None and record.creating):
            found = self._find(key, record.customer_id if record else None)
            if found:
                return found
        customer_id = record.customer_id if record else customer_id_for(key)
        # Intent first: if we crash after this, the next pass looks the customer_id up.
        self.store.save(ContactRecord(email_key=key, customer_id=customer_id, creating=True))
        try:
            created = self.client.create_contact(contact_body(customer, customer_id))
        except Rejected as exc:
            # "customer_id is already in use": an earlier create did land.
            found = self._find(key, customer_id)
            if found:
                return found
            raise exc
        except Ambiguous:
            found = self._find(key, customer_id)
            if found:
                return found
            raise
        contact_id, version = contact_id_and_version(created)
        if version is not None:  # our own contact needs no re-read later
            self.store.save_contact_versions({contact_id: version})
        self._booked(key, booked_fields(contact_body(customer, customer_id)))
        self.store.save(
            ContactRecord(
                email_key=key, customer_id=customer_id, contact_id=contact_id, created_here=True
            )
        )
        return contact_id

    def _find(self, key: str, customer_id: str | None) -> str | None:
        """Look in Moneybird: by our customer_id first, then by exact email."""
        if customer_id:
            try:
                contact = self.client.contact_by_customer_id(customer_id)
            except NotFound:
                contact = None
            if contact:
                self._save(key, contact)
                return contact_id_and_version(contact)[0]
        if key.startswith("noemail:"):
            return None
        for contact in self.client.search_contacts(key):
            if key in emails_of(contact):  # the search is fuzzy; only an exact match counts
                self._save(key, contact)
                return contact_id_and_version(contact)[0]
        return None

    def _save(self, key: str, contact: dict[str, Any]) -> None:
        self.store.save(
            ContactRecord(
                email_key=key,
                customer_id=contact_customer_id(contact) or customer_id_for(key),
                contact_id=contact_id_and_version(contact)[0],
            )
        )

    def _remember(self, contact: dict[str, Any]) -> int:
        learned = 0
        for email in emails_of(contact):
            if self.store.contact(email):
                continue
            self._save(email, contact)
            # What Moneybird holds is the starting point an order is compared with.
            self._booked(email, booked_fields(contact))
            learned += 1
        return learned

    def _booked(self, key: str, fields: dict[str, str]) -> None:
        self.store.save(ContactFieldsRecord(email_key=key, fields=json.dumps(fields)))

    def _update_if_changed(
        self, key: str, contact_id: str, customer: Customer, customer_id: str
    ) -> None:
        """A returning customer whose address, company or VAT number changed: update the
        contact in what changed (PATCH is repeatable: a lost answer is simply sent again on
        the next order, the fields are recorded only once Moneybird took them)."""
        now = booked_fields(contact_body(customer, customer_id))
        stored = self.store.contact_fields(key)
        if stored is None:
            self._booked(key, now)
            return
        before = json.loads(stored)
        changes = changed_fields(before, now)
        if not changes:
            return
        if "company_name" in changes and not customer.billing.company:
            changes.pop("company_name")  # the stand-in name for a person, not a company
        try:
            self.client.update_contact(contact_id, changes)
        except (Ambiguous, Rejected, Unavailable) as exc:
            log.warning(
                "contact %s not updated (%s); the invoice uses it as it is", contact_id, exc
            )
            return
        log.info("contact %s updated: %s", contact_id, ", ".join(sorted(changes)))
        self._booked(key, {**before, **now})
