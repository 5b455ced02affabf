"""Bug: "Most overdue first" did not read in the order of the days overdue the list shows.

A user with demo data and imported contacts read "81 days overdue, 234, 234 … 80, 203 … 110,
144 … 462": the rules' due contacts came first in the plan's order (how overdue against their
own cadence, weighted by relationship), the rest after them, so a mentor 1 day overdue was
listed before a contact 80 days overdue. The list now reads in the order of what it shows.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.web.support import Web, make_app, text
from web.composition import Runtime
from web.services.accounts import create_first_account
from web.services.contacts import import_file

PASSWORD = "correct horse battery"
ROW = re.compile(
    r'<td data-label="Name"><a href="/contacts/\d+">([^<]+)</a>.*?'
    r'<td data-label="Status" class="state">([^<]*)</td>',
    re.S,
)


@pytest.fixture
def signed_in(runtime: Runtime) -> Iterator[Web]:
    """The owner, signed in to an app on `runtime` (SQLite and PostgreSQL)."""
    create_first_account(runtime, "owner@example.com", PASSWORD, "Olivia Owner")
    with make_app(runtime).test_client() as client:
        site = Web(client)
        assert site.sign_in("owner@example.com", PASSWORD).status_code == 303
        yield site


def import_rows(runtime: Runtime, rows: list[dict[str, str]]) -> None:
    out = io.StringIO()
    columns = ["name", "email", "relationship", "first_met", "last_met", "times_met"]
    writer = csv.DictWriter(out, [*columns, "cadence_days", "do_not_invite"])
    writer.writeheader()
    writer.writerows(rows)
    owner = runtime.owner_id()
    report = import_file(runtime, owner, out.getvalue().encode(), filename="contacts.csv")
    assert not report.problems, report.problems


def shown(page: str) -> list[tuple[str, str]]:
    """(name, status) of each line of the list, in order."""
    return ROW.findall(page)


def days_overdue(status: str) -> int | None:
    """The days overdue a status reads as (negative: days until due), None for no number."""
    if status == "due today":
        return 0
    found = re.fullmatch(r"(\d+) days? overdue", status)
    if found:
        return int(found.group(1))
    found = re.fullmatch(r"due in (\d+) days?", status)
    return -int(found.group(1)) if found else None


# The owner's zone: the list counts days in it, so "today" is its date (between 23:00 and
# midnight UTC, Berlin is a day ahead of UTC).
OWNER_ZONE = ZoneInfo("Europe/Berlin")


def met(days_ago: int, relationship: str, *, cadence: str = "", **more: str) -> dict[str, str]:
    day = datetime.now(OWNER_ZONE).date() - timedelta(days=days_ago)
    return {
        "relationship": relationship,
        "first_met": (day - timedelta(days=1000)).isoformat(),
        "last_met": day.isoformat(),
        "times_met": "3",
        "cadence_days": cadence,
        **more,
    }


def contact(name: str, **fields: str) -> dict[str, str]:
    return {"name": name, "email": f"{name.split()[0].lower()}@example.org", **fields}


def test_most_overdue_first_reads_in_the_order_of_the_days_overdue_it_shows(
    runtime: Runtime, signed_in: Web
) -> None:
    # The user's list: weighted by relationship and capped, the rules' order was
    # 81, 234, 234, 203, 462, 1, 80; the days overdue they show are what the sort is about.
    import_rows(
        runtime,
        [
            contact("Maya Mentor", **met(126, "mentor")),  # every 45 days: 81 overdue
            contact("Paul Peer", **met(324, "peer")),  # every 90 days: 234 overdue
            contact("Pia Peer", **met(324, "peer")),
            contact("Rita Recruiter", **met(323, "recruiter")),  # every 120: 203 overdue
            contact("Ann Ancient", **met(642, "other")),  # every 180: 462 overdue
            contact("Quinn Quick", **met(8, "mentor", cadence="7")),  # 1 day overdue
            contact("Otto Other", **met(260, "other")),  # 80 overdue
            contact("Fay Friend", **met(50, "friend")),  # every 60: due in 10 days
            contact("Pete Peer", **met(30, "peer")),  # due in 60 days: on track
            contact("Nell Never"),  # never met
            contact("Dora Dnd", **met(900, "peer", do_not_invite="yes")),  # not to be invited
        ],
    )
    lines = shown(text(signed_in.get("/contacts")))
    assert lines == [
        ("Ann Ancient", "462 days overdue"),
        ("Paul Peer", "234 days overdue"),
        ("Pia Peer", "234 days overdue"),
        ("Rita Recruiter", "203 days overdue"),
        ("Maya Mentor", "81 days overdue"),
        ("Otto Other", "80 days overdue"),
        ("Quinn Quick", "1 day overdue"),
        ("Fay Friend", "due in 10 days"),
        ("Pete Peer", "on track"),
        ("Nell Never", "never met"),
        ("Dora Dnd", "do not invite"),
    ]
    numbers = [days_overdue(status) for _, status in lines]
    dated = [n for n in numbers if n is not None]
    assert dated == sorted(dated, reverse=True)


def test_a_meeting_logged_moves_the_contact_to_its_place_by_days_overdue(
    runtime: Runtime, signed_in: Web
) -> None:
    import_rows(
        runtime,
        [
            contact("Maya Mentor", **met(126, "mentor")),  # 81 overdue
            contact("Otto Other", **met(260, "other")),  # 80 overdue
            contact("Paul Peer", **met(324, "peer")),  # 234 overdue
        ],
    )
    first = shown(text(signed_in.get("/contacts")))
    assert [name for name, _ in first] == ["Paul Peer", "Maya Mentor", "Otto Other"]
    # Maya is met 40 days ago: due in 5 days, after both who are overdue.
    page = text(signed_in.get("/contacts"))
    maya = re.search(r'href="/contacts/(\d+)">Maya Mentor<', page)
    assert maya is not None
    on = (datetime.now(OWNER_ZONE).date() - timedelta(days=40)).isoformat()
    response = signed_in.post(
        f"/contacts/{maya.group(1)}/log", {"kind": "coffee", "on": on, "notes": ""}
    )
    assert response.status_code in (200, 303), text(response)
    after = shown(text(signed_in.get("/contacts")))
    assert after == [
        ("Paul Peer", "234 days overdue"),
        ("Otto Other", "80 days overdue"),
        ("Maya Mentor", "due in 5 days"),
    ]
