"""`connector mappings suggest`: proposed mapping tables from what Moneybird and the shop have.

Existing tables are edited with tomlkit, so the admin's comments and layout stay as they are:
rules are only appended (each with a comment saying why it was chosen), and an existing rule
that names an unusable Moneybird id gets a comment on that line. Only active sales_invoice
tax rates are ever proposed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, Table

from connector.admin.shop_rates import orders_read, rate_in_use_label, rates_in_use
from connector.booking.mappings import Mappings, TaxRule
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.booking.vat_rules import in_region
from connector.config import Config
from connector.money import parse
from connector.moneybird.client import MoneybirdClient
from connector.moneybird.documents import rates_from_response
from connector.order import LineKind
from connector.shops.shop import RatesFromOrders, RatesInUse, Shop

HEADERS = {
    "tax": "# Tax table: shop tax -> Moneybird sales tax rate. First matching rule wins.\n"
    "# Fields: shop_rate_id, percentage, country, customer (consumer/business/any) ->"
    " tax_rate_id.\n",
    "ledger": "# Ledger table: invoice line -> Moneybird ledger account. First matching rule"
    " wins.\n# Fields: kind (product/shipping/fee/discount/any), sku (glob), tax_class,"
    " percentage, tax_rate_id -> ledger_account_id.\n",
    "payment": "# Payment-method table: shop payment method (glob) -> Moneybird financial"
    " account. First match wins.\n",
}
LEDGER_WORDS = {
    LineKind.PRODUCT: ("omzet", "verkoop", "verkopen", "revenue", "sales"),
    LineKind.SHIPPING: ("verzend", "shipping", "porto"),
    LineKind.FEE: ("toeslag", "overige opbrengst", "fee"),
    LineKind.DISCOUNT: ("korting", "discount"),
}
LOW_RATE_WORDS = ("laag tarief", "lage tarief", "laag", "reduced", "low rate")
HIGH_RATE_WORDS = ("hoog tarief", "hoge tarief", "hoog", "standard rate", "high rate")
PROVIDERS = ("mollie", "paypal", "stripe", "adyen", "klarna", "buckaroo", "multisafepay")


@dataclass(frozen=True)
class Proposal:
    table: str
    path: Path
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.old.splitlines(keepends=True),
                self.new.splitlines(keepends=True),
                fromfile=f"{self.path} (now)",
                tofile=f"{self.path} (suggested)",
            )
        )


def from_services(config: Config, client: MoneybirdClient, shop: Shop) -> list[Proposal]:
    """Read what Moneybird and the shop have (for a shop without a list of its tax rates, the
    rates its recent orders used), then propose."""
    administrations = {str(a["id"]): a for a in client.administrations()}
    administration = administrations.get(config.moneybird.administration_id, {})
    shop_rates = shop.tax_rates()
    in_use = rates_in_use(shop) if isinstance(shop, RatesFromOrders) else None
    ledgers, accounts = client.ledger_accounts(), client.financial_accounts()
    proposals = suggest(
        config,
        client.tax_rates(),
        ledgers,
        accounts,
        shop_rates,
        shop.payment_gateways(),
        home_country=str(administration.get("country") or "NL"),
        in_use=in_use,
    )
    payouts = payout_proposal(config, accounts, ledgers)
    return proposals + ([payouts] if payouts else [])


def suggest(
    config: Config,
    mb_rates: list[dict[str, Any]],
    ledgers: list[dict[str, Any]],
    accounts: list[dict[str, Any]],
    shop_rates: list[dict[str, Any]],
    gateways: list[dict[str, Any]],
    home_country: str = "NL",
    in_use: RatesInUse | None = None,
) -> list[Proposal]:
    """Pure: everything read from the services is passed in. `in_use`: the rates the shop's
    recent orders used, for a shop that has no list of them."""
    rates = rates_from_response(mb_rates)
    paths = config.mapping_paths()
    current = config.mappings
    tax = _tax_rules(current, rates, shop_rates, home_country, config.shop.platform)
    if in_use is not None:
        # A percentage recent orders charged twice on a line is booked at their sum: its
        # rule comes from those orders, not from a Moneybird rate of the percentage itself.
        together = {f"{r.percentage.normalize():f}" for r in in_use.rates if r.together > 1}
        tax = [(why, f) for why, f in tax if not f or f.get("percentage") not in together]
        tax += _rules_for_rates_in_use(
            current, rates, in_use, home_country, tax, config.file.vat.oss
        )
    return [
        _propose("tax", paths["tax"], tax, lambda doc: _flag_tax(doc, rates)),
        _propose(
            "ledger",
            paths["ledger"],
            _ledger_rules(current, ledgers, rates),
            lambda doc: _flag_ids(
                doc, "ledger_account_id", {str(a["id"]) for a in ledgers}, "ledger account"
            ),
            ledger_insertions(current, ledgers, rates),
        ),
        _propose(
            "payment",
            paths["payment"],
            _payment_rules(current, accounts, gateways),
            lambda doc: _flag_ids(
                doc, "financial_account_id", {str(a["id"]) for a in accounts}, "financial account"
            ),
        ),
    ]


# --- tax ----------------------------------------------------------------------------------------


def _tax_rules(
    current: Mappings,
    rates: dict[str, MoneybirdTaxRate],
    shop_rates: list[dict[str, Any]],
    home: str,
    platform: str = "woocommerce",
) -> list[tuple[str, dict[str, Any]]]:
    usable = [r for r in rates.values() if r.usable_for_sales]
    rules: list[tuple[str, dict[str, Any]]] = []
    if platform == "shopify":
        # Shopify's rates have no ids and cannot be listed: propose the administration's
        # domestic sales rates by percentage, for deliveries in the home country.
        for rate in sorted(usable, key=lambda r: -r.percentage):
            pct = rate.percentage.normalize()
            if rate.country or pct == 0 or current.tax_rate_for(f"{pct:f}", pct, home, False):
                continue
            why = f"Shopify {pct:f}% to {home} -> Moneybird '{rate.name}' (active sales rate)"
            rules.append((why, {"percentage": f"{pct:f}", "country": home, "tax_rate_id": rate.id}))
    for shop_rate in shop_rates:
        rate_id = str(shop_rate.get("id"))
        pct = parse(shop_rate.get("rate"), "rate").normalize()
        country = str(shop_rate.get("country") or "").upper()
        label = f"shop rate {rate_id} '{shop_rate.get('name', '')}' ({country or 'any'} {pct:f}%)"
        foreign = bool(country) and country != home
        # A foreign rate is for consumers (OSS); a business there buys at 0% (ICP).
        if current.tax_rate_for(rate_id, pct, country, False) and (
            foreign or current.tax_rate_for(rate_id, pct, country, True)
        ):
            continue
        candidates = [
            r
            for r in usable
            if r.percentage == pct and (r.country == country if foreign else not r.country)
        ]
        if not candidates:
            where = f" for {country}" if foreign else ""
            rules.append(
                (
                    f"NOT MAPPED: {label}: Moneybird has no active sales rate at {pct:f}%"
                    f"{where}; create one, then run suggest again",
                    {},
                )
            )
            continue
        chosen = candidates[0]
        why = f"{label} -> Moneybird '{chosen.name}' (active sales rate"
        why += (
            f" for {country}; One-Stop Shop: applies only with [vat] oss = true)"
            if foreign
            else ")"
        )
        if len(candidates) > 1:
            others = ", ".join(f"'{c.name}' {c.id}" for c in candidates[1:])
            why += f"; REVIEW: also possible: {others}"
        rule: dict[str, object] = {
            "shop_rate_id": int(rate_id) if rate_id.isdigit() else rate_id,
            "percentage": f"{pct:f}",
        }
        if foreign:
            rule.update(country=country, customer="consumer", treatment="oss")
        rules.append((why, {**rule, "tax_rate_id": chosen.id}))
    if current.tax_rate_for(None, Decimal(0), home, False) is None:
        zero = [r for r in usable if r.percentage == 0 and not r.country]
        if zero:
            why = f"lines without VAT (free shipping, untaxed items) -> Moneybird '{zero[0].name}'"
            rules.append((why, {"percentage": "0", "country": home, "tax_rate_id": zero[0].id}))
    return rules


def _rules_for_rates_in_use(
    current: Mappings,
    rates: dict[str, MoneybirdTaxRate],
    in_use: RatesInUse,
    home: str,
    proposed: list[tuple[str, dict[str, Any]]],
    oss: bool = False,
) -> list[tuple[str, dict[str, Any]]]:
    """A rule for each rate recent orders used that no rule maps (nor one proposed above)."""
    usable = [r for r in rates.values() if r.usable_for_sales]
    tables = Mappings(
        current.tax + tuple(TaxRule.model_validate(f) for _w, f in proposed if f), current.ledger
    )
    rules: list[tuple[str, dict[str, Any]]] = []
    for seen in in_use.rates:
        if not seen.country:
            continue  # such orders park for their missing address, whatever the table says
        pct = seen.percentage.normalize()
        # Charged together on a line (SGST 6% + CGST 6%), booked at one rate of their sum.
        need = (seen.percentage * seen.together).normalize()
        label = f"{rate_in_use_label(seen)}, read from {orders_read(in_use)}"
        mapped = tables.tax_rate_for(seen.rate_id, seen.percentage, seen.country, seen.business)
        if mapped is not None:
            mapped_to = rates.get(mapped.tax_rate_id)
            if mapped_to is None or mapped_to.percentage == need or seen.together == 1:
                continue
            better = [r for r in usable if r.percentage == need and not r.country]
            fix = (
                f"map it to '{better[0].name}' in a rule before that one"
                if better
                else f"make a Moneybird sales rate of {need:f}% and map it to that in a rule "
                "before that one"
            )
            rules.append(
                (
                    f"NOT MAPPED: {label}: the tax table maps {pct:f}% to '{mapped_to.name}' "
                    f"({mapped_to.percentage.normalize():f}%), but booking takes such lines at "
                    f"one rate of {need:f}%: {fix}",
                    {},
                )
            )
            continue
        fields: dict[str, Any] = {"percentage": f"{pct:f}", "country": seen.country}
        if seen.country == home:
            candidates = [r for r in usable if r.percentage == need and not r.country]
            treatment = ""
        elif pct and not seen.business and in_region("EU", seen.country):
            candidates = [r for r in usable if r.percentage == need and r.country == seen.country]
            fields.update(customer="consumer", treatment="oss")
            treatment = "; One-Stop Shop: applies only with [vat] oss = true"
            home_rates = [r for r in usable if r.percentage == need and not r.country]
            if not oss and home_rates:
                # Not in the One-Stop Shop: consumers elsewhere in the EU pay the home rate.
                candidates, treatment = home_rates, f"; the {home} rate, as [vat] oss is off"
                fields.update(treatment="domestic")
        else:
            kind = "icp" if in_region("EU", seen.country) else "export"
            rules.append(
                (
                    f"NOT MAPPED: {label}: add a rule for it by hand (an {kind} rule for 0% "
                    "sales abroad: see the default tax table's comments)",
                    {},
                )
            )
            continue
        if not candidates:
            rules.append(
                (
                    f"NOT MAPPED: {label}: Moneybird has no active sales rate at {need:f}%"
                    f"{'' if seen.country == home else ' for ' + seen.country}; create one, "
                    "then run suggest again",
                    {},
                )
            )
            continue
        chosen = candidates[0]
        why = f"{label} -> Moneybird '{chosen.name}' (active sales rate{treatment})"
        if len(candidates) > 1:
            why += "; REVIEW: also possible: " + ", ".join(
                f"'{c.name}' {c.id}" for c in candidates[1:]
            )
        fields["tax_rate_id"] = chosen.id
        rules.append((why, fields))
        tables = Mappings((*tables.tax, TaxRule.model_validate(fields)), tables.ledger)
    return rules


def _flag_tax(doc: Any, rates: dict[str, MoneybirdTaxRate]) -> None:
    for rule in _rules(doc):
        rate_id = str(rule.get("tax_rate_id", ""))
        rate = rates.get(rate_id)
        if rate is None:
            problem = "does not exist in Moneybird"
        elif rate.tax_rate_type != "sales_invoice":
            problem = f"is '{rate.name}', a {rate.tax_rate_type} rate: use a sales rate"
        elif not rate.active:
            problem = f"'{rate.name}' is inactive in Moneybird"
        else:
            continue
        rule["tax_rate_id"].comment(f"CHECK: {problem}")


# --- ledger and payment -------------------------------------------------------------------------


def _ledger_rules(
    current: Mappings,
    ledgers: list[dict[str, Any]],
    rates: dict[str, MoneybirdTaxRate] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    revenue = [a for a in ledgers if a.get("account_type") == "revenue"]
    rules: list[tuple[str, dict[str, Any]]] = []
    fallback = _by_words(revenue, LEDGER_WORDS[LineKind.PRODUCT]) or (
        revenue[0] if revenue else None
    )
    reduced = _reduced_rate_rules(current, revenue, rates or {})
    rules += [(why, fields) for before, why, fields in reduced if before is None]
    for kind, words in LEDGER_WORDS.items():
        if current.ledger_for(kind) is not None:
            continue
        account = None
        if kind is LineKind.PRODUCT:
            account = _by_words(revenue, HIGH_RATE_WORDS)
        account = account or _by_words(revenue, words)
        if account is not None:
            why = f"{kind.value} lines -> '{account['name']}' (revenue account named like it)"
        elif fallback is not None:
            account = fallback
            why = f"{kind.value} lines -> '{account['name']}': no dedicated revenue account found"
        else:
            rules.append((f"NOT MAPPED: {kind.value} lines: no revenue ledger account found", {}))
            continue
        rules.append((why, {"kind": kind.value, "ledger_account_id": str(account["id"])}))
    return rules


def ledger_insertions(
    current: Mappings,
    ledgers: list[dict[str, Any]],
    rates: dict[str, MoneybirdTaxRate] | None = None,
) -> list[tuple[int, str, dict[str, Any]]]:
    """Rules that must go before an existing rule to apply at all: (its index, why, fields)."""
    revenue = [a for a in ledgers if a.get("account_type") == "revenue"]
    return [
        (before, why, fields)
        for before, why, fields in _reduced_rate_rules(current, revenue, rates or {})
        if before is not None
    ]


def _reduced_rate_rules(
    current: Mappings, revenue: list[dict[str, Any]], rates: dict[str, MoneybirdTaxRate]
) -> list[tuple[int | None, str, dict[str, Any]]]:
    """Products at a reduced domestic rate on a low-rate revenue account, when there is one:
    by percentage, since a Shopify line has no tax class. Each with where it goes: appended
    (None), or before the existing rule that would take those products elsewhere (a rule for
    all products, as older starter tables have): first match wins, so after it, it would never
    apply."""
    low = _by_words(revenue, LOW_RATE_WORDS)
    domestic = {
        r.percentage.normalize() for r in rates.values() if r.usable_for_sales and not r.country
    }
    if low is None or not domestic:
        return []
    names = {str(a.get("id")): str(a.get("name") or a.get("id")) for a in revenue}
    rules: list[tuple[int | None, str, dict[str, Any]]] = []
    for pct in sorted(p for p in domestic if 0 < p < max(domestic)):
        fields = {"kind": "product", "percentage": f"{pct:f}", "ledger_account_id": str(low["id"])}
        why = f"products at {pct:f}% -> '{low['name']}' (revenue account named like it)"
        taken = current.ledger_for(LineKind.PRODUCT, percentage=pct)
        if taken is None:
            rules.append((None, why, fields))
            continue
        if taken.percentage is not None or taken.tax_rate_id is not None:
            continue  # a rule for that rate, as someone chose it
        if taken.ledger_account_id == str(low["id"]):
            continue
        before = current.ledger.index(taken)
        rule_name = f"rule {before + 1}" + (f" ('{taken.note}')" if taken.note else "")
        elsewhere = names.get(taken.ledger_account_id, taken.ledger_account_id)
        rules.append(
            (
                before,
                f"suggested by `connector mappings suggest`, review: {why}; placed before "
                f"{rule_name}, which would put them on '{elsewhere}'",
                fields,
            )
        )
    return rules


def _by_words(accounts: list[dict[str, Any]], words: tuple[str, ...]) -> dict[str, Any] | None:
    for word in words:
        for account in accounts:
            if word in str(account.get("name", "")).lower():
                return account
    return None


def _payment_rules(
    current: Mappings, accounts: list[dict[str, Any]], gateways: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    rules: list[tuple[str, dict[str, Any]]] = []
    for gateway in gateways:
        gid = str(gateway.get("id", ""))
        if not gateway.get("enabled") or current.financial_account_for(gid) is not None:
            continue
        title = gateway.get("title") or gid
        provider = next((p for p in PROVIDERS if p in gid.lower()), None)
        if provider:
            account = _by_words(accounts, (provider,))
            method = f"{gid.split('_wc_gateway')[0]}_wc_gateway_*" if "_wc_gateway_" in gid else gid
        elif gid == "bacs":
            account = next((a for a in accounts if a.get("type") == "FinancialAccount"), None)
            method = gid
        else:
            account, method = None, gid
        if account is None:
            rules.append(
                (
                    f"NOT MAPPED: payment method '{gid}' ({title}): no matching financial "
                    "account; payments are registered without one",
                    {},
                )
            )
            continue
        if any(m == method for _w, r in rules for m in [r.get("method")]):
            continue
        rules.append(
            (
                f"'{gid}' ({title}) -> '{account['name']}'",
                {"method": method, "financial_account_id": str(account["id"])},
            )
        )
    return rules


def _flag_ids(doc: Any, key: str, known: set[str], what: str) -> None:
    for rule in _rules(doc):
        if key in rule and str(rule[key]) not in known:
            rule[key].comment(f"CHECK: no such {what} in Moneybird")


# --- documents ----------------------------------------------------------------------------------


def _rules(doc: Any) -> list[Table]:
    return list(doc.get("rule", []))


def _propose(
    table: str,
    path: Path,
    additions: list[tuple[str, dict[str, Any]]],
    flag: Callable[[Any], None],
    insertions: list[tuple[int, str, dict[str, Any]]] | None = None,
) -> Proposal:
    """`insertions`: (index of an existing rule, why, fields) for rules that go before it;
    the rest are appended."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    doc = tomlkit.parse(old) if old else tomlkit.document()
    flag(doc)
    existing = doc.get("rule")
    for before, why, fields in sorted(insertions or [], key=lambda i: -i[0]):
        if not isinstance(existing, AoT) or before >= len(existing):
            additions = [*additions, (why, fields)]  # not a [[rule]] list as written here
            continue
        rule = tomlkit.table()
        rule.add(tomlkit.comment(why))
        for key, value in fields.items():
            rule.add(key, value)
        rule.add(tomlkit.nl())
        existing.insert(before, rule)
    text = tomlkit.dumps(doc) if old else HEADERS[table]
    # A "not mapped" remark already in the file is not repeated on every run.
    additions = [(why, fields) for why, fields in additions if fields or f"# {why}" not in old]
    if additions:
        block = tomlkit.document()
        block.add(tomlkit.comment("--- suggested by `connector mappings suggest`: review ---"))
        rules = tomlkit.aot()
        for why, fields in additions:
            if not fields:
                block.add(tomlkit.comment(why))
                continue
            rule = tomlkit.table()
            rule.add(tomlkit.comment(why))
            for key, value in fields.items():
                rule.add(key, value)
            rules.append(rule)
        if len(rules):
            block.append("rule", rules)
        text = text.rstrip("\n") + "\n\n" + tomlkit.dumps(block)
    tomlkit.parse(text)  # what we propose must itself be valid TOML
    return Proposal(table, path, old, text)


# --- [payouts] in config.toml -------------------------------------------------------------------

PAYOUT_WORDS = {"mollie": "mollie", "shopify_payments": "shopify"}
# A ledger for payouts on their way to the bank; never Moneybird's "Kruisposten", which
# takes no payments.
TRANSFER_WORDS = ("betalingen onderweg", "onderweg", "transfer", "overboeking")
KRUISPOSTEN = "kruispost"
MAKE = "TO MAKE in Moneybird, then name here:"
IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}")


def payout_proposal(
    config: Config, accounts: list[dict[str, Any]], ledgers: list[dict[str, Any]]
) -> Proposal | None:
    """With [payouts] on: config.toml with its empty account and ledger names filled in from
    what Moneybird has, or a comment saying what to make there. Only empty ones are touched."""
    if not config.payouts.providers():
        return None
    old = config.path.read_text(encoding="utf-8")
    doc = tomlkit.parse(old)
    for table, key, value, why in payout_names(config, accounts, ledgers):
        section: Any = doc["payouts"]
        if table != "payouts":
            section = section[table.split(".", 1)[1]]
        section[key] = value
        section[key].comment(why)
    return Proposal("config", config.path, old, tomlkit.dumps(doc))


def payout_names(
    config: Config, accounts: list[dict[str, Any]], ledgers: list[dict[str, Any]]
) -> list[tuple[str, str, str, str]]:
    """(table, key, proposed name or "", why) for each empty name [payouts] needs. Pure."""
    payouts = config.payouts
    found: list[tuple[str, str, str, str]] = []

    def pick(table: str, key: str, rows: list[dict[str, Any]], why: str, make: str) -> None:
        every = ledgers if key.endswith("ledger") else accounts
        if rows:
            found.append((table, key, _unique_name(rows[0], every), f"suggested: {why}"))
        else:
            found.append((table, key, "", make))

    bank = payouts.bank_account
    if not bank:
        ibans = [a for a in accounts if IBAN.fullmatch(_compact(a.get("identifier")))]
        pick("payouts", "bank_account", ibans if len(ibans) == 1 else [], "the one bank account",
             "TO SET: the financial account the payouts arrive on")  # fmt: skip
        bank = found[-1][2]
    transfers = [r for r in ledgers if KRUISPOSTEN not in _compact(r.get("name")).casefold()]
    transfer = _by_words(transfers, TRANSFER_WORDS)
    for name, section in payouts.providers().items():
        table, word = f"payouts.{name}", PAYOUT_WORDS[name]
        label = word.capitalize()
        own = [a for a in accounts if word in _compact(a.get("name")).casefold()]
        like = [r for r in ledgers if word in _compact(r.get("name")).casefold()]
        payable = [r for r in like if r.get("account_type") == "current_liabilities"]
        costs = [r for r in like if r.get("account_type") in ("expenses", "direct_costs")]
        if not section.financial_account:
            pick(table, "financial_account", [a for a in own if not _is(a, bank)],
                 f"named like {label}", f"{MAKE} a financial account for {label}")  # fmt: skip
        if name == "mollie" and not section.fees_payable_ledger:
            pick(table, "fees_payable_ledger", payable, "a current liability named like Mollie",
                 f"{MAKE} a current-liabilities ledger for Mollie's fees payable")  # fmt: skip
        if not section.fee_ledger:
            pick(table, "fee_ledger", costs or (payable if name == "mollie" else []),
                 f"named like {label}", f"{MAKE} a ledger for {label}'s fees")  # fmt: skip
        if not section.transfer_ledger:
            pick(table, "transfer_ledger", [transfer] if transfer else [],
                 "for payouts on their way to the bank",
                 f"{MAKE} a current-assets ledger like 'Betalingen onderweg' (not "
                 "Kruisposten: it takes no payments)")  # fmt: skip
    return found


def _compact(value: Any) -> str:
    return "".join(str(value or "").split())


def _is(account: dict[str, Any], name_or_id: str) -> bool:
    value = name_or_id.strip().casefold()
    return bool(value) and value in (
        str(account.get("id")),
        str(account.get("name", "")).strip().casefold(),
    )


def _unique_name(row: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """Its name, readable in config.toml; its id where another has the same name."""
    name = str(row.get("name", "")).strip()
    twins = [r for r in rows if str(r.get("name", "")).strip().casefold() == name.casefold()]
    return name if name and len(twins) == 1 else str(row["id"])
