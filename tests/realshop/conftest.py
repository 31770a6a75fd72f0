"""The real-shop suite: the connector against a real WordPress + WooCommerce (../shared/realshop).

Not collected at all when ../shared/realshop is absent (a clone on its own), unless
REALSHOP_REQUIRED=1 (as in CI) makes that a failure; skipped when it is there but cannot run
here (not root, no sudo). Marked `e2e` and `realshop`: `pytest -m "not realshop"` leaves it
out. The shops the selected tests use start together, once per run, each in its own scratch
folder on free ports, and are stopped at the end of the run, passed or failed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realshop.harness import REALSHOP, VARIANTS, RealShop, missing, packages_present

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


class ShopPool:
    """The real shops of this run: the first one asked for starts every one the selected tests
    use, side by side (the apt packages first, when they are not there yet)."""

    def __init__(self, base: Path, wanted: set[str]) -> None:
        self.base = base
        self.wanted = wanted
        self.shops: dict[str, RealShop] = {}
        self.ready: set[str] = set()
        self.failed: dict[str, str] = {}

    def get(self, name: str) -> RealShop:
        if name in self.failed:
            pytest.fail(self.failed[name])
        if name not in self.shops:
            self._launch({name} | self.wanted)
        if name not in self.ready:
            try:
                self._wait(name)
            except RuntimeError as exc:
                self.failed[name] = str(exc)
                pytest.fail(str(exc))
        return self.shops[name]

    def _wait(self, name: str) -> None:
        """Ready, or started once more from nothing (MariaDB's first start, several side by
        side, has been seen to fail now and then)."""
        try:
            self.shops[name].wait()
        except RuntimeError as first:
            self.shops[name].stop()
            again = RealShop(VARIANTS[name], self.base / f"{name}-again")
            self.shops[name] = again
            again.launch(apt=False)
            try:
                again.wait()
            except RuntimeError as second:
                raise RuntimeError(f"{first}\n\nand once more:\n{second}") from None
        self.ready.add(name)
        shop = self.shops[name]
        print(f"\nreal shop {name}: up in {shop.seconds:.0f} s ({shop.versions})")

    def _launch(self, names: set[str]) -> None:
        todo = sorted(n for n in names if n not in self.shops)
        apt = not packages_present() and os.environ.get("REALWOO_SKIP_APT") != "1"
        for name in todo:
            shop = RealShop(VARIANTS[name], self.base / name)
            self.shops[name] = shop
            shop.launch(apt=apt)
            if apt:  # one apt install at a time: the first shop installs, the others follow
                self._wait(name)
                apt = False
            else:
                time.sleep(1)  # their first steps (MariaDB's install) are the CPU-heavy ones

    def stop(self) -> None:
        for shop in self.shops.values():
            shop.stop()


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
    try:
        yield pool
    finally:
        pool.stop()


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
