"""Where VAT is due, and the guards that keep a zero or foreign rate from being used wrongly.

A tax rule may name a treatment: "oss" (EU consumer, destination-country VAT), "icp"
(intra-community supply to an EU business, 0%) or "export" (outside the EU, 0%). Each has
conditions the order must meet; an order that meets none of its matching rules is parked with
the reason, never booked at a guessed rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from stdnum.eu import vat as eu_vat

# EU member states by ISO 3166 code (VAT numbers use EL for Greece).
EU = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
# The start of a guard's reason when VIES could not answer (vat.vies_unavailable: park or wait).
VIES_UNAVAILABLE = "VIES could not be reached"


@dataclass(frozen=True)
class VatCheck:
    """VIES's answer about a VAT number, as booking uses it (read by connector.lookups.vies)."""

    number: str  # compact, with its country prefix
    status: Literal["valid", "invalid", "unavailable"]
    checked_at: datetime
    consultation: str = ""  # VIES's request identifier: proof of the check (needs a requester)
    detail: str = ""  # what VIES said when it could not answer


def in_region(region: str, country: str) -> bool:
    """A rule's `country`: an ISO code, "EU" or "non-EU"."""
    if region == "EU":
        return country in EU
    if region == "NON-EU":
        return bool(country) and country not in EU
    return region == country


def vat_number_country(number: str) -> str | None:
    """The member state of a syntactically valid EU VAT number (check digits included)."""
    compact = eu_vat.compact(number) if number else ""
    if not compact or not eu_vat.is_valid(compact):
        return None
    code = compact[:2].upper()
    return "GR" if code == "EL" else code


def compact_vat_number(number: str) -> str:
    """The number as VIES and Moneybird want it: no spaces, dots or dashes, upper case."""
    return eu_vat.compact(number).upper()


def guard(
    treatment: str,
    destination: str,
    vat_number: str,
    shop_country: str,
    oss_enabled: bool,
    rate_country: str | None,
    vies: str | None = None,
) -> str | None:
    """Why this order may not be booked at a rate of this treatment, or None when it may.
    `vies`: what VIES said of the VAT number ("valid", "invalid", "unavailable"), or None
    when VIES is not asked ([vat] vies_check off)."""
    if treatment == "oss":
        if not oss_enabled:
            return "an OSS rate needs [vat] oss = true"
        if destination not in EU or destination == shop_country:
            return f"an OSS rate is for consumers in another EU country, not {destination or '?'}"
        if rate_country and rate_country.upper() != destination:
            return f"the OSS rate is for {rate_country.upper()}, the order goes to {destination}"
    elif treatment == "icp":
        if not vat_number:
            return "intra-community 0% needs the customer's VAT number"
        number_country = vat_number_country(vat_number)
        if number_country is None:
            return f"intra-community 0% needs a valid EU VAT number, not {vat_number!r}"
        if number_country == shop_country:
            return f"the VAT number {vat_number} is from {shop_country}, the shop's own country"
        if destination not in EU or destination == shop_country:
            return (
                "intra-community 0% needs delivery to another EU member state, "
                f"not {destination or '?'}"
            )
        if vies == "invalid":
            return f"VIES does not know the VAT number {vat_number} (not registered, or ended)"
        if vies == "unavailable":
            return f"{VIES_UNAVAILABLE} to check {vat_number}"
    elif treatment == "export":
        if not destination:
            return "export 0% needs a shipping country"
        if destination in EU:
            return f"export 0% is for deliveries outside the EU, not {destination}"
    return None
