"""What one imported row says about a contact, and the value parsers all formats share."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from scheduler.model import WEEKDAYS, Meal, Relationship
from scheduler.rules import LONGEST_CADENCE_DAYS, MOST_MEETINGS_PER_IMPORTED_CONTACT
from scheduler.text import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    address_list,
    ascii_digits,
    email_address,
    from_spreadsheet_safe,
    in_supported_range,
    whole_number,
)

NATIVE_COLUMNS: tuple[str, ...] = (
    "name",
    "email",
    "company",
    "title",
    "relationship",
    "tags",
    "how_met",
    "first_met",
    "last_met",
    "times_met",
    "cadence_days",
    "preferred_meals",
    "preferred_days",
    "timezone",
    "city",
    "notes",
    "questions",
    "do_not_invite",
    "snooze_until",
)
# Written after the documented columns so contacts found through LinkedIn round-trip too.
EXTRA_COLUMNS: tuple[str, ...] = ("linkedin_url",)

_TRUE = {"yes", "true", "1", "y"}
_FALSE = {"no", "false", "0", "n"}
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


class RowError(ValueError):
    """One row cannot be imported; the message names the field and the value."""


@dataclass
class ContactRecord:
    """One contact as a file describes it. `given` names the fields the file set explicitly;
    `soft` fields only fill gaps on an existing contact (LinkedIn's how-met, for example)."""

    line: int
    name: str = ""
    emails: list[str] = field(default_factory=list)
    values: dict[str, object] = field(default_factory=dict)
    soft: set[str] = field(default_factory=set)
    linkedin_url: str = ""
    # A field that could not be read is left empty and said so; the row is still imported.
    warnings: list[str] = field(default_factory=list)
    # The same about another line of the file than `line` (a vCard's property line).
    line_notes: list[tuple[int, str]] = field(default_factory=list)
    # The file line each value was read from, when not `line` (a vCard's properties).
    value_lines: dict[str, int] = field(default_factory=dict)
    last_met: date | None = None
    times_met: int | None = None


def parse_email(value: str, column: str = "email") -> str:
    address = email_address(value)
    if address is None:
        raise RowError(f"{column} {value.strip()!r} is not an email address")
    return address


def parse_emails(value: str, column: str = "email") -> list[str]:
    return [parse_email(v, column) for v in address_list(value)]


def split_multi(value: str) -> list[str]:
    return [v.strip() for v in value.split(";") if v.strip()]


def parse_date(value: str, column: str) -> date:
    value = value.strip()
    parsed: date | None = None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        # LinkedIn's "3 Feb 2024": day and year in ASCII digits, as every number imported.
        parts = value.replace(",", " ").split()
        if len(parts) == 3 and parts[1][:3].lower() in _MONTHS:
            day = whole_number(parts[0], most_digits=2)
            year = whole_number(parts[2], most_digits=4)
            if day is not None and year is not None:
                with contextlib.suppress(ValueError):
                    parsed = date(year, _MONTHS[parts[1][:3].lower()], day)
    if parsed is None:
        raise RowError(f"{column} {shown(value)!r} is not a date (use YYYY-MM-DD)")
    if not in_supported_range(parsed):
        raise RowError(
            f"{column} {value!r} is out of range (years {EARLIEST_YEAR} to {LATEST_YEAR})"
        )
    return parsed


def parse_met_date(value: str, column: str) -> date:
    """A date a meeting happened on: `parse_date`, and not in the future (a later date would
    hide the contact from "who is due" for years; the form refuses it the same way). A day
    of slack for every zone's today."""
    parsed = parse_date(value, column)
    if parsed > datetime.now(UTC).date() + timedelta(days=1):
        raise RowError(f"{column} {parsed.isoformat()} is in the future")
    return parsed


def shown(value: str, most: int = 60) -> str:
    """`value` as a message quotes it: cut to `most` characters with "..." when longer."""
    return value if len(value) <= most else value[: most - 3] + "..."


def parse_bool(value: str, column: str) -> bool:
    key = value.strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise RowError(f"{column} {value!r} is not yes/no/true/false/1/0")


def parse_int(value: str, column: str, minimum: int, maximum: int) -> int:
    """A whole number in ASCII digits (`scheduler.text.whole_number`, as the forms read one)
    from `minimum` to `maximum`, else RowError naming the column and the bound."""
    text = value.strip()
    number = whole_number(text, most_digits=len(str(maximum)))
    if number is None and ascii_digits(text):  # more digits than the largest allowed has
        raise RowError(f"{column} {shown(text)!r} must be at most {maximum}")
    if number is None:
        raise RowError(f"{column} {shown(text)!r} is not a whole number")
    if number < minimum:
        raise RowError(f"{column} {text!r} must be at least {minimum}")
    if number > maximum:
        raise RowError(f"{column} {text!r} must be at most {maximum}")
    return number


def parse_relationship(value: str) -> Relationship:
    key = value.strip().lower().replace("_", "-").replace(" ", "-")
    try:
        return Relationship(key)
    except ValueError:
        names = ", ".join(r.value for r in Relationship)
        raise RowError(f"relationship {value!r} is not one of {names}") from None


def parse_meals(value: str) -> list[str]:
    meals = []
    for item in split_multi(value):
        try:
            meals.append(Meal(item.lower()).value)
        except ValueError:
            raise RowError(f"preferred_meals {item!r} is not breakfast, lunch or coffee") from None
    return sorted(set(meals))


def parse_days(value: str) -> list[int]:
    days = set()
    for item in split_multi(value):
        key = item.lower()[:3]
        if key not in WEEKDAYS:
            raise RowError(f"preferred_days {item!r} is not a weekday (mon, tue, ...)")
        days.add(WEEKDAYS.index(key))
    return sorted(days)


def parse_zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    value = value.strip()
    try:
        ZoneInfo(value)
    # OSError: a key naming a tzdata folder, or one too long for a file name.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise RowError(
            f"timezone {shown(value)!r} is not a known time zone (like Europe/Berlin)"
        ) from None
    return value


def normalise_linkedin(url: str) -> str:
    """A LinkedIn profile URL in one canonical form, so re-exports with variations match."""
    url = url.strip()
    if not url:
        return ""
    lowered = url.lower().split("?")[0].rstrip("/")
    for prefix in ("https://", "http://"):
        if lowered.startswith(prefix):
            lowered = lowered[len(prefix) :]
    if lowered.startswith("www."):
        lowered = lowered[4:]
    host = lowered.split("/", 1)[0]
    if not _HOST.fullmatch(host):
        # "javascript:alert(1)" or "mailto:x" would otherwise become "https://www.javascript:…".
        raise RowError(f"linkedin_url {shown(url)!r} is not a web address")
    return "https://www." + lowered


_HOST = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+(:\d{1,5})?")


def native_record(row: dict[str, str], line: int) -> ContactRecord:
    """A record from a row keyed by native column names (native and mapped CSV).

    Only a row with neither a name nor an email is refused (RowError); a field whose value
    cannot be read is left empty with a warning naming it.
    """
    # from_spreadsheet_safe: an export's formula guard (a leading ') comes off again.
    get = lambda key: from_spreadsheet_safe((row.get(key) or "").strip())  # noqa: E731
    name = get("name")
    if not name:
        first, last = get("first_name"), get("last_name")
        name = " ".join(p for p in (first, last) if p)
    warnings: list[str] = []

    def read(key: str, parse: Callable[[str], object]) -> object:
        if not get(key):
            return None
        try:
            return parse(get(key))
        except RowError as exc:
            warnings.append(f"{exc}; {key} left empty")
            return None

    try:
        emails = parse_emails(get("email")) if get("email") else []
    except RowError as exc:
        if not name:
            raise  # nothing else to know the contact by
        warnings.append(f"{exc}; email left empty")
        emails = []
    if not name:
        if not emails:
            raise RowError("has no name and no email")
        name = emails[0].split("@")[0]
    rec = ContactRecord(line=line, name=name, emails=emails, warnings=warnings)
    v = rec.values
    for key in ("company", "title", "how_met", "city", "notes"):
        if get(key):
            v[key] = get(key)
    parsers: dict[str, tuple[str, Callable[[str], object]]] = {
        "relationship": ("relationship", lambda t: parse_relationship(t).value),
        "tags": ("tags", split_multi),
        "questions": ("questions", split_multi),
        "first_met": ("first_met", lambda t: parse_met_date(t, "first_met")),
        "cadence_days": (
            "cadence_days",
            lambda t: parse_int(t, "cadence_days", 1, LONGEST_CADENCE_DAYS),
        ),
        "preferred_meals": ("preferred_meals", parse_meals),
        "preferred_days": ("preferred_days", parse_days),
        "timezone": ("timezone", parse_zone),
        "do_not_invite": ("do_not_invite", lambda t: parse_bool(t, "do_not_invite")),
        "snooze_until": ("snoozed_until", lambda t: parse_date(t, "snooze_until")),
    }
    for column, (key, parse) in parsers.items():
        value = read(column, parse)
        if value is not None:
            v[key] = value
    url = read("linkedin_url", normalise_linkedin)
    if isinstance(url, str):
        rec.linkedin_url = url
    last_met = read("last_met", lambda t: parse_met_date(t, "last_met"))
    rec.last_met = last_met if isinstance(last_met, date) else None
    times = read(
        "times_met", lambda t: parse_int(t, "times_met", 0, MOST_MEETINGS_PER_IMPORTED_CONTACT)
    )
    rec.times_met = times if isinstance(times, int) else None
    if rec.times_met and rec.last_met is None:
        warnings.append(f"times_met {rec.times_met} needs a last_met date; times_met left empty")
        rec.times_met = None
    if rec.times_met == 0 and rec.last_met is not None:
        warnings.append("times_met 0 contradicts last_met; times_met left empty")
        rec.times_met = None
    first_met = v.get("first_met")
    if isinstance(first_met, date) and rec.last_met is not None and first_met > rec.last_met:
        warnings.append(
            f"first_met {first_met} is after last_met {rec.last_met}; first_met left empty"
        )
        del v["first_met"]
    return rec
