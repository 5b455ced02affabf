"""`meetagain worker`: a stop (SIGTERM) finishes the message in hand, gives back the rest, and
the process exits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from integrations.storage.db import transaction
from integrations.storage.models import OutboxMessage
from tests.helpers.invite_fixtures import make_owner, queue_emails
from web.composition import Runtime
from web.services.outbox_worker import drain


class StoppingMailer:
    """A Mailer (the port) that records what it sends and asks the worker to stop after the
    first, like a SIGTERM arriving while a message is on its way."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.sent: list[bytes] = []

    def send(self, message: bytes, *, sender: str, recipients: list[str]) -> None:
        self.sent.append(message)
        self.stop.set()


def test_a_stopping_worker_finishes_the_message_in_hand_and_gives_back_the_rest(
    runtime: Runtime,
) -> None:
    now = datetime.now(UTC)
    queue_emails(runtime, make_owner(runtime), 3, now=now)
    stop = threading.Event()
    mailer = StoppingMailer(stop)
    result = drain(runtime, mailer, now=now, stop=stop)
    assert result.sent == 1 and len(mailer.sent) == 1
    with transaction(runtime.sessions) as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        states = [(r.status, r.attempts) for r in rows]
        due = [r.next_attempt_at <= now for r in rows[1:]]
    # The rest are due at once, untried, instead of waiting out their lease.
    assert states == [("sent", 1), ("pending", 0), ("pending", 0)] and due == [True, True]
    again = drain(runtime, StoppingMailer(threading.Event()), now=now)
    assert again.sent == 2


def test_sigterm_stops_the_worker_process_cleanly(sqlite_runtime: Runtime, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MEETAGAIN_DATABASE_URL": sqlite_runtime.config.database_url,
        "MEETAGAIN_INSTANCE": str(sqlite_runtime.config.instance_dir),
    }
    env.pop("MEETAGAIN_CONFIG", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "web", "worker", "--interval", "0.2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "worker started" in process.stdout.readline()
        time.sleep(0.5)  # a few idle passes
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        assert "worker stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()  # type: ignore[union-attr]
