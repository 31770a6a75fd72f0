"""`connector run`: a pass at start, then every sync.interval_minutes, one pass at a time;
after a pass, the previous month's reconciliation when it is due.

Each pass starts by picking up edited configuration (a broken edit keeps the last good one
running), and ends with alerts. The health endpoint runs beside it when configured.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.schedulers.blocking import BlockingScheduler

from connector import shutdown
from connector.config import Config
from connector.errors import AuthError, ConnectorError, StateError
from connector.moneybird.rate_limit import RateLimiter
from connector.ops.alerts import Alerter
from connector.ops.config_watch import ConfigWatcher
from connector.ops.health import HealthServer, health
from connector.ops.reconciliation import monthly
from connector.runtime import Runtime, build
from connector.sync.report import PassReport

log = logging.getLogger(__name__)
JOB = "sync"
STOP_SECONDS = 8.0  # the pass in hand gets this long to reach a safe point after a signal


def one_pass(runtime: Runtime) -> PassReport | None:
    """A pass and its alerts; errors are logged, never raised (the schedule goes on)."""
    report = None
    try:
        report = runtime.engine().run_pass()
        log.info("pass %s: %s", "ended early" if report.error else "done", report.summary())
    except AuthError as exc:
        log.error("pass stopped, nothing booked half-way: %s", exc)
    except ConnectorError as exc:
        log.error("pass stopped: %s", exc)
    if report is not None and not report.error:
        monthly(runtime)  # when due; after the pass, so the two never share the request budget
    try:
        Alerter(runtime.config, runtime.store).after_pass()
    except StateError as exc:  # one line with its fix (the pass has said it too, likely)
        log.error("alerts not recorded: %s", exc)
    except Exception:
        log.exception("alerting failed")
    return report


class Beside(Protocol):
    """A server that runs beside the scheduler (the dashboard), started and stopped with it."""

    def stop(self) -> None: ...


# Given the runtime in force (it changes when an edit is reloaded) and the process's request
# budget, starts a server beside the scheduler.
BesideFactory = Callable[[Callable[[], Runtime], RateLimiter], Beside]


def run_forever(config: Config, beside: BesideFactory | None = None) -> int | None:
    """Until SIGTERM or SIGINT; the signal's number when one stopped it."""
    scheduler = BlockingScheduler(timezone=UTC)
    watcher = ConfigWatcher(config.path, config)
    # One budget for the whole process, whatever reloads happen.
    limiter = RateLimiter(config.moneybird.rate_limit, config.moneybird.rate_window_seconds)
    state = {"runtime": build(config, limiter)}
    watcher.record(state["runtime"].store)

    running = {"pass": False}

    def tick() -> None:
        running["pass"] = True
        try:
            runtime = state["runtime"]
            if watcher.poll():
                runtime = reload(runtime)
            watcher.record(runtime.store)
            one_pass(runtime)
        except StateError as exc:  # a full disk, say: one line with its fix, every tick
            log.error("pass not started: %s", exc)
        except Exception:  # the schedule goes on whatever one tick met
            log.exception("scheduled pass failed")
        finally:
            running["pass"] = False

    def reload(runtime: Runtime) -> Runtime:
        """The edited configuration's runtime, built before the running one is closed: if it
        cannot be built (a state path that cannot be made...), the running one goes on."""
        new = watcher.candidate
        assert new is not None
        try:
            fresh = build(new, limiter)
        except Exception as exc:
            watcher.reject(str(exc) or type(exc).__name__)
            return runtime
        watcher.accept()
        old_interval = runtime.config.sync.interval_minutes
        runtime.close()
        limiter.limit = new.moneybird.rate_limit
        limiter.window = new.moneybird.rate_window_seconds
        state["runtime"] = fresh
        if new.sync.interval_minutes != old_interval:
            scheduler.reschedule_job(JOB, trigger="interval", minutes=new.sync.interval_minutes)
        return fresh

    scheduler.add_job(
        tick,
        "interval",
        minutes=config.sync.interval_minutes,
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
        id=JOB,
    )
    server = None
    if config.health_port:
        server = HealthServer(
            config.health_host,
            config.health_port,
            lambda: health(state["runtime"].store, state["runtime"].config.sync.interval_minutes),
        ).start()

    def stop(signum: int) -> None:
        # The pass in hand stops at its next safe point (shutdown's flag); then the scheduler.
        log.info("signal %d: stopping the current pass at a safe point, then exiting", signum)
        scheduler.shutdown(wait=False)

    extra = beside(lambda: state["runtime"], limiter) if beside is not None else None
    shutdown.install(stop)
    log.info("syncing every %s minutes", config.sync.interval_minutes)
    try:
        scheduler.start()
        deadline = time.monotonic() + STOP_SECONDS
        while running["pass"] and time.monotonic() < deadline:
            time.sleep(0.05)  # the pass in hand reaches its safe point
    finally:
        if server:
            server.stop()
        if extra is not None:
            extra.stop()
        state["runtime"].close()
    return shutdown.requested()
