"""`reconcile` of the month of each real shop, booked by a pass: the shop's orders and refunds
against Moneybird's documents and its VAT report. Runs after the other modules of this folder
(by name), so the shops hold their refunds and later orders too."""

from __future__ import annotations

import pytest

from tests.realshop.harness import VARIANTS
from tests.realshop.scenario import Scenario


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_month_agrees(
    variant: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shop = request.getfixturevalue(f"shop_{variant}")
    with pytest.MonkeyPatch.context() as mp:
        scn = Scenario(shop, tmp_path_factory.mktemp(f"reconcile-{variant}"), mp)
        try:
            scn.sync()
            outcomes = {month: scn.reconcile(month) for month in scn.months()}
        finally:
            scn.close()
    found = {
        month: (code, report["outcome"], report["differences"])
        for month, (code, report) in outcomes.items()
    }
    assert {m: f[:2] for m, f in found.items()} == {m: (0, "agrees") for m in found}, found
