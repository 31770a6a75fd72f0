"""Everything here runs whole passes, imports or commands: marked e2e, so that
`pytest -m "not e2e"` (or `pytest tests/unit`) runs the fast part alone."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)
