"""The busy cache: unchanged calendars are not re-read or re-parsed; changes are noticed."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from integrations.calendars.cache import (
    BusyCache,
    FeedStore,
    decode_payload,
    encode_payload,
    open_cache,
    source_key,
)
from integrations.calendars.ics import IcsFileSource
from integrations.storage import models
from integrations.storage.db import transaction
from scheduler.model import BusyReport, CalendarWarning, Interval
from tests.conftest import make_config
from web.composition import Runtime

ICS = Path(__file__).parent.parent / "data" / "ics"
BERLIN = ZoneInfo("Europe/Berlin")
MARCH = Interval(datetime(2026, 3, 1, tzinfo=BERLIN), datetime(2026, 3, 8, tzinfo=BERLIN))


def rows(runtime: Runtime) -> list[models.BusyCache]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(models.BusyCache)))


def copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copyfile(ICS / name, target)
    return target


def test_the_payload_round_trips_intervals_and_warnings_compactly() -> None:
    intervals = [
        Interval(datetime(2026, 3, 2, 8, tzinfo=UTC), datetime(2026, 3, 2, 9, tzinfo=UTC)),
        Interval(datetime(1999, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC)),
    ]
    skipped = CalendarWarning.of("x.ics", "x.ics: skipped event UID a (line 3): bad DTSTART")
    payload = encode_payload(intervals, [skipped])
    assert len(payload) < 8 + 2 * 16 + 80
    pairs, warnings = decode_payload(payload)
    assert [(datetime.fromtimestamp(s, UTC), datetime.fromtimestamp(e, UTC)) for s, e in pairs] == [
        (i.start, i.end) for i in intervals
    ]
    assert [str(w) for w in warnings] == ["x.ics: skipped event UID a (line 3): bad DTSTART"]
    assert warnings == [skipped]  # which calendar, and what happened


def test_put_then_get_returns_what_overlaps_while_the_validator_holds(runtime: Runtime) -> None:
    cache = open_cache(runtime)
    assert cache is not None
    key = source_key("file:/cal.ics", BERLIN, ["me@example.com"])
    busy = [
        Interval(datetime(2026, 3, 2, 7, tzinfo=UTC), datetime(2026, 3, 2, 8, tzinfo=UTC)),
        Interval(datetime(2026, 3, 20, 7, tzinfo=UTC), datetime(2026, 3, 20, 8, tzinfo=UTC)),
    ]
    covers = Interval(datetime(2026, 2, 20, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    cache.put(key, "stat:1:2|sha256:abc", covers, busy, warnings=[CalendarWarning("", "w")])
    assert cache.get(key, "sha256:abc", MARCH) == busy[:1]
    assert cache.get(key, "stat:1:2", covers) == busy
    assert cache.get(key, "sha256:other", MARCH) is None
    wider = Interval(covers.start, covers.end + timedelta(days=1))
    assert cache.get(key, "sha256:abc", wider) is None  # not covered: a miss
    report = cache.get_report(key, "sha256:abc", MARCH)
    assert report is not None and tuple(map(str, report.warnings)) == ("w",)
    cache.put(key, "sha256:new", covers, [])
    assert cache.get(key, "sha256:abc", MARCH) is None
    assert cache.get(key, "sha256:new", MARCH) == []
    assert len(rows(runtime)) == 1


def test_keys_differ_by_zone_and_owner_addresses() -> None:
    base = source_key("file:/cal.ics", BERLIN, ["a@example.com"])
    assert base == source_key("file:/cal.ics", "Europe/Berlin", ["A@example.com "])
    assert base != source_key("file:/cal.ics", ZoneInfo("UTC"), ["a@example.com"])
    assert base != source_key("file:/cal.ics", BERLIN, ["b@example.com"])


def test_an_unchanged_file_is_answered_from_the_cache_without_reading_it(
    sqlite_runtime: Runtime, tmp_path: Path
) -> None:
    path = copy("declined.ics", tmp_path)
    cache = open_cache(sqlite_runtime)
    source = IcsFileSource(path, zone=BERLIN, me=["owner@example.com"], cache=cache)
    first = source.busy(MARCH)
    assert len(first) == 2
    # Same size and mtime but unreadable content: only a cache hit can still answer.
    stat = path.stat()
    path.write_bytes(b"X" * stat.st_size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert source.busy(MARCH) == first


def test_a_touched_but_identical_file_is_not_parsed_again(
    sqlite_runtime: Runtime, tmp_path: Path
) -> None:
    path = copy("declined.ics", tmp_path)
    cache = open_cache(sqlite_runtime)
    source = IcsFileSource(path, zone=BERLIN, cache=cache)
    first = source.busy(MARCH)
    (stored,) = rows(sqlite_runtime)
    later = path.stat().st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(later, later))
    assert source.busy(MARCH) == first
    (again,) = rows(sqlite_runtime)
    assert again.fetched_at == stored.fetched_at  # no new parse was stored
    assert again.validator.startswith(f"stat:{later}:")


def test_a_changed_file_is_parsed_again(sqlite_runtime: Runtime, tmp_path: Path) -> None:
    path = copy("declined.ics", tmp_path)
    source = IcsFileSource(path, zone=BERLIN, cache=open_cache(sqlite_runtime))
    assert len(source.busy(MARCH)) == 3
    shutil.copyfile(ICS / "tentative.ics", path)
    assert len(source.busy(MARCH)) == 1


def test_warnings_of_a_cached_parse_are_still_reported(
    sqlite_runtime: Runtime, tmp_path: Path
) -> None:
    path = copy("malformed_event.ics", tmp_path)
    source = IcsFileSource(path, zone=BERLIN, cache=open_cache(sqlite_runtime))
    cold = source.busy_report(MARCH)
    warm = source.busy_report(MARCH)
    assert warm == cold
    assert "broken-start@example.com" in str(warm.warnings[0])


def test_an_interval_beyond_what_was_cached_is_parsed(
    sqlite_runtime: Runtime, tmp_path: Path
) -> None:
    path = copy("rrule_byday_ordinals.ics", tmp_path)
    source = IcsFileSource(path, zone=BERLIN, cache=open_cache(sqlite_runtime))
    assert len(source.busy(MARCH)) == 0
    april = Interval(datetime(2026, 4, 1, tzinfo=BERLIN), datetime(2026, 5, 1, tzinfo=BERLIN))
    assert len(source.busy(april)) == 2


def test_there_is_no_cache_and_no_database_file_before_init(
    tmp_path: Path, monkeypatch: object
) -> None:
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'never.db'}")
    assert open_cache(Runtime(config)) is None
    assert not (tmp_path / "never.db").exists()


def test_an_unmigrated_database_has_no_cache(tmp_path: Path) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "empty.db").close()
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}")
    assert open_cache(Runtime(config)) is None


def test_feed_store_keeps_validators_for_a_conditional_get(runtime: Runtime) -> None:
    cache = open_cache(runtime)
    assert isinstance(cache, BusyCache)
    store = FeedStore(cache, zone=BERLIN, me=("owner@example.com",))
    busy = (Interval(datetime(2026, 3, 2, 7, tzinfo=UTC), datetime(2026, 3, 2, 8, tzinfo=UTC)),)
    assert store.get("feed:https://example.com/a.ics", MARCH) is None
    store.put(
        "feed:https://example.com/a.ics",
        MARCH,
        BusyReport(busy, (CalendarWarning("", "w"),)),
        etag='"v1"',
        last_modified="Mon, 02 Mar 2026 07:00:00 GMT",
    )
    stored = store.get("feed:https://example.com/a.ics", MARCH)
    assert stored is not None
    assert (stored.etag, stored.last_modified) == ('"v1"', "Mon, 02 Mar 2026 07:00:00 GMT")
    assert stored.report == BusyReport(busy, (CalendarWarning("", "w"),))
    other_owner = FeedStore(cache, zone=BERLIN, me=("someone@example.com",))
    assert other_owner.get("feed:https://example.com/a.ics", MARCH) is None


def test_the_sqlite3_fast_path_and_sqlalchemy_read_each_others_entries(
    sqlite_runtime: Runtime,
) -> None:
    fast = open_cache(sqlite_runtime.config)
    assert fast is not None and fast.sqlite_path is not None
    slow = BusyCache(sqlite_runtime.engine)
    busy = [Interval(datetime(2026, 3, 2, 7, tzinfo=UTC), datetime(2026, 3, 2, 8, tzinfo=UTC))]
    covers = Interval(datetime(2026, 2, 20, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    fast.put("a", "v1", covers, busy)
    slow.put("b", "v2", covers, busy, etag="e")
    assert slow.get("a", "v1", MARCH) == busy
    assert fast.get("b", "v2", MARCH) == busy
    entry = fast.peek("b")
    assert entry is not None and entry.covers == covers and entry.etag == "e"
    slow.revalidate("a", "v3")
    assert fast.get("a", "v3", MARCH) == busy
    assert len(rows(sqlite_runtime)) == 2
    sqlite_runtime.engine.dispose()


def test_entries_not_refreshed_for_ninety_days_are_dropped_on_the_next_write(
    runtime: Runtime,
) -> None:
    found = open_cache(runtime)
    assert found is not None

    def cache_at(when: datetime) -> BusyCache:
        if found.sqlite_path is not None:
            return BusyCache(sqlite_path=found.sqlite_path, now=lambda: when)
        return BusyCache(found.engine, now=lambda: when)

    covers = Interval(datetime(2026, 2, 20, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    cache_at(datetime(2026, 1, 1, tzinfo=UTC)).put("old", "v", covers, [])
    cache_at(datetime(2026, 3, 1, tzinfo=UTC)).put("recent", "v", covers, [])
    cache_at(datetime(2026, 4, 2, tzinfo=UTC)).put("new", "v", covers, [])
    assert sorted(r.source_key for r in rows(runtime)) == ["new", "recent"]
