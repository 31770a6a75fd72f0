"""The `connector` command line: one module per group of commands, each command a thin layer
over the module that does the work."""

from connector.cli import daily, history, reports, serve, setup  # noqa: F401  (they register)
from connector.cli.common import app

__all__ = ["app"]
