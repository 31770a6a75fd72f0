"""The real shops of a test run: started together when the first is asked for, each attempt in
a folder of its own, a failed start recorded once, and every one stopped at the end of the run,
also when the run is ended from outside (SIGTERM) or cut short in a shop's start."""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from tests.realshop import processes
from tests.realshop.harness import VARIANTS, RealShop, packages_present


class ShopPool:
    """The real shops of this run: the first one asked for starts every one the selected tests
    use, side by side (the apt packages first, when they are not there yet). A start that fails
    is tried once more, in a folder of its own; one that fails again fails every test asking
    for that shop, and is not tried again."""

    def __init__(self, base: Path, wanted: set[str]) -> None:
        self.base = base
        self.wanted = wanted
        self.shops: dict[str, RealShop] = {}  # each shop's latest start
        self.started: list[RealShop] = []  # every start, to stop them all
        self.ready: set[str] = set()
        self.failed: dict[str, str] = {}

    def get(self, name: str) -> RealShop:
        if name not in self.shops and name not in self.failed:
            self._launch({name} | self.wanted)
        if name not in self.ready and name not in self.failed:
            self._settle(name)
        if name in self.failed:
            pytest.fail(self.failed[name])
        return self.shops[name]

    def _start(self, name: str, apt: bool) -> RealShop:
        """A start from nothing, in a folder no start of this run has used."""
        attempt = sum(1 for shop in self.started if shop.variant.name == name) + 1
        shop = RealShop(VARIANTS[name], self.base / (name if attempt == 1 else f"{name}-{attempt}"))
        self.shops[name] = shop
        self.started.append(shop)
        shop.launch(apt=apt)
        return shop

    def _settle(self, name: str) -> None:
        """Ready, or started once more from nothing (MariaDB's first start, several side by
        side, has been seen to fail now and then), or failed for the rest of the run."""
        try:
            try:
                self.shops[name].wait()
            except Exception as first:
                stop(self.shops[name])
                again = self._start(name, apt=_apt())
                try:
                    again.wait()
                except Exception as second:
                    stop(again)
                    raise RuntimeError(f"{first}\n\nand once more:\n{second}") from None
        except Exception as exc:  # whatever it was, this shop did not start
            self.failed[name] = str(exc)
            return
        self.ready.add(name)
        shop = self.shops[name]
        print(f"\nreal shop {name}: up in {shop.seconds:.0f} s ({shop.versions})")

    def _launch(self, names: set[str]) -> None:
        apt = _apt()
        for name in sorted(n for n in names if n not in self.shops and n not in self.failed):
            try:
                self._start(name, apt=apt)
            except OSError as exc:
                self.failed[name] = f"the real shop ({name}) could not be started: {exc}"
                continue
            if apt:  # one apt install at a time: the first shop installs, the others follow
                self._settle(name)
                apt = _apt()
            else:
                time.sleep(1)  # their first steps (MariaDB's install) are the CPU-heavy ones

    def stop(self) -> None:
        for shop in self.started:
            stop(shop)


def _apt() -> bool:
    return not packages_present() and os.environ.get("REALWOO_SKIP_APT") != "1"


def stop(shop: RealShop) -> None:
    """The shop stopped, also in the middle of its start: setup.sh's own children (the seeding,
    an install step) are not in the `run/pids` its stop.sh ends, and would outlive it."""
    if shop.process is not None and shop.process.poll() is None:
        processes.end(processes.tree(shop.process.pid))  # setup.sh with them: it starts no more
    shop.stop()


# What ends a run from outside: a CI timeout, `timeout`, a cancelled job, a closed terminal.
ENDING = (signal.SIGTERM, signal.SIGHUP)


class RunTerminated(BaseException):
    """SIGTERM (or SIGHUP) while the shops run. Not an Exception, nor a KeyboardInterrupt:
    nothing on the way (the command line's own Ctrl-C handling) takes it for something else."""


@contextmanager
def running(pool: ShopPool, session: pytest.Session) -> Iterator[ShopPool]:
    """The shops of `pool` while the run uses them; stopped at its end, passed, failed,
    interrupted or ended from outside. SIGTERM (a CI timeout, `timeout`, a cancelled job) and
    SIGHUP would end the run at once, leaving them running: here they end it as a failure does
    (the test under way fails, no other starts, the shops are stopped). Should this end not
    come, the interpreter's exit stops them."""

    def terminated(signum: int, _frame: FrameType | None) -> None:
        for sig in ENDING:  # once: the stopping this leads to is not cut short
            signal.signal(sig, signal.SIG_IGN)
        name = signal.Signals(signum).name
        session.shouldstop = f"{name}: the run was ended; the real shops are stopped"
        raise RunTerminated(name)

    previous: dict[int, Any] = {}
    atexit.register(pool.stop)
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, terminated) for sig in ENDING}
    try:
        yield pool
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        try:
            pool.stop()
            atexit.unregister(pool.stop)  # not before: a stop cut short is done again at exit
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
