"""The pool of real shops, with shops that only pretend to start (no real shop needed): a failed
start is retried once in a fresh folder, recorded, never restarted by a later test, and every
start is stopped; SIGTERM while the shops run stops them too."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.realshop import pool as pool_module
from tests.realshop.harness import Variant
from tests.realshop.pool import RunTerminated, ShopPool, running

STARTS: list[PretendShop] = []
# Per shop, whether each of its starts comes up, in turn.
OUTCOMES: dict[str, list[bool]] = {}


@dataclass
class PretendShop:
    variant: Variant
    folder: Path
    process: Any = None
    seconds: float = 0.0
    versions: dict[str, Any] = field(default_factory=dict)
    apt: bool | None = None
    stopped: int = 0

    def launch(self, apt: bool) -> None:
        assert not self.folder.exists(), f"{self.folder.name}: a folder an earlier start used"
        self.folder.mkdir(parents=True)
        self.apt = apt
        STARTS.append(self)

    def wait(self) -> None:
        if not OUTCOMES[self.variant.name].pop(0):
            raise RuntimeError(f"{self.folder.name} did not start")

    def stop(self) -> None:
        self.stopped += 1


@pytest.fixture(autouse=True)
def pretend(monkeypatch: pytest.MonkeyPatch) -> None:
    STARTS.clear()
    OUTCOMES.clear()
    monkeypatch.setattr(pool_module, "RealShop", PretendShop)
    monkeypatch.setenv("REALWOO_SKIP_APT", "0")


def started(name: str) -> list[str]:
    return [shop.folder.name for shop in STARTS if shop.variant.name == name]


def test_a_first_start_that_installs_the_packages_and_fails_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first shop installs the apt packages and is waited for on the spot: failing twice,
    it fails its tests (recorded, not started a third time), and the other shops still start."""
    monkeypatch.setattr(pool_module, "packages_present", lambda: False)
    OUTCOMES.update(hpos_excl=[False, False], hpos_incl=[True])
    pool = ShopPool(tmp_path, {"hpos_excl", "hpos_incl"})
    with pytest.raises(pytest.fail.Exception, match="hpos_excl-2 did not start"):
        pool.get("hpos_excl")
    assert started("hpos_excl") == ["hpos_excl", "hpos_excl-2"]
    assert all(shop.stopped for shop in STARTS if shop.variant.name == "hpos_excl")
    with pytest.raises(pytest.fail.Exception, match="and once more"):
        pool.get("hpos_excl")  # a later test asking for it: the same failure, no new start
    assert started("hpos_excl") == ["hpos_excl", "hpos_excl-2"]
    assert pool.get("hpos_incl").folder.name == "hpos_incl"
    assert [shop.apt for shop in STARTS] == [True, True, True]  # the packages never came
    pool.stop()
    assert all(shop.stopped for shop in STARTS)


def test_a_failed_start_is_retried_once_in_a_fresh_folder_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each start in a folder of its own; both failed starts stopped as they fail (what they
    started, MariaDB say, is not kept for the rest of the run)."""
    monkeypatch.setattr(pool_module, "packages_present", lambda: True)
    OUTCOMES.update(posts_incl=[False, False], posts_excl=[False, True])
    pool = ShopPool(tmp_path, {"posts_incl", "posts_excl"})
    for _ in range(2):
        with pytest.raises(pytest.fail.Exception, match="posts_incl-2 did not start"):
            pool.get("posts_incl")
    assert started("posts_incl") == ["posts_incl", "posts_incl-2"]
    failed = [shop for shop in STARTS if shop.variant.name == "posts_incl"]
    assert all(shop.stopped for shop in failed)  # at once, not at the end of the run
    assert pool.get("posts_excl").folder.name == "posts_excl-2"
    assert [shop.apt for shop in STARTS] == [False, False, False, False]
    pool.stop()
    assert all(shop.stopped for shop in STARTS)


@dataclass
class Session:
    shouldstop: bool | str = False


def test_sigterm_while_the_shops_run_stops_them(tmp_path: Path) -> None:
    """SIGTERM ends the test under way and the run (no other test starts), and the shops are
    stopped; outside the shops' time, SIGTERM is as it was."""
    OUTCOMES.update(hpos_incl=[True])
    pool = ShopPool(tmp_path, {"hpos_incl"})
    session = Session()
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RunTerminated), running(pool, session):  # type: ignore[arg-type]
        shop: Any = pool.get("hpos_incl")  # a PretendShop
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler) and handler is not before  # else the signal ends this run
        signal.raise_signal(signal.SIGTERM)
    assert shop.stopped == 1
    assert session.shouldstop == "SIGTERM: the run was ended; the real shops are stopped"
    assert signal.getsignal(signal.SIGTERM) is before
