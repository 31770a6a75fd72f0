"""A real WooCommerce shop for the tests: WordPress and the released WooCommerce plugin on PHP,
MariaDB and nginx, brought up by `../shared/realshop/setup.sh` in a scratch folder of its own,
on free ports on 127.0.0.1, and stopped by its `stop.sh`.

Each variant (HPOS on or off, prices including or excluding VAT) is a shop of its own. The
shops a test run needs start side by side: most of a start is waiting (the seeding pauses a
second between orders so that each has its own modification time).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from connector.sandbox.woocommerce import form_amount, form_field

ROOT = Path(__file__).resolve().parents[2]
REALSHOP = Path(os.environ.get("REALSHOP_DIR") or ROOT.parent / "shared" / "realshop")
# What setup.sh installs from apt; present, the step is skipped (REALWOO_SKIP_APT=1).
PACKAGES = (
    "php8.2-cli", "php8.2-fpm", "php8.2-mysql", "php8.2-curl", "php8.2-xml", "php8.2-mbstring",
    "php8.2-intl", "php8.2-gd", "php8.2-zip", "php8.2-bcmath", "mariadb-server", "nginx-light",
    "openssl", "curl", "python3", "python3-venv", "xz-utils",
)  # fmt: skip
START_SECONDS = 900  # a first start installs the apt packages too


@dataclass(frozen=True)
class Variant:
    name: str
    hpos: bool  # orders in WooCommerce's own tables (HPOS), or in the older posts tables
    prices_include_tax: bool


VARIANTS = {
    v.name: v
    for v in (
        Variant("hpos_incl", hpos=True, prices_include_tax=True),
        Variant("posts_incl", hpos=False, prices_include_tax=True),
        Variant("hpos_excl", hpos=True, prices_include_tax=False),
        Variant("posts_excl", hpos=False, prices_include_tax=False),
    )
}


def missing() -> str | None:
    """Why no real shop can start here, or None."""
    if not (REALSHOP / "setup.sh").is_file():
        return f"{REALSHOP} is absent (the real shop's setup.sh, beside this repository)"
    if os.geteuid() != 0 and not _sudo():
        return "the real shop's setup.sh runs as root (or with sudo without a password)"
    return None


def packages_present() -> bool:
    found = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n", *PACKAGES],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = {
        line.split()[0] for line in found.stdout.splitlines() if line.split()[1:2] == ["ii"]
    }
    return installed >= set(PACKAGES)


def _sudo() -> bool:
    return shutil.which("sudo") is not None and (
        subprocess.run(["sudo", "-n", "true"], capture_output=True, check=False).returncode == 0
    )


def _as_root(command: list[str]) -> list[str]:
    return command if os.geteuid() == 0 else ["sudo", "-n", "-E", *command]


_GIVEN: set[int] = set()


def free_port() -> int:
    """A port free now, below the range the system hands out for outgoing connections (the
    shops' own clients use that range while the shops start), never the same one twice."""
    low, _high = (
        int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    )
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        if port in _GIVEN:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError("no free port found")


@dataclass
class RealShop:
    """One shop: started by `launch`, ready after `wait`, ended by `stop`."""

    variant: Variant
    folder: Path  # the run's scratch folder; the shop's REALWOO_HOME is `folder / "home"`
    http_port: int = field(default_factory=free_port)
    https_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    seconds: float = 0.0  # how long setup.sh took
    env: dict[str, str] = field(default_factory=dict)  # shop.env
    seeded: dict[str, Any] = field(default_factory=dict)  # seed.json
    versions: dict[str, Any] = field(default_factory=dict)
    failed: bool = False  # a failed start keeps all it wrote, for a person to look at

    @property
    def home(self) -> Path:
        return self.folder / "home"

    @property
    def log(self) -> Path:
        return self.folder / "setup.log"

    def _environ(self, apt: bool) -> dict[str, str]:
        tmp = self.folder / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return {
            **os.environ,
            # Each shop's own: MariaDB's install names its temporary tables in TMPDIR, and two
            # installs side by side in one /tmp have been seen to trip over each other's.
            "TMPDIR": str(tmp),
            "REALWOO_HOME": str(self.home),
            "REALWOO_HTTP_PORT": str(self.http_port),
            "REALWOO_HTTPS_PORT": str(self.https_port),
            "REALWOO_HPOS": "1" if self.variant.hpos else "0",
            "REALWOO_PRICES_INCLUDE_TAX": "yes" if self.variant.prices_include_tax else "no",
            "REALWOO_SKIP_APT": "0" if apt else "1",
        }

    def launch(self, apt: bool) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                _as_root(["bash", str(REALSHOP / "setup.sh")]),
                env=self._environ(apt),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait(self) -> None:
        assert self.process is not None, "launch first"
        try:
            code = self.process.wait(timeout=START_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = -1
        self.seconds = time.monotonic() - self.started
        if code != 0:
            self.failed = True
            tail = self.log.read_text(errors="replace")[-2000:]
            for log in (self.home / "mysql" / "error.log", self.home / "logs" / "nginx-error.log"):
                if log.exists():
                    tail += f"\n{log.name}:\n" + log.read_text(errors="replace")[-1500:]
            raise RuntimeError(
                f"the real shop ({self.variant.name}) did not start: setup.sh exit {code} "
                f"after {self.seconds:.0f} s; {self.log}:\n{tail}"
            )
        self.env = dict(
            line.split("=", 1)
            for line in (self.home / "shop.env").read_text().splitlines()
            if "=" in line
        )
        self.seeded = json.loads((self.home / "seed.json").read_text())
        self.versions = json.loads((self.home / "versions.json").read_text())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # setup.sh itself, when the run ends while it starts
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if (self.home / "run" / "pids").exists():
            subprocess.run(
                _as_root(["bash", str(REALSHOP / "stop.sh")]),
                env={**os.environ, "REALWOO_HOME": str(self.home)},
                capture_output=True,
                check=False,
                timeout=180,
            )
        if os.environ.get("REALSHOP_KEEP") != "1" and not self.failed:
            # The logs stay; WordPress (60 MB) and the database go.
            for bulky in ("www", "mysql", "venv"):
                shutil.rmtree(self.home / bulky, ignore_errors=True)

    # --- what the connector is given ------------------------------------------------------

    @property
    def url(self) -> str:
        """The address the connector reads, over http with OAuth 1.0a (the read key)."""
        return self.env["WOOCOMMERCE_URL"]

    @property
    def read_key(self) -> tuple[str, str]:
        return self.env["WOOCOMMERCE_CONSUMER_KEY"], self.env["WOOCOMMERCE_CONSUMER_SECRET"]

    def api(self) -> ShopApi:
        return ShopApi(self)

    def seeded_order(self, index: int) -> int:
        """The id of the seeded order at `index` (seed.py's ORDERS, then the checkouts)."""
        return int(self.seeded["orders"][index]["id"])


class ShopApi:
    """The shop as the tests read and change it: https, Basic auth, the read_write key. Every
    figure the tests judge by comes from here, never from the connector."""

    def __init__(self, shop: RealShop) -> None:
        self.base = shop.env["WOOCOMMERCE_URL_TLS"] + "/wp-json/wc/v3/"
        self.cafile = str(shop.home / "tls" / "cert.pem")
        self.session = requests.Session()
        self.session.auth = (
            shop.env["WOOCOMMERCE_RW_CONSUMER_KEY"],
            shop.env["WOOCOMMERCE_RW_CONSUMER_SECRET"],
        )

    def request(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        # `verify` on each request: REQUESTS_CA_BUNDLE in the environment would win over a
        # session's own.
        response = self.session.request(
            method, self.base + path, json=body, params=params, verify=self.cafile, timeout=60
        )
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, **params).json()

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body).json()

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body).json()

    def orders(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self.get("orders", status="any", per_page=100, page=page, order="asc")
            found += batch
            if len(batch) < 100:
                return found
            page += 1

    def refunds(self) -> list[dict[str, Any]]:
        """Every refund, from the shop-wide list (WooCommerce 9+: with `parent_id`)."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self.get("refunds", per_page=100, page=page)
            found += batch
            if len(batch) < 100:
                return found
            page += 1

    def refund_as_the_form_does(
        self, order_id: int, quantities: dict[str, int], reason: str
    ) -> dict[str, Any]:
        """Refund `quantities` (by sku) of the order's lines as WooCommerce's refund form (the
        order page's Refund button) does: it divides the figures the shop holds for each line,
        its net and each of its taxes unrounded (`?dp=6`, as the page gives them to the form),
        by the line's quantity, times the quantity refunded, to six decimals; the amount is
        each field rounded to cents by its script, added. No payment gateway is asked (a
        manual refund)."""
        return self._refund_per_unit(self.get(f"orders/{order_id}", dp=6), quantities, reason)

    def refund_per_unit_of_the_figures_shown(
        self, order_id: int, quantities: dict[str, int], reason: str
    ) -> dict[str, Any]:
        """The refund form's arithmetic on the order's figures as the API shows them, to the
        cent: what a client sends that works out a refund from the order it reads (and what the
        form sends for an order whose figures the shop holds to the cent). Per unit, an odd
        cent of VAT comes to a half cent, which WooCommerce rounds down in `total_tax` (prices
        incl. VAT) and up in `taxes[]`, and the script up or down as its double falls."""
        return self._refund_per_unit(self.get(f"orders/{order_id}"), quantities, reason)

    def _refund_per_unit(
        self, order: dict[str, Any], quantities: dict[str, int], reason: str
    ) -> dict[str, Any]:
        lines, fields = [], []
        for sku, quantity in quantities.items():
            line = next(li for li in order["line_items"] if li["sku"] == sku)
            count = int(line["quantity"])
            net = form_field(line["total"], count, quantity)
            # Every tax of the line has its field; a tax of nothing stays empty.
            taxes = [
                {"id": t["id"], "refund_total": form_field(t["total"], count, quantity)}
                for t in line["taxes"]
                if Decimal(t["total"]) > 0
            ]
            fields += [net, *(t["refund_total"] for t in taxes)]
            lines.append(
                {"id": line["id"], "quantity": quantity, "refund_total": net, "refund_tax": taxes}
            )
        return self.post(
            f"orders/{order['id']}/refunds",
            {
                "amount": form_amount(fields),
                "reason": reason,
                "api_refund": False,
                "line_items": lines,
            },
        )

    def refund_whole_order(self, order_id: int, reason: str) -> dict[str, Any]:
        """Every line and the shipping refunded with their VAT, the order's total returned: the
        order becomes `refunded`."""
        order = self.get(f"orders/{order_id}")
        lines = [
            {
                "id": li["id"],
                "quantity": li.get("quantity", 0),
                "refund_total": li["total"],
                "refund_tax": [{"id": t["id"], "refund_total": t["total"]} for t in li["taxes"]],
            }
            for li in order["line_items"] + order["shipping_lines"] + order["fee_lines"]
        ]
        return self.post(
            f"orders/{order_id}/refunds",
            {"amount": order["total"], "reason": reason, "api_refund": False, "line_items": lines},
        )

    def refund_amount(self, order_id: int, amount: str, reason: str) -> dict[str, Any]:
        """An amount only, no lines (goodwill): the shop records no VAT for it."""
        return self.post(
            f"orders/{order_id}/refunds", {"amount": amount, "reason": reason, "api_refund": False}
        )
