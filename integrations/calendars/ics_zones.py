"""The time zones of one iCalendar file, read without icalendar's process-wide zone store.

icalendar resolves a TZID while it parses, through one store shared by the whole process in
which the first VTIMEZONE seen under a name wins; Exchange calls every custom zone "Customized
Time Zone", so a second calendar would silently take the first one's offsets. Here a calendar is
parsed with wall-clock times only (`read_calendars`), and each TZID is then resolved once per
calendar (`apply_own_zones`), in this order:

1. an IANA name ("Europe/Berlin") is the zone database's zone;
2. a VTIMEZONE of this calendar (every TZID it carries, an Outlook "Customized Time Zone" too);
3. a Windows zone name ("W. Europe Standard Time") through the CLDR mapping icalendar ships;
4. a Windows display name ("(UTC-05:00) Eastern Time (US & Canada)", "(GMT+10:00) Canberra,
   Melbourne, Sydney") through the same mapping, by its name or its cities, checked against
   the offset it states;
5. a "globally unique" TZID ("/vendor.example/Europe/Berlin") by the IANA name it ends with;
6. otherwise a fixed offset the name states, or else the user's zone, each with a warning.
"""

from __future__ import annotations

import functools
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The properties whose values icalendar would have given a TZID while parsing.
_TIMED = frozenset({"DTSTART", "DTEND", "RECURRENCE-ID", "DUE", "RDATE", "EXDATE"})
# Zone database entries that are not places ("localtime" is the machine's own zone).
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_DISPLAY = re.compile(
    r"^\s*\((?:UTC|GMT)\s*(?:(?P<sign>[+\u2212-])\s*(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?)?\)\s*(?P<rest>.*)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ZoneChoice:
    """How one TZID of a calendar is read; `note` explains a guess (empty when it is none)."""

    tz: tzinfo
    note: str = ""


@dataclass
class ZoneReport:
    """What `apply_own_zones` could not read exactly: a note per TZID, with its users."""

    notes: dict[str, str] = field(default_factory=dict)
    users: dict[str, list[Any]] = field(default_factory=dict)  # TZID -> components using it
    problems: list[str] = field(default_factory=list)  # VTIMEZONEs that cannot be read


# --- parsing without the shared store ------------------------------------------------------


class UnreadableProperty(ValueError):
    """A content line the parser could not read in a component that refuses bad values (a
    VTIMEZONE, VALARM, VTODO, ...): which property ("" when the line itself cannot be split
    into name, parameters and value), in which component, the unfolded content line (to find
    its line number; never shown) and the value type the property should have had."""

    def __init__(self, name: str, component: str, content_line: str, expected: str) -> None:
        super().__init__(f"bad {name} in {component}")
        self.name = name
        self.component = component
        self.content_line = content_line
        self.expected = expected


# catch_warnings swaps process-wide state; our own reads never interleave their swaps (which
# could leave the swapped state in place). Re-entrant: a read may happen inside another.
_LIBRARY_WARNINGS = threading.RLock()


@contextmanager
def library_warnings(label: str, out: list[str]) -> Iterator[None]:
    """Run calendar-library code, turning its Python warnings into one-line warnings of ours."""
    with _LIBRARY_WARNINGS, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for item in caught:
        text = " ".join(str(item.message).split())
        text = text if len(text) <= 200 else text[:200] + "..."
        line = f"{label}: the calendar library warned: {text}"
        if line not in out:
            out.append(line)


@functools.cache
def _calendar_class() -> Any:
    """icalendar's Calendar whose parser leaves TZIDs to `apply_own_zones` (built on first use
    so that a warm cache never imports icalendar)."""
    import icalendar
    from icalendar.parser.ical.calendar import CalendarIcalParser

    class OwnZonesParser(CalendarIcalParser):
        """icalendar's parser minus its process-wide zone store (see the module docstring)."""

        def parse_and_add_property(
            self, name: str, params: Any, val: str, tzid: str | None, line: Any
        ) -> None:
            # Wall-clock values; the TZID stays in the parameters for apply_own_zones.
            super().parse_and_add_property(name, params, val, None, line)

        def handle_end_component(self, vals: str) -> None:
            if vals.upper() != "VTIMEZONE" or not self._stack:
                super().handle_end_component(vals)
                return
            # As the base class does, minus storing the zone for every later calendar.
            component = self._stack.pop()
            if self._stack:
                self._stack[-1].add_component(component)
            else:
                self._components.append(component)

        def prepare_components(self) -> None:
            """Nothing to redo: a VTIMEZONE after its events is found by apply_own_zones."""

        def initialize_parsing(self) -> None:
            super().initialize_parsing()
            self._line = ""
            self._content_lines_iterator = self._tracked(self._content_lines_iterator)

        def _tracked(self, lines: Iterator[Any]) -> Iterator[Any]:
            for line in lines:  # the line in hand, for the errors below
                self._line = str(line)
                yield line

        def handle_line_parse_error(self, exception: Exception) -> None:
            if self.component is None:  # outside any component: the structural check says
                super().handle_line_parse_error(exception)
                return
            try:
                super().handle_line_parse_error(exception)
            except (ValueError, TypeError) as exc:
                raise UnreadableProperty("", self._component_name(), self._line, "") from exc

        def handle_property_parse_error(
            self, exception: Exception, name: str, params: Any, val: str, line: Any
        ) -> None:
            # Components that do not tolerate a bad value (all but VEVENT) raise here: say
            # which property of which component, and what its value should have been.
            try:
                super().handle_property_parse_error(exception, name, params, val, line)
            except (ValueError, TypeError) as exc:
                factory = self.get_factory_for_property(name, params)
                raise UnreadableProperty(
                    name,
                    self._component_name(),
                    str(line),
                    str(getattr(factory, "__name__", "")),
                ) from exc

        def _component_name(self) -> str:
            return str(getattr(self.component, "name", "") or "")

    class OwnZonesCalendar(icalendar.Calendar):
        @classmethod
        def _get_ical_parser(cls, st: str | bytes) -> Any:
            return OwnZonesParser(st, cls._get_component_factory(), cls.types_factory)

    return OwnZonesCalendar


def read_calendars(data: bytes) -> list[Any]:
    """Every top-level component of `data`, parsed with wall-clock times (call apply_own_zones
    on each calendar before using its times). Raises UnreadableProperty for a bad value outside
    a VEVENT, else what icalendar raises."""
    return list(_calendar_class().from_ical(data, multiple=True))


# --- resolving a calendar's TZIDs ------------------------------------------------------------


def apply_own_zones(cal: Any, zone: ZoneInfo, around: datetime) -> ZoneReport:
    """Give every TZID-qualified time in `cal` its zone, from this calendar's own definitions.

    `zone` is the user's zone (the last resort); `around` is when the times asked about are,
    to compare a Windows display name's stated offset with a candidate zone's.
    """
    from icalendar.prop import vBroken

    report = ZoneReport()
    own = OwnZones(cal, report)
    chosen: dict[str, ZoneChoice] = {}
    for component in cal.subcomponents:
        if component.name == "VTIMEZONE":
            continue
        for part in (component, *component.subcomponents):
            for name in _TIMED.intersection(part.keys()):
                value = part[name]
                for prop in value if isinstance(value, list) else (value,):
                    if isinstance(prop, vBroken):
                        continue  # reported by the caller, with its line
                    params = getattr(prop, "params", None)
                    tzid = params.get("TZID") if params else None
                    if not tzid or not isinstance(tzid, str):
                        continue
                    choice = chosen.get(tzid)
                    if choice is None:
                        choice = chosen[tzid] = resolve_tzid(tzid, own, zone, around)
                        if choice.note:
                            report.notes[tzid] = choice.note
                    for item in getattr(prop, "dts", (prop,)):
                        item.dt = _localized(item.dt, choice.tz)
                    if choice.note:
                        users = report.users.setdefault(tzid, [])
                        if not users or users[-1] is not component:
                            users.append(component)
    return report


def _localized(value: Any, tz: tzinfo) -> Any:
    if isinstance(value, tuple):  # a PERIOD: (start, end or duration)
        return tuple(_localized(v, tz) for v in value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=tz)
    return value  # a DATE is a day wherever it is read; a UTC ("Z") time is already exact


class OwnZones:
    """The zones a calendar's VTIMEZONEs define, under every TZID each carries, built when
    first asked for (a VTIMEZONE named like an IANA zone is never needed)."""

    def __init__(self, cal: Any, report: ZoneReport) -> None:
        self._report = report
        self._components: dict[str, Any] = {}
        self._built: dict[int, tzinfo | None] = {}
        for component in cal.subcomponents:
            if component.name != "VTIMEZONE":
                continue
            value = component.get("TZID")
            names = [str(v) for v in (value if isinstance(value, list) else [value]) if v]
            if not names:
                report.problems.append("a VTIMEZONE without a TZID is ignored")
                continue
            if len(names) > 1:  # a real school feed names one zone twice; the first name stays
                component["TZID"] = names[0]
            for name in names:
                self._components.setdefault(name, component)
                self._components.setdefault(name.strip("/"), component)

    def get(self, name: str) -> tzinfo | None:
        """The zone this calendar defines as `name`, or None."""
        from icalendar.timezone import tzp

        component = self._components.get(name)
        if component is None:
            return None
        key = id(component)
        if key not in self._built:
            try:
                self._built[key] = tzp.create_timezone(component)  # not stored by icalendar
            except Exception:  # dateutil and icalendar raise assorted errors on broken ones
                self._built[key] = None
                self._report.problems.append(
                    f"the VTIMEZONE {str(component.get('TZID'))!r} cannot be read; its times "
                    "are read as if it were missing"
                )
        return self._built[key]


def resolve_tzid(tzid: str, own: OwnZones, zone: ZoneInfo, around: datetime) -> ZoneChoice:
    """How a calendar's times in `tzid` are read (the order is in the module docstring)."""
    from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

    cleaned = tzid.strip().strip("/")
    for name in (tzid, cleaned):
        known = _iana_zone(name)
        if known is not None:
            return ZoneChoice(known)
    for name in (tzid, cleaned):
        defined = own.get(name)
        if defined is not None:
            return ZoneChoice(defined)
    if cleaned in WINDOWS_TO_OLSON:
        return ZoneChoice(ZoneInfo(WINDOWS_TO_OLSON[cleaned]))
    display = _DISPLAY.match(cleaned)
    if display:
        found = _from_display(display, around)
        if found is not None:
            return found
    if tzid.startswith("/"):
        parts = cleaned.split("/")
        for start in range(1, len(parts)):
            guess = "/".join(parts[start:])
            known = _iana_zone(guess)
            if known is not None:
                return ZoneChoice(
                    known,
                    f"time zone TZID={tzid!r} has no VTIMEZONE: its times are read as "
                    f"{guess}, the zone its name ends with",
                )
    return ZoneChoice(
        zone,
        f"unknown time zone TZID={tzid!r} (no VTIMEZONE for it): its times are read in "
        f"the user's time zone ({zone.key})",
    )


def _from_display(found: re.Match[str], around: datetime) -> ZoneChoice | None:
    """A Windows display name's zone: by its name ("Eastern Time" is "Eastern Standard Time")
    or its cities, either one with the stated standard offset; else that fixed offset."""
    from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

    offset = timedelta(0)
    if found["h"]:
        offset = timedelta(hours=int(found["h"]), minutes=int(found["m"] or 0))
        if found["sign"] != "+":
            offset = -offset
    rest = found["rest"].strip()
    if offset == timedelta(0) and rest.lower() in ("", "utc", "coordinated universal time"):
        return ZoneChoice(UTC)
    year = around.year
    name = re.sub(r"\s*\([^)]*\)", "", rest).strip()  # "Eastern Time (US & Canada)"
    names = [name, f"{name} Standard Time"]
    if name.endswith(" Time"):
        names.append(name.removesuffix(" Time") + " Standard Time")
    for windows in names:
        key = WINDOWS_TO_OLSON.get(windows)
        if key and _standard_offset(key, year) == offset:
            return ZoneChoice(ZoneInfo(key))
    places = rest.rsplit(":", 1)[-1]  # "Greenwich Mean Time : Dublin, Edinburgh, London"
    candidates = [
        key
        for city in re.split(r"[,;/]| - ", places)
        for key in _by_city().get(city.strip().replace(" ", "_").lower(), ())
        if _standard_offset(key, year) == offset
    ]
    if candidates:
        # The zone CLDR maps a Windows zone to, if one of the cities has it; else the first.
        preferred = set(WINDOWS_TO_OLSON.values())
        return ZoneChoice(ZoneInfo(min(candidates, key=lambda k: k not in preferred)))
    sign = "+" if offset >= timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    stated = f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return ZoneChoice(
        timezone(offset),
        f"unknown time zone TZID={found.string!r} (no VTIMEZONE for it): its times are read "
        f"at {stated} all year, the offset its name states, without daylight saving time",
    )


def _iana_zone(name: str) -> ZoneInfo | None:
    """The zone database's zone of that name, or None (without listing the whole database,
    which costs a cold process more than reading a small calendar)."""
    if not name or name in _NOT_ZONES:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, not a key, or a folder
        return None


@functools.cache
def _iana() -> frozenset[str]:
    # Cached for the process: the zone database does not change while it runs.
    import zoneinfo

    return frozenset(zoneinfo.available_timezones() - _NOT_ZONES)


@functools.cache
def _by_city() -> dict[str, tuple[str, ...]]:
    """IANA zones by their last part, lowercased ("sydney" -> Australia/Sydney)."""
    index: dict[str, list[str]] = {}
    for key in sorted(_iana()):
        if "/" in key and not key.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/")):
            index.setdefault(key.rsplit("/", 1)[1].lower(), []).append(key)
    return {city: tuple(keys) for city, keys in index.items()}


@functools.cache
def _standard_offset(key: str, year: int) -> timedelta:
    """A zone's offset without daylight saving time in `year` (the smaller of winter's and
    summer's, which also holds for zones whose tz data calls winter the saving time)."""
    tz = ZoneInfo(key)
    offsets: Sequence[timedelta | None] = [
        datetime(year, month, 15, 12, tzinfo=tz).utcoffset() for month in (1, 7)
    ]
    return min(o for o in offsets if o is not None)
