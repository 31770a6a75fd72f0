"""`connector config check`: the configuration and tables, first on their own, then against
the live Moneybird administration and shop."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from connector.admin.mappings_suggest import ledger_insertions
from connector.admin.shop_rates import orders_read, rate_in_use_label, rates_in_use
from connector.booking.mappings import LedgerRule, TaxRule, unreachable
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.config import Config, load_config, platform_of_setting
from connector.errors import AuthError, ConfigError, ConnectorError, ServiceDown, StateError
from connector.money import parse
from connector.moneybird.bank import FilterValue, Mutation, mutation_of
from connector.moneybird.client import MoneybirdClient, no_access, utc_today
from connector.moneybird.documents import rates_from_response
from connector.payouts.mollie_api import KEY_HELP, MollieProvider
from connector.shops.platforms import LABELS
from connector.shops.shop import RateInUse, RatesFromOrders, Shop
from connector.shops.shopify.shop import PAYOUTS_SCOPE, ShopifyShop
from connector.state import Meta, PayoutRecord, Store, utcnow
from connector.sync.payout_settings import (
    PROVIDER_LABELS,
    PayoutSetupError,
    ResolvedPayouts,
    resolve_from,
)
from connector.toml_files import line_of

OK, WARNING, ERROR = "ok", "warning", "error"
UNCHECKED = "unchecked"  # what could not be checked, and what was looked at instead


@dataclass(frozen=True)
class Finding:
    level: str
    where: str
    message: str


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    def add(self, level: str, where: str, message: str) -> None:
        self.findings.append(Finding(level, where, message))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    @property
    def unchecked(self) -> list[Finding]:
        return [f for f in self.findings if f.level == UNCHECKED]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def verdict_level(self) -> str:
        """ERROR, WARNING (warnings, or something not checked) or OK: all is well."""
        if self.errors:
            return ERROR
        return WARNING if self.warnings or self.unchecked else OK

    @property
    def verdict(self) -> str:
        """The last line: all is well only when nothing needs reading and all was checked."""
        if self.errors:
            return f"{len(self.errors)} problem(s) to fix."
        said = []
        if self.warnings:
            said.append(f"{len(self.warnings)} warning(s) above to deal with")
        if self.unchecked:
            subjects = list(dict.fromkeys(f.where for f in self.unchecked))
            said.append("not checked: " + ", ".join(subjects))
        return "No errors, but " + "; ".join(said) + "." if said else "All is well."


def check(path: Path, environ: dict[str, str] | None = None, live: bool = True) -> Report:
    report = Report()
    try:
        config = load_config(path, environ, require_secrets=live)  # the files need no secrets
    except ConfigError as exc:
        for line in str(exc).splitlines():
            report.add(ERROR, "config", line)
        return report
    report.add(OK, "config", f"{config.path} and its mapping tables are valid")
    for where, message in ignored_settings(config):
        report.add(WARNING, where, message)
    check_rule_order(config, report)
    if live:
        from connector.runtime import build

        try:
            runtime = build(config)
        except ConnectorError as exc:  # the state folder cannot be made, and such
            report.add(ERROR, "state", str(exc))
            return report
        try:
            check_moneybird(config, runtime.client, report, runtime.store, runtime.shop)
            check_shop(config, runtime.shop, report)
            record_verdict(runtime.store, report, live)
        finally:
            runtime.close()
    else:
        report.add(
            UNCHECKED,
            "Moneybird and the shop",
            "not contacted (--offline): the token, the ids the tables name and the shop's keys "
            "and tax rates are not checked",
        )
    if not live and config.state_path.exists():
        try:
            store = Store(config.state_path)
        except StateError:
            return report  # the verdict is printed; there is nowhere to keep it
        try:
            record_verdict(store, report, live)
        finally:
            store.close()
    return report


def record_verdict(store: Store, report: Report, live: bool) -> None:
    """The verdict, kept for the dashboard's configuration page."""
    verdict = {
        "at": utcnow().isoformat(),
        "live": live,
        "ok": report.ok,
        "level": report.verdict_level,
        "summary": report.verdict,
        "findings": [[f.level, f.where, f.message] for f in report.findings],
    }
    store.set_meta(Meta.CONFIG_CHECK, json.dumps(verdict))


def _place(path: Path, loc: tuple[str | int, ...]) -> str:
    try:
        line = line_of(path.read_text(encoding="utf-8"), loc)
    except OSError:
        line = None
    return f"{path}:{line}" if line else str(path)


def ignored_settings(config: Config) -> list[tuple[str, str]]:
    """(file:line, message) for each other platform's setting in [shop]: accepted, not used."""
    shop = config.shop
    found = []
    for key in shop.ignored:
        owner = platform_of_setting(key) or "another platform"
        found.append(
            (
                _place(config.path, ("shop", key)),
                f"shop.{key} is a {LABELS.get(owner, owner)} setting; a {LABELS[shop.platform]} "
                "shop ignores it. Remove it: a later release will refuse it.",
            )
        )
    return found


def check_rule_order(config: Config, report: Report) -> None:
    """First match wins: a rule after a broader (or identical) one can never apply."""
    paths = config.mapping_paths()
    tables = {
        "tax": config.mappings.tax,
        "ledger": config.mappings.ledger,
        "payment": config.mappings.payment,
    }
    for name, rules in tables.items():
        for later, earlier in unreachable(rules):
            same = _criteria(rules[later]) == _criteria(rules[earlier])
            what = "duplicates" if same else "is shadowed by"
            report.add(
                ERROR,
                _place(paths[name], ("rule", later)),
                f"rule {later + 1} {what} rule {earlier + 1} "
                f"({_place(paths[name], ('rule', earlier))}), which comes first and matches "
                "everything it would: it can never apply. Remove it or move it up.",
            )


def _criteria(rule: Any) -> dict[str, Any]:
    """What a rule matches on, without where it points or its note."""
    targets = {"note", "tax_rate_id", "ledger_account_id", "financial_account_id"}
    return rule.model_dump(exclude=targets)


def check_moneybird(
    config: Config,
    client: MoneybirdClient,
    report: Report,
    store: Store | None = None,
    shop: Shop | None = None,
) -> None:
    """The token, the administration, and every id the tables and config name, in Moneybird
    (with [payouts] on, also what the state has booked and the shop's payout scope)."""
    if not _administration(config, client, report):
        return
    try:
        found = _Found(
            rates=rates_from_response(client.tax_rates()),
            ledgers={str(a["id"]): a for a in client.ledger_accounts()},
            accounts={str(a["id"]): a for a in client.financial_accounts()},
            workflows={str(w["id"]): w for w in client.workflows()},
            styles={str(d["id"]): d for d in client.document_styles()},
        )
    except ConnectorError as exc:
        report.add(ERROR, "Moneybird", f"cannot read the administration's settings: {exc}")
        return
    _warn_oss_rules(config, report)
    _warn_reduced_rates(config, found, report)
    bad = (
        _check_tax_rules(config, found, report)
        + _check_account_rules(config, found, report)
        + _check_sync_ids(config, found, report)
        + _check_section_ids(config, found, report)
    )
    if not bad:
        report.add(
            OK,
            "Moneybird",
            "every tax rate, ledger account, financial account, workflow and "
            "document style the tables name exists and fits",
        )
    if config.payouts.enabled:  # off: not one request more
        check_payouts(config, client, found, report, store, shop)


def check_payouts(
    config: Config,
    client: MoneybirdClient,
    found: _Found,
    report: Report,
    store: Store | None = None,
    shop: Shop | None = None,
) -> None:
    """[payouts]: the token's `bank` scope, the accounts and ledgers it names (each found once,
    the provider's account not the bank account, no Kruisposten to transfer on), whether
    Moneybird's own link feeds a provider's account, the Mollie key, the Shopify app's scope."""
    where = "payouts"
    resolved = resolve_from(
        config.payouts,
        list(found.accounts.values()),
        list(found.ledgers.values()),
        config.sync.timezone,
    )
    bank = resolved.bank_account_id if isinstance(resolved, ResolvedPayouts) else None
    today = utc_today()
    terms: dict[str, FilterValue] = {"period": (today, today), "state": "unprocessed"}
    if bank:
        terms["financial_account_id"] = bank
    scope = False
    try:
        client.financial_mutations(terms)  # the cheapest read that needs the scope
    except AuthError:
        report.add(
            ERROR,
            where,
            "the Moneybird token may not read the bank (no `bank` scope): make a token with the "
            "scopes sales_invoices, settings and bank and set it as MONEYBIRD_TOKEN",
        )
    except ConnectorError as exc:
        report.add(ERROR, where, f"cannot read the bank's mutations in Moneybird: {exc}")
    else:
        scope = True
        report.add(OK, where, "the Moneybird token may read and book the bank (`bank` scope)")
    if isinstance(resolved, PayoutSetupError):
        for problem in resolved.problems:
            table, _, key = problem.key.rpartition(".")
            report.add(ERROR, _place(config.path, (table, key)), problem.message)
    else:
        misfits = _check_ledger_kinds(config, resolved, found, report)
        names = " and ".join(PROVIDER_LABELS.get(n, n) for n in resolved.providers)
        report.add(
            OK,
            where,
            f"the bank account, and the financial account and ledgers of {names}, exist"
            + ("" if misfits else " and fit"),
        )
        if scope:
            for name, settings in resolved.providers.items():
                account = found.accounts.get(settings.financial_account_id, {})
                _check_feed(name, account, client, store, report)
    if "mollie" in config.payouts.providers():
        _check_mollie_key(config, report)
    if "shopify_payments" in config.payouts.providers() and isinstance(shop, ShopifyShop):
        _check_payouts_scope(shop, report)


# What each payout ledger is for, the kind of ledger that fits it, and what to choose
# otherwise: (fits, why, what to make or choose). Moneybird's `account_type` of the ledger.
LEDGER_KINDS: dict[str, tuple[Callable[[str], bool], str, str]] = {
    "transfer_ledger": (
        lambda kind: kind == "current_assets",
        "payouts on their way to the bank are a current asset",
        "a current_assets ledger (e.g. 'Betalingen onderweg')",
    ),
    "fee_ledger": (
        lambda kind: kind != "revenue",
        "the provider's fees are a cost, not revenue",
        "an expenses ledger (e.g. 'Transactiekosten'), or the fees-payable ledger,",
    ),
    "fees_payable_ledger": (
        lambda kind: kind == "current_liabilities",
        "fees payable are a debt to the provider until its invoice is booked",
        "a current_liabilities ledger (e.g. 'Nog te betalen Mollie-kosten')",
    ),
}


def _check_ledger_kinds(
    config: Config, resolved: ResolvedPayouts, found: _Found, report: Report
) -> int:
    """A warning for each ledger of a kind that does not fit what it holds (it books, but in
    the wrong part of the balance or the profit and loss); how many were warned."""
    misfits = 0
    for name, settings in resolved.providers.items():
        ids = {
            "transfer_ledger": settings.transfer_ledger_id,
            "fee_ledger": settings.fee_ledger_id,
            "fees_payable_ledger": settings.fees_payable_ledger_id,
        }
        for key, (fits, why, choose) in LEDGER_KINDS.items():
            row = found.ledgers.get(ids[key] or "", {})
            kind = row.get("account_type")
            if not isinstance(kind, str) or fits(kind):
                continue  # not set, or Moneybird does not say its kind
            misfits += 1
            report.add(
                WARNING,
                _place(config.path, (f"payouts.{name}", key)),
                f"'{row.get('name')}' is a {kind} ledger; {why}: make or choose {choose} and "
                "name it here",
            )
    return misfits


FEED_DAYS = 31  # how far back the provider's account is read for movements of Moneybird's feed
# A provider's own ids, as its feed writes them into a movement's message (Mollie: payments,
# refunds, chargebacks, captures, settlements); long enough not to be met by chance.
PROVIDER_IDS = {"mollie": re.compile(r"\b(?:tr|re|chb|cpt|stl)_[A-Za-z0-9]{6,}")}
TAKEN_OVER = "not imported again"  # a payout's notes when the flow took the feed's movements


def _check_feed(
    name: str,
    account: dict[str, Any],
    client: MoneybirdClient,
    store: Store | None,
    report: Report,
) -> None:
    """Whether Moneybird's own link feeds the provider's account: the account says so (its
    `provider`), or movements of the last FEED_DAYS carry the provider's ids and are not the
    connector's. One read of the account; the state tells the connector's own movements."""
    label = PROVIDER_LABELS.get(name, name)
    today = utc_today()
    terms: dict[str, FilterValue] = {
        "period": (today - timedelta(days=FEED_DAYS - 1), today),
        "financial_account_id": str(account.get("id")),
    }
    try:
        mutations = [mutation_of(row) for row in client.financial_mutations(terms)]
    except (ConnectorError, KeyError, ValueError) as exc:
        report.add(
            UNCHECKED,
            "payouts",
            f"whether Moneybird's own {label} link feeds the {label} account: its movements "
            f"could not be read ({exc})",
        )
        return
    records = store.payouts(provider=name) if store is not None else []
    fed = _fed_by_moneybird(name, mutations, records)
    linked_to = account.get("provider")
    if linked_to:
        seen = f"Moneybird links the account to provider '{linked_to}'"
    elif fed:
        ids = ", ".join(_provider_id(name, m) or m.id for m in fed[:3])
        many = "movement" if len(fed) == 1 else "movements"
        seen = (
            f"{len(fed)} {many} of the last {FEED_DAYS} days under {label}'s ids that the "
            f"connector did not post, e.g. {ids}"
        )
    else:
        report.add(
            OK,
            "payouts",
            f"the {label} account in Moneybird has no movements of Moneybird's own {label} link "
            f"(last {FEED_DAYS} days): the connector books {label}'s payouts there",
        )
        return
    report.add(
        OK,
        "payouts",
        f"The {label} account in Moneybird is fed by Moneybird itself (its own {label} link): "
        f"the connector imports nothing there and only links those movements ({seen})",
    )


def _fed_by_moneybird(
    name: str, mutations: Sequence[Mutation], records: Sequence[PayoutRecord]
) -> list[Mutation]:
    """The movements carrying the provider's ids that the connector did not post. Its own are
    on a statement it posted, or carry a line it drafted (its id and its message: an answer
    lost and the statement found again). A statement the flow took over from the feed is the
    feed's, though the state records it."""
    posted: set[str] = set()
    drafted: set[tuple[str, str]] = set()
    for record in records:
        if record.statement_id and TAKEN_OVER not in (record.notes or ""):
            posted.add(record.statement_id)
        try:
            lines = json.loads(record.lines or "[]")
        except ValueError:
            lines = []
        for line in lines if isinstance(lines, list) else []:
            if isinstance(line, dict):
                drafted.add((str(line.get("transaction_id")), str(line.get("message"))))
    return [
        m
        for m in mutations
        if _provider_id(name, m)
        and m.statement_id not in posted
        and (m.account_servicer_transaction_id or "", m.message) not in drafted
    ]


def _provider_id(name: str, mutation: Mutation) -> str | None:
    """The provider's id a movement carries: as its servicer's id, or in its message."""
    if mutation.account_servicer_transaction_id:
        return mutation.account_servicer_transaction_id
    pattern = PROVIDER_IDS.get(name)
    found = pattern.search(mutation.message) if pattern else None
    return found.group(0) if found else None


def _check_payouts_scope(shop: ShopifyShop, report: Report) -> None:
    try:
        granted = shop.payouts_scope_granted()
    except ConnectorError as exc:
        report.add(
            UNCHECKED,
            "payouts",
            f"whether the Shopify app may read Shopify Payments' payouts ({PAYOUTS_SCOPE}): "
            f"the app's scopes could not be read ({exc})",
        )
        return
    if granted:
        report.add(
            OK, "payouts", f"the Shopify app may read Shopify Payments' payouts ({PAYOUTS_SCOPE})"
        )
        return
    report.add(
        ERROR,
        "payouts",
        f"the Shopify app may not read Shopify Payments' payouts: add the scope {PAYOUTS_SCOPE} "
        "to the app's Admin API access scopes, then reinstall the app (or approve the new scope "
        "in the Shopify admin) so its access token carries it; until then no Shopify Payments "
        "payout is read",
    )


MOLLIE_KEY_ADVICE = (
    "make an organization access token in Mollie's dashboard (Developers → Organization access "
    "tokens) with settlements.read, payments.read and refunds.read and set it as "
    "MOLLIE_API_KEY; until then no Mollie payout is read"
)


def _check_mollie_key(config: Config, report: Report) -> None:
    """One request to Mollie with the key: answered, refused (an error saying what to make),
    or Mollie out of reach (unchecked). The key is in no message."""
    key = config.secrets.mollie_api_key.get_secret_value()
    section = config.payouts.mollie
    if not key or section is None:
        return  # checked offline: no secrets read
    website_key = not key.startswith("access_")
    provider = MollieProvider(key, base_url=section.api_url)
    try:
        provider.check()
    except AuthError as exc:
        said = str(exc).removesuffix(f"; {KEY_HELP}")
        report.add(
            ERROR,
            "payouts",
            f"{said}: {MOLLIE_KEY_ADVICE}"
            + (
                " (a website profile's API key, live_… or test_…, cannot read settlements)"
                if website_key
                else ""
            ),
        )
        return
    except ConnectorError as exc:
        why = (
            "Mollie could not be reached"
            if isinstance(exc, ServiceDown)
            else "the answer is not Mollie's"
        )
        report.add(
            UNCHECKED, "payouts", f"whether Mollie answers with MOLLIE_API_KEY: {why} ({exc})"
        )
        if website_key:
            report.add(
                WARNING,
                "payouts",
                "MOLLIE_API_KEY is not an access token (access_...): Mollie lets only an "
                "organization access token read its settlements; " + MOLLIE_KEY_ADVICE,
            )
        return
    finally:
        provider.close()
    report.add(OK, "payouts", "Mollie answers with this key (it may read settlements)")


@dataclass
class _Found:
    """What the administration has, by id."""

    rates: dict[str, MoneybirdTaxRate]
    ledgers: dict[str, dict[str, Any]]
    accounts: dict[str, dict[str, Any]]
    workflows: dict[str, dict[str, Any]]
    styles: dict[str, dict[str, Any]]


def _administration(config: Config, client: MoneybirdClient, report: Report) -> bool:
    """The token works and reaches the configured administration."""
    where = "Moneybird"
    try:
        administrations = client.administrations()
    except AuthError as exc:
        report.add(ERROR, where, str(exc))
        return False
    except ConnectorError as exc:
        report.add(ERROR, where, f"cannot reach Moneybird at {client.api_url}: {exc}")
        return False
    admin_id = config.moneybird.administration_id
    problem = no_access(admin_id, administrations)  # the words a pass stops with, too
    if problem:
        report.add(ERROR, where, problem)
        return False
    name = next(a.get("name", "") for a in administrations if str(a.get("id")) == admin_id)
    report.add(OK, where, f"token works for administration {admin_id} ({name})")
    return True


def _warn_oss_rules(config: Config, report: Report) -> None:
    if config.file.vat.oss:
        return
    for n, oss_rule in enumerate(config.mappings.tax):
        if oss_rule.treatment == "oss":
            report.add(
                WARNING,
                _place(config.mapping_paths()["tax"], ("rule", n, "treatment")),
                "an OSS rule applies only with [vat] oss = true; until then orders it "
                "would book are parked",
            )


def _warn_reduced_rates(config: Config, found: _Found, report: Report) -> None:
    """Shopify's lines have no tax class: goods at a reduced rate that a rule for all products
    takes to another revenue account than the low-rate one (a table from before rules could
    match a percentage) are said, with the fix `mappings suggest` proposes."""
    if config.shop.platform != "shopify":
        return
    ledgers = list(found.ledgers.values())
    for before, _why, fields in ledger_insertions(config.mappings, ledgers, found.rates):
        rule = config.mappings.ledger[before]
        elsewhere = found.ledgers.get(rule.ledger_account_id, {}).get("name", "")
        low = found.ledgers.get(fields["ledger_account_id"], {}).get("name", "")
        pct = fields["percentage"]
        report.add(
            WARNING,
            _place(config.mapping_paths()["ledger"], ("rule", before)),
            f"products at {pct}% go by rule {before + 1} to '{elsewhere}': Shopify's lines have "
            f'no tax class to tell them apart by. Add a rule with percentage = "{pct}" on '
            f"'{low}' before it (`connector mappings suggest` proposes one)",
        )


def _tax_rule_problem(
    rule: TaxRule, rate: MoneybirdTaxRate | None, table: tuple[TaxRule, ...] = ()
) -> str | None:
    if rate is None:
        return f"tax_rate_id {rule.tax_rate_id} does not exist in the administration"
    if rate.tax_rate_type != "sales_invoice":
        return (
            f"tax_rate_id {rule.tax_rate_id} is '{rate.name}', a "
            f"{rate.tax_rate_type} rate; sales invoices need a sales_invoice rate"
        )
    if not rate.active:
        return f"tax_rate_id {rule.tax_rate_id} ('{rate.name}') is inactive in Moneybird"
    if rule.percentage not in (None, rate.percentage) and _combined(rule, rate, table) is None:
        return (
            f"the rule is for {rule.percentage:f}% but tax_rate_id "
            f"{rule.tax_rate_id} ('{rate.name}') is {rate.percentage:f}%"
        )
    return None


def _combined(rule: TaxRule, rate: MoneybirdTaxRate, table: tuple[TaxRule, ...]) -> str | None:
    """A rule for a rate charged together with others on a line (SGST 6% + CGST 6%), booked
    at one Moneybird rate of their sum as a park reason advises: what it is for. Only when
    the percentages the table maps to that rate can add up to it with this rule's (6% twice,
    5% and 7%); otherwise the percentages differ by mistake."""
    part, whole = rule.percentage, rate.percentage
    if part is None or not 0 < part < whole:
        return None
    parts = {r.percentage for r in table if r.tax_rate_id == rule.tax_rate_id and r.percentage}
    if not _adds_up(whole - part, {p for p in parts if p < whole}):
        return None
    part, whole = part.normalize(), whole.normalize()
    return (
        f"is for {part:f}% and tax_rate_id {rule.tax_rate_id} ('{rate.name}') is {whole:f}%: "
        f"it books lines charged at rates together that add up to {whole:f}%; a line charged "
        f"at {part:f}% alone parks"
    )


def _adds_up(amount: Decimal, parts: set[Decimal]) -> bool:
    """Whether `amount` is a sum of `parts`, each any number of times (in ten-thousandths of
    a percent, as a bit set of the sums reached)."""
    unit = Decimal("0.0001")
    target = amount / unit
    steps = {int(p / unit) for p in parts if (p / unit) == (p / unit).to_integral_value()}
    if target != target.to_integral_value() or not steps:
        return False
    goal, mask = int(target), (1 << (int(target) + 1)) - 1
    reached = 1  # the empty sum
    while True:
        more = reached
        for step in steps:
            more |= (reached << step) & mask
        if more == reached:
            return bool(reached >> goal & 1) and goal > 0
        reached = more


def _check_tax_rules(config: Config, found: _Found, report: Report) -> int:
    bad = 0
    table = config.mappings.tax
    for n, rule in enumerate(table):
        where = _place(config.mapping_paths()["tax"], ("rule", n, "tax_rate_id"))
        rate = found.rates.get(rule.tax_rate_id)
        problem = _tax_rule_problem(rule, rate, table)
        if problem:
            report.add(ERROR, where, problem)
            bad += 1
        elif rate is not None and (combined := _combined(rule, rate, table)):
            report.add(OK, where, f"rule {n + 1} {combined}")
    return bad


def _check_account_rules(config: Config, found: _Found, report: Report) -> int:
    paths = config.mapping_paths()
    bad = 0
    for n, ledger_rule in enumerate(config.mappings.ledger):
        if ledger_rule.ledger_account_id not in found.ledgers:
            report.add(
                ERROR,
                _place(paths["ledger"], ("rule", n, "ledger_account_id")),
                f"ledger_account_id {ledger_rule.ledger_account_id} does "
                "not exist in the administration",
            )
            bad += 1
        problem = _ledger_rate_problem(ledger_rule, found.rates)
        if problem:
            report.add(ERROR, _place(paths["ledger"], ("rule", n, "tax_rate_id")), problem)
            bad += 1
    for n, payment_rule in enumerate(config.mappings.payment):
        if payment_rule.financial_account_id not in found.accounts:
            report.add(
                ERROR,
                _place(paths["payment"], ("rule", n, "financial_account_id")),
                f"financial_account_id {payment_rule.financial_account_id}"
                " does not exist in the administration",
            )
            bad += 1
    return bad


def _ledger_rate_problem(rule: LedgerRule, rates: dict[str, MoneybirdTaxRate]) -> str | None:
    """A ledger rule for a Moneybird rate no line can be booked at never matches."""
    if rule.tax_rate_id is None:
        return None
    rate = rates.get(rule.tax_rate_id)
    if rate is None or not rate.usable_for_sales:
        return (
            f"tax_rate_id {rule.tax_rate_id} is not an active sales tax rate in the "
            "administration: no line is booked at it, so the rule never matches"
        )
    if rule.percentage is not None and rule.percentage != rate.percentage:
        return (
            f"the rule is for {rule.percentage:f}% but tax_rate_id {rule.tax_rate_id} "
            f"('{rate.name}') is {rate.percentage:f}%: it never matches"
        )
    return None


def _check_sync_ids(config: Config, found: _Found, report: Report) -> int:
    bad = 0
    for key, known in (("workflow_id", found.workflows), ("document_style_id", found.styles)):
        named = getattr(config.sync, key)
        if named and named not in known:
            report.add(ERROR, _place(config.path, ("sync", key)), f"{key} {named} does not exist")
            bad += 1
    return bad


def _check_section_ids(config: Config, found: _Found, report: Report) -> int:
    """The ledger and tax rate that [gift_cards] and [refunds] may name (gift cards: 0%)."""
    bad = 0
    for section, zero in (("gift_cards", True), ("refunds", False)):
        ids = getattr(config.file, section)
        if ids.ledger_account_id and ids.ledger_account_id not in found.ledgers:
            report.add(
                ERROR,
                _place(config.path, (section, "ledger_account_id")),
                f"ledger_account_id {ids.ledger_account_id} does not exist",
            )
            bad += 1
        named = found.rates.get(ids.tax_rate_id) if ids.tax_rate_id else None
        fits = named is not None and named.usable_for_sales and (named.percentage == 0 or not zero)
        if ids.tax_rate_id and not fits:
            kind = "0% sales tax rate" if zero else "sales tax rate"
            report.add(
                ERROR,
                _place(config.path, (section, "tax_rate_id")),
                f"tax_rate_id {ids.tax_rate_id} is not an active {kind}",
            )
            bad += 1
    return bad


def check_shop(config: Config, shop: Shop, report: Report) -> None:
    where = "shop"
    try:
        shop_rates = shop.tax_rates()
    except AuthError as exc:
        report.add(ERROR, where, str(exc))
        return
    except ConnectorError as exc:
        report.add(ERROR, where, f"cannot reach the shop at {config.shop.url}: {exc}")
        return
    if isinstance(shop, RatesFromOrders):
        report.add(OK, where, "the API keys work")
        check_rates_in_use(config, shop, report)
        return
    report.add(OK, where, f"the API keys work; {len(shop_rates)} tax rates in the shop")
    for rate in shop_rates:
        unmapped = _unmapped_for(config, rate)
        if unmapped:
            country = rate.get("country") or "any country"
            name = rate.get("name", "")
            label = f"shop tax rate {rate.get('id')} '{name}' ({country}, {_pct(rate)}%)"
            report.add(
                WARNING,
                where,
                f"{label}: no tax rule maps it for {unmapped}; orders using it will be parked",
            )


def check_rates_in_use(config: Config, shop: RatesFromOrders, report: Report) -> None:
    """A shop without a list of its tax rates: the rates its recent orders used, each checked
    against the tax table as booking would look it up."""
    label = getattr(shop, "label", "the shop")
    where = "shop tax rates"
    try:
        found = rates_in_use(shop)
    except ConnectorError as exc:
        report.add(
            UNCHECKED,
            where,
            f"not checkable: {label} has no tax-rate list, and its recent orders could not "
            f"be read ({exc})",
        )
        return
    report.add(
        UNCHECKED,
        where,
        f"not checkable, {label} has no tax-rate list; read from {orders_read(found)} instead "
        "(a rate no order used yet is not seen)",
    )
    for rate in found.rates:
        problem = rate_problem(config, rate)
        if problem:
            report.add(WARNING, where, f"{rate_in_use_label(rate)}: {problem}")


def rate_problem(config: Config, rate: RateInUse) -> str | None:
    """Why orders like those that used this rate will park on the tax table, or None."""
    if not rate.country:
        return None  # such an order parks for its missing address, whatever the tables say
    rules = config.mappings.tax_rules_for(
        rate.rate_id, rate.percentage, rate.country, rate.business
    )
    if not rules:
        return "no tax rule maps it; orders like these will be parked"
    if not config.file.vat.oss and all(r.treatment == "oss" for r in rules):
        return (
            "only an OSS rule maps it, which applies only with [vat] oss = true; until then "
            "orders like these will be parked"
        )
    return None


def _pct(rate: dict[str, Any]) -> str:
    return f"{parse(rate.get('rate'), 'rate').normalize():f}"


def _unmapped_for(config: Config, rate: dict[str, Any]) -> str:
    percentage = Decimal(_pct(rate))
    country = str(rate.get("country") or "")
    missing = [
        who
        for who, business in (("consumers", False), ("businesses", True))
        if config.mappings.tax_rate_for(str(rate.get("id")), percentage, country, business) is None
    ]
    return " or ".join(missing)
