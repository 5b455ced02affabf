"""The outbox on SQLite and PostgreSQL: same-transaction enqueue, leases, backoff, workers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from integrations.storage import outbox
from integrations.storage.db import transaction
from integrations.storage.models import OutboxMessage
from tests.helpers.invite_fixtures import make_owner
from web.composition import Runtime

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _enqueue(runtime: Runtime, user: int, n: int = 1) -> list[int]:
    with transaction(runtime.sessions) as session:
        return [
            outbox.enqueue(
                session,
                user_id=user,
                kind="email",
                payload={"n": i},
                now=NOW,
                message_id=f"<m{i}@test>",
            ).id
            for i in range(n)
        ]


def test_work_enqueued_in_a_rolled_back_transaction_never_exists(runtime: Runtime) -> None:
    user = make_owner(runtime)
    with pytest.raises(RuntimeError), transaction(runtime.sessions) as session:
        outbox.enqueue(session, user_id=user, kind="email", payload={}, now=NOW)
        raise RuntimeError("the change that caused the email failed")
    assert outbox.claim(runtime.sessions, now=NOW) == []


def test_a_claimed_row_is_leased_and_comes_back_if_the_worker_dies(runtime: Runtime) -> None:
    user = make_owner(runtime)
    [row_id] = _enqueue(runtime, user)
    [job] = outbox.claim(runtime.sessions, now=NOW)
    assert (job.id, job.attempts, job.message_id) == (row_id, 1, "<m0@test>")
    # Another worker sees nothing while the lease holds...
    assert outbox.claim(runtime.sessions, now=NOW + timedelta(seconds=30)) == []
    # ...and the same message (same Message-ID) once the first worker is presumed dead.
    [again] = outbox.claim(runtime.sessions, now=NOW + outbox.LEASE + timedelta(seconds=1))
    assert (again.id, again.attempts, again.message_id) == (row_id, 2, "<m0@test>")
    outbox.mark_sent(runtime.sessions, again.id, now=NOW)
    assert outbox.claim(runtime.sessions, now=NOW + timedelta(days=1)) == []


def test_failures_back_off_exponentially_and_give_up_when_permanent(runtime: Runtime) -> None:
    user = make_owner(runtime)
    [row_id] = _enqueue(runtime, user)
    waits = []
    moment = NOW
    for _ in range(4):
        [job] = outbox.claim(runtime.sessions, now=moment)
        assert (
            outbox.mark_failed(runtime.sessions, job.id, "421 try later", now=moment) == "pending"
        )
        with transaction(runtime.sessions, read_only=True) as session:
            row = session.get(OutboxMessage, row_id)
            assert row is not None and row.last_error == "421 try later"
            waits.append(row.next_attempt_at - moment)
            assert (
                outbox.claim(runtime.sessions, now=row.next_attempt_at - timedelta(seconds=1)) == []
            )
            moment = row.next_attempt_at
    assert waits == [outbox.RETRY_BASE * 2**n for n in range(4)]
    [job] = outbox.claim(runtime.sessions, now=moment)
    assert (
        outbox.mark_failed(runtime.sessions, job.id, "550 no such user", now=moment, permanent=True)
        == "failed"
    )
    assert outbox.claim(runtime.sessions, now=moment + timedelta(days=30)) == []
    with transaction(runtime.sessions) as session:
        [problem] = outbox.problems(session, user)
        assert problem.status == "failed" and problem.last_error == "550 no such user"
        assert outbox.retry_now(session, user, problem.id, now=moment)
    assert [j.id for j in outbox.claim(runtime.sessions, now=moment)] == [row_id]


def test_it_gives_up_after_the_maximum_number_of_attempts(runtime: Runtime) -> None:
    user = make_owner(runtime)
    _enqueue(runtime, user)
    moment = NOW
    statuses = []
    for _ in range(outbox.MAX_ATTEMPTS):
        [job] = outbox.claim(runtime.sessions, now=moment)
        statuses.append(outbox.mark_failed(runtime.sessions, job.id, "down", now=moment))
        moment += outbox.RETRY_CAP + timedelta(seconds=1)
    assert statuses == ["pending"] * (outbox.MAX_ATTEMPTS - 1) + ["failed"]


def test_concurrent_workers_claim_each_row_exactly_once(runtime: Runtime) -> None:
    user = make_owner(runtime)
    ids = _enqueue(runtime, user, 60)
    claimed: list[int] = []
    lock = threading.Lock()
    gate = threading.Barrier(4)

    def worker() -> None:
        gate.wait()
        while True:
            jobs = outbox.claim(runtime.sessions, now=NOW, limit=3)
            if not jobs:
                return
            with lock:
                claimed.extend(j.id for j in jobs)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == sorted(ids)
    with transaction(runtime.sessions) as session:
        attempts = session.scalars(select(OutboxMessage.attempts)).all()
    assert set(attempts) == {1}
