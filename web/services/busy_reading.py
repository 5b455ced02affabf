"""What `meetagain slots` and `busy` read: the user's stored calendars, or files and URLs named
on the command line, read now.

The store is read over a plain connection (`sqlite3`, or the engine's raw one) and SQLAlchemy
is never imported when nothing needs a refresh or a sync first (the usual case); otherwise the
config's calendars are made rows and due calendars synced first
(`calendar_sync.before_reading`), then the store is read all the same. Before `meetagain init`
there is no store: the config's [[calendars]] are read now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from integrations.calendars.errors import CalendarError
from integrations.calendars.registry import is_url
from integrations.config import Config
from scheduler.intervals import merge
from scheduler.model import BusyReport, Interval
from web.errors import Invalid, UserError

if TYPE_CHECKING:
    from integrations.storage.dbapi import Db
    from web.composition import Runtime


@dataclass(frozen=True)
class _Store:
    """The calendar store, ready to read over a plain connection, and whose calendars."""

    db: Db
    user_id: int


class CalendarReader:
    """One command's reading of calendars (the store opened once, on first need); `close`
    gives its connection back."""

    def __init__(
        self,
        config: Config,
        runtime: Callable[[], Runtime],
        owner_id: Callable[[], int],
        user: str | None = None,
    ) -> None:
        self.config = config
        self._runtime = runtime  # built only when the store needs SQLAlchemy
        self._owner_id = owner_id
        self._user = user
        self._opened = False
        self._store: _Store | None = None
        self._closers: list[Callable[[], Any]] = []

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()

    def settings(self, specs: Sequence[str]) -> Config:
        """The config as the user sees it (their windows, rules and zone set in the web app)
        when their calendars are read from the store; for files and URLs alone, the file's."""
        if specs and all(_adhoc(s) for s in specs):
            return self.config
        store = self._opened_store()
        if store is None:
            return self.config
        from web.services.calendar_read import user_config

        with store.db.snapshot():
            return user_config(store.db, self.config, store.user_id)

    def busy(
        self, specs: Sequence[str], zone: ZoneInfo, me: Sequence[str], interval: Interval
    ) -> BusyReport:
        """Merged busy time of `specs` (files and URLs read now, other names the stored
        calendars of that name; none: every stored calendar that counts as busy)."""
        adhoc = [s for s in specs if _adhoc(s)]
        named = [s for s in specs if s not in adhoc]
        reports: list[BusyReport] = []
        if named or not specs:
            stored = self._stored_busy(named, interval)
            if stored is None:  # no database yet: the config's calendars, read now
                names = named or [c.name for c in self.config.calendars]
                if not names:
                    raise Invalid(
                        "no calendar given: use --calendar PATH|URL|NAME, add [[calendars]] to "
                        "the config or add calendars in the web app"
                    )
                adhoc = [*named, *adhoc] if named else names
            else:
                reports.append(stored)
        if adhoc:
            reports.append(self._live_busy(adhoc, zone, me, interval))
        return BusyReport(
            tuple(merge([i for r in reports for i in r.intervals])),
            tuple(w for r in reports for w in r.warnings),
        )

    # --- the store ----------------------------------------------------------------------------

    def _opened_store(self) -> _Store | None:
        if not self._opened:
            self._store = self._open_store()
            self._opened = True
        return self._store

    def _open_store(self) -> _Store | None:
        from integrations.storage import calendar_reads
        from integrations.storage.dbapi import Db, connect_sqlite, sqlite_file
        from web.services import calendar_read

        config = self.config
        path = sqlite_file(config.database_url)
        if path is not None:
            db = connect_sqlite(path)
            if db is None:
                return None  # no database yet: nothing is created by reading
            self._closers.append(db.close)
        else:
            raw = self._runtime().engine.raw_connection()
            self._closers.append(raw.close)  # back to the engine's pool
            db = Db(raw.driver_connection)
        try:
            with db.snapshot():
                if self._user:
                    found = calendar_reads.owners(db, [self._user.strip().lower()])
                    owner = found[0] if found else None
                else:
                    emails = [e.strip().lower() for e in config.owner.emails]
                    owner = calendar_reads.config_owner(db, emails)
                if owner is not None and calendar_read.nothing_to_sync(
                    db, config, owner.id, now=datetime.now(UTC)
                ):
                    return _Store(db, owner.id)
        except db.Error:
            pass  # an empty or older database: the full path below says what to do
        if not self._store_ready():
            return None
        from web.services import calendar_sync

        user_id = self._owner_id()
        calendar_sync.before_reading(self._runtime(), user_id)
        return _Store(db, user_id)

    def _store_ready(self) -> bool:
        """True when there is a database with the calendar store; an older database is an
        error that says to upgrade."""
        from integrations.storage.db import schema_state

        state = schema_state(self._runtime().engine)
        if state == "old":
            raise UserError("the database is not up to date: run `meetagain db upgrade`")
        return state == "ready"

    def _stored_busy(self, names: Sequence[str], interval: Interval) -> BusyReport | None:
        """Busy time of the user's stored calendars (all that count as busy, or `names`);
        None when there is no database yet."""
        from web.services import calendar_read

        store = self._opened_store()
        if store is None:
            return None
        with store.db.snapshot():
            found = calendar_read.read_busy(
                store.db, self.config, store.user_id, interval, names=names
            )
        return found.report

    # --- files and URLs -----------------------------------------------------------------------

    def _live_busy(
        self, specs: Sequence[str], zone: ZoneInfo, me: Sequence[str], interval: Interval
    ) -> BusyReport:
        """Read ad-hoc calendars (files, URLs, [[calendars]] names before `init`) now."""
        from integrations.calendars.cache import open_cache
        from integrations.calendars.registry import open_source, resolve_spec
        from integrations.calendars.sources import collect_busy
        from integrations.net import NetworkPolicy

        config = self.config
        cache = open_cache(config)
        try:
            sources = []
            for spec in specs:
                calendar = resolve_spec(spec, config)
                if calendar.kind == "google":  # stored calendars come from the store
                    raise CalendarError(
                        f"{calendar.name}: Google calendars need the database: run "
                        "`meetagain init`, then connect Google in the web app"
                    )
                entry = config.calendar(spec)
                max_bytes = entry.max_bytes if entry is not None else None
                sources.append(
                    open_source(
                        calendar,
                        zone=zone,
                        me=me,
                        cache=cache,
                        max_bytes=max_bytes,
                        network=NetworkPolicy.from_config(config),
                    )
                )
            return collect_busy(sources, interval)
        except CalendarError as exc:
            raise UserError(str(exc)) from None


def _adhoc(spec: str) -> bool:
    """A file or URL (read now), not the name of a stored calendar."""
    return is_url(spec) or Path(spec).expanduser().exists()
