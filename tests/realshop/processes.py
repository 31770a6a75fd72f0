"""The processes of a real shop, found in /proc: what a start left behind when it was cut short
(setup.sh's children are not in its `run/pids`), and what a test checks is gone after a stop."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.realshop.harness import _as_root

# A package install is left to finish: killed halfway, it leaves dpkg's database broken for the
# machine, not just for this shop.
LEFT_TO_FINISH = ("apt-get", "apt", "dpkg")


@dataclass(frozen=True)
class Process:
    pid: int
    parent: int
    name: str
    started: str  # clock ticks after boot: with the pid, one process (pids are reused)


def processes() -> dict[int, Process]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        fields = stat[stat.rfind(")") + 2 :].split()
        found[int(entry.name)] = Process(int(entry.name), int(fields[1]), name, fields[19])
    return found


def descendants(pid: int) -> list[Process]:
    """Every process below `pid`, but a package install's (see LEFT_TO_FINISH)."""
    table = processes()
    children: dict[int, list[Process]] = {}
    for process in table.values():
        children.setdefault(process.parent, []).append(process)
    found: list[Process] = []
    todo = list(children.get(pid, []))
    while todo:
        process = todo.pop()
        if process.name in LEFT_TO_FINISH:
            continue
        found.append(process)
        todo += children.get(process.pid, [])
    return found


def tree(pid: int) -> list[Process]:
    """`pid` and its descendants."""
    own = processes().get(pid)
    return ([own] if own else []) + descendants(pid)


def alive(group: list[Process]) -> list[Process]:
    table = processes()
    return [p for p in group if p.pid in table and table[p.pid].started == p.started]


def end(group: list[Process], seconds: float = 30) -> None:
    """TERM every process of `group`, KILL what is still there after `seconds`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = alive(group)
        if not left:
            return
        subprocess.run(
            _as_root(["kill", f"-{sig.name.removeprefix('SIG')}", *(str(p.pid) for p in left)]),
            capture_output=True,
            check=False,
        )
        deadline = time.monotonic() + seconds
        while alive(left) and time.monotonic() < deadline:
            time.sleep(0.2)


def of_home(home: Path) -> list[Process]:
    """The processes of the shop whose REALWOO_HOME is `home`: those naming it in their command
    line or environment, and every process below them (nginx's and php-fpm's workers name
    nothing)."""
    mark = str(home).encode()
    table = processes()
    roots = set()
    for pid in table:
        if pid == os.getpid():
            continue
        for part in ("cmdline", "environ"):
            try:
                if mark in Path(f"/proc/{pid}/{part}").read_bytes():
                    roots.add(pid)
            except OSError:
                continue  # ended, or not ours to read
    found = {pid: table[pid] for pid in roots}
    for pid in roots:
        found.update((p.pid, p) for p in descendants(pid))
    return list(found.values())
