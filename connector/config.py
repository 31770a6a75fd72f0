"""config.toml and the secrets from the environment, validated at start with one clear message."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import string
import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from connector.booking.mappings import Mappings
from connector.booking.vat_rules import compact_vat_number, vat_number_country
from connector.defaults import (
    ECB_URL,
    GIFT_CARD_FEE_NAMES,
    GIFT_CARD_METHODS,
    VAT_NUMBER_KEYS,
    VIES_URL,
)
from connector.errors import ConfigError
from connector.mapping_files import load_mappings
from connector.toml_files import explain, line_of, read_toml


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ShopSection(_Section):
    """What every platform's [shop] has; each platform's section adds its own settings."""

    url: str
    timeout_seconds: float = Field(default=30, gt=0)
    _ignored: tuple[str, ...] = PrivateAttr(default=())

    _url = field_validator("url")(lambda value: _http_url(value))

    @model_validator(mode="wrap")
    @classmethod
    def _set_aside_other_platforms_keys(cls, data: Any, handler: Any) -> Any:
        # A file written when [shop] held both platforms' settings keeps loading: the other
        # platform's keys are set aside (and reported by `config check`), a typo still is not.
        foreign: tuple[str, ...] = ()
        if isinstance(data, dict):
            foreign = tuple(k for k in data if k in _SHOP_KEYS and k not in cls.model_fields)
            data = {k: v for k, v in data.items() if k not in foreign}
        section = handler(data)
        section._ignored = foreign
        return section

    @property
    def ignored(self) -> tuple[str, ...]:
        """The other platform's settings found in this section, which this one ignores."""
        return self._ignored


class WooCommerceSection(_ShopSection):
    platform: Literal["woocommerce"]
    query_string_auth: bool = False  # for proxies that strip the Authorization header
    # order meta keys holding the customer's VAT number, tried in order (EU VAT plugins)
    vat_number_meta_keys: list[str] = Field(default_factory=lambda: list(VAT_NUMBER_KEYS))
    # orders (and refunds, tax rates) asked for per page; fewer for a slow shop or proxy.
    # Pages overlap by one order, so two at the least; WooCommerce gives at most 100.
    per_page: int = Field(default=100, ge=2, le=100)


class ShopifySection(_ShopSection):
    platform: Literal["shopify"]
    api_version: str = "2026-10"
    fulfillment: Literal["any", "fulfilled"] = "any"  # which paid orders are booked
    include_test_orders: bool = False
    # Where a VAT number is found, first that gives one: the B2B company location's tax
    # registration, this order or customer metafield ("namespace.key"), the note attribute.
    vat_number_metafield: str = ""
    vat_number_attribute: str = "vat_number"

    @field_validator("vat_number_metafield")
    @classmethod
    def _metafield(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"[\w-]{2,255}\.[\w-]{2,64}", value):
            raise ValueError('must be "namespace.key", like "custom.vat_number"')
        return value

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"\d{4}-\d{2}|unstable", value):
            raise ValueError("must look like 2026-10")
        return value


ShopSection = WooCommerceSection | ShopifySection
SHOP_SECTIONS: dict[str, type[_ShopSection]] = {
    "woocommerce": WooCommerceSection,
    "shopify": ShopifySection,
}
_SHOP_KEYS = frozenset(key for section in SHOP_SECTIONS.values() for key in section.model_fields)


def platform_of_setting(key: str) -> str | None:
    """Which platform's [shop] section has this setting, when only one does."""
    owners = [name for name, section in SHOP_SECTIONS.items() if key in section.model_fields]
    return owners[0] if len(owners) == 1 else None


class MoneybirdConfig(_Section):
    administration_id: str
    api_url: str = "https://moneybird.com/api/v2"
    rate_limit: int = Field(default=150, ge=1)
    rate_window_seconds: float = Field(default=300, gt=0)
    timeout_seconds: float = Field(default=30, gt=0)

    @field_validator("administration_id", mode="before")
    @classmethod
    def _admin(cls, value: object) -> str:
        text = str(value).strip()
        if not text.isdigit():
            raise ValueError("must be the numeric administration id from the Moneybird URL")
        return text

    _api = field_validator("api_url")(lambda value: _http_url(value))


class StateConfig(_Section):
    path: str = "data/state.db"


class SyncConfig(_Section):
    interval_minutes: float = Field(default=15, gt=0)
    statuses: list[str] = Field(default_factory=lambda: ["completed"], min_length=1)
    delivery_method: Literal["Manual", "Email"] = "Manual"
    reference_template: str | None = None  # default: "WC-{number}" / "SH-{number}"
    rounding_tolerance: Decimal = Field(default=Decimal("0.02"), ge=0, le=Decimal("1"))
    overlap_minutes: float = Field(default=15, ge=0)
    # Orders paid before this day (in `timezone`) are never booked by `sync`/`run`; unset, the
    # first pass's moment is the start. `connector import` books history and moves it back.
    start: date | None = None
    timezone: str = "Europe/Amsterdam"
    currencies: list[str] = Field(default_factory=lambda: ["EUR"], min_length=1)
    # Payments in another currency carry their amount in euros: "shop" takes the shop's own
    # conversion (parked where it gives none); "ecb" the ECB reference rate of the paid date.
    exchange_rates: Literal["shop", "ecb"] = "shop"
    ecb_url: str = ECB_URL
    discount_lines: bool = True
    # "exact": each invoice on the basis (prices incl. or excl. VAT) on which Moneybird's VAT
    # equals the shop's to the cent; "shop": always the shop's own basis.
    invoice_basis: Literal["exact", "shop"] = "exact"
    # "external_sales_invoice" for shops whose own invoices are the legal ones (the shop numbers
    # them): 2 requests per order instead of 3, no Moneybird numbering or sending.
    document: Literal["sales_invoice", "external_sales_invoice"] = "sales_invoice"
    # "summary": consumer orders paid on one day become one external sales invoice for the day
    # ([summary]); orders that need an invoice of their own are still booked one by one.
    mode: Literal["per_order", "summary"] = "per_order"
    workflow_id: str = ""
    document_style_id: str = ""

    @field_validator("reference_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        unknown = fields - {"number", "id", "shop"}
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; use {{number}}, {{id}}")
        if "number" not in fields and "id" not in fields:
            raise ValueError("must contain {number} or {id}, or every order gets one reference")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("workflow_id", "document_style_id")
    @classmethod
    def _optional_id(cls, value: str) -> str:
        if value and not value.isdigit():
            raise ValueError("must be a numeric Moneybird id or empty")
        return value

    @field_validator("statuses")
    @classmethod
    def _statuses(cls, value: list[str]) -> list[str]:
        if any("," in s or not s.strip() for s in value):
            raise ValueError("each status is one word, e.g. ['completed', 'processing']")
        return [s.strip() for s in value]


class RefundsConfig(_Section):
    # A refund without lines (an amount only): spread "proportional" over the original
    # invoice's VAT rates, or booked "fixed" on the ledger account and tax rate below.
    amount_only: Literal["proportional", "fixed"] = "proportional"
    ledger_account_id: str = ""
    tax_rate_id: str = ""
    # A refund on an order not booked yet: "invoice_and_credit" books the sale and then the
    # refund as a linked credit invoice; "net" books one invoice for what the customer kept.
    before_booking: Literal["invoice_and_credit", "net"] = "invoice_and_credit"

    @field_validator("ledger_account_id", "tax_rate_id")
    @classmethod
    def _optional_id(cls, value: str) -> str:
        if value and not value.isdigit():
            raise ValueError("must be a numeric Moneybird id or empty")
        return value

    @model_validator(mode="after")
    def _fixed_needs_ids(self) -> RefundsConfig:
        if self.amount_only == "fixed" and not (self.ledger_account_id and self.tax_rate_id):
            raise ValueError("amount_only = 'fixed' needs ledger_account_id and tax_rate_id")
        return self


class VatConfig(_Section):
    shop_country: str = "NL"  # where the shop is established
    # Registered for the EU One-Stop Shop: rules may then use destination-country rates
    # (treatment = "oss"). Off: such rules never apply and those orders are parked.
    oss: bool = False
    # Shipping in a basket with several VAT rates: "as_charged" books the VAT the shop charged;
    # "split_by_goods_value" splits it over the goods' rates in proportion to their value.
    shipping_vat: Literal["as_charged", "split_by_goods_value"] = "as_charged"
    # Intra-community 0% only for VAT numbers VIES knows. When VIES cannot answer: "park" the
    # order with that reason (`connector retry` puts it back), or "wait": try it again each pass.
    # A "valid" answer is kept vies_cache_days.
    vies_check: bool = False
    vies_unavailable: Literal["park", "wait"] = "park"
    vies_cache_days: int = Field(default=30, ge=0, le=365)
    vies_url: str = VIES_URL
    # The shop's own VAT number: VIES then gives a consultation number, the proof of a check.
    vies_requester: str = ""

    _vies_url = field_validator("vies_url")(lambda value: _http_url(value))

    @field_validator("vies_requester")
    @classmethod
    def _requester(cls, value: str) -> str:
        if value.strip() and vat_number_country(value) is None:
            raise ValueError(f"{value!r} is not a valid EU VAT number")
        return compact_vat_number(value) if value.strip() else ""

    @field_validator("shop_country")
    @classmethod
    def _iso(cls, value: str) -> str:
        if not (len(value.strip()) == 2 and value.strip().isalpha()):
            raise ValueError('must be an ISO country code like "NL"')
        return value.strip().upper()


class GiftCardsConfig(_Section):
    # Selling a gift card is not revenue: "liability" books it without VAT on the ledger and
    # 0% rate below, "skip" leaves it off the invoice; "park" (default) until that is decided.
    sale: Literal["park", "liability", "skip"] = "park"
    ledger_account_id: str = ""
    tax_rate_id: str = ""
    skus: list[str] = Field(default_factory=list)  # sku globs of gift cards (WooCommerce)
    # Payment methods that are the shop's own gift cards: paying with one is a payment on the
    # account the payment table names for it, never a discount.
    payment_methods: list[str] = Field(default_factory=lambda: list(GIFT_CARD_METHODS))
    # WooCommerce: negative fee lines without VAT named like these are a gift card paid with.
    fee_names: list[str] = Field(default_factory=lambda: list(GIFT_CARD_FEE_NAMES))

    @model_validator(mode="after")
    def _liability_needs_ids(self) -> GiftCardsConfig:
        if self.sale == "liability" and not (
            self.ledger_account_id.isdigit() and self.tax_rate_id.isdigit()
        ):
            raise ValueError("sale = 'liability' needs ledger_account_id and tax_rate_id")
        return self


class SummaryConfig(_Section):
    # sync.mode = "summary": the day's document is made once this many days have passed since
    # the day (late refunds and edits land in it), on this contact (made when it is missing).
    settle_days: int = Field(default=2, ge=0, le=31)
    contact_name: str = Field(default="Webshop klanten", min_length=1)
    contact_id: str = ""  # an existing Moneybird contact instead
    description: str = Field(default="Webshopverkopen", min_length=1)  # + the day, on each line
    # Where a customer asks for an invoice of their own (then booked on its own): WooCommerce
    # order meta keys, Shopify note attributes; any value but empty, 0 or no counts.
    invoice_request_keys: list[str] = Field(default_factory=list)

    _contact = field_validator("contact_id", mode="before")(lambda value: str(value).strip())


class ReconcileConfig(_Section):
    # `connector run` reconciles the previous month this many days after it ended (late
    # payments and refunds booked first); while it disagrees, again once a day.
    monthly: bool = True
    days_after_month_end: int = Field(default=3, ge=0, le=27)
    # Orders paid in the month are looked for among those created up to this many days before
    # it (and among those the connector saw paid in it, whenever they were created).
    lookback_days: int = Field(default=92, ge=0, le=3660)


class HealthConfig(_Section):
    port: int = Field(default=0, ge=0, le=65535)  # 0: off; CONNECTOR_HEALTH_PORT overrides
    host: str = "127.0.0.1"  # CONNECTOR_HEALTH_HOST overrides (the container: 0.0.0.0)


class DashboardConfig(_Section):
    # The web dashboard beside `connector run` (`connector dashboard` serves it alone).
    enabled: bool = False
    port: int = Field(default=8081, ge=1, le=65535)  # CONNECTOR_DASHBOARD_PORT overrides
    host: str = "127.0.0.1"  # CONNECTOR_DASHBOARD_HOST overrides (the container: 0.0.0.0)
    # The names it answers to besides the loopback ones ("books.example.nl", or with a port,
    # "books.example.nl:8081"); any other Host header gets 400 (DNS rebinding).
    hosts: list[str] = Field(default_factory=list)


class AlertsConfig(_Section):
    webhook_url: str = ""  # JSON POST on each new problem and each recovery
    email_to: list[str] = Field(default_factory=list)
    email_from: str = ""
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str = ""  # password from SMTP_PASSWORD (or SMTP_PASSWORD_FILE)
    smtp_starttls: bool = True
    failed_attempts: int = Field(default=3, ge=1)  # a failing order alerts after this many
    no_success_minutes: float = Field(default=120, gt=0)

    _webhook = field_validator("webhook_url")(lambda value: value and _http_url(value))

    @property
    def email_enabled(self) -> bool:
        return bool(self.email_to and self.smtp_host)


class LoggingConfig(_Section):
    format: Literal["human", "json"] = "human"


class MappingsConfig(_Section):
    tax: str = "mappings/tax.toml"
    ledger: str = "mappings/ledger.toml"
    payment: str = "mappings/payment.toml"


def _name_or_id(value: object) -> object:
    """A Moneybird name or id as text; anything else is left for the type check to refuse."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return str(value).strip()
    return value


class ProviderPayouts(_Section):
    """One payment provider's payouts: where they are booked in Moneybird, each a name or an
    id there (resolved at the start of a pass). Optional ledgers empty: not used."""

    financial_account: str = ""  # the provider's account in Moneybird, not the bank account
    transfer_ledger: str = ""  # the payout and its bank line meet here (never "Kruisposten")
    fee_ledger: str = ""
    fees_payable_ledger: str = ""  # Mollie: fees whole here; their VAT comes with its invoice
    fee_vat_ledger: str = ""  # where a fee's stated VAT is booked
    chargeback_ledger: str = ""

    @field_validator("*", mode="before")
    @classmethod
    def _name_or_id(cls, value: object) -> object:
        # An id may be written as a TOML number; a name is compared as written, trimmed.
        return _name_or_id(value)

    # The keys without which no payout can be booked, with what each names.
    REQUIRED: ClassVar[dict[str, str]] = {
        "financial_account": "the provider's financial account in Moneybird",
        "transfer_ledger": "the ledger a payout and its bank line are linked to",
        "fee_ledger": "the ledger the provider's fees are booked on",
    }

    def missing(self) -> list[str]:
        return [key for key in self.REQUIRED if not getattr(self, key)]


class MolliePayouts(ProviderPayouts):
    api_url: str = "https://api.mollie.com"

    _api = field_validator("api_url")(lambda value: _http_url(value))


PAYOUT_PROVIDERS = ("mollie", "shopify_payments")


class PayoutsConfig(_Section):
    """[payouts]: off by default, and then nothing of it is read or requested."""

    enabled: bool = False
    bank_account: str = ""  # the financial account the payouts' bank lines arrive on
    # A payout whose bank line has not arrived this many days after it is a finding.
    bank_line_days: int = Field(default=5, ge=1, le=60)
    since: date | None = None  # payouts paid out before this day are not booked
    mollie: MolliePayouts | None = None
    shopify_payments: ProviderPayouts | None = None

    @field_validator("bank_account", mode="before")
    @classmethod
    def _bank(cls, value: object) -> object:
        return _name_or_id(value)

    @field_validator("since", mode="before")
    @classmethod
    def _since(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def providers(self) -> dict[str, ProviderPayouts]:
        """The providers whose payouts are booked: those with a section, only when enabled."""
        if not self.enabled:
            return {}
        named = {name: getattr(self, name) for name in PAYOUT_PROVIDERS}
        return {name: section for name, section in named.items() if section is not None}


def payout_problems(
    data: FileConfig, names_optional: bool = False
) -> list[tuple[tuple[str, ...], str]]:
    """What [payouts] lacks to be used, each as (where in the file, what to set); none when
    it is off. `names_optional`: the accounts and ledgers not named yet are no problem (a
    setup in progress, which `mappings suggest` fills in)."""
    payouts = data.payouts
    if not payouts.enabled:
        return []
    hint = " (`connector mappings suggest` proposes one)"
    problems: list[tuple[tuple[str, ...], str]] = []
    if not payouts.providers():
        problems.append(
            (
                ("payouts", "enabled"),
                "payouts.enabled = true books no provider's payouts: add [payouts.mollie] "
                "or [payouts.shopify_payments], or set enabled = false",
            )
        )
    if not payouts.bank_account and not names_optional:
        problems.append(
            (
                ("payouts", "bank_account"),
                "payouts.bank_account is not set: name the Moneybird financial account the "
                "payouts arrive on (its name or id)" + hint,
            )
        )
    if payouts.shopify_payments is not None and data.shop.platform != "shopify":
        problems.append(
            (
                ("payouts.shopify_payments",),
                "[payouts.shopify_payments] needs a Shopify shop ([shop] platform = "
                '"shopify"); remove it for this shop',
            )
        )
    for name, section in payouts.providers().items():
        for key in [] if names_optional else section.missing():
            problems.append(
                (
                    (f"payouts.{name}", key),
                    f"payouts.{name}.{key} is not set: name {section.REQUIRED[key]} "
                    "(its name or id in Moneybird)" + hint,
                )
            )
    return problems


class FileConfig(_Section):
    shop: Annotated[ShopSection, Field(discriminator="platform")]
    moneybird: MoneybirdConfig
    state: StateConfig = Field(default_factory=StateConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    refunds: RefundsConfig = Field(default_factory=RefundsConfig)
    vat: VatConfig = Field(default_factory=VatConfig)
    gift_cards: GiftCardsConfig = Field(default_factory=GiftCardsConfig)
    mappings: MappingsConfig = Field(default_factory=MappingsConfig)
    reconcile: ReconcileConfig = Field(default_factory=ReconcileConfig)
    summary: SummaryConfig = Field(default_factory=SummaryConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    payouts: PayoutsConfig = Field(default_factory=PayoutsConfig)


EMPTY = SecretStr("")


class Secrets(BaseModel):
    moneybird_token: SecretStr
    woocommerce_key: SecretStr = EMPTY
    woocommerce_secret: SecretStr = EMPTY
    shopify_access_token: SecretStr = EMPTY
    shopify_client_id: SecretStr = EMPTY
    shopify_client_secret: SecretStr = EMPTY
    smtp_password: SecretStr = EMPTY
    mollie_api_key: SecretStr = EMPTY  # read only where Mollie's payouts are booked

    def values(self) -> list[str]:
        """Every secret, and each key:secret pair as HTTP Basic auth sends it (base64 of the
        pair is not made of the two halves' own encodings): redaction is given all of them."""
        single = [
            value.get_secret_value()
            for value in (
                self.moneybird_token,
                self.woocommerce_key,
                self.woocommerce_secret,
                self.shopify_access_token,
                self.shopify_client_id,
                self.shopify_client_secret,
                self.smtp_password,
                self.mollie_api_key,
            )
            if value.get_secret_value()
        ]
        pairs = [
            f"{user.get_secret_value()}:{password.get_secret_value()}"
            for user, password in (
                (self.woocommerce_key, self.woocommerce_secret),
                (self.shopify_client_id, self.shopify_client_secret),
            )
            if user.get_secret_value() and password.get_secret_value()
        ]
        return single + pairs


class Config:
    """Everything a pass needs, resolved: paths absolute, tables loaded, secrets read."""

    def __init__(self, path: Path, data: FileConfig, mappings: Mappings, secrets: Secrets):
        self.path = path
        self.file = data
        self.mappings = mappings
        self.secrets = secrets

    @property
    def shop(self) -> ShopSection:
        return self.file.shop

    @property
    def moneybird(self) -> MoneybirdConfig:
        return self.file.moneybird

    @property
    def sync(self) -> SyncConfig:
        return self.file.sync

    @property
    def payouts(self) -> PayoutsConfig:
        return self.file.payouts

    @property
    def health_port(self) -> int:
        override = os.environ.get("CONNECTOR_HEALTH_PORT", "").strip()
        return int(override) if override.isdigit() else self.file.health.port

    @property
    def health_host(self) -> str:
        return os.environ.get("CONNECTOR_HEALTH_HOST", "").strip() or self.file.health.host

    @property
    def dashboard_port(self) -> int:
        override = os.environ.get("CONNECTOR_DASHBOARD_PORT", "").strip()
        return int(override) if override.isdigit() else self.file.dashboard.port

    @property
    def dashboard_host(self) -> str:
        return os.environ.get("CONNECTOR_DASHBOARD_HOST", "").strip() or self.file.dashboard.host

    @property
    def state_path(self) -> Path:
        return state_file(self.path, self.file.state.path)

    def mapping_paths(self) -> dict[str, Path]:
        m = self.file.mappings
        return {
            "tax": _resolve(self.path, m.tax),
            "ledger": _resolve(self.path, m.ledger),
            "payment": _resolve(self.path, m.payment),
        }


@dataclass(frozen=True)
class StateSettings:
    """What the state-only commands (status, retry, health) need: no secrets, no tables."""

    config_path: Path
    state_path: Path
    interval_minutes: float
    problem: str | None  # the files on disk do not load; the running connector keeps its own


def _read_toml(path: Path) -> dict[str, Any]:
    return read_toml(path, "configuration file not found (use --config PATH)")


def state_settings(path: Path, environ: dict[str, str] | None = None) -> StateSettings:
    path = path.resolve()
    problem = None
    try:
        raw = _read_toml(path)
    except ConfigError as exc:  # still find the state the running connector uses
        if not path.exists():
            raise  # no configuration here at all: no state to find, and none to make
        raw, problem = _lenient_toml(path), str(exc)
    try:
        config = load_config(path, environ, require_secrets=False)
        state, interval = config.state_path, config.sync.interval_minutes
    except ConfigError as exc:
        problem = str(exc)
        state = state_file(path, str(raw.get("state", {}).get("path", StateConfig().path)))
        try:
            interval = float(raw.get("sync", {}).get("interval_minutes", 15))
        except (TypeError, ValueError):
            interval = 15.0
    return StateSettings(path, state, interval, problem)


def _lenient_toml(path: Path) -> dict[str, Any]:
    """As much of a broken config.toml as tells where the state is: the text read whatever
    its encoding, else the `path` under `[state]` found by eye."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        found = re.search(r'^\[state\][^\[]*?^\s*path\s*=\s*"([^"]+)"', text, re.M | re.S)
        return {"state": {"path": found.group(1)}} if found else {}


def fingerprint(config_path: Path) -> str:
    """A hash over config.toml and the tables it names, to tell which version is in force."""
    digest = hashlib.sha256()
    paths = [config_path]
    try:
        with config_path.open("rb") as handle:
            names = tomllib.load(handle).get("mappings", {})
        defaults = MappingsConfig()
        for key in ("tax", "ledger", "payment"):
            paths.append(_resolve(config_path, str(names.get(key, getattr(defaults, key)))))
    except (OSError, ValueError, AttributeError):  # unreadable, not TOML, not UTF-8
        pass
    for path in paths:
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<missing>")
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def state_file(config_path: Path, value: str) -> Path:
    """Where the state lives. A relative path is relative to the config file, unless
    CONNECTOR_STATE_DIR names a folder (the container: its /data volume): then the state file
    goes there, whatever folder the mounted config names. An absolute path is used as given."""
    folder = os.environ.get("CONNECTOR_STATE_DIR", "").strip()
    if folder and not Path(value).is_absolute():
        return Path(folder) / Path(value).name
    return _resolve(config_path, value)


def _resolve(config_path: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else (config_path.parent / path).resolve()


def read_secret(name: str, environ: dict[str, str] | None = None) -> str:
    """NAME from the environment, or the contents of the file NAME_FILE points at."""
    env = os.environ if environ is None else environ
    value = env.get(name, "").strip()
    if value:
        return value
    file_name = env.get(f"{name}_FILE", "").strip()
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except PermissionError:
            raise ConfigError(_unreadable_secret(name, file_name)) from None
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {file_name}: {exc.strerror}") from None
    raise ConfigError(f"{name} is not set (set it, or {name}_FILE pointing at a file holding it)")


def _unreadable_secret(name: str, file_name: str) -> str:
    """A secret file this process may not read, with who it runs as and the two ways to let it
    (the container runs as uid 10001; a Docker secret from a file keeps the host file's owner
    and mode, so the fix is made on the host)."""
    uid, gid = os.getuid(), os.getgid()
    try:
        found = os.stat(file_name)
        whose = f"; the file is owned by uid {found.st_uid}, mode {stat.S_IMODE(found.st_mode):04o}"
    except OSError:
        whose = ""
    return (
        f"{name}_FILE: cannot read {file_name}: permission denied (the connector runs as uid "
        f"{uid}, gid {gid}{whose}). Let uid {uid} read it: `chown {uid} {file_name}` (mode 600 "
        f"may stay) or `chgrp {gid} {file_name} && chmod 640 {file_name}`; in a container, to "
        f"the host's file it comes from (Compose: `sudo chown {uid} secrets/*`)"
    )


def load_config(
    path: Path,
    environ: dict[str, str] | None = None,
    mappings_optional: bool = False,
    require_secrets: bool = True,
) -> Config:
    path = path.resolve()
    raw = _read_toml(path)
    try:
        data = FileConfig.model_validate(raw)
    except ValidationError as exc:
        raise explain(path, exc, {"shop": frozenset(SHOP_SECTIONS)}) from None
    # `mappings suggest` (mappings_optional) loads a setup in progress: the payout names it
    # proposes may still be empty there.
    problems = payout_problems(data, names_optional=mappings_optional)
    if problems:
        raise ConfigError("\n".join(_at(path, loc, message) for loc, message in problems))
    m = data.mappings
    mappings = load_mappings(
        _resolve(path, m.tax),
        _resolve(path, m.ledger),
        _resolve(path, m.payment) if m.payment else None,
        optional=mappings_optional,
    )
    if not require_secrets:
        return Config(path, data, mappings, Secrets(moneybird_token=EMPTY))
    return Config(path, data, mappings, _secrets(data, environ))


def _at(path: Path, loc: tuple[str, ...], message: str) -> str:
    """file:line: message, as `explain` says a problem."""
    try:
        line = line_of(path.read_text(encoding="utf-8"), loc)
    except OSError:
        line = None
    return f"{path}:{line}: {message}" if line else f"{path}: {message}"


def _secrets(data: FileConfig, environ: dict[str, str] | None) -> Secrets:
    """All the secrets the configuration needs; every one that is missing named at once."""
    missing: list[str] = []

    def secret(name: str) -> SecretStr:
        try:
            return SecretStr(read_secret(name, environ))
        except ConfigError as exc:
            if "is not set" not in str(exc):
                raise  # NAME_FILE names a file that cannot be read: its own clear message
            missing.append(name)
            return EMPTY

    def optional(name: str) -> SecretStr:
        try:
            return SecretStr(read_secret(name, environ))
        except ConfigError:
            return EMPTY

    shop: dict[str, SecretStr] = {}
    if data.shop.platform == "woocommerce":
        shop["woocommerce_key"] = secret("WOOCOMMERCE_CONSUMER_KEY")
        shop["woocommerce_secret"] = secret("WOOCOMMERCE_CONSUMER_SECRET")
    else:
        token = optional("SHOPIFY_ACCESS_TOKEN")
        if token.get_secret_value():
            shop["shopify_access_token"] = token
        else:
            client_id = optional("SHOPIFY_CLIENT_ID")
            client_secret = optional("SHOPIFY_CLIENT_SECRET")
            if not (client_id.get_secret_value() and client_secret.get_secret_value()):
                missing.append(
                    "SHOPIFY_ACCESS_TOKEN (a custom app's shpat_ token; or SHOPIFY_CLIENT_ID "
                    "and SHOPIFY_CLIENT_SECRET for client credentials)"
                )
            shop["shopify_client_id"], shop["shopify_client_secret"] = client_id, client_secret
    token = secret("MONEYBIRD_TOKEN")
    smtp = secret("SMTP_PASSWORD") if data.alerts.smtp_user else EMPTY
    # Only where Mollie's payouts are booked: [payouts] off asks for nothing more.
    mollie = secret("MOLLIE_API_KEY") if "mollie" in data.payouts.providers() else EMPTY
    if missing:
        raise ConfigError(
            f"not set: {', '.join(missing)}. Set each in the environment, or NAME_FILE to a "
            "file holding it (Docker secrets)"
        )
    return Secrets(moneybird_token=token, smtp_password=smtp, mollie_api_key=mollie, **shop)
