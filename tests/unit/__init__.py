"""Unit tests, laid out like the package; fast: `pytest tests/unit`."""
