"""[payouts] as booking takes it: the accounts and ledgers the configuration names (by name or
id) resolved to Moneybird's ids, or each reason they cannot be, saying what to make or set.

The payout flow resolves them at the start of a pass, `config check` from what it has read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connector.booking.payout import PayoutSettings
from connector.config import PayoutsConfig, ProviderPayouts
from connector.moneybird.client import MoneybirdClient
from connector.state import Meta, Store, utcnow

# Moneybird's default ledger for amounts on their way: it takes financial mutations and
# journal entries only, no payments, so a payout's transfer cannot be made on it.
KRUISPOSTEN = "kruisposten"
PROVIDER_LABELS = {"mollie": "Mollie", "shopify_payments": "Shopify Payments"}
LEDGER_KEYS = (
    "transfer_ledger",
    "fee_ledger",
    "fees_payable_ledger",
    "fee_vat_ledger",
    "chargeback_ledger",
)


@dataclass(frozen=True)
class SetupProblem:
    key: str  # as written in config.toml: "payouts.mollie.fee_ledger"
    message: str  # what is wrong and what to make or set

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


@dataclass(frozen=True)
class PayoutSetupError:
    """Why payouts cannot be booked as configured: every problem found, at once."""

    problems: tuple[SetupProblem, ...]

    @property
    def reason(self) -> str:
        """One line: each problem with the key it is about."""
        return "; ".join(str(problem) for problem in self.problems)


@dataclass(frozen=True)
class ResolvedPayouts:
    bank_account_id: str
    bank_line_days: int
    since: date | None  # None: from the state's start
    providers: Mapping[str, PayoutSettings] = field(default_factory=dict)
    # The providers whose account Moneybird feeds itself (the account names a `provider`):
    # the connector posts nothing there, it waits for the feed's movements and links them.
    fed: frozenset[str] = frozenset()


def resolve_payouts(
    config_payouts: PayoutsConfig, client: MoneybirdClient, timezone: str | ZoneInfo
) -> ResolvedPayouts | PayoutSetupError:
    """Two reads (financial accounts, ledger accounts); a failing read raises as any read."""
    return resolve_from(
        config_payouts, client.financial_accounts(), client.ledger_accounts(), timezone
    )


def resolve_from(
    config_payouts: PayoutsConfig,
    accounts: Sequence[Mapping[str, Any]],
    ledgers: Sequence[Mapping[str, Any]],
    timezone: str | ZoneInfo,
) -> ResolvedPayouts | PayoutSetupError:
    """Pure: the configuration against what the administration has."""
    zone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
    problems: list[SetupProblem] = []
    if not config_payouts.enabled:
        problems.append(SetupProblem("payouts.enabled", "payouts are off; set enabled = true"))
        return PayoutSetupError(tuple(problems))
    # Checked when the configuration is loaded already; said here too, for a caller that
    # resolves a setup in progress.
    if not config_payouts.bank_account:
        problems.append(SetupProblem("payouts.bank_account", "not set; " + _BANK_HINT))
    for name, section in config_payouts.providers().items():
        for key in section.missing():
            problems.append(
                SetupProblem(f"payouts.{name}.{key}", f"not set; name {section.REQUIRED[key]}")
            )
    bank = _find("payouts.bank_account", config_payouts.bank_account, accounts, _ACCOUNT, problems)
    providers: dict[str, PayoutSettings] = {}
    taken: dict[str, str] = {}  # financial account id -> the provider it is for
    for name, section in config_payouts.providers().items():
        settings = _provider(name, section, bank, accounts, ledgers, zone, taken, problems)
        if settings is not None:
            providers[name] = settings
    if problems:
        return PayoutSetupError(tuple(problems))
    assert bank is not None  # found, or a problem was said
    by_id = {str(a.get("id")): a for a in accounts}
    fed = frozenset(
        name
        for name, settings in providers.items()
        if by_id.get(settings.financial_account_id, {}).get("provider")
    )
    return ResolvedPayouts(
        bank_account_id=str(bank["id"]),
        bank_line_days=config_payouts.bank_line_days,
        since=config_payouts.since,
        providers=providers,
        fed=fed,
    )


def _provider(
    name: str,
    section: ProviderPayouts,
    bank: Mapping[str, Any] | None,
    accounts: Sequence[Mapping[str, Any]],
    ledgers: Sequence[Mapping[str, Any]],
    zone: ZoneInfo,
    taken: dict[str, str],
    problems: list[SetupProblem],
) -> PayoutSettings | None:
    label = PROVIDER_LABELS.get(name, name)
    before = len(problems)
    key = f"payouts.{name}.financial_account"
    account = _find(key, section.financial_account, accounts, _ACCOUNT, problems)
    if account is not None and bank is not None and str(account["id"]) == str(bank["id"]):
        problems.append(
            SetupProblem(
                key,
                f"'{account.get('name')}' is the bank account the payouts arrive on; make a "
                f"financial account for {label} in Moneybird and name it here",
            )
        )
    elif account is not None and str(account["id"]) in taken:
        other = PROVIDER_LABELS.get(taken[str(account["id"])], taken[str(account["id"])])
        problems.append(
            SetupProblem(
                key,
                f"'{account.get('name')}' is {other}'s financial account already; make one "
                f"for {label} in Moneybird and name it here",
            )
        )
    elif account is not None:
        taken[str(account["id"])] = name
    ids: dict[str, str | None] = {}
    for ledger_key in LEDGER_KEYS:
        where = f"payouts.{name}.{ledger_key}"
        ledger = _find(where, getattr(section, ledger_key), ledgers, _LEDGER, problems)
        if ledger is not None and ledger_key == "transfer_ledger" and _is_kruisposten(ledger):
            problems.append(
                SetupProblem(
                    where,
                    f"'{ledger.get('name')}' takes no payments in Moneybird; make a ledger for "
                    "payouts on their way to the bank (a current asset, e.g. 'Betalingen "
                    "onderweg') and name it here",
                )
            )
        ids[ledger_key] = None if ledger is None else str(ledger["id"])
    if len(problems) > before or account is None:
        return None
    transfer, fee = ids["transfer_ledger"], ids["fee_ledger"]
    assert transfer is not None and fee is not None  # required by the configuration
    return PayoutSettings(
        financial_account_id=str(account["id"]),
        transfer_ledger_id=transfer,
        fee_ledger_id=fee,
        fees_payable_ledger_id=ids["fees_payable_ledger"],
        fee_vat_ledger_id=ids["fee_vat_ledger"],
        chargeback_ledger_id=ids["chargeback_ledger"],
        timezone=zone,
    )


_ACCOUNT, _LEDGER = "financial account", "ledger account"
_BANK_HINT = "name the financial account the payouts arrive on (its name or id)"


def _find(
    key: str,
    value: str,
    rows: Sequence[Mapping[str, Any]],
    what: str,
    problems: list[SetupProblem],
) -> Mapping[str, Any] | None:
    """The row `value` names: its id, else its name (case and spaces aside). Empty: None,
    said only where the configuration requires it (it is checked there)."""
    if not value:
        return None
    by_id = [row for row in rows if str(row.get("id")) == value]
    named = by_id or [row for row in rows if _same(row.get("name"), value)]
    if not named:
        problems.append(
            SetupProblem(
                key,
                f"no {what} '{value}' in the administration; make it in Moneybird, or set "
                f"the name or id of an existing one",
            )
        )
        return None
    if len(named) > 1:
        ids = ", ".join(str(row.get("id")) for row in named)
        problems.append(
            SetupProblem(
                key,
                f"{len(named)} {what}s are named '{value}' (ids {ids}); set the id of the "
                "one meant",
            )
        )
        return None
    found = named[0]
    if found.get("active") is False:
        problems.append(
            SetupProblem(
                key,
                f"{what} '{found.get('name')}' is inactive in Moneybird; activate it or "
                "name another",
            )
        )
        return None
    return found


def _same(name: Any, value: str) -> bool:
    return " ".join(str(name or "").split()).casefold() == " ".join(value.split()).casefold()


def _is_kruisposten(ledger: Mapping[str, Any]) -> bool:
    return _same(ledger.get("name"), KRUISPOSTEN)


SETUP_FRESH = timedelta(days=1)  # how long a resolved setup is used without asking Moneybird


def _setup_key(config_payouts: PayoutsConfig, timezone: str | ZoneInfo) -> str:
    text = config_payouts.model_dump_json() + "|" + str(timezone)
    return hashlib.sha256(text.encode()).hexdigest()


def keep_setup(
    store: Store, config_payouts: PayoutsConfig, timezone: str | ZoneInfo, found: ResolvedPayouts
) -> None:
    """Keep the resolved setup in the state, with what it was resolved from and when."""
    providers = {
        name: {k: v for k, v in asdict(s).items() if k != "timezone"}
        for name, s in found.providers.items()
    }
    store.set_meta(
        Meta.PAYOUT_SETUP,
        json.dumps(
            {
                "key": _setup_key(config_payouts, timezone),
                "at": utcnow().isoformat(),
                "bank": found.bank_account_id,
                "days": found.bank_line_days,
                "since": found.since.isoformat() if found.since else None,
                "providers": providers,
                "fed": sorted(found.fed),
            }
        ),
    )


def cached_setup(
    store: Store, config_payouts: PayoutsConfig, timezone: str | ZoneInfo
) -> ResolvedPayouts | None:
    """The setup kept by an earlier pass, when it was resolved from this [payouts] less than
    a day ago; else None (resolve it again)."""
    try:
        kept = json.loads(store.get_meta(Meta.PAYOUT_SETUP) or "null")
        if not isinstance(kept, dict) or kept.get("key") != _setup_key(config_payouts, timezone):
            return None
        at = datetime.fromisoformat(kept["at"])
        if not timedelta(0) <= utcnow() - at < SETUP_FRESH:
            return None
        zone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
        providers = {
            name: PayoutSettings(**ids, timezone=zone) for name, ids in kept["providers"].items()
        }
        since = date.fromisoformat(kept["since"]) if kept.get("since") else None
        fed = frozenset(str(name) for name in kept.get("fed") or [])
        return ResolvedPayouts(str(kept["bank"]), int(kept["days"]), since, providers, fed)
    except (ValueError, TypeError, KeyError):
        return None  # an older or damaged entry: resolved again


def kept_bank_line_days(store: Store, default: int = 5) -> int:
    """[payouts] bank_line_days as the last pass resolved it (status reads no configuration)."""
    try:
        kept = json.loads(store.get_meta(Meta.PAYOUT_SETUP) or "null")
        return int(kept["days"]) if isinstance(kept, dict) else default
    except (ValueError, TypeError, KeyError):
        return default
