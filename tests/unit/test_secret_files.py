"""A secret file the connector's user may not read (a careful owner's `chmod 600` on a file the
container's uid 10001 does not own) is a configuration error that says who the connector runs as
and how to let it read the file: one line, exit 2, never a traceback or a crash loop."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import read_secret
from connector.errors import ConfigError
from tests.conftest import ROOT, write_config

NOBODY = 65534  # the unprivileged user of Debian and most Linux systems


def private_file(tmp_path: Path) -> Path:
    secret = tmp_path / "moneybird_token"
    secret.write_text("a-token\n", encoding="utf-8")
    secret.chmod(0o600)
    return secret


def refuse_reading(monkeypatch: pytest.MonkeyPatch, secret: Path) -> None:
    """As the kernel does for a file of another owner with mode 0600 (also when the tests run
    as root, who may read anything)."""
    real = Path.read_text

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        if self == secret:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", read_text)


def assert_says_who_and_how(message: str, secret: Path) -> None:
    assert "\n" not in message
    assert f"MONEYBIRD_TOKEN_FILE: cannot read {secret}: permission denied" in message
    assert f"the connector runs as uid {os.getuid()}" in message
    assert f"mode {stat.S_IMODE(secret.stat().st_mode):04o}" in message
    assert f"owned by uid {secret.stat().st_uid}" in message
    # The two ways to let it read the file, for the uid it runs as.
    assert f"chown {os.getuid()} " in message
    assert f"chgrp {os.getgid()} " in message and "chmod 640 " in message


def test_an_unreadable_secret_file_says_the_uid_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = private_file(tmp_path)
    refuse_reading(monkeypatch, secret)
    with pytest.raises(ConfigError) as raised:
        read_secret("MONEYBIRD_TOKEN", {"MONEYBIRD_TOKEN_FILE": str(secret)})
    assert_says_who_and_how(str(raised.value), secret)


def test_the_kernel_refusing_the_file_gets_the_same_advice(tmp_path: Path) -> None:
    """A real refusal. As a user: the file made 000. As root (CI), who reads anything: the file
    is another user's, 0600, and the command runs without root's power to override that."""
    secret = private_file(tmp_path)
    path = write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9/api/v2", "1")
    command = [sys.executable, "-m", "connector", "sync", "--config", str(path)]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        setpriv = shutil.which("setpriv")  # util-linux, on every Debian
        assert setpriv, "setpriv is needed to run a command as root without DAC override"
        os.chown(secret, NOBODY, NOBODY)
        command = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *command]
    else:
        secret.chmod(0)
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_TOKEN", "_FILE"))}
    env |= {
        "MONEYBIRD_TOKEN_FILE": str(secret),
        "WOOCOMMERCE_CONSUMER_KEY": "ck_x",
        "WOOCOMMERCE_CONSUMER_SECRET": "cs_x",
    }
    try:
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        secret.chmod(0o600)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    [line] = [ln for ln in result.stderr.splitlines() if "MONEYBIRD_TOKEN_FILE" in ln]
    assert f"the connector runs as uid {os.getuid()}" in line
    assert f"chown {os.getuid()} {secret}" in line and f"chgrp {os.getgid()} {secret}" in line
    assert f"owned by uid {secret.stat().st_uid}" in line


def test_the_command_stops_with_exit_2_and_one_line_of_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = private_file(tmp_path)
    refuse_reading(monkeypatch, secret)
    path = write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9/api/v2", "1")
    env = {
        "MONEYBIRD_TOKEN": "",
        "MONEYBIRD_TOKEN_FILE": str(secret),
        "WOOCOMMERCE_CONSUMER_KEY": "ck_x",
        "WOOCOMMERCE_CONSUMER_SECRET": "cs_x",
    }
    result = CliRunner().invoke(app, ["sync", "--config", str(path)], env=env)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if "MONEYBIRD_TOKEN_FILE" in line]
    assert len(lines) == 1, result.output
    assert_says_who_and_how(lines[0], secret)
