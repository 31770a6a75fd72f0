"""Exceptions that cross module boundaries, each with a message fit for a shop owner."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base for errors the connector explains instead of crashing on."""


class ConfigError(ConnectorError):
    """The configuration or a mapping table is invalid; the message names the file and key."""


class AuthError(ConnectorError):
    """A service rejected our credentials; nothing further can be done this pass."""


class ShopError(ConnectorError):
    """The shop answered with something we cannot use."""


class OrderDataError(ShopError):
    """One order's data cannot be read; it will not get better by retrying."""


class Retry(ConnectorError):
    """Leave the order (or refund) for the next pass; its intent says what to check."""


class Parking(ConnectorError):
    """Raised deep inside a write to park the order (or refund) with Moneybird's message."""


INTERNAL = "internal error"  # how an unexpected exception's message starts, wherever recorded
