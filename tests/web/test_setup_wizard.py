"""The setup wizard's own steps: time zone and meal windows, rules; errors next to the field."""

from __future__ import annotations

from html import unescape

from sqlalchemy import select

from integrations.storage import models
from integrations.storage.db import transaction
from tests.web.support import Web, text
from web.composition import Runtime

WEEKDAYS = ["0", "1", "2", "3", "4"]


def windows_form(**changes: object) -> dict[str, object]:
    form: dict[str, object] = {
        "timezone": "America/New_York",
        "w_breakfast_on": "1",
        "w_breakfast_start": "07:00",
        "w_breakfast_end": "08:30",
        "w_breakfast_days": WEEKDAYS,
        "w_lunch_on": "1",
        "w_lunch_start": "12:30",
        "w_lunch_end": "14:00",
        "w_lunch_days": ["1", "3"],
    }
    form.update(changes)
    return form


def stored_user(runtime: Runtime) -> models.User:
    with transaction(runtime.sessions) as session:
        user = session.scalar(select(models.User))
        assert user is not None
        return user


def test_the_time_step_shows_the_zone_list_and_a_weekly_picture(site: Web, owner: int) -> None:
    page = text(site.get("/setup/time"))
    assert '<option value="Pacific/Apia"' in page
    assert "data-detect-zone" in page  # the browser's zone is preselected on first setup
    assert page.count('class="block window breakfast"') == 5


def test_saving_zone_and_windows_stores_them_as_user_settings(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    site.get("/setup/time")
    response = site.post("/setup/time", windows_form())
    assert response.status_code == 303
    assert response.location.endswith("/setup/calendars")
    user = stored_user(sqlite_runtime)
    assert user.timezone == "America/New_York"
    assert user.settings["windows"] == {
        "breakfast": {
            "start": "07:00",
            "end": "08:30",
            "weekdays": ["mon", "tue", "wed", "thu", "fri"],
        },
        "lunch": {"start": "12:30", "end": "14:00", "weekdays": ["tue", "thu"]},
    }
    assert user.setup_step == 1
    page = text(site.get("/setup/time"))
    assert page.count('class="block window lunch"') == 2
    assert "data-detect-zone" not in page  # a saved zone is never overridden by the browser


def test_a_switched_off_window_is_left_out(site: Web, owner: int, sqlite_runtime: Runtime) -> None:
    site.get("/setup/time")
    form = windows_form()
    del form["w_lunch_on"]
    assert site.post("/setup/time", form).status_code == 303
    assert set(stored_user(sqlite_runtime).settings["windows"]) == {"breakfast"}


def test_a_bad_time_is_reported_next_to_its_field_and_nothing_is_saved(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    site.get("/setup/time")
    response = site.post("/setup/time", windows_form(w_lunch_end="25:00"))
    assert response.status_code == 400
    page = text(response)
    assert 'id="e-w_lunch_end"' in page and "Use a 24-hour time like 07:30" in page
    assert 'aria-invalid="true" aria-describedby="e-w_lunch_end"' in page
    assert stored_user(sqlite_runtime).settings == {}


def test_an_end_before_the_start_and_no_days_are_explained(site: Web, owner: int) -> None:
    site.get("/setup/time")
    response = site.post("/setup/time", windows_form(w_breakfast_end="06:00", w_lunch_days=[]))
    page = text(response)
    assert "The end must be after the start." in page
    assert "Pick at least one day." in page


def test_an_unknown_time_zone_is_refused(site: Web, owner: int, sqlite_runtime: Runtime) -> None:
    site.get("/setup/time")
    response = site.post("/setup/time", windows_form(timezone="Mars/Olympus"))
    assert response.status_code == 400
    assert "is not a time zone in the list" in text(response)
    assert stored_user(sqlite_runtime).timezone != "Mars/Olympus"


def test_all_windows_switched_off_is_refused(site: Web, owner: int) -> None:
    site.get("/setup/time")
    form = windows_form()
    del form["w_lunch_on"], form["w_breakfast_on"]
    response = site.post("/setup/time", form)
    assert response.status_code == 400
    assert "Keep at least one meal window" in text(response)


def rules_form(**changes: object) -> dict[str, object]:
    page_values = {
        "cad_mentor": "30",
        "cad_advocate": "60",
        "cad_sponsor": "60",
        "cad_peer": "90",
        "cad_department-head": "90",
        "cad_recruiter": "120",
        "cad_friend": "60",
        "cad_other": "180",
        "follow_up_after_days": "3",
        "follow_up_window_days": "21",
        "decline_cooldown_days": "30",
        "ignored_invites_to_pause": "3",
        "duration_minutes": "60",
        "buffer_minutes": "10",
        "min_notice_hours": "24",
        "horizon_days": "14",
        "max_per_day": "1",
        "max_per_week": "2",
        "times_per_invite": "3",
    }
    page_values.update({k: str(v) for k, v in changes.items()})
    return dict(page_values)


def test_rules_are_editable_and_validated_like_the_config_file(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    site.get("/setup/rules")
    response = site.post("/setup/rules", rules_form())
    assert response.status_code == 303
    user = stored_user(sqlite_runtime)
    assert user.settings["rules"]["cadence_days"]["mentor"] == 30
    assert user.settings["scheduling"]["max_per_week"] == 2
    assert user.settings["scheduling"]["duration_minutes"] == 60
    assert user.setup_step == 4
    page = text(site.get("/setup/rules"))
    assert 'name="cad_mentor" type="number" value="30"' in page


def test_bad_rule_values_are_reported_per_field_and_keep_the_old_rules(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    site.get("/setup/rules")
    response = site.post("/setup/rules", rules_form(cad_mentor="often", duration_minutes="2"))
    assert response.status_code == 400
    page = text(response)
    assert 'id="e-cad_mentor"' in page and "Enter a whole number." in page
    assert 'id="e-duration_minutes"' in page and "Must be at least 5." in page
    assert stored_user(sqlite_runtime).settings == {}
    # Arabic-Indic digits are a number to int(), not to the form.
    response = site.post("/setup/rules", rules_form(cad_mentor="١٢"))
    assert response.status_code == 400 and "Enter a whole number." in text(response)
    assert stored_user(sqlite_runtime).settings == {}


def test_a_meeting_longer_than_a_meal_window_is_refused_on_its_field(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    """200 minutes fits no breakfast of 07:30-09:00: the plan would offer nothing and say
    nothing. The rules page says so on the field instead, and keeps the old rules."""
    site.get("/setup/rules")
    response = site.post("/setup/rules", rules_form(duration_minutes="200"))
    assert response.status_code == 400
    page = unescape(text(response))
    assert 'id="e-duration_minutes"' in page
    assert "200 minutes is longer than breakfast 07:30-09:00 (90 minutes)" in page
    assert stored_user(sqlite_runtime).settings == {}


def test_settings_links_back_to_every_setup_step(site: Web, owner: int) -> None:
    page = text(site.get("/settings"))
    for url in (
        "/setup/time",
        "/calendars",
        "/contacts/import",
        "/setup/rules",
        "/contacts/export.csv",
    ):
        assert f'href="{url}"' in page or f'href="{url}?next=/settings"' in page


def test_settings_saved_before_the_length_rule_still_apply(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    """A window narrower than the meeting, saved before that was refused, does not throw away
    the user's other settings (their zone): only new saves are checked."""
    from web.services.accounts import get_user, user_config

    narrow = {"breakfast": {"start": "07:30", "end": "08:00"}}
    with transaction(sqlite_runtime.sessions) as session:
        row = session.get(models.User, owner)
        assert row is not None
        row.settings = {"windows": narrow}
        row.timezone = "America/New_York"
    config = user_config(sqlite_runtime, get_user(sqlite_runtime, owner))
    assert config.owner.timezone == "America/New_York"
    assert [w.name for w in config.windows] == ["breakfast"]
