"""Everything here runs whole passes, imports or commands: marked e2e, so that
`pytest -m "not e2e"` (or `pytest tests/unit`) runs the fast part alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.sandbox.http import LocalServer, Request, Response
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.woocommerce import WooCommerceSandbox
from tests.conftest import secrets_env, write_config

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def config_path(
    tmp_path: Path,
    shop: WooCommerceSandbox,
    moneybird: MoneybirdSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A config.toml for the sandboxes, their secrets in the environment (as a CLI user has)."""
    for name, value in secrets_env(shop, moneybird).items():
        monkeypatch.setenv(name, value)
    return write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)


class Webhook:
    """An alert receiver on 127.0.0.1: what was posted, and `fail` answers of 502 first."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail = 0
        self.server = LocalServer(self.handle).start()

    def handle(self, req: Request) -> Response:
        if self.fail:
            self.fail -= 1
            return Response(502, {"error": "bad gateway"})
        self.received.append(req.json())
        return Response(204)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.stop()
