"""`connector init`: a starter config.toml and mapping tables in a folder, for one platform."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

INSTALLED = Path(sys.prefix) / "share" / "moneybird-shop-connector"  # pip install . puts them here
SHOPIFY_SHOP = """[shop]
platform = "shopify"
url = "https://your-store.myshopify.com"
# api_version = "2026-10"           # pinned; Shopify supports each version at least 12 months
# fulfillment = "any"               # or "fulfilled": book paid orders only once fulfilled
# include_test_orders = false
"""


def _for_shopify(line: str) -> str:
    """The [sync] lines that speak of WooCommerce, as a Shopify shop needs them."""
    if line.startswith("statuses ="):  # WooCommerce's order statuses; Shopify: [shop] fulfillment
        return "# statuses: WooCommerce only; for Shopify, paid orders (and [shop] fulfillment)"
    if line.startswith("# reference_template ="):
        return '# reference_template = "SH-{number}" # the default for Shopify; {id} = order id'
    return line


def defaults() -> Path:
    """The folder holding the default config.toml and mappings/: this checkout's, or the
    copy an install brought along."""
    for folder in (Path(__file__).resolve().parents[2], INSTALLED):
        if (folder / "config.toml").is_file() and (folder / "mappings" / "tax.toml").is_file():
            return folder
    raise FileNotFoundError(
        f"the default configuration was not found (looked in {INSTALLED}); reinstall with "
        "`pip install .`"
    )


def write_starter(folder: Path, platform: str) -> list[Path]:
    """config.toml and mappings/ in `folder`; never over existing files."""
    source = defaults()
    config = folder / "config.toml"
    tables = folder / "mappings"
    existing = [p for p in (config, tables) if p.exists()]
    if existing:
        raise FileExistsError(", ".join(str(p) for p in existing) + " already there: not touched")
    folder.mkdir(parents=True, exist_ok=True)
    text = (source / "config.toml").read_text(encoding="utf-8")
    if platform == "shopify":
        start = text.index("[shop]")
        end = text.index("[moneybird]")
        text = text[:start] + SHOPIFY_SHOP + "\n" + text[end:]
        text = "\n".join(_for_shopify(line) for line in text.split("\n"))
    config.write_text(text, encoding="utf-8")
    shutil.copytree(source / "mappings", tables)
    return [config, *sorted(tables.iterdir())]
