"""`connector run`: a pass at start, then every sync.interval_minutes, one pass at a time."""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler

from connector.errors import AuthError, ConnectorError
from connector.runtime import Runtime

log = logging.getLogger(__name__)


def run_forever(runtime: Runtime) -> None:
    scheduler = BlockingScheduler(timezone=UTC)
    engine = runtime.engine()

    def one_pass() -> None:
        try:
            report = engine.run_pass()
            log.info(
                "pass done: %d seen, %d booked, %d parked, %d to retry, %d Moneybird requests",
                report.seen, report.booked, report.parked, report.failed,
                report.moneybird_requests,
            )  # fmt: skip
        except AuthError as exc:
            log.error("pass stopped, nothing booked half-way: %s", exc)
        except ConnectorError as exc:
            log.error("pass stopped: %s", exc)

    scheduler.add_job(
        one_pass,
        "interval",
        minutes=runtime.config.sync.interval_minutes,
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
        id="sync",
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing the current pass, then stopping", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("syncing every %s minutes", runtime.config.sync.interval_minutes)
    scheduler.start()
