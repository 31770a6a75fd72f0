"""Alerts: tell a person once when something needs them, and once when it has cleared.

After every pass the open problems are worked out from the state (parked orders, orders that
keep failing, authentication failing or a wrong administration, no successful pass for a
while) and compared with those already announced. New ones and cleared ones go out together
in one message per pass, by webhook (JSON POST) and/or email. A message that could not be
delivered is tried again after the next pass.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from sqlmodel import select

from connector.config import Config
from connector.errors import CONFIGURATION, INTERNAL
from connector.ops.reconciliation import open_findings
from connector.ops.status import ADVICE, unreadable_elements
from connector.redact import redact
from connector.state import AlertRecord, Meta, OrderState, Store, from_text, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    key: str
    message: str


def open_problems(config: Config, store: Store, now: datetime | None = None) -> list[Problem]:
    now = now or utcnow()
    problems = []
    auth = store.get_meta(Meta.AUTH_ERROR)
    if auth and auth.startswith(CONFIGURATION):  # a wrong administration id, recorded alike
        problems.append(Problem("administration", f"Nothing is booked: {auth}"))
    elif auth:
        problems.append(Problem("auth", f"Authentication fails, nothing is booked: {auth}"))
    for record in store.orders({OrderState.PARKED}):
        problems.append(
            Problem(
                f"order:{record.key}",
                f"Order {record.number} is parked: {record.park_reason}. "
                f"What to do: {ADVICE[OrderState.PARKED.value]}.",
            )
        )
    threshold = config.file.alerts.failed_attempts
    for record in store.orders({OrderState.FAILED, OrderState.DRAFT, OrderState.OPEN}):
        if record.last_error and record.attempts >= threshold:
            problems.append(
                Problem(
                    f"order:{record.key}",
                    f"Order {record.number} failed {record.attempts} times: {record.last_error}",
                )
            )
    for n, element in enumerate(unreadable_elements(store)):
        problems.append(
            Problem(f"shop-data:{n}", f"The shop listed something that is not an order: {element}")
        )
    # A bug stopping the pass is told at once; an outage only once it lasts (see _stalled).
    runs = store.runs(1)
    if runs and runs[0].outcome == "error" and (runs[0].error or "").startswith(INTERNAL):
        problems.append(Problem("pass", f"The last pass failed: {runs[0].error}"))
    # Each disagreement a reconciliation found, until a later one of its month no longer does.
    problems.extend(Problem(key, message) for key, message in open_findings(store))
    stalled = _stalled(config, store, now)
    if stalled:
        problems.append(Problem("stalled", stalled))
    return problems


def _stalled(config: Config, store: Store, now: datetime) -> str | None:
    limit = timedelta(minutes=config.file.alerts.no_success_minutes)
    runs = store.runs(200)
    if not runs:
        return None
    good = [r for r in runs if r.outcome in ("ok", "import") and r.finished_at]
    since = from_text(good[0].finished_at) if good else from_text(runs[-1].started_at)
    if since is None or now - since <= limit:
        return None
    what = "no pass has succeeded" if good else "no pass has succeeded since the first"
    minutes = int((now - since).total_seconds() // 60)
    return f"{what} for {minutes} minutes; last error: {runs[0].error or 'none'}"


class Alerter:
    def __init__(self, config: Config, store: Store, transport: Any = None) -> None:
        self.config = config
        self.store = store
        self.settings = config.file.alerts
        self._transport = transport  # for tests: an httpx transport

    @property
    def enabled(self) -> bool:
        return bool(self.settings.webhook_url or self.settings.email_enabled)

    def after_pass(self, now: datetime | None = None) -> dict[str, list[Problem]]:
        """Update the open problems and send what is new. Returns what was sent."""
        current = {p.key: p for p in open_problems(self.config, self.store, now)}
        with self.store.session() as s:
            known = {a.key: a for a in s.exec(select(AlertRecord))}
            for key, problem in current.items():
                if key not in known:
                    record = AlertRecord(
                        key=key, message=problem.message, opened_at=utcnow().isoformat()
                    )
                    s.add(record)
                    known[key] = record
                elif known[key].cleared:  # came back before the recovery went out
                    known[key].cleared = False
            for key, record in known.items():
                if key not in current and not record.cleared:
                    record.cleared = True
                    s.add(record)
            s.commit()
            new = [
                Problem(a.key, a.message)
                for a in known.values()
                if not a.announced and not a.cleared
            ]
            gone = [Problem(a.key, a.message) for a in known.values() if a.cleared]
            if not self.enabled or not (new or gone):
                # Nothing to send (or nowhere to send it): forget what cleared unannounced.
                for record in known.values():
                    if record.cleared and not record.announced:
                        s.delete(record)
                s.commit()
                return {"new": [], "cleared": []}
            if not self._deliver(new, gone):
                return {"new": [], "cleared": []}
            for record in known.values():
                if record.cleared:
                    s.delete(record)
                else:
                    record.announced = True
                    s.add(record)
            s.commit()
        return {"new": new, "cleared": gone}

    def _deliver(self, new: list[Problem], gone: list[Problem]) -> bool:
        secrets = self.config.secrets.values()
        subject = _subject(new, gone)
        lines = [f"PROBLEM  {p.message}" for p in new] + [f"RESOLVED {p.message}" for p in gone]
        text = redact("\n".join(lines), secrets)
        delivered = True
        if self.settings.webhook_url:
            payload = {
                "source": "moneybird-shop-connector",
                "summary": subject,
                "problems": [{"key": p.key, "message": redact(p.message, secrets)} for p in new],
                "resolved": [{"key": p.key, "message": redact(p.message, secrets)} for p in gone],
            }
            try:
                with httpx.Client(timeout=15, transport=self._transport) as client:
                    response = client.post(self.settings.webhook_url, json=payload)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                log.warning(
                    "alert webhook failed (%s); trying again after the next pass",
                    type(exc).__name__,
                )
                delivered = False
        if self.settings.email_enabled:
            try:
                self._email(subject, text)
            except (OSError, smtplib.SMTPException) as exc:
                log.warning(
                    "alert email failed (%s); trying again after the next pass", type(exc).__name__
                )
                delivered = False
        return delivered

    def _email(self, subject: str, text: str) -> None:
        s = self.settings
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = s.email_from or f"connector@{s.smtp_host}"
        message["To"] = ", ".join(s.email_to)
        message.set_content(text + "\n\n-- moneybird-shop-connector\n")
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=15) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                smtp.login(s.smtp_user, self.config.secrets.smtp_password.get_secret_value())
            smtp.send_message(message)


def _subject(new: list[Problem], gone: list[Problem]) -> str:
    parts = []
    if new:
        parts.append(f"{len(new)} new problem(s)")
    if gone:
        parts.append(f"{len(gone)} resolved")
    return "Shop connector: " + ", ".join(parts)
