"""The import's progress: a bar on a terminal, a line every 25 orders in logs."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console

from connector.cli.common import console


def progress(
    per_second: float | None,
) -> tuple[Callable[[int, int | None, int], None], Callable[[], None] | None]:
    """On a terminal a rich progress bar, with log lines printed above it; in container logs
    a line every 25 orders. The time left comes from the pace so far (before there is one,
    from the Moneybird budget: about 3.3 requests per order at `per_second`; a dry run has no
    budget to wait for)."""
    import logging
    import time as _time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    started = _time.monotonic()

    def seconds_left(done: int, total: int) -> float | None:
        if done >= 5:
            return (total - done) * (_time.monotonic() - started) / done
        return (total - done) * 3.3 / per_second if per_second else None

    if console.is_terminal:
        bar = Progress(TextColumn("orders"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[note]}"), console=console)  # fmt: skip
        task = bar.add_task("import", total=None, note="")
        bar.start()
        above = _AboveTheBar(bar.console)
        handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
        streams = [h.setStream(above) for h in handlers]

        def update(done: int, total: int | None, requests: int) -> None:
            left = seconds_left(done, total) if total else None
            eta = f", ~{_duration(left)} to go" if left is not None else ""
            bar.update(
                task, completed=done, total=total, note=f"{requests} Moneybird requests{eta}"
            )

        def stop() -> None:
            bar.stop()
            for handler, stream in zip(handlers, streams, strict=True):
                handler.setStream(stream)

        return update, stop
    last = {"shown": 0}

    def show(done: int, total: int | None, requests: int) -> None:
        if done - last["shown"] < 25 and done != total:
            return
        last["shown"] = done
        left = seconds_left(done, total) if total else None
        eta = f", about {_duration(left)} to go" if left is not None else ""
        of = f"/{total}" if total else ""
        elapsed = int(_time.monotonic() - started)
        line = f"{done}{of} orders, {requests} Moneybird requests, {elapsed} s{eta}"
        console.print(line, highlight=False)

    return show, None


class _AboveTheBar:
    """A stream for log lines while a progress bar is live: printed above it, not through it."""

    def __init__(self, target: Console) -> None:
        self.target = target

    def write(self, text: str) -> int:
        if text.strip():
            self.target.print(text.rstrip("\n"), markup=False, highlight=False)
        return len(text)

    def flush(self) -> None:
        pass


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{int(seconds)} s"
    return f"{int(seconds // 60)} min"
