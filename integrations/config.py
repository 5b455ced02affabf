"""Configuration: `parse_config` turns TOML text into a frozen Config; `load_config` finds it.

Unknown keys, wrong types and bad values are errors that name the file and the key. Secrets are
never literals here: the config names the environment variable that holds each one.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from integrations.files import NotUtf8, utf8_text
from scheduler.model import (
    POLICY_LIMITS,
    SHORTEST_MEETING_MINUTES,
    SchedulingPolicy,
    Window,
    parse_time,
    parse_weekdays,
    window_too_short,
    with_window_lengths,
)
from scheduler.rules import DEFAULT_CADENCE_DAYS, LONGEST_CADENCE_DAYS, RULE_LIMITS
from scheduler.text import (
    CALDAV_SCHEMES,
    FEED_SCHEMES,
    calendar_url_problem,
    control_character,
    is_email_address,
    is_web_link,
)
from scheduler.zones import check_zone

# Upper bounds of numbers that have no natural one: each far beyond any real need, so that a
# typo (or a 64-bit maximum) is an error naming its key rather than an overflow later.
LONGEST_SYNC_INTERVAL_MINUTES = 7 * 24 * 60  # a week
LARGEST_ICS_BYTES = 1024 * 1024 * 1024  # 1 GiB
DEFAULT_ICS_BYTES = 20 * 1024 * 1024  # a feed's or file's size limit unless set
MOST_ICS_COMPONENTS = 10_000_000
LONGEST_MAIL_TIMEOUT_SECONDS = 600
MOST_TRUSTED_PROXIES = 20
LONGEST_INSTANCE_PATH = 1024  # characters; each folder name at most 255

GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
GOOGLE_REVOKE_URI = "https://oauth2.googleapis.com/revoke"
GOOGLE_API_ENDPOINT = "https://www.googleapis.com/calendar/v3/"


class ConfigError(Exception):
    """A configuration problem, worded for the person who wrote the file."""

    key = ""  # the key at fault, when the problem is one key's value
    problem = ""  # what is wrong with that value, without the file and section
    # (table, key) to find the line by: "scheduling", "windows.lunch", "calendars #2"
    where: tuple[str, str] | None = None


@dataclass(frozen=True)
class OwnerConfig:
    name: str = "Demo Owner"
    emails: tuple[str, ...] = ("owner@example.com",)
    timezone: str = "Europe/Berlin"
    city: str = ""  # home city as typed; integrations.geo resolves it
    video_room_url: str = ""  # a personal video room, used when no Meet link is made


@dataclass(frozen=True)
class CalendarConfig:
    name: str
    kind: str  # "ics" | "google" | "caldav"
    path: str = ""
    url: str = ""
    username: str = ""
    password_env: str = ""
    calendar_ids: tuple[str, ...] = ("primary",)
    max_bytes: int = DEFAULT_ICS_BYTES


@dataclass(frozen=True)
class MailConfig:
    backend: str = "file"  # "file" | "smtp"
    from_address: str = "meetagain@localhost"
    outbox_dir: str = "outbox"
    host: str = "localhost"
    port: int = 587
    security: str = "starttls"  # "starttls" | "ssl" | "none"
    username: str = ""
    password_env: str = "MEETAGAIN_SMTP_PASSWORD"
    timeout_seconds: int = 20


@dataclass(frozen=True)
class RulesConfig:
    cadence_days: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CADENCE_DAYS))
    follow_up_after_days: int = 2
    follow_up_window_days: int = 21
    decline_cooldown_days: int = 30
    ignored_invites_to_pause: int = 3


@dataclass(frozen=True)
class GoogleConfig:
    client_id: str = ""
    client_secret_env: str = "MEETAGAIN_GOOGLE_CLIENT_SECRET"
    auth_uri: str = GOOGLE_AUTH_URI
    token_uri: str = GOOGLE_TOKEN_URI
    revoke_uri: str = GOOGLE_REVOKE_URI
    api_endpoint: str = GOOGLE_API_ENDPOINT
    meet_link: bool = False  # add a Google Meet link to booked coffees
    timeout: float = 20.0  # seconds to wait for Google's answer to one call

    @property
    def client_secret(self) -> str:
        return os.environ.get(self.client_secret_env, "")

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)


@dataclass(frozen=True)
class SyncConfig:
    """How calendars are synced into the store, and the limits of one ICS parse."""

    interval_minutes: int = 10
    ics_max_bytes: int = DEFAULT_ICS_BYTES
    ics_max_components: int = 100_000
    ics_max_seconds: float = 60.0


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = ""  # empty: SQLite file in the instance folder


@dataclass(frozen=True)
class WebConfig:
    base_url: str = "http://127.0.0.1:5000"
    instance_path: str = "instance"
    # Where rate limits are counted: "memory://" (each process on its own) or a shared store
    # such as "redis://127.0.0.1:6379/0" (every process and node together).
    rate_limit_storage: str = "memory://"
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-* headers count


@dataclass(frozen=True)
class LimitsConfig:
    """Rate limits in Flask-Limiter's notation ("10 per 5 minutes")."""

    sign_in_per_account: str = "10 per 5 minutes"  # failed sign-ins into one account
    sign_in_per_address: str = "50 per 5 minutes"  # failed sign-ins from one client address
    invite_pages: str = "60 per minute"  # public invite requests from one client address
    imports: str = "30 per hour"  # contact imports by one user
    read_now: str = "60 per hour"  # "read now" of calendars by one user


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = False
    path: str = "/metrics"
    token_env: str = "MEETAGAIN_METRICS_TOKEN"

    @property
    def token(self) -> str:
        return os.environ.get(self.token_env, "")


@dataclass(frozen=True)
class EmailsConfig:
    """Reminders before a coffee and the weekly digest (users override these in Settings)."""

    reminder_days_before: int = 1  # 0 turns reminders off
    reminder_time: time = time(17, 0)  # the reader's local wall-clock time
    digest: bool = True  # the Monday 07:00 digest


@dataclass(frozen=True)
class LogConfig:
    format: str = "text"  # "text" | "json"
    level: str = "info"


@dataclass(frozen=True)
class SecurityConfig:
    # Feeds and CalDAV servers on loopback, private or link-local addresses are refused unless
    # allowed here (a user-given URL must not reach the server's own network).
    allow_private_networks: bool = False
    allowed_networks: tuple[str, ...] = ()  # CIDRs allowed even when the above is false


@dataclass(frozen=True)
class Config:
    """Everything meetagain reads from config.toml, with defaults for what is absent."""

    owner: OwnerConfig = field(default_factory=OwnerConfig)
    windows: tuple[Window, ...] = field(default_factory=lambda: DEFAULT_WINDOWS)
    scheduling: SchedulingPolicy = field(default_factory=SchedulingPolicy)
    calendars: tuple[CalendarConfig, ...] = ()
    mail: MailConfig = field(default_factory=MailConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    google: GoogleConfig = field(default_factory=GoogleConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    web: WebConfig = field(default_factory=WebConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    log: LogConfig = field(default_factory=LogConfig)
    emails: EmailsConfig = field(default_factory=EmailsConfig)
    source: str = "<defaults>"
    base_dir: str = "."

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.owner.timezone)

    @property
    def instance_dir(self) -> Path:
        path = Path(self.web.instance_path)
        return path if path.is_absolute() else Path(self.base_dir) / path

    @property
    def database_url(self) -> str:
        """The database to use: [database] url (load_config puts $MEETAGAIN_DATABASE_URL there),
        else a SQLite file in the instance folder."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.instance_dir / 'meetagain.db').resolve()}"

    def calendar(self, name: str) -> CalendarConfig | None:
        return next((c for c in self.calendars if c.name == name), None)


DEFAULT_WINDOWS: tuple[Window, ...] = (
    Window("breakfast", time(7, 30), time(9, 0), frozenset(range(5))),
    Window("lunch", time(12, 0), time(13, 30), frozenset(range(5))),
)


class _Reader:
    """Reads one TOML table, checking types and remembering which keys were used."""

    def __init__(self, source: str, section: str, table: Any) -> None:
        self.source = source
        self.section = section
        self.at = section  # the table as the file's headers name it (see _line_of)
        if not isinstance(table, dict):
            raise self.error(f"[{section}] must be a table")
        self.table: dict[str, Any] = table
        self.used: set[str] = set()

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {message}")

    def key_error(self, key: str, message: str) -> ConfigError:
        error = self.error(f"[{self.section}] {key} {message}")
        error.key, error.problem, error.where = key, message, (self.at, key)
        return error

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        self.used.add(key)
        if key not in self.table:
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if bool not in kinds and isinstance(value, bool):
            raise self.key_error(key, f"must be {_kind_name(kinds)}, got {_toml(value)}")
        if not isinstance(value, kinds):
            raise self.key_error(key, f"must be {_kind_name(kinds)}, got {_toml(value)}")
        return value

    def positive_int(
        self, key: str, default: int, minimum: int = 0, maximum: int | None = None
    ) -> int:
        value: int = self.get(key, int, default)
        if value < minimum:
            raise self.key_error(key, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.key_error(key, f"must be at most {maximum}, got {value}")
        return value

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.get(key, (list, str), list(default))
        items = [value] if isinstance(value, str) else value
        if not all(isinstance(v, str) for v in items):
            raise self.key_error(key, "must be a list of strings")
        return tuple(items)

    def finish(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            hint = _did_you_mean(unknown[0], self.used)
            error = self.error(f"[{self.section}] unknown key {unknown[0]!r}{hint}")
            error.where = (self.at, unknown[0])
            raise error


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        bool: "true or false",
        list: "a list",
        dict: "a table",
        float: "a number",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


_SECTIONS = {
    "owner",
    "windows",
    "scheduling",
    "calendars",
    "mail",
    "rules",
    "google",
    "database",
    "web",
    "security",
    "sync",
    "limits",
    "metrics",
    "log",
    "emails",
}


def parse_config(text: str, source: str = "config.toml", base_dir: str = ".") -> Config:
    """Parse TOML text into a Config; errors name `source`, the section and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    return _build_located(data, source, base_dir, text)


def _build_located(
    data: dict[str, Any],
    source: str,
    base_dir: str,
    text: str,
    given: Mapping[str, Any] | None = None,
) -> Config:
    """`_build`, with a value's error also naming its line in `text` (as TOML's own errors
    do: tomllib keeps no positions for values); not for a value `given` from elsewhere (the
    environment, the command line)."""
    try:
        return _build(data, source, base_dir)
    except ConfigError as exc:
        if exc.where is None:
            raise
        table, key = exc.where
        elsewhere = (given or {}).get(table)
        line = (
            None if isinstance(elsewhere, dict) and key in elsewhere else _line_of(text, table, key)
        )
        if line is None:
            raise
        located = ConfigError(f"{exc} (at line {line})")
        located.key, located.problem, located.where = exc.key, exc.problem, exc.where
        raise located from None


_HEADER = re.compile(r"\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?")


def _line_of(text: str, table: str, key: str) -> int | None:
    """The line of `key` in `table` ("owner", "windows.lunch", or "calendars #2" for the second
    [[calendars]]), or None when the file writes it in a way this does not follow (a dotted
    key, an inline table)."""
    current, arrays = "", 0
    assignment = re.compile(rf"\s*(?:{re.escape(key)}|\"{re.escape(key)}\")\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.fullmatch(line)
        if header is not None:
            name = "".join(header[2].replace('"', "").split())
            if header[1] == "[[" and name == "calendars":
                arrays += 1
                name = f"calendars #{arrays}"
            current = name
        elif current == table and assignment.match(line):
            return number
    return None


def _toml(value: Any) -> str:
    """A value as TOML writes it (true, not Python's True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _build(data: dict[str, Any], source: str, base_dir: str) -> Config:
    unknown = sorted(set(data) - _SECTIONS)
    if unknown:
        name = unknown[0]
        hint = _did_you_mean(name, _SECTIONS)
        if isinstance(data[name], dict | list):
            raise ConfigError(f"{source}: unknown section [{name}]{hint}")
        raise ConfigError(f"{source}: unknown key {name!r} outside any section{hint}")
    windows = _windows(source, data.get("windows"))
    scheduling = _scheduling(_Reader(source, "scheduling", data.get("scheduling", {})))
    _check_lengths(source, windows, scheduling)
    return Config(
        owner=_owner(_Reader(source, "owner", data.get("owner", {}))),
        windows=windows,
        scheduling=with_window_lengths(scheduling, windows),
        calendars=_calendars(source, data.get("calendars", [])),
        mail=_mail(_Reader(source, "mail", data.get("mail", {}))),
        rules=_rules(source, data.get("rules", {})),
        google=_google(_Reader(source, "google", data.get("google", {}))),
        database=_database(_Reader(source, "database", data.get("database", {}))),
        web=_web(_Reader(source, "web", data.get("web", {}))),
        security=_security(_Reader(source, "security", data.get("security", {}))),
        sync=_sync(_Reader(source, "sync", data.get("sync", {}))),
        limits=_limits(_Reader(source, "limits", data.get("limits", {}))),
        metrics=_metrics(_Reader(source, "metrics", data.get("metrics", {}))),
        log=_log(_Reader(source, "log", data.get("log", {}))),
        emails=_emails(_Reader(source, "emails", data.get("emails", {}))),
        source=source,
        base_dir=base_dir,
    )


def _owner(r: _Reader) -> OwnerConfig:
    default = OwnerConfig()
    name = r.get("name", str, default.name)
    if control_character(name):
        raise r.key_error("name", f"contains {control_character(name)}; use one line of text")
    emails = r.strings("emails", default.emails)
    if not emails:
        # The first email identifies the owner in the database; an empty list has no owner.
        raise r.key_error("emails", "needs at least one email address")
    for email in emails:
        if not is_email_address(email, dotless_host=True) or control_character(email):
            raise r.key_error("emails", f'"{email}" is not an email address')
    tz = r.get("timezone", str, default.timezone)
    try:
        check_zone(tz)
    except ValueError as exc:
        raise r.key_error("timezone", str(exc)) from None
    city, video = _owner_place(r, default)
    r.finish()
    return OwnerConfig(
        name=name, emails=tuple(emails), timezone=tz, city=city, video_room_url=video
    )


def _owner_place(r: _Reader, d: OwnerConfig) -> tuple[str, str]:
    """[owner] city and video_room_url (also the keys of the user's saved "owner" settings)."""
    city = " ".join(r.get("city", str, d.city).split())
    # Only C0 controls and DEL, as always: a city saved with another one (U+0080 to U+009F,
    # which Settings now refuses) must not make the user's saved settings unreadable.
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in city):
        raise r.key_error("city", "contains a control character; use one line of plain text")
    if len(city) > 200:
        raise r.key_error("city", f"must be a city name of at most 200 characters, got {len(city)}")
    video = r.get("video_room_url", str, d.video_room_url)
    if video and not is_web_link(video):
        raise r.key_error("video_room_url", f'"{video}" is not an http(s) URL')
    return city, video


def _windows(source: str, table: Any) -> tuple[Window, ...]:
    if table is None:
        return DEFAULT_WINDOWS
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{source}: [windows] must hold at least one [windows.NAME] table")
    windows = []
    for name, body in table.items():
        r = _Reader(source, f"windows.{name}", body)
        values: dict[str, Any] = {}
        for key in ("start", "end"):
            raw = r.get(key, str, None)
            if raw is None:
                raise r.key_error(key, "is missing")
            try:
                values[key] = parse_time(raw)
            except ValueError as exc:
                raise r.key_error(key, str(exc)) from None
        try:
            days = parse_weekdays(
                r.get("weekdays", (list, str), ["mon", "tue", "wed", "thu", "fri"])
            )
        except ValueError as exc:
            raise r.key_error("weekdays", str(exc)) from None
        # Left out (0): the [scheduling] length; given: the same range as that one.
        minutes = (
            r.positive_int(
                "duration_minutes", 0, SHORTEST_MEETING_MINUTES, POLICY_LIMITS["duration_minutes"]
            )
            if "duration_minutes" in r.table
            else 0
        )
        r.finish()
        if values["end"] <= values["start"]:
            raise r.key_error(
                "end", f'"{values["end"]:%H:%M}" is not after start "{values["start"]:%H:%M}"'
            )
        length = timedelta(minutes=minutes) if minutes else None
        windows.append(Window(name, values["start"], values["end"], days, length))
    return tuple(windows)


def _scheduling(r: _Reader, d: SchedulingPolicy | None = None) -> SchedulingPolicy:
    """Read [scheduling]; keys left out keep the values of `d` (the defaults unless given)."""
    from datetime import timedelta

    def number(key: str, default: int, minimum: int = 0) -> int:
        return r.positive_int(key, default, minimum, POLICY_LIMITS[key])

    d = d or SchedulingPolicy()
    minute, hour = timedelta(minutes=1), timedelta(hours=1)
    policy = SchedulingPolicy(
        duration=timedelta(
            minutes=number("duration_minutes", d.duration // minute, SHORTEST_MEETING_MINUTES)
        ),
        buffer=timedelta(minutes=number("buffer_minutes", d.buffer // minute)),
        notice=timedelta(hours=number("min_notice_hours", d.notice // hour)),
        horizon_days=number("horizon_days", d.horizon_days, 1),
        max_per_day=number("max_per_day", d.max_per_day),
        max_per_week=number("max_per_week", d.max_per_week),
        times_per_invite=number("times_per_invite", d.times_per_invite, 1),
        waking_start=_hhmm(r, "waking_start", d.waking_start),
        waking_end=_hhmm(r, "waking_end", d.waking_end),
    )
    if policy.waking_end <= policy.waking_start:
        raise r.key_error("waking_end", f"{policy.waking_end:%H:%M} is not after waking_start")
    r.finish()
    return policy


def _hhmm(r: _Reader, key: str, default: time) -> time:
    raw = r.get(key, str, None)
    if raw is None:
        return default
    try:
        return parse_time(raw)
    except ValueError as exc:
        raise r.key_error(key, str(exc)) from None


_CALENDAR_KINDS = ("ics", "google", "caldav")


def _calendars(source: str, entries: Any) -> tuple[CalendarConfig, ...]:
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: [[calendars]] must be an array of tables")
    result: list[CalendarConfig] = []
    for index, body in enumerate(entries, start=1):
        r = _Reader(source, f"calendars #{index}", body)
        name = r.get("name", str, "")
        if not name:
            raise r.key_error("name", "is missing")
        r.section = f"calendars {name!r}"
        kind = r.get("kind", str, "")
        if not kind:
            raise r.key_error("kind", f"is missing (use one of {', '.join(_CALENDAR_KINDS)})")
        if kind not in _CALENDAR_KINDS:
            raise r.key_error("kind", f'"{kind}" must be one of {", ".join(_CALENDAR_KINDS)}')
        cal = CalendarConfig(
            name=name,
            kind=kind,
            path=r.get("path", str, ""),
            url=r.get("url", str, ""),
            username=r.get("username", str, ""),
            password_env=r.get("password_env", str, ""),
            calendar_ids=r.strings("calendar_ids", ("primary",)),
            max_bytes=r.positive_int("max_bytes", DEFAULT_ICS_BYTES, 1, LARGEST_ICS_BYTES),
        )
        r.finish()
        if kind == "ics" and not (cal.path or cal.url):
            raise r.key_error("path", "or url is required for an ics calendar")
        if kind == "caldav" and not cal.url:
            raise r.key_error("url", "is required for a caldav calendar")
        if cal.url and kind in ("ics", "caldav"):
            schemes = CALDAV_SCHEMES if kind == "caldav" else FEED_SCHEMES
            problem = calendar_url_problem(cal.url, schemes)
            if problem:
                raise r.key_error("url", f"is not a calendar address: {problem}")
        if any(c.name == name for c in result):
            raise r.key_error("name", f'"{name}" is used by two calendars')
        result.append(cal)
    return tuple(result)


def _mail(r: _Reader) -> MailConfig:
    d = MailConfig()
    backend = r.get("backend", str, d.backend)
    if backend not in ("file", "smtp"):
        raise r.key_error("backend", f'"{backend}" must be "file" or "smtp"')
    security = r.get("security", str, d.security)
    if security not in ("starttls", "ssl", "none"):
        raise r.key_error("security", f'"{security}" must be starttls, ssl or none')
    port = r.positive_int("port", d.port, 1)
    if port > 65535:
        raise r.key_error("port", f"must be at most 65535, got {port}")
    sender = r.get("from_address", str, d.from_address).strip()
    if not is_email_address(sender, dotless_host=True):
        # A bare address (meetagain adds the display name); a host without a dot, as the
        # default meetagain@localhost, is fine for sending.
        raise r.key_error(
            "from_address", f'"{sender}" is not an email address (like you@example.com)'
        )
    if control_character(sender):
        raise r.key_error("from_address", "holds a control character")
    mail = MailConfig(
        backend=backend,
        from_address=sender,
        outbox_dir=r.get("outbox_dir", str, d.outbox_dir),
        host=r.get("host", str, d.host),
        port=port,
        security=security,
        username=r.get("username", str, d.username),
        password_env=r.get("password_env", str, d.password_env),
        timeout_seconds=r.positive_int(
            "timeout_seconds", d.timeout_seconds, 1, LONGEST_MAIL_TIMEOUT_SECONDS
        ),
    )
    r.finish()
    return mail


def _rules(source: str, table: Any, d: RulesConfig | None = None) -> RulesConfig:
    """Read [rules]; keys left out keep the values of `d` (the defaults unless given)."""
    r = _Reader(source, "rules", table)
    d = d or RulesConfig()
    cadence = dict(d.cadence_days)
    cad_table = r.get("cadence_days", dict, {})
    cr = _Reader(source, "rules.cadence_days", cad_table)
    for key in cad_table:
        if key not in DEFAULT_CADENCE_DAYS:
            known = ", ".join(DEFAULT_CADENCE_DAYS)
            raise cr.error(f"[rules.cadence_days] unknown relationship {key!r} (known: {known})")
        cadence[key] = cr.positive_int(key, cadence[key], 1, LONGEST_CADENCE_DAYS)
    cr.finish()
    rules = RulesConfig(
        cadence_days=cadence,
        follow_up_after_days=r.positive_int(
            "follow_up_after_days", d.follow_up_after_days, 0, RULE_LIMITS["follow_up_after_days"]
        ),
        follow_up_window_days=r.positive_int(
            "follow_up_window_days",
            d.follow_up_window_days,
            0,
            RULE_LIMITS["follow_up_window_days"],
        ),
        decline_cooldown_days=r.positive_int(
            "decline_cooldown_days",
            d.decline_cooldown_days,
            0,
            RULE_LIMITS["decline_cooldown_days"],
        ),
        ignored_invites_to_pause=r.positive_int(
            "ignored_invites_to_pause",
            d.ignored_invites_to_pause,
            1,
            RULE_LIMITS["ignored_invites_to_pause"],
        ),
    )
    r.finish()
    return rules


def _google(r: _Reader) -> GoogleConfig:
    d = GoogleConfig()
    google = GoogleConfig(
        client_id=r.get("client_id", str, d.client_id),
        client_secret_env=r.get("client_secret_env", str, d.client_secret_env),
        auth_uri=_url(r, "auth_uri", d.auth_uri),
        token_uri=_url(r, "token_uri", d.token_uri),
        revoke_uri=_url(r, "revoke_uri", d.revoke_uri),
        api_endpoint=_api_endpoint(r, d.api_endpoint),
        meet_link=r.get("meet_link", bool, d.meet_link),
        timeout=_seconds(r, "timeout", d.timeout),
    )
    r.finish()
    return google


def _seconds(r: _Reader, key: str, default: float) -> float:
    value = float(r.get(key, (int, float), default))
    if not 0 < value <= 600:
        raise r.key_error(key, f"must be a number of seconds between 0 and 600, got {value:g}")
    return value


def _api_endpoint(r: _Reader, default: str) -> str:
    # The client library replaces root URL and service path with this value, so without the
    # "/calendar/v3/" part every request would go to the wrong path.
    value = _url(r, "api_endpoint", default)
    if not value.endswith("/"):
        value += "/"
    if not value.endswith("/calendar/v3/"):
        raise r.key_error("api_endpoint", f'"{value}" must end in /calendar/v3/')
    return value


def _url(r: _Reader, key: str, default: str) -> str:
    value: str = r.get(key, str, default)
    if not is_web_link(value):
        raise r.key_error(key, f'"{value}" is not an http(s) URL')
    return value


def _database(r: _Reader) -> DatabaseConfig:
    db = DatabaseConfig(url=r.get("url", str, ""))
    r.finish()
    return db


def _web(r: _Reader) -> WebConfig:
    d = WebConfig()
    storage = r.get("rate_limit_storage", str, d.rate_limit_storage)
    if storage.partition("://")[0] not in _LIMIT_STORAGES or "://" not in storage:
        raise r.key_error(
            "rate_limit_storage",
            f'"{storage}" must be "memory://" or a redis://, rediss:// or redis+unix:// URL',
        )
    web = WebConfig(
        base_url=_url(r, "base_url", d.base_url).rstrip("/"),
        instance_path=_instance_path(r, d.instance_path),
        rate_limit_storage=storage,
        trusted_proxies=r.positive_int(
            "trusted_proxies", d.trusted_proxies, 0, MOST_TRUSTED_PROXIES
        ),
    )
    r.finish()
    return web


def _instance_path(r: _Reader, default: str) -> str:
    """[web] instance_path (or $MEETAGAIN_INSTANCE): a folder name the system can open."""
    path: str = r.get("instance_path", str, default)
    control = control_character(path)
    if control:
        raise r.key_error("instance_path", f"contains {control}; give a folder path")
    if not path.strip():
        raise r.key_error("instance_path", "is empty; give a folder path")
    if len(path) > LONGEST_INSTANCE_PATH:
        raise r.key_error(
            "instance_path",
            f"must be a path of at most {LONGEST_INSTANCE_PATH} characters, got {len(path)}",
        )
    longest = max(len(part.encode()) for part in Path(path).parts)
    if longest > 255:
        raise r.key_error(
            "instance_path", f"has a folder name of {longest} bytes; at most 255 are possible"
        )
    return path


def _security(r: _Reader) -> SecurityConfig:
    d = SecurityConfig()
    networks = r.strings("allowed_networks", d.allowed_networks)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise r.key_error(
                "allowed_networks", f'"{network}" is not an IP address or network (CIDR)'
            ) from None
    security = SecurityConfig(
        allow_private_networks=r.get("allow_private_networks", bool, d.allow_private_networks),
        allowed_networks=networks,
    )
    r.finish()
    return security


def _sync(r: _Reader) -> SyncConfig:
    d = SyncConfig()
    sync = SyncConfig(
        interval_minutes=r.positive_int(
            "interval_minutes", d.interval_minutes, 1, LONGEST_SYNC_INTERVAL_MINUTES
        ),
        ics_max_bytes=r.positive_int("ics_max_bytes", d.ics_max_bytes, 1024, LARGEST_ICS_BYTES),
        ics_max_components=r.positive_int(
            "ics_max_components", d.ics_max_components, 1, MOST_ICS_COMPONENTS
        ),
        ics_max_seconds=_seconds(r, "ics_max_seconds", d.ics_max_seconds),
    )
    r.finish()
    return sync


_LIMIT_STORAGES = ("memory", "redis", "rediss", "redis+unix")


def _limits(r: _Reader) -> LimitsConfig:
    d = LimitsConfig()
    values = {}
    for key in LimitsConfig.__dataclass_fields__:
        value: str = r.get(key, str, getattr(d, key))
        # The defaults are known good: checking them would load `limits` for every CLI command.
        values[key] = value if value == getattr(d, key) else _limit(r, key, value)
    r.finish()
    return LimitsConfig(**values)


def _limit(r: _Reader, key: str, value: str) -> str:
    from limits import parse_many

    try:
        parsed = parse_many(value)
    except ValueError:
        parsed = []
    if len(parsed) != 1:
        raise r.key_error(key, f'"{value}" is not a rate limit such as "10 per 5 minutes"')
    return value


def _metrics(r: _Reader) -> MetricsConfig:
    d = MetricsConfig()
    path = r.get("path", str, d.path)
    if not re.fullmatch(r"/[A-Za-z0-9/_.-]*", path) or path in ("/healthz", "/readyz"):
        raise r.key_error("path", f'"{path}" must be a path such as "/metrics"')
    metrics = MetricsConfig(
        enabled=r.get("enabled", bool, d.enabled),
        path=path,
        token_env=r.get("token_env", str, d.token_env),
    )
    r.finish()
    return metrics


def _emails(r: _Reader, base: EmailsConfig | None = None) -> EmailsConfig:
    d = base or EmailsConfig()
    days = r.positive_int("reminder_days_before", d.reminder_days_before, 0)
    if days > 14:
        raise r.key_error("reminder_days_before", f"must be at most 14, got {days}")
    emails = EmailsConfig(
        reminder_days_before=days,
        reminder_time=_hhmm(r, "reminder_time", d.reminder_time),
        digest=r.get("digest", bool, d.digest),
    )
    r.finish()
    return emails


def _log(r: _Reader) -> LogConfig:
    d = LogConfig()
    fmt = r.get("format", str, d.format)
    if fmt not in ("text", "json"):
        raise r.key_error("format", f'"{fmt}" must be "text" or "json"')
    level = r.get("level", str, d.level).lower()
    if level not in ("debug", "info", "warning", "error"):
        raise r.key_error("level", f'"{level}" must be debug, info, warning or error')
    log = LogConfig(format=fmt, level=level)
    r.finish()
    return log


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(
    path: str | os.PathLike[str] | None = None, override: Mapping[str, Any] | None = None
) -> Config:
    """Read the config file (path, $MEETAGAIN_CONFIG, or ./config.toml if present).

    Without a file the defaults apply. Precedence, lowest first: defaults, the file, the
    environment ($MEETAGAIN_DATABASE_URL, $MEETAGAIN_INSTANCE), then `override` (what the
    command line asked for, e.g. `--db`), merged over the file's tables.
    """
    chosen = path or os.environ.get("MEETAGAIN_CONFIG") or None
    if chosen is None and Path("config.toml").is_file():
        chosen = "config.toml"
    data: dict[str, Any] = {}
    source = "<defaults>"
    base_dir = "."
    text = ""
    if chosen is not None:
        file = Path(chosen)
        source = str(file)
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"{source}: config file not found") from None
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read config file: {exc}") from None
        try:
            text = utf8_text(raw)
        except NotUtf8 as exc:
            raise ConfigError(f"{source}: {exc}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from None
        base_dir = str(file.resolve().parent)
    from_env: dict[str, dict[str, str]] = {}
    if os.environ.get("MEETAGAIN_DATABASE_URL"):
        from_env["database"] = {"url": os.environ["MEETAGAIN_DATABASE_URL"]}
    if os.environ.get("MEETAGAIN_INSTANCE"):
        # Relative to where the command runs, not to the config file.
        instance = Path(os.environ["MEETAGAIN_INSTANCE"]).absolute()
        from_env["web"] = {"instance_path": str(instance)}
    data = _merge(data, from_env)
    if override:
        data = _merge(data, override)
    given = _merge(from_env, dict(override or {}))
    return _build_located(data, source, base_dir, text, given)


def with_user_settings(config: Config, settings: Mapping[str, Any], timezone: str = "") -> Config:
    """The config as one user sees it: their saved [windows], [scheduling], [rules] and zone.

    `settings` has the TOML shape (e.g. {"windows": {"lunch": {"start": "12:00", ...}}}) and is
    validated exactly like the file, so a bad saved value is reported, never half-applied.
    """
    source = f"{config.source} (user settings)"
    unknown = sorted(set(settings) - {"windows", "scheduling", "rules", "owner", "emails"})
    if unknown:
        raise ConfigError(f"{source}: unknown user setting {unknown[0]!r}")
    changes: dict[str, Any] = {}
    if "windows" in settings:
        changes["windows"] = _windows(source, settings["windows"])
    if "scheduling" in settings:
        # Saved settings overlay the file's values: a key the user never set keeps the file's.
        changes["scheduling"] = _scheduling(
            _Reader(source, "scheduling", settings["scheduling"]), config.scheduling
        )
    if "rules" in settings:
        changes["rules"] = _rules(source, settings["rules"], config.rules)
    if "emails" in settings:
        changes["emails"] = _emails(_Reader(source, "emails", settings["emails"]), config.emails)
    owner = config.owner
    if "owner" in settings:
        r = _Reader(source, "owner", settings["owner"])
        city, video = _owner_place(r, owner)
        r.finish()
        owner = replace(owner, city=city, video_room_url=video)
    if timezone:
        try:
            check_zone(timezone)
        except ValueError as exc:
            raise ConfigError(f"{source}: timezone {exc}") from None
        owner = replace(owner, timezone=timezone)
    if owner is not config.owner:
        changes["owner"] = owner
    if "windows" in changes or "scheduling" in changes:
        changes["scheduling"] = with_window_lengths(
            changes.get("scheduling", config.scheduling), changes.get("windows", config.windows)
        )
    return replace(config, **changes)


def check_meeting_lengths(config: Config) -> None:
    """ConfigError when a meal window cannot hold its meeting (it would never offer a time):
    checked where windows and lengths are set (the file, the settings forms), not where saved
    settings are read, so one saved before this rule keeps the rest of the user's settings."""
    _check_lengths(f"{config.source} (user settings)", config.windows, config.scheduling)


def _check_lengths(source: str, windows: Sequence[Window], policy: SchedulingPolicy) -> None:
    """Every meal window holds its meeting: one that cannot would never offer a time."""
    short = window_too_short(policy, windows)
    if short is None:
        return
    span = datetime.combine(date.min, short.end) - datetime.combine(date.min, short.start)
    minutes = int(span.total_seconds() // 60)
    if short.duration is not None:
        section, wanted = f"windows.{short.name}", short.duration
    else:
        section, wanted = "scheduling", policy.duration
    problem = (
        f"{int(wanted.total_seconds() // 60)} minutes is longer than {short.name} "
        f"{short.start:%H:%M}-{short.end:%H:%M} ({minutes} minutes): no {short.name} could "
        f"ever be offered; shorten the meeting or widen the window"
    )
    error = ConfigError(f"{source}: [{section}] duration_minutes {problem}")
    error.key, error.problem = "duration_minutes", problem
    raise error
