"""Files that hold customers' data (the state, the reports for the bookkeeper): readable by
their owner alone (0600, folders 0700), whatever the umask; and CSV cells a spreadsheet shows
as text, never runs as a formula (OWASP's CSV injection guidance)."""

from __future__ import annotations

import contextlib
import csv
import errno
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

FILE_MODE = 0o600
FOLDER_MODE = 0o700

# What a spreadsheet starts a formula with (tab and carriage return: some read past them).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A plain number (-5.00, +3, 1e3) is data, not a formula: it stays a number.
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def private_folder(folder: Path) -> list[Path]:
    """Make `folder` and any missing parent 0700; returns those it made (an existing folder
    is the owner's choice and left as it is)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "a file is where the folder would be", str(folder))
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            path.mkdir(mode=FOLDER_MODE)
            os.chmod(path, FOLDER_MODE)  # mkdir's mode passes through the umask
    return missing


@contextmanager
def open_private(path: Path) -> Iterator[TextIO]:
    """`path` opened to be written anew as UTF-8 text for csv, readable by its owner alone."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        # O_CREAT's mode passes through the umask and leaves an existing file's mode alone.
        with contextlib.suppress(PermissionError):  # a file another user owns keeps its mode
            os.fchmod(fd, FILE_MODE)
        handle = os.fdopen(fd, "w", newline="", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def as_text(cell: object) -> object:
    """A cell a spreadsheet would run as a formula, prefixed with a quote so it shows as text;
    numbers and everything else unchanged."""
    if isinstance(cell, str) and cell.startswith(FORMULA_START) and not NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def write_csv(path: Path, rows: Iterable[Sequence[object]]) -> None:
    """The rows to a CSV file readable by its owner alone, every cell safe to open."""
    with open_private(path) as handle:
        csv.writer(handle).writerows([as_text(cell) for cell in row] for row in rows)
