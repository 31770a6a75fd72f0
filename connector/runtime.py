"""Wiring: from a loaded Config to the store, the shop, the Moneybird client and the engine."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pythonjsonlogger.json import JsonFormatter

from connector.config import Config
from connector.moneybird.client import MoneybirdClient
from connector.moneybird.rate_limit import RateLimiter
from connector.payouts.mollie_api import MollieProvider
from connector.payouts.provider import PayoutProvider
from connector.payouts.shopify_payments import ShopifyPaymentsProvider
from connector.redact import SecretFilter, remember
from connector.shops.shop import Shop
from connector.shops.shopify.shop import ShopifyShop
from connector.shops.woocommerce.shop import WooCommerceShop
from connector.state import Store
from connector.sync.engine import SyncEngine


@dataclass
class Runtime:
    config: Config
    store: Store
    shop: Shop
    client: MoneybirdClient
    payout_providers: tuple[PayoutProvider, ...] = ()

    def engine(self) -> SyncEngine:
        return SyncEngine(self.config, self.store, self.shop, self.client, self.payout_providers)

    def close(self) -> None:
        close = getattr(self.shop, "close", None)
        if close:
            close()
        self.client.close()
        self.store.close()


def build_shop(config: Config) -> Shop:
    s, c = config.secrets, config.shop
    if c.platform == "shopify":
        return ShopifyShop(
            url=c.url,
            api_version=c.api_version,
            access_token=s.shopify_access_token.get_secret_value(),
            client_id=s.shopify_client_id.get_secret_value(),
            client_secret=s.shopify_client_secret.get_secret_value(),
            fulfillment=c.fulfillment,
            include_test_orders=c.include_test_orders,
            vat_number_attribute=c.vat_number_attribute,
            vat_number_metafield=c.vat_number_metafield,
            invoice_request_keys=tuple(config.file.summary.invoice_request_keys),
            invoice_currencies=tuple(x.upper() for x in config.sync.currencies),
            timeout=c.timeout_seconds,
        )
    return WooCommerceShop(
        url=c.url,
        consumer_key=s.woocommerce_key.get_secret_value(),
        consumer_secret=s.woocommerce_secret.get_secret_value(),
        statuses=config.sync.statuses,
        timeout=c.timeout_seconds,
        query_string_auth=c.query_string_auth,
        vat_number_keys=tuple(c.vat_number_meta_keys),
        gift_card_fees=tuple(config.file.gift_cards.fee_names),
        invoice_request_keys=tuple(config.file.summary.invoice_request_keys),
        per_page=c.per_page,
    )


def build(config: Config, limiter: RateLimiter | None = None) -> Runtime:
    s = config.secrets
    remember(s.values())
    shop = build_shop(config)
    client = MoneybirdClient(
        api_url=config.moneybird.api_url,
        administration_id=config.moneybird.administration_id,
        token=s.moneybird_token.get_secret_value(),
        limiter=limiter
        or RateLimiter(config.moneybird.rate_limit, config.moneybird.rate_window_seconds),
        timeout=config.moneybird.timeout_seconds,
        documents=f"{config.sync.document}s",
    )
    providers = build_payout_providers(config, shop)
    return Runtime(config, Store(config.state_path), shop, client, providers)


def build_payout_providers(config: Config, shop: Shop) -> tuple[PayoutProvider, ...]:
    """The payment providers whose payouts are booked: none while [payouts] is off."""
    providers: list[PayoutProvider] = []
    sections = config.file.payouts.providers()
    mollie = config.file.payouts.mollie
    if "mollie" in sections and mollie is not None:
        key = config.secrets.mollie_api_key.get_secret_value()
        providers.append(MollieProvider(key, base_url=mollie.api_url))
    if "shopify_payments" in sections and isinstance(shop, ShopifyShop):
        providers.append(ShopifyPaymentsProvider(shop.graphql))
    return tuple(providers)


def setup_logging(
    verbose: bool = False, secrets: list[str] | None = None, as_json: bool = False
) -> None:
    handler = logging.StreamHandler()
    if as_json:
        handler.setFormatter(
            JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", timestamp=False)
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if secrets:
        remember(secrets)
        handler.addFilter(SecretFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("httpx", "httpcore", "urllib3", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # "skipped: maximum number of running instances": a pass outlasting the interval is normal
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
