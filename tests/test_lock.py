"""The hashed lock files agree with pyproject.toml: what ships is what was declared."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import ROOT

PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;]+)")


def pins(name: str) -> dict[str, tuple[Version, list[str]]]:
    """Package -> (pinned version, its hashes), from a lock file."""
    found: dict[str, tuple[Version, list[str]]] = {}
    current = ""
    for line in (ROOT / name).read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match[1])
            found[current] = (Version(match[2]), [])
        elif "--hash=sha256:" in line:
            found[current][1].append(line.split("--hash=sha256:")[1].split()[0])
    return found


def declared(extra: str | None = None) -> list[Requirement]:
    project = tomllib.loads(Path(ROOT / "pyproject.toml").read_text())["project"]
    return [
        Requirement(text)
        for text in (project["optional-dependencies"][extra] if extra else project["dependencies"])
    ]


def test_every_dependency_is_locked_within_its_declared_range() -> None:
    for lock, requirements in (
        ("requirements.txt", declared()),
        ("requirements-test.txt", declared() + declared("test")),
    ):
        locked = pins(lock)
        for requirement in requirements:
            name = canonicalize_name(requirement.name)
            assert name in locked, f"{requirement.name} is not in {lock}: lock again"
            version = locked[name][0]
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock} pins {name}=={version}, outside pyproject's {requirement}"
            )


def test_every_pin_has_a_hash_and_the_two_locks_agree() -> None:
    runtime, test = pins("requirements.txt"), pins("requirements-test.txt")
    for lock in (runtime, test):
        assert all(hashes for _version, hashes in lock.values())
    # The tests run against the very versions the image installs.
    assert {name: version for name, (version, _) in runtime.items()} == {
        name: test[name][0] for name in runtime
    }
    assert "pytest" not in runtime
