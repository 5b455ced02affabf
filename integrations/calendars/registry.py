"""The one registry of calendar kinds: a stored calendar (kind, location, credentials) becomes a
CalendarSource here and nowhere else.

A calendar is stored (a row of the `calendars` table: added in the app or copied from a
[[calendars]] entry of config.toml) or ad hoc (`meetagain slots --calendar FILE|URL`); both are
described by a `StoredCalendar`. Adapters are imported only when a calendar needs them, so
reading a local file never loads the HTTP, CalDAV or Google client libraries.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from integrations.calendars.errors import CalendarError
from integrations.net import NetworkPolicy
from scheduler.ports import CalendarSource
from scheduler.text import CALDAV_SCHEMES, FEED_SCHEMES, calendar_url_problem

KINDS = ("ics", "caldav", "google")
URL_SCHEMES = tuple(f"{scheme}://" for scheme in FEED_SCHEMES)


def is_url(spec: str) -> bool:
    return spec.strip().lower().startswith(URL_SCHEMES)


@dataclass(frozen=True)
class StoredCalendar:
    """What it takes to read one calendar. `name` is the owner's name for it: every message
    about the calendar uses it, never the location (a feed URL may hold a secret)."""

    name: str
    kind: str  # ics | caldav | google
    location: str = ""  # ICS: absolute path or URL; CalDAV: collection URL
    username: str = ""
    password: str = ""
    external_id: str = ""  # Google calendar id
    id: int | None = None  # the row, for stored calendars
    origin: str = "app"  # app | config | adhoc

    @property
    def is_feed(self) -> bool:
        return self.kind == "ics" and is_url(self.location)


@dataclass(frozen=True)
class GoogleAccess:
    """Google credentials (None when not connected) and where the API is."""

    credentials: Any
    api_endpoint: str
    timeout: float = 20.0


def open_source(
    calendar: StoredCalendar,
    *,
    zone: ZoneInfo,
    me: Sequence[str] = (),
    google: GoogleAccess | None = None,
    timeout: float | None = None,
    max_bytes: int | None = None,
    cache: Any = None,
    sleep: Callable[[float], None] | None = None,
    attempts: int | None = None,
    network: NetworkPolicy | None = None,
) -> CalendarSource:
    """The CalendarSource for `calendar`. `timeout` bounds each wait for a server (seconds);
    `max_bytes` the size of a feed or file read; `cache` is a BusyCache for ad-hoc files and
    feeds; `network` says which addresses feeds and CalDAV may reach (default: public ones
    only). Raises CalendarError naming the calendar."""
    name = calendar.name
    network = network or NetworkPolicy()
    if calendar.is_feed or calendar.kind == "caldav":
        # A calendar stored before addresses were checked where they are given.
        schemes = FEED_SCHEMES if calendar.is_feed else CALDAV_SCHEMES
        problem = calendar_url_problem(calendar.location, schemes)
        if problem:
            raise CalendarError(f"{name}: the calendar's address cannot be read: {problem}")
    if calendar.kind == "ics":
        if calendar.is_feed:
            from integrations.calendars.feed import IcsFeedSource

            store = None
            if cache is not None:
                from integrations.calendars.cache import FeedStore

                store = FeedStore(cache, zone=zone, me=me)
            kwargs: dict[str, Any] = {
                "zone": zone,
                "me": tuple(me),
                "cache": store,
                "name": name,
                "network": network,
            }
            if max_bytes is not None:
                kwargs["max_bytes"] = max_bytes
            if timeout is not None:
                kwargs["timeout"] = timeout
            return IcsFeedSource(calendar.location, **kwargs)
        from integrations.calendars.ics import IcsFileSource

        sized: dict[str, Any] = {} if max_bytes is None else {"max_bytes": max_bytes}
        if calendar.origin == "config":  # the path is written in config.toml: fixed there
            sized["missing"] = "the calendar file is missing: fix its path in config.toml"
        elif calendar.origin == "adhoc":  # a path given on the command line
            sized["missing"] = "there is no such file"
        return IcsFileSource(
            Path(calendar.location), zone=zone, me=me, cache=cache, name=name, **sized
        )
    if calendar.kind == "caldav":
        from integrations.calendars.caldav_source import DEFAULT_TIMEOUT, CalDavSource

        try:
            return CalDavSource(
                calendar.location,
                calendar.username,
                calendar.password,
                zone=zone,
                me=tuple(me),
                name=name,
                timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                network=network,
            )
        except CalendarError:
            raise CalendarError(f"{name}: a CalDAV address must start with https://") from None
    if calendar.kind == "google":
        if google is None or google.credentials is None:
            raise CalendarError(
                f"{name}: Google is not connected (or needs reconnecting): connect Google in "
                "the web app under Settings"
            )
        from integrations.calendars.google_source import GoogleFreeBusySource

        extra: dict[str, Any] = {}
        if sleep is not None:
            extra["sleep"] = sleep
        if attempts is not None:
            extra["attempts"] = attempts
        return GoogleFreeBusySource(
            google.credentials,
            [calendar.external_id or "primary"],
            api_endpoint=google.api_endpoint,
            name=name,
            timeout=google.timeout if timeout is None else min(timeout, google.timeout),
            **extra,
        )
    raise CalendarError(f"{name}: unknown kind of calendar {calendar.kind!r}")


def adhoc(spec: str) -> StoredCalendar:
    """An ad-hoc calendar given on the command line: a URL (feed) or a local .ics file."""
    spec = spec.strip()
    if is_url(spec):
        problem = calendar_url_problem(spec, FEED_SCHEMES)
        if problem:  # the address is not repeated: a feed's address is often a secret
            raise CalendarError(f"--calendar: not a calendar address: {problem}")
        return StoredCalendar(name=spec, kind="ics", location=spec, origin="adhoc")
    path = Path(spec).expanduser()
    if not path.exists():
        raise CalendarError(f"{spec}: no such calendar file")
    return StoredCalendar(name=spec, kind="ics", location=str(path.resolve()), origin="adhoc")


@dataclass(frozen=True)
class ConfiguredCalendar:
    """A [[calendars]] entry as it is stored: the calendar, or why it cannot be used."""

    calendar: StoredCalendar
    problem: str = ""


def from_config(entry: Any, base_dir: str | os.PathLike[str]) -> list[ConfiguredCalendar]:
    """The stored calendars a [[calendars]] entry stands for (one per Google calendar id)."""
    name = entry.name
    if entry.kind == "ics":
        if entry.url:
            return [ConfiguredCalendar(StoredCalendar(name, "ics", entry.url, origin="config"))]
        path = Path(entry.path).expanduser()
        if not path.is_absolute():
            path = Path(base_dir) / path
        location = str(path.resolve())
        return [ConfiguredCalendar(StoredCalendar(name, "ics", location, origin="config"))]
    if entry.kind == "caldav":
        problem = ""
        password = ""
        if entry.password_env:
            if entry.password_env in os.environ:
                password = os.environ[entry.password_env]
            else:
                problem = (
                    f"{name}: the environment variable {entry.password_env} (password_env) "
                    "is not set"
                )
        found = StoredCalendar(name, "caldav", entry.url, entry.username, password, origin="config")
        return [ConfiguredCalendar(found, problem)]
    if entry.kind == "google":
        ids = list(entry.calendar_ids) or ["primary"]
        return [
            ConfiguredCalendar(
                StoredCalendar(
                    name if len(ids) == 1 else f"{name} ({cid})",
                    "google",
                    external_id=cid,
                    origin="config",
                )
            )
            for cid in ids
        ]
    return [
        ConfiguredCalendar(
            StoredCalendar(name, entry.kind, origin="config"),
            f"{name}: unknown kind of calendar {entry.kind!r}",
        )
    ]


def resolve_spec(spec: str, config: Any = None) -> StoredCalendar:
    """The calendar a command-line spec names: a [[calendars]] entry, a URL or a local file."""
    spec = spec.strip()
    if not spec:
        raise CalendarError("empty calendar name: give a path, a URL or a calendar's name")
    entry = config.calendar(spec) if config is not None else None
    if entry is not None:
        found = from_config(entry, getattr(config, "base_dir", "."))
        if found[0].problem:
            raise CalendarError(found[0].problem)
        return found[0].calendar
    if is_url(spec):
        return adhoc(spec)
    try:
        return adhoc(spec)
    except CalendarError:
        names = ", ".join(c.name for c in getattr(config, "calendars", ())) or "none configured"
        raise CalendarError(
            f"{spec}: no such calendar file, and no calendar of that name ({names})"
        ) from None
