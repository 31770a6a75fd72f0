"""The real-shop suite: the connector against a real WordPress + WooCommerce (../shared/realshop).

Not collected at all when ../shared/realshop is absent (a clone on its own), unless
REALSHOP_REQUIRED=1 (as in CI) makes that a failure; skipped when it is there but cannot run
here (not root, no sudo). Marked `e2e` and `realshop`: `pytest -m "not realshop"` leaves it
out. The shops the selected tests use start together, once per run, each in its own scratch
folder on free ports, and are stopped at the end of the run, passed, failed, interrupted or
ended by SIGTERM.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realshop.harness import REALSHOP, VARIANTS, RealShop, missing
from tests.realshop.pool import ShopPool, running

HERE = Path(__file__).parent
WANTED = pytest.StashKey[set[str]]()
REQUIRED = os.environ.get("REALSHOP_REQUIRED") == "1"

# Without the real shop beside the repository these tests are none of this run's: not
# collected, so nothing is reported skipped. Required, they are collected and fail, saying why.
collect_ignore_glob = [] if REQUIRED or (REALSHOP / "setup.sh").is_file() else ["test_*.py"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "realshop: against a real WooCommerce from ../shared/realshop (tests/realshop/)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted: set[str] = set()
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.realshop)
            names = {f.removeprefix("shop_") for f in getattr(item, "fixturenames", ())}
            callspec = getattr(item, "callspec", None)
            if callspec is not None and "variant" in callspec.params:
                names.add(str(callspec.params["variant"]))  # a test of each shop in turn
            wanted |= names & set(VARIANTS)
    config.stash[WANTED] = wanted


@pytest.fixture(scope="session")
def realshops(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ShopPool]:
    why = missing()
    if why is not None:
        if REQUIRED:
            pytest.fail(f"no real shop: {why}; REALSHOP_REQUIRED=1 makes this a failure")
        pytest.skip(f"no real shop: {why}")
    pool = ShopPool(tmp_path_factory.mktemp("realshop"), request.config.stash.get(WANTED, set()))
    with running(pool, request.session):
        yield pool


@pytest.fixture(scope="session")
def shop_hpos_incl(realshops: ShopPool) -> RealShop:
    """HPOS on, prices including VAT: a new Dutch shop as WooCommerce sets it up today."""
    return realshops.get("hpos_incl")


@pytest.fixture(scope="session")
def shop_posts_incl(realshops: ShopPool) -> RealShop:
    """Orders in the older posts tables, prices including VAT."""
    return realshops.get("posts_incl")


@pytest.fixture(scope="session")
def shop_hpos_excl(realshops: ShopPool) -> RealShop:
    """HPOS on, prices excluding VAT."""
    return realshops.get("hpos_excl")


@pytest.fixture(scope="session")
def shop_posts_excl(realshops: ShopPool) -> RealShop:
    """Orders in the older posts tables, prices excluding VAT."""
    return realshops.get("posts_excl")
