"""What an operator's monitoring reads from the database: the outbox backlog and how each kind
of calendar is syncing (the metrics endpoint turns them into gauges)."""

from __future__ import annotations

from dataclasses import dataclass

from integrations.storage import outbox
from integrations.storage.calendar_status import KindStatus, sync_status
from integrations.storage.db import transaction
from web.composition import Runtime


@dataclass(frozen=True)
class StoreFigures:
    """Every user's outbox rows, and one row per calendar kind in use (ordered by kind)."""

    backlog: outbox.Backlog
    calendars: list[KindStatus]


def store_figures(runtime: Runtime) -> StoreFigures:
    """The figures as they stand now, read in one read-only unit of work."""
    with transaction(runtime.sessions, read_only=True) as session:
        return StoreFigures(outbox.backlog(session), sync_status(session))
