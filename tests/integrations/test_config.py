"""Config parsing: defaults, the documented example, and every error a user can make."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from datetime import time, timedelta
from pathlib import Path

import pytest

from integrations.config import (
    DEFAULT_CADENCE_DAYS,
    CalendarConfig,
    Config,
    ConfigError,
    DatabaseConfig,
    GoogleConfig,
    MailConfig,
    OwnerConfig,
    RulesConfig,
    WebConfig,
    load_config,
    parse_config,
    with_user_settings,
)
from scheduler.model import SchedulingPolicy, Window

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"

# SchedulingPolicy holds timedeltas; the TOML keys say their unit.
SCHEDULING_KEYS = {
    "duration": "duration_minutes",
    "buffer": "buffer_minutes",
    "notice": "min_notice_hours",
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Config reads the environment and ./config.toml: neither may leak in from the machine.
    for name in ("MEETAGAIN_CONFIG", "MEETAGAIN_DATABASE_URL", "MEETAGAIN_INSTANCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def error_of(text: str) -> str:
    """The error's message without its "(at line N)", once that line is checked to be the
    one that sets the key named."""
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return _checked_line(str(info.value), text, info.value)


def _checked_line(message: str, text: str, error: ConfigError) -> str:
    found = re.search(r" \(at line (\d+)\)$", message)
    if found is None:
        return message
    assert error.where is not None
    line = text.splitlines()[int(found[1]) - 1]
    assert re.match(rf'\s*"?{re.escape(error.where[1])}"?\s*=', line), (message, line)
    return message[: found.start()]


def uncommented(text: str) -> str:
    """The example with every commented-out key and table switched on."""
    switch = re.compile(r"^# (\[\[?[\w.-]+\]\]?|[\w-]+ = .*|# .*)$")
    return "\n".join(
        match.group(1) if (match := switch.match(line)) else line for line in text.splitlines()
    )


# --- defaults and the example file -------------------------------------------------------------


def test_an_empty_file_gives_the_documented_defaults() -> None:
    config = parse_config("")
    assert config.owner.timezone == "Europe/Berlin"
    assert config.windows == (
        Window("breakfast", time(7, 30), time(9, 0), frozenset(range(5))),
        Window("lunch", time(12, 0), time(13, 30), frozenset(range(5))),
    )
    assert config.scheduling == SchedulingPolicy(
        duration=timedelta(minutes=45),
        buffer=timedelta(minutes=10),
        notice=timedelta(hours=24),
        horizon_days=14,
        max_per_day=1,
        max_per_week=3,
    )
    assert config.calendars == ()
    assert config.mail.backend == "file"
    assert config.mail.security == "starttls"
    assert config.rules.cadence_days == DEFAULT_CADENCE_DAYS
    assert config.google.token_uri == "https://oauth2.googleapis.com/token"
    assert config.google.api_endpoint.endswith("/calendar/v3/")
    assert config.database.url == ""


def test_the_example_config_parses_to_exactly_the_defaults() -> None:
    parsed = parse_config(EXAMPLE.read_text(encoding="utf-8"), source=str(EXAMPLE))
    assert dataclasses.replace(parsed, source="<defaults>") == Config()


def test_the_commented_examples_in_the_example_config_are_valid_when_switched_on() -> None:
    config = parse_config(uncommented(EXAMPLE.read_text(encoding="utf-8")))
    assert [c.kind for c in config.calendars] == ["ics", "ics", "google", "caldav"]
    assert config.calendar("nextcloud") == CalendarConfig(
        name="nextcloud",
        kind="caldav",
        url="https://cloud.example.org/remote.php/dav/calendars/me/personal/",
        username="me",
        password_env="MEETAGAIN_CALDAV_PASSWORD",
    )
    assert config.database.url.startswith("postgresql://")


def test_every_toml_snippet_in_the_readme_is_valid_config() -> None:
    readme = (EXAMPLE.parent / "README.md").read_text(encoding="utf-8")
    snippets = re.findall(r"```toml\n(.*?)```", readme, re.DOTALL)
    assert len(snippets) >= 4
    for snippet in snippets:
        parse_config(snippet, source="README.md")


def _documented_keys() -> dict[str, set[str]]:
    """Section name -> keys that appear in the example (switched on), arrays merged."""
    data = tomllib.loads(uncommented(EXAMPLE.read_text(encoding="utf-8")))
    keys: dict[str, set[str]] = {}
    for section, body in data.items():
        if section == "windows":
            for window in body.values():
                keys.setdefault("windows", set()).update(window)
        elif section == "calendars":
            for entry in body:
                keys.setdefault("calendars", set()).update(entry)
        else:
            keys[section] = set(body)
    keys["rules.cadence_days"] = set(data["rules"]["cadence_days"])
    return keys


@pytest.mark.parametrize(
    ("section", "cls"),
    [
        ("owner", OwnerConfig),
        ("calendars", CalendarConfig),
        ("mail", MailConfig),
        ("rules", RulesConfig),
        ("google", GoogleConfig),
        ("database", DatabaseConfig),
        ("web", WebConfig),
    ],
)
def test_every_setting_is_documented_in_the_example_config(section: str, cls: type) -> None:
    fields = {f.name for f in dataclasses.fields(cls)}
    assert fields == _documented_keys()[section]


def test_every_scheduling_and_window_setting_is_documented_in_the_example_config() -> None:
    keys = _documented_keys()
    fields = {SCHEDULING_KEYS.get(f.name, f.name) for f in dataclasses.fields(SchedulingPolicy)}
    # `lengths` is no key of its own: it collects the windows' duration_minutes.
    assert fields - {"lengths"} == keys["scheduling"]
    window_keys = {SCHEDULING_KEYS.get(f.name, f.name) for f in dataclasses.fields(Window)}
    assert window_keys - {"name"} == keys["windows"]
    assert set(DEFAULT_CADENCE_DAYS) == keys["rules.cadence_days"]


def test_every_key_in_the_example_has_a_comment_above_it_or_its_table() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if not re.match(r"^[\w-]+ = ", line):
            continue
        above = number - 1
        # Keys grouped under one comment share it; walk up to the comment or table header.
        while above >= 0 and re.match(r"^[\w-]+ = ", lines[above]):
            above -= 1
        assert lines[above].startswith(("#", "[")), f"line {number + 1} {line!r} has no comment"


# --- reading the file and the environment ------------------------------------------------------


def test_without_a_config_file_load_config_uses_the_defaults() -> None:
    config = load_config()
    assert config.source == "<defaults>"
    assert dataclasses.replace(config, base_dir=".") == Config()


def test_load_config_reads_config_toml_in_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[owner]\nname = "Ada"\n')
    assert load_config().owner.name == "Ada"


def test_load_config_reads_the_file_named_by_meetagain_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text('[owner]\nname = "Grace"\n')
    monkeypatch.setenv("MEETAGAIN_CONFIG", str(path))
    assert load_config().owner.name == "Grace"


def test_a_missing_config_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_config(tmp_path / "nope.toml")


def test_the_instance_folder_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "config.toml"
    path.write_text('[web]\ninstance_path = "data"\n')
    config = load_config(path)
    assert config.instance_dir == tmp_path / "conf" / "data"
    assert config.database_url == f"sqlite:///{tmp_path / 'conf' / 'data' / 'meetagain.db'}"


def test_meetagain_database_url_wins_over_the_database_url_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[database]\nurl = "sqlite:////from/file.db"\n')
    assert load_config(path).database_url == "sqlite:////from/file.db"
    monkeypatch.setenv("MEETAGAIN_DATABASE_URL", "postgresql://db.example/env")
    assert load_config(path).database_url == "postgresql://db.example/env"


def test_an_explicit_database_override_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `meetagain --db URL` passes the URL as an override: what is typed beats what is exported.
    monkeypatch.setenv("MEETAGAIN_DATABASE_URL", "postgresql://db.example/env")
    config = load_config(None, {"database": {"url": "sqlite:////typed.db"}})
    assert config.database_url == "sqlite:////typed.db"


def test_meetagain_instance_moves_the_instance_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEETAGAIN_INSTANCE", "state")
    assert load_config().instance_dir == tmp_path / "state"


def test_parse_config_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEETAGAIN_DATABASE_URL", "postgresql://db.example/env")
    assert parse_config("").database.url == ""


def test_the_google_client_secret_comes_only_from_the_named_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = parse_config('[google]\nclient_id = "id.apps"\nclient_secret_env = "MY_SECRET"\n')
    monkeypatch.delenv("MY_SECRET", raising=False)
    assert config.google.client_secret == ""
    assert not config.google.configured
    monkeypatch.setenv("MY_SECRET", "s3cret")
    assert config.google.configured


def test_the_config_is_frozen() -> None:
    config = parse_config("")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.owner = OwnerConfig(name="x")  # type: ignore[misc]


# --- values that parse -------------------------------------------------------------------------


def test_windows_replace_the_defaults_and_accept_weekdays_as_one_string() -> None:
    config = parse_config(
        '[windows.coffee]\nstart = "15:00"\nend = "16:00"\nweekdays = "sat, sun"\n'
    )
    assert config.windows == (Window("coffee", time(15), time(16), frozenset({5, 6})),)


def test_a_single_owner_email_may_be_a_string() -> None:
    assert parse_config('[owner]\nemails = "me@example.com"\n').owner.emails == ("me@example.com",)


def test_cadence_days_override_only_the_relationships_named() -> None:
    rules = parse_config("[rules.cadence_days]\nmentor = 30\n").rules
    assert rules.cadence_days == {**DEFAULT_CADENCE_DAYS, "mentor": 30}


def test_calendars_of_every_kind_parse() -> None:
    config = parse_config(
        """
        [[calendars]]
        name = "work"
        kind = "ics"
        path = "work.ics"

        [[calendars]]
        name = "g"
        kind = "google"
        calendar_ids = ["primary", "team@group.calendar.google.com"]

        [[calendars]]
        name = "dav"
        kind = "caldav"
        url = "http://127.0.0.1:5232/me/cal/"
        username = "me"
        password_env = "DAV_PASSWORD"
        """
    )
    assert config.calendar("work") == CalendarConfig(name="work", kind="ics", path="work.ics")
    assert config.calendar("g") is not None
    assert config.calendar("g").calendar_ids == (  # type: ignore[union-attr]
        "primary",
        "team@group.calendar.google.com",
    )
    assert config.calendar("missing") is None


# --- every error, worded for the person who wrote the file -------------------------------------


def test_a_time_that_is_not_hh_mm_is_named_exactly() -> None:
    assert (
        error_of('[windows.lunch]\nstart = "25:00"\nend = "13:30"\n')
        == 'config.toml: [windows.lunch] start "25:00" is not a time HH:MM'
    )


def test_an_unknown_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[owner]\nnmae = "Ada"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: [owner] unknown key 'nmae' (did you mean 'name'?) (at line 2)"
    )


def test_an_unknown_section_is_an_error() -> None:
    assert error_of("[sheduling]\n") == (
        "config.toml: unknown section [sheduling] (did you mean 'scheduling'?)"
    )


def test_a_key_outside_any_section_is_an_error() -> None:
    assert error_of('timezone = "UTC"\n') == (
        "config.toml: unknown key 'timezone' outside any section"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[scheduling]\nduration_minutes = "45"\n',
            "[scheduling] duration_minutes must be an integer, got '45'",
        ),
        (
            "[scheduling]\nmax_per_day = true\n",
            "[scheduling] max_per_day must be an integer, got true",
        ),
        ("[owner]\nname = 3\n", "[owner] name must be a string, got 3"),
        ("[owner]\nemails = [1]\n", "[owner] emails must be a list of strings"),
        ("owner = 3\n", "[owner] must be a table"),
        ("[rules]\ncadence_days = 3\n", "[rules] cadence_days must be a table, got 3"),
        (
            '[windows.lunch]\nstart = 1200\nend = "13:00"\n',
            "[windows.lunch] start must be a string, got 1200",
        ),
        (
            '[[calendars]]\nname = "a"\nkind = "google"\nmax_bytes = 1.5\n',
            "[calendars 'a'] max_bytes must be an integer, got 1.5",
        ),
        ('[calendars]\nname = "a"\n', "[[calendars]] must be an array of tables"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_key_and_what_it_must_be(
    text: str, message: str
) -> None:
    assert error_of(text) == f"config.toml: {message}"


def test_a_bad_time_zone_is_named() -> None:
    assert error_of('[owner]\ntimezone = "Mars/Olympus"\n') == (
        'config.toml: [owner] timezone "Mars/Olympus" is not a known time zone '
        "(use an IANA name like Europe/Berlin)"
    )


@pytest.mark.parametrize("zone", ["../etc/passwd", "", "Europe", "Europe/" + "x" * 300])
def test_a_path_or_empty_time_zone_is_refused(zone: str) -> None:
    assert "is not a known time zone" in error_of(f'[owner]\ntimezone = "{zone}"\n')


def test_an_owner_without_any_email_is_refused() -> None:
    assert error_of("[owner]\nemails = []\n") == (
        "config.toml: [owner] emails needs at least one email address"
    )


def test_an_owner_email_without_an_at_sign_is_refused() -> None:
    assert error_of('[owner]\nemails = ["me"]\n') == (
        'config.toml: [owner] emails "me" is not an email address'
    )


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    assert error_of('[windows.lunch]\nstart = "13:00"\nend = "12:00"\n') == (
        'config.toml: [windows.lunch] end "12:00" is not after start "13:00"'
    )


def test_a_window_without_a_start_is_refused() -> None:
    assert error_of('[windows.lunch]\nend = "12:00"\n') == (
        "config.toml: [windows.lunch] start is missing"
    )


def test_an_empty_windows_table_is_refused() -> None:
    assert "at least one [windows.NAME]" in error_of("[windows]\n")


def test_a_bad_weekday_is_named() -> None:
    assert error_of(
        '[windows.lunch]\nstart = "12:00"\nend = "13:00"\nweekdays = ["mon", "fun"]\n'
    ) == (
        'config.toml: [windows.lunch] weekdays "fun" is not a weekday '
        "(use mon, tue, wed, thu, fri, sat, sun)"
    )


def test_weekdays_may_be_spelt_out_but_not_merely_start_like_one() -> None:
    config = parse_config(
        '[windows.lunch]\nstart = "12:00"\nend = "13:00"\nweekdays = ["Tuesday", "thurs"]\n'
    )
    assert config.windows[0].weekdays == frozenset({1, 3})
    assert 'weekdays "monkey" is not a weekday' in error_of(
        '[windows.lunch]\nstart = "12:00"\nend = "13:00"\nweekdays = ["monkey"]\n'
    )


def test_an_empty_weekday_list_is_refused() -> None:
    assert error_of('[windows.lunch]\nstart = "12:00"\nend = "13:00"\nweekdays = []\n') == (
        "config.toml: [windows.lunch] weekdays needs at least one weekday"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('backend = "sendmail"', '[mail] backend "sendmail" must be "file" or "smtp"'),
        ('security = "tls"', '[mail] security "tls" must be starttls, ssl or none'),
        ("port = 0", "[mail] port must be at least 1, got 0"),
        ("port = 70000", "[mail] port must be at most 65535, got 70000"),
        ('port = "587"', "[mail] port must be an integer, got '587'"),
        ("timeout_seconds = 0", "[mail] timeout_seconds must be at least 1, got 0"),
    ],
)
def test_bad_mail_settings_are_named(text: str, message: str) -> None:
    assert error_of(f"[mail]\n{text}\n") == f"config.toml: {message}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('kind = "ics"\npath = "a.ics"', "[calendars #1] name is missing"),
        ('name = "work"', "[calendars 'work'] kind is missing (use one of ics, google, caldav)"),
        (
            'name = "work"\nkind = "outlook"',
            "[calendars 'work'] kind \"outlook\" must be one of ics, google, caldav",
        ),
        (
            'name = "work"\nkind = "ics"',
            "[calendars 'work'] path or url is required for an ics calendar",
        ),
        (
            'name = "dav"\nkind = "caldav"',
            "[calendars 'dav'] url is required for a caldav calendar",
        ),
        (
            'name = "g"\nkind = "google"\npassword = "x"',
            "[calendars 'g'] unknown key 'password' (did you mean 'password_env'?)",
        ),
    ],
)
def test_incomplete_calendars_are_named(text: str, message: str) -> None:
    assert error_of(f"[[calendars]]\n{text}\n") == f"config.toml: {message}"


def test_two_calendars_with_the_same_name_are_refused() -> None:
    entry = '[[calendars]]\nname = "work"\nkind = "ics"\npath = "a.ics"\n'
    assert error_of(entry + entry) == (
        "config.toml: [calendars 'work'] name \"work\" is used by two calendars"
    )


def test_an_unknown_relationship_in_cadence_days_is_named_with_the_known_ones() -> None:
    assert error_of("[rules.cadence_days]\nboss = 30\n") == (
        "config.toml: [rules.cadence_days] unknown relationship 'boss' (known: mentor, "
        "advocate, sponsor, department-head, peer, recruiter, friend, other)"
    )


def test_a_cadence_of_zero_days_is_refused() -> None:
    assert error_of("[rules.cadence_days]\npeer = 0\n") == (
        "config.toml: [rules.cadence_days] peer must be at least 1, got 0"
    )


@pytest.mark.parametrize(
    ("key", "most"),
    [("horizon_days", 366), ("min_notice_hours", 8784), ("duration_minutes", 1440)],
)
def test_a_scheduling_value_beyond_its_limit_is_refused(key: str, most: int) -> None:
    assert error_of(f"[scheduling]\n{key} = 99999999999\n") == (
        f"config.toml: [scheduling] {key} must be at most {most}, got 99999999999"
    )


def test_a_cadence_beyond_ten_years_is_refused() -> None:
    assert error_of("[rules.cadence_days]\npeer = 99999999999\n") == (
        "config.toml: [rules.cadence_days] peer must be at most 3650, got 99999999999"
    )


def test_a_google_endpoint_that_is_not_http_is_refused() -> None:
    assert error_of('[google]\ntoken_uri = "file:///etc/passwd"\n') == (
        'config.toml: [google] token_uri "file:///etc/passwd" is not an http(s) URL'
    )


def test_the_google_api_endpoint_must_name_the_calendar_v3_path() -> None:
    assert error_of('[google]\napi_endpoint = "http://127.0.0.1:8080/"\n') == (
        'config.toml: [google] api_endpoint "http://127.0.0.1:8080/" must end in /calendar/v3/'
    )
    config = parse_config('[google]\napi_endpoint = "http://127.0.0.1:8080/calendar/v3"\n')
    assert config.google.api_endpoint == "http://127.0.0.1:8080/calendar/v3/"


def test_a_config_file_not_in_utf8_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes('[owner]\nname = "Zoë"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: line 2: not UTF-8 text (save the file as UTF-8 and try again)"
    )


def test_invalid_toml_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[owner]\nname = "Ada"\ntimezone = Europe/Berlin\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not valid TOML: ")
    assert "line 3" in message
    assert "\n" not in message


def test_parse_config_reports_invalid_toml_with_its_line() -> None:
    assert "(at line 2, column" in error_of('[owner]\nname = "unterminated\n')


# --- per-user settings -------------------------------------------------------------------------


def test_user_settings_replace_windows_scheduling_rules_and_zone() -> None:
    base = parse_config("")
    mine = with_user_settings(
        base,
        {
            "windows": {"lunch": {"start": "12:30", "end": "14:00", "weekdays": ["tue"]}},
            "scheduling": {"max_per_week": 5},
            "rules": {"cadence_days": {"friend": 14}},
        },
        timezone="America/New_York",
    )
    assert mine.windows == (Window("lunch", time(12, 30), time(14), frozenset({1})),)
    assert mine.scheduling.max_per_week == 5
    assert mine.scheduling.duration == base.scheduling.duration
    assert mine.rules.cadence_days["friend"] == 14
    assert mine.owner.timezone == "America/New_York"
    assert base.owner.timezone == "Europe/Berlin"


def test_user_settings_keep_the_files_values_for_keys_the_user_never_set() -> None:
    base = parse_config(
        "[scheduling]\nduration_minutes = 30\nmin_notice_hours = 48\n"
        "[rules]\nfollow_up_after_days = 5\n[rules.cadence_days]\nmentor = 20\n"
    )
    mine = with_user_settings(
        base,
        {"scheduling": {"max_per_week": 5}, "rules": {"cadence_days": {"friend": 14}}},
    )
    assert mine.scheduling.max_per_week == 5
    assert mine.scheduling.duration == timedelta(minutes=30)
    assert mine.scheduling.notice == timedelta(hours=48)
    assert mine.rules.follow_up_after_days == 5
    assert mine.rules.cadence_days["mentor"] == 20
    assert mine.rules.cadence_days["friend"] == 14


def test_user_settings_are_validated_like_the_file() -> None:
    base = parse_config("")
    with pytest.raises(ConfigError) as info:
        with_user_settings(base, {"windows": {"lunch": {"start": "25:00", "end": "13:00"}}})
    assert str(info.value) == (
        'config.toml (user settings): [windows.lunch] start "25:00" is not a time HH:MM'
    )
    with pytest.raises(ConfigError, match="unknown user setting 'mail'"):
        with_user_settings(base, {"mail": {"backend": "smtp"}})
    with pytest.raises(ConfigError, match="is not a known time zone"):
        with_user_settings(base, {}, timezone="Nowhere/Land")
    with pytest.raises(ConfigError, match=r"\[scheduling\] unknown key 'speed'"):
        with_user_settings(base, {"scheduling": {"speed": 3}})


def test_a_window_can_have_its_own_meeting_length() -> None:
    config = parse_config(
        """
[scheduling]
duration_minutes = 45
[windows.breakfast]
start = "07:30"
end = "09:00"
duration_minutes = 30
[windows.lunch]
start = "12:00"
end = "13:30"
"""
    )
    policy = config.scheduling
    assert policy.length_for("breakfast") == timedelta(minutes=30)
    assert policy.length_for("lunch") == timedelta(minutes=45)


def test_a_window_meeting_length_under_five_minutes_is_named() -> None:
    with pytest.raises(ConfigError, match=r"\[windows.lunch\] duration_minutes"):
        parse_config('[windows.lunch]\nstart = "12:00"\nend = "13:00"\nduration_minutes = 2\n')
    for minutes in (0, 99999):
        with pytest.raises(ConfigError, match=r"\[windows.lunch\] duration_minutes must be at"):
            parse_config(
                f'[windows.lunch]\nstart = "12:00"\nend = "13:00"\nduration_minutes = {minutes}\n'
            )


@pytest.mark.parametrize(
    "sender",
    [
        "no at sign",
        "a@",
        "@example.com",
        "Me <me@example.com>",
        # Two addresses, or two @: the SMTP server would refuse them only when mail is sent.
        "a@b.com,c@d.com",
        "a@b@example.com",
        "me@@example.com",
    ],
)
def test_a_from_address_that_is_no_email_address_is_refused(sender: str) -> None:
    with pytest.raises(ConfigError, match=r"\[mail\] from_address .* is not an email address"):
        parse_config(f'[mail]\nfrom_address = "{sender}"\n')
    assert parse_config('[mail]\nfrom_address = "me@example.com"\n').mail.from_address == (
        "me@example.com"
    )
    assert parse_config('[mail]\nfrom_address = "me@localhost"\n').mail.from_address == (
        "me@localhost"
    )


def test_an_owner_email_that_is_two_addresses_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\[owner\] emails"):
        parse_config('[owner]\nemails = ["a@example.com,b@example.com"]\n')
    owner = parse_config('[owner]\nemails = ["me@localhost"]\n').owner
    assert owner.emails[0] == "me@localhost"


@pytest.mark.parametrize(
    ("kind", "url", "problem"),
    [
        ("ics", "http://[::1", "the host in [brackets] is not an IPv6 address"),
        ("ics", "http://example.com:-1/x", "the port must be a number from 1 to 65535"),
        ("caldav", "https://example.invalid:99999/", "the port must be a number from 1 to 65535"),
        ("caldav", "webcal://example.org/x", "the address must start with https:// or http://"),
    ],
)
def test_a_calendar_url_that_can_never_be_read_is_a_config_error_naming_the_key(
    kind: str, url: str, problem: str
) -> None:
    text = f'[[calendars]]\nname = "work"\nkind = "{kind}"\nurl = "{url}"\nusername = "me"\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="config.toml")
    assert str(caught.value) == (
        f"config.toml: [calendars 'work'] url is not a calendar address: {problem} (at line 4)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[sync]\ninterval_minutes = 9223372036854775807\n",
            "[sync] interval_minutes must be at most 10080, got 9223372036854775807",
        ),
        (
            "[sync]\nics_max_bytes = 9223372036854775807\n",
            "[sync] ics_max_bytes must be at most 1073741824, got 9223372036854775807",
        ),
        (
            "[sync]\nics_max_components = 9223372036854775807\n",
            "[sync] ics_max_components must be at most 10000000, got 9223372036854775807",
        ),
        (
            "[mail]\ntimeout_seconds = 9223372036854775807\n",
            "[mail] timeout_seconds must be at most 600, got 9223372036854775807",
        ),
        (
            "[rules]\nfollow_up_window_days = 9223372036854775807\n",
            "[rules] follow_up_window_days must be at most 10000, got 9223372036854775807",
        ),
        (
            "[rules]\ndecline_cooldown_days = 9223372036854775807\n",
            "[rules] decline_cooldown_days must be at most 10000, got 9223372036854775807",
        ),
        (
            "[web]\ntrusted_proxies = 9223372036854775807\n",
            "[web] trusted_proxies must be at most 20, got 9223372036854775807",
        ),
        (
            '[[calendars]]\nname = "w"\nkind = "ics"\npath = "w.ics"\n'
            "max_bytes = 9223372036854775807\n",
            "[calendars 'w'] max_bytes must be at most 1073741824, got 9223372036854775807",
        ),
        (
            f'[web]\ninstance_path = "{"a" * 5000}"\n',
            "[web] instance_path must be a path of at most 1024 characters, got 5000",
        ),
        (
            f'[web]\ninstance_path = "x/{"a" * 300}"\n',
            "[web] instance_path has a folder name of 300 bytes; at most 255 are possible",
        ),
        ('[web]\ninstance_path = "a\\u0000b"\n', "[web] instance_path contains a NUL"),
    ],
)
def test_numbers_and_paths_beyond_what_the_system_takes_are_config_errors_naming_the_key(
    text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="config.toml")
    assert str(caught.value).startswith(f"config.toml: {message}")


def test_a_huge_sync_interval_is_one_config_line_from_the_command_line_not_an_overflow(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    (tmp_path / "config.toml").write_text("[sync]\ninterval_minutes = 9223372036854775807\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETAGAIN_")}
    for command in (["plan"], ["slots"], ["contacts", "meetings"]):
        result = subprocess.run(
            [sys.executable, "-m", "web", *command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == (
            "error: config.toml: [sync] interval_minutes must be at most 10080, "
            "got 9223372036854775807 (at line 2)"
        )


def test_a_meeting_longer_than_its_meal_window_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError) as found:
        parse_config("[scheduling]\nduration_minutes = 100\n")
    assert "[scheduling] duration_minutes 100 minutes is longer than breakfast" in str(found.value)
    with pytest.raises(ConfigError) as found:
        parse_config('[windows.lunch]\nstart = "12:00"\nend = "13:00"\nduration_minutes = 75\n')
    assert "[windows.lunch] duration_minutes 75 minutes is longer than lunch 12:00-13:00" in str(
        found.value
    )
    # A window with its own shorter length may be narrower than the default meeting.
    parse_config(
        '[scheduling]\nduration_minutes = 100\n[windows.breakfast]\nstart = "07:30"\n'
        'end = "09:00"\nduration_minutes = 60\n[windows.lunch]\nstart = "12:00"\nend = "14:00"\n'
    )
