"""A run ended from outside while its real shop runs (a CI timeout, `timeout`, a cancelled job:
SIGTERM to pytest) stops that shop: none of its processes (MariaDB, php-fpm, nginx, a seeding
under way) outlives the run, and its `run/pids` is gone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.realshop import processes
from tests.realshop.harness import REALSHOP, ROOT, START_SECONDS, _as_root, missing

# The run that is ended: one test holding a shop, as any real-shop test does, for long enough.
HOLDING = """
import time

def test_holds_the_shop(shop_hpos_incl):
    print("SHOP UP", shop_hpos_incl.home, flush=True)
    time.sleep(600)
"""


def start_run(
    folder: Path, scratch: Path, plugin: str = "tests.realshop.conftest"
) -> subprocess.Popen[bytes]:
    """pytest on HOLDING in `folder`, with the real-shop fixtures of `plugin`; its output in
    `folder / "run.log"`, its shop under `scratch` (short: MariaDB's socket path has at most
    107 characters)."""
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_holding.py").write_text(HOLDING)
    with (folder / "run.log").open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", plugin, "-c", str(folder / "pytest.ini"),
             str(folder / "test_holding.py"), "-s", "-p", "no:cacheprovider",
             f"--basetemp={scratch}"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip


def shop_up(run: subprocess.Popen[bytes], folder: Path) -> Path:
    """The shop's REALWOO_HOME, once the run's test holds it."""
    log = folder / "run.log"
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("SHOP UP "):
                return Path(line.removeprefix("SHOP UP ").strip())
        if run.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"the shop did not come up:\n{log.read_text(errors='replace')[-3000:]}")


def remaining(home: Path, seconds: float = 10) -> list[processes.Process]:
    """The shop's processes still there after `seconds` (their exit takes a moment)."""
    deadline = time.monotonic() + seconds
    while (left := processes.of_home(home)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def clean_up(run: subprocess.Popen[bytes], scratch: Path) -> None:
    """Whatever the outcome, nothing of the run stays behind this test."""
    if run.poll() is None:
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    for home in scratch.glob("*/*/home"):
        subprocess.run(
            _as_root(["bash", str(REALSHOP / "stop.sh")]),
            env={**os.environ, "REALWOO_HOME": str(home)},
            capture_output=True,
            check=False,
            timeout=180,
        )
        processes.end(processes.of_home(home), seconds=10)
    shutil.rmtree(scratch, ignore_errors=True)


def test_a_run_ended_by_sigterm_stops_its_shop(tmp_path: Path) -> None:
    why = missing()
    if why is not None:
        if os.environ.get("REALSHOP_REQUIRED") == "1":
            pytest.fail(f"no real shop: {why}; REALSHOP_REQUIRED=1 makes this a failure")
        pytest.skip(f"no real shop: {why}")
    scratch = Path(tempfile.mkdtemp(prefix="realshop-"))
    run = start_run(tmp_path, scratch)
    try:
        home = shop_up(run, tmp_path)
        running = {p.name for p in processes.of_home(home)}
        assert {"mariadbd", "nginx"} <= running and any(n.startswith("php-fpm") for n in running)
        run.send_signal(signal.SIGTERM)  # to pytest alone, as `kill` does
        code = run.wait(timeout=240)
        log = (tmp_path / "run.log").read_text(errors="replace")
        assert code == pytest.ExitCode.INTERRUPTED, log[-3000:]
        assert "SIGTERM: the run was ended" in log
        assert remaining(home) == []
        assert not (home / "run" / "pids").exists()
    finally:
        clean_up(run, scratch)
