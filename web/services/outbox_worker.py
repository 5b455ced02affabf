"""Drains the outbox: sends emails and performs calendar writes, retrying with backoff.

`drain` does one pass; `outbox_job` makes it a job of the worker's runner (web.services.worker),
`scheduled_mail_job` queues the reminders and weekly digests that are due (web.services.reminders,
web.services.digest), and `sync_job` does the same for the calendars that are due
(web.services.calendar_sync); `run` loops over them until stopped. `meetagain worker` runs them
in its own process (several may run at once on PostgreSQL, each message and calendar claimed by
one); `meetagain serve` starts
`OutboxThread` inside the web server. Expired invites are closed on each pass as well.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from integrations.mail import mailer_from_config
from integrations.storage import outbox
from integrations.storage.outbox import FailedJob
from scheduler.ports import Mailer
from web.composition import Runtime
from web.services.worker import Job, run_jobs

log = logging.getLogger(__name__)


@dataclass
class DrainResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.failed


def _now() -> datetime:
    return datetime.now(UTC)


def retry_now(runtime: Runtime, user_id: int, job_id: int, *, now: datetime) -> bool:
    """Try one of the user's failed emails or calendar writes again on the next pass;
    False when the user has no such job."""
    from integrations.storage.db import transaction

    with transaction(runtime.sessions) as session:
        return outbox.retry_now(session, user_id, job_id, now=now)


@dataclass(frozen=True)
class SentMail:
    """One email as the demo's file outbox holds it."""

    subject: str
    to: str
    file: str
    date: str
    text: str


@dataclass(frozen=True)
class DevOutbox:
    """What the demo's outbox page shows one user."""

    mails: list[SentMail]  # newest first, at most 100; empty unless mail goes to files
    problems: list[FailedJob]  # the user's messages that failed at least once
    pending: int
    folder: str  # the file outbox's folder, "" when mail is really sent


def dev_outbox(runtime: Runtime, user_id: int, mailer: Mailer | None = None) -> DevOutbox:
    """The user's queued and failed messages and, for a file outbox (`mailer` or the
    config's), the emails written."""
    from integrations.mail import FileMailer
    from integrations.storage.db import transaction

    mailer = mailer or mailer_from_config(runtime.config)
    with transaction(runtime.sessions, read_only=True) as session:
        problems = outbox.problems(session, user_id)
        pending = outbox.pending_count(session, user_id)
        mine = outbox.message_ids(session, user_id)
    if not isinstance(mailer, FileMailer):
        return DevOutbox([], problems, pending, "")
    # The folder holds every user's mail; each sees only what was queued for them, since the
    # links inside an invite email are enough to answer it.
    mails = [m for m in mailer.messages() if str(m.message.get("Message-ID", "")).strip() in mine]
    shown = []
    for m in mails[:100]:
        body = m.message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        date = str(m.message.get("Date", ""))
        shown.append(SentMail(m.subject, m.to, m.path.name, date, text))
    return DevOutbox(shown, problems, pending, str(mailer.folder))


def perform(runtime: Runtime, job: outbox.Job, mailer: Mailer, *, now: datetime) -> None:
    """Do one job; raise to have it retried (or failed, when the error says `permanent`)."""
    from web.services import invites

    if job.kind in ("email", "email_render"):
        message, sender, recipients = message_of(runtime, job.kind, job.payload, job.message_id)
        mailer.send(message, sender=sender, recipients=recipients)
    elif job.kind == "calendar_insert":
        invites.write_calendar_event(runtime, int(job.payload["booking_id"]), now=now)
    elif job.kind == "calendar_update":
        from web.services.invites.moving import update_calendar_event

        update_calendar_event(runtime, int(job.payload["booking_id"]), str(job.payload["event_id"]))
    elif job.kind == "calendar_delete":
        invites.delete_calendar_event(
            runtime, int(job.payload["booking_id"]), str(job.payload["event_id"]), job.user_id
        )
    else:
        raise ValueError(f"unknown outbox kind {job.kind!r}")


def message_of(
    runtime: Runtime, kind: str, payload: dict[str, Any], message_id: str
) -> tuple[bytes, str, list[str]]:
    """The raw message, envelope sender and recipients of an outbox email row.

    "email" rows carry the finished message; "email_render" rows are built now, by the worker,
    so the request that queued them stays fast. Their Message-ID was fixed at enqueue time.
    """
    if kind == "email":
        raw = str(payload["message"]).encode("ascii", "surrogateescape")
        return raw, str(payload["sender"]), [str(r) for r in payload["recipients"]]
    from web.services.invites import render_email

    msg = render_email(runtime, payload, message_id=message_id)
    recipients = [a.addr_spec for h in ("To", "Cc") for a in getattr(msg.get(h), "addresses", ())]
    return msg.as_bytes(policy=outbox.SMTP_POLICY), runtime.config.mail.from_address, recipients


def drain(
    runtime: Runtime,
    mailer: Mailer | None = None,
    *,
    now: datetime | None = None,
    limit: int = 50,
    clock: Callable[[], datetime] = _now,
    stop: threading.Event | None = None,
) -> DrainResult:
    """Claim what is due and do it; one pass, ended early (after the job in hand) by `stop`.
    Returns what happened."""
    from web.services.invites import expire_invites

    mailer = mailer or mailer_from_config(runtime.config)
    result = DrainResult()
    moment = now or clock()
    expire_invites(runtime, now=moment)
    jobs = outbox.claim(runtime.sessions, now=moment, limit=limit)
    for index, job in enumerate(jobs):
        if stop is not None and stop.is_set():
            # Stopping: what was claimed but not started goes back to the queue at once,
            # instead of waiting for its lease to run out.
            outbox.release(runtime.sessions, [j.id for j in jobs[index:]], now=now or clock())
            break
        try:
            perform(runtime, job, mailer, now=now or clock())
        except Exception as exc:  # every failure is recorded on the row, with its reason
            permanent = bool(getattr(exc, "permanent", False))
            reason = getattr(exc, "reason", None) or str(exc) or exc.__class__.__name__
            status = outbox.mark_failed(
                runtime.sessions, job.id, reason, now=now or clock(), permanent=permanent
            )
            log.warning("outbox %s (%s) attempt %s: %s", job.id, job.kind, job.attempts, reason)
            if status == outbox.FAILED:
                result.failed += 1
            else:
                result.retrying += 1
        else:
            outbox.mark_sent(runtime.sessions, job.id, now=now or clock())
            result.sent += 1
    return result


def outbox_job(runtime: Runtime, mailer: Mailer | None = None, interval: float = 2.0) -> Job:
    """The outbox as a job of the worker's runner."""
    chosen = mailer or mailer_from_config(runtime.config)

    def one_pass(stop: threading.Event) -> int:
        return drain(runtime, chosen, stop=stop).handled

    return Job("outbox", one_pass, interval)


def queue_scheduled_mail(runtime: Runtime, *, now: datetime) -> int:
    """Queue the reminders and weekly digests due at `now` (each once, however many workers
    run); the outbox pass sends them. Returns how many emails were queued."""
    from web.services import digest, reminders

    return reminders.send_due_reminders(runtime, now=now) + digest.send_due_digests(
        runtime, now=now
    )


def scheduled_mail_job(
    runtime: Runtime, interval: float = 60.0, clock: Callable[[], datetime] = _now
) -> Job:
    """Reminders and digests as a job of the worker's runner: a pass a minute is enough for
    emails due at a wall-clock minute."""

    def one_pass(stop: threading.Event) -> int:
        return queue_scheduled_mail(runtime, now=clock())

    return Job("scheduled mail", one_pass, interval)


def run(
    runtime: Runtime,
    mailer: Mailer | None = None,
    *,
    stop: threading.Event,
    interval: float = 2.0,
    drain_outbox: bool = True,
    sync_calendars: bool = True,
) -> None:
    """Until `stop` is set: drain the outbox and sync the calendars that are due, each job
    waiting `interval` seconds after a pass that found nothing. A job in hand is finished
    before stopping."""
    jobs: list[Job] = []
    if drain_outbox:
        jobs.append(outbox_job(runtime, mailer, interval))
        jobs.append(scheduled_mail_job(runtime, max(interval, 60.0)))
    if sync_calendars:
        jobs.append(sync_job(runtime, interval))
    if jobs:
        run_jobs(jobs, stop)


def sync_job(runtime: Runtime, interval: float = 2.0) -> Job:
    """The calendar sync as a job of the worker's runner: one due calendar per pass."""
    from web.services import calendar_sync

    try:
        calendar_sync.refresh_config_calendars(runtime)
        calendar_sync.ensure_states(runtime)
    except Exception:  # the job still syncs what is stored
        log.exception("reading [[calendars]] from the config failed")

    def one_pass(stop: threading.Event) -> int:
        stats = calendar_sync.run_due(runtime, limit=1)
        return stats.synced + stats.failed

    return Job("calendar sync", one_pass, interval)


class OutboxThread:
    """The in-process worker for `make run` and `meetagain serve`: a daemon thread running
    `run` (the outbox, the calendar sync, or both)."""

    def __init__(
        self,
        runtime: Runtime,
        mailer: Mailer | None = None,
        interval: float = 1.0,
        *,
        drain_outbox: bool = True,
        sync_calendars: bool = False,
    ):
        self.runtime = runtime
        self.mailer = mailer
        self.interval = interval
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=run,
            args=(runtime, mailer),
            kwargs={
                "stop": self.stop_event,
                "interval": interval,
                "drain_outbox": drain_outbox,
                "sync_calendars": sync_calendars,
            },
            name="meetagain-worker",
            daemon=True,
        )

    def start(self) -> OutboxThread:
        self.thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        self.thread.join(timeout)
