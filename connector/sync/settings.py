"""What booking is told by the configuration, built in one place for the engine, the import
and the preview."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from connector.booking.book import BookingSettings
from connector.config import Config
from connector.shops.platforms import REFERENCE_TEMPLATES


def booking_settings(config: Config) -> BookingSettings:
    """The configuration as booking takes it: one settings object for every draft."""
    s = config.file.sync
    default = REFERENCE_TEMPLATES[config.shop.platform]
    return BookingSettings(
        reference_template=s.reference_template or default,
        rounding_tolerance=s.rounding_tolerance,
        discount_lines=s.discount_lines,
        currencies=tuple(c.upper() for c in s.currencies),
        timezone=ZoneInfo(s.timezone),
        workflow_id=s.workflow_id or None,
        document_style_id=s.document_style_id or None,
        refund_amount_only=config.file.refunds.amount_only,
        refunds_net=config.file.refunds.before_booking == "net",
        invoice_basis=s.invoice_basis,
        refund_ledger_account_id=config.file.refunds.ledger_account_id or None,
        refund_tax_rate_id=config.file.refunds.tax_rate_id or None,
        shop_country=config.file.vat.shop_country,
        oss=config.file.vat.oss,
        shipping_vat=config.file.vat.shipping_vat,
        gift_card_sale=config.file.gift_cards.sale,
        gift_card_ledger_account_id=config.file.gift_cards.ledger_account_id or None,
        gift_card_tax_rate_id=config.file.gift_cards.tax_rate_id or None,
        gift_card_skus=tuple(config.file.gift_cards.skus),
        vies_check=config.file.vat.vies_check,
        gift_card_methods=tuple(config.file.gift_cards.payment_methods),
    )
