"""`mappings suggest`, ledger table: goods at a reduced rate on the low-rate revenue account,
by percentage (a Shopify line has no tax class), placed where the rule can apply."""

from __future__ import annotations

from pathlib import Path

from connector.admin.mappings_suggest import _ledger_rules, _propose, ledger_insertions
from connector.mapping_files import load_mappings
from connector.moneybird.documents import rates_from_response
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import LEDGER_LOW, seed_moneybird
from tests.conftest import ROOT


def older_table(folder: Path) -> Path:
    """The starter ledger table from before rules could match a percentage: products of tax
    class 'reduced-rate' on the low-rate revenue, all other products on the high-rate one."""
    text = (ROOT / "mappings" / "ledger.toml").read_text()
    nine = text.index('[[rule]]\nnote = "Products at 9%')
    path = folder / "ledger.toml"
    path.write_text(text[:nine] + text[text.index("[[rule]]", nine + 1) :])
    return path


def test_a_rule_for_all_products_gets_the_nine_percent_rule_before_it(tmp_path: Path) -> None:
    mb = MoneybirdSandbox()
    seed_moneybird(mb)
    rates = rates_from_response(mb.tax_rates)
    path = older_table(tmp_path)
    current = load_mappings(ROOT / "mappings" / "tax.toml", path,
                            ROOT / "mappings" / "payment.toml")  # fmt: skip
    assert _ledger_rules(current, mb.ledger_accounts, rates) == []  # nothing to append
    [(before, why, fields)] = ledger_insertions(current, mb.ledger_accounts, rates)
    assert (before, fields) == (
        1,
        {"kind": "product", "percentage": "9", "ledger_account_id": LEDGER_LOW},
    )
    assert why.endswith(
        "placed before rule 2 ('All other products: omzet hoog tarief (8000)'), which would put "
        "them on 'Omzet hoog tarief'"
    )
    proposal = _propose("ledger", path, [], lambda _doc: None, [(before, why, fields)])
    written = load_mappings(ROOT / "mappings" / "tax.toml", _written(tmp_path, proposal.new),
                            ROOT / "mappings" / "payment.toml")  # fmt: skip
    assert [r.percentage for r in written.ledger][:3] == [None, 9, None]
    assert written.ledger[2].note.startswith("All other products")
    # The default table has the rule already: nothing is proposed.
    default = load_mappings(ROOT / "mappings" / "tax.toml", ROOT / "mappings" / "ledger.toml",
                            ROOT / "mappings" / "payment.toml")  # fmt: skip
    assert ledger_insertions(default, mb.ledger_accounts, rates) == []


def _written(folder: Path, text: str) -> Path:
    path = folder / "ledger.suggested.toml"
    path.write_text(text)
    return path
