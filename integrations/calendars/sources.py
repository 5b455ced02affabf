"""Turn a calendar spec (path, URL or [[calendars]] name) into a CalendarSource; merge their busy.

Adapters are imported only when a spec needs them, so reading a local file never loads the HTTP,
CalDAV or Google client libraries.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from integrations.calendars.errors import CalendarError
from integrations.net import NetworkPolicy
from scheduler.intervals import merge
from scheduler.model import BusyReport, Interval
from scheduler.ports import CalendarSource

URL_SCHEMES = ("http://", "https://", "webcal://", "webcals://")


def is_url(spec: str) -> bool:
    return spec.strip().lower().startswith(URL_SCHEMES)


def open_source(
    spec: str,
    config: Any,
    *,
    zone: ZoneInfo,
    me: Sequence[str] = (),
    runtime: Any = None,
    user_id: int | None = None,
    cache: Any = None,
    timeout: float | None = None,
    network: NetworkPolicy | None = None,
    name: str | None = None,
) -> CalendarSource:
    """The CalendarSource a spec names: a [[calendars]] entry, an http(s)/webcal URL or a file.

    With a `runtime` whose database is migrated, parsed busy time is cached in it. `timeout`
    bounds each wait for a server's answer (seconds; default each source's own). `network`
    says which addresses URLs may reach (default: the config's [security]). `name` is how
    messages name the calendar (a stored calendar's name: never its file path or feed URL,
    which may hold a secret); default the spec. Raises CalendarError when the spec names
    nothing usable.
    """
    spec = spec.strip()
    network = network or NetworkPolicy.from_config(config)
    if not spec:
        raise CalendarError("empty calendar name: give a path, a URL or a [[calendars]] name")
    if cache is None and runtime is not None:
        from integrations.calendars.cache import open_cache

        cache = open_cache(runtime)
    entry = config.calendar(spec) if config is not None else None
    if entry is not None:
        return _from_config(
            entry,
            config,
            zone=zone,
            me=me,
            runtime=runtime,
            user_id=user_id,
            cache=cache,
            timeout=timeout,
            network=network,
        )
    if is_url(spec):
        return _feed(
            spec, zone=zone, me=me, cache=cache, timeout=timeout, network=network, name=name
        )
    path = Path(spec).expanduser()
    if not path.exists() and name:
        raise CalendarError(f"{name}: the calendar file is missing; add the calendar again")
    if not path.exists():
        names = ", ".join(c.name for c in getattr(config, "calendars", ())) or "none configured"
        raise CalendarError(
            f"{spec}: no such calendar file, and no [[calendars]] entry of that name ({names})"
        )
    from integrations.calendars.ics import IcsFileSource

    return IcsFileSource(path, zone=zone, me=me, cache=cache, name=name or spec)


def _feed(
    url: str,
    *,
    zone: ZoneInfo,
    me: Sequence[str],
    cache: Any,
    max_bytes: int | None = None,
    name: str | None = None,
    timeout: float | None = None,
    network: NetworkPolicy,
) -> CalendarSource:
    from integrations.calendars.feed import IcsFeedSource

    store = None
    if cache is not None:
        from integrations.calendars.cache import FeedStore

        store = FeedStore(cache, zone=zone, me=me)
    kwargs: dict[str, Any] = {"zone": zone, "me": tuple(me), "cache": store, "network": network}
    if max_bytes is not None:
        kwargs["max_bytes"] = max_bytes
    if timeout is not None:
        kwargs["timeout"] = timeout
    source: CalendarSource = IcsFeedSource(url, **kwargs)
    if name:
        source.name = name
    return source


def _from_config(
    entry: Any,
    config: Any,
    *,
    zone: ZoneInfo,
    me: Sequence[str],
    runtime: Any,
    user_id: int | None,
    cache: Any,
    timeout: float | None = None,
    network: NetworkPolicy,
) -> CalendarSource:
    label = f"calendar {entry.name!r}"
    if entry.kind == "ics":
        if entry.url:
            return _feed(
                entry.url,
                zone=zone,
                me=me,
                cache=cache,
                max_bytes=entry.max_bytes,
                name=entry.name,
                timeout=timeout,
                network=network,
            )
        path = Path(entry.path).expanduser()
        if not path.is_absolute():
            path = Path(getattr(config, "base_dir", ".")) / path
        from integrations.calendars.ics import IcsFileSource

        return IcsFileSource(path, zone=zone, me=me, cache=cache, name=entry.name)
    if entry.kind == "caldav":
        password = ""
        if entry.password_env:
            if entry.password_env not in os.environ:
                raise CalendarError(
                    f"{label}: the environment variable {entry.password_env} (password_env) "
                    "is not set"
                )
            password = os.environ[entry.password_env]
        from integrations.calendars.caldav_source import DEFAULT_TIMEOUT, CalDavSource

        source: CalendarSource = CalDavSource(
            entry.url,
            entry.username,
            password,
            zone=zone,
            me=tuple(me),
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            network=network,
        )
        source.name = entry.name
        return source
    if entry.kind == "google":
        if runtime is None:
            raise CalendarError(
                f"{label}: Google calendars need the database: run `meetagain init`, then "
                "connect Google in the web app"
            )
        credentials = _google_credentials(runtime, user_id, label)
        from integrations.calendars.google_source import GoogleFreeBusySource

        return GoogleFreeBusySource(
            credentials,
            list(entry.calendar_ids),
            api_endpoint=config.google.api_endpoint,
            name=entry.name,
            timeout=config.google.timeout if timeout is None else timeout,
        )
    raise CalendarError(f"{label}: unknown kind {entry.kind!r}")


def _google_credentials(runtime: Any, user_id: int | None, label: str) -> Any:
    try:
        from web.services.google import credentials_for
    except ImportError:
        raise CalendarError(f"{label}: Google support is not available in this build") from None
    from integrations.calendars.cache import sqlite_file

    database = sqlite_file(runtime.config.database_url)
    if database is not None and not os.path.isfile(database):  # do not create it here
        raise CalendarError(
            f"{label}: there is no database yet: run `meetagain init`, then connect Google in "
            "the web app"
        )
    try:
        owner = user_id if user_id is not None else runtime.owner_id()
    except Exception as exc:  # no database or no user yet
        raise CalendarError(f"{label}: {exc}") from None
    credentials = credentials_for(runtime, owner)
    if credentials is None:
        raise CalendarError(
            f"{label}: Google is not connected (or needs reconnecting): connect Google in the "
            "web app under Settings"
        )
    return credentials


def source_report(source: CalendarSource, interval: Interval) -> BusyReport:
    """One source's busy time with its warnings (sources without `busy_report` have none)."""
    reporter = getattr(source, "busy_report", None)
    if callable(reporter):
        report = reporter(interval)
        if isinstance(report, BusyReport):
            return report
    return BusyReport(tuple(source.busy(interval)), ())


def collect_busy(sources: Sequence[CalendarSource], interval: Interval) -> BusyReport:
    """Busy time of all sources within `interval`, merged.

    A source that fails becomes a warning naming it; when the only source fails, or every source
    does, the error is raised instead, since an empty calendar would look entirely free.
    """
    intervals: list[Interval] = []
    warnings: list[str] = []
    failures: list[str] = []
    for source in sources:
        try:
            report = source_report(source, interval)
        except CalendarError as exc:
            if len(sources) == 1:
                raise
            failures.append(str(exc))
            continue
        except Exception as exc:  # an adapter bug must not hide the other calendars
            message = f"{source.name}: {exc.__class__.__name__}: {exc}"
            if len(sources) == 1:
                raise CalendarError(message) from exc
            failures.append(message)
            continue
        # overlaps() compares instants (sources may answer in the user's zone, where `<` would
        # compare wall clocks and get the DST fold wrong).
        intervals.extend(i for i in report.intervals if i.overlaps(interval))
        warnings.extend(report.warnings)
    if sources and len(failures) == len(sources):
        raise CalendarError("no calendar could be read: " + "; ".join(failures))
    warnings.extend(f"calendar skipped: {f}" for f in failures)
    return BusyReport(tuple(merge(intervals)), tuple(warnings))
