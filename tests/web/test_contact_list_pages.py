"""The contacts list of a big network: pages, search and sort across pages, bad page numbers.

The list shows 50 contacts a page; the contacts are imported from a CSV the way a user would.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

from tests.web.support import Web, text
from web.composition import Runtime
from web.services.contacts import PAGE_SIZE, import_file


def today() -> date:
    return datetime.now(UTC).date()


def import_rows(runtime: Runtime, owner: int, rows: list[dict[str, str]]) -> None:
    out = io.StringIO()
    columns = ["name", "email", "relationship", "tags", "first_met", "last_met", "times_met"]
    columns += ["snooze_until"]
    writer = csv.DictWriter(out, columns)
    writer.writeheader()
    writer.writerows(rows)
    report = import_file(runtime, owner, out.getvalue().encode(), filename="contacts.csv")
    assert not report.problems, report.problems


def names(page: str) -> list[str]:
    """The contact names in the list, in order."""
    return re.findall(r'<td data-label="Name"><a href="/contacts/\d+">([^<]+)</a>', page)


def people(n: int) -> list[dict[str, str]]:
    return [{"name": f"Person {i:03d}", "email": f"p{i}@example.org"} for i in range(n)]


def test_a_long_list_comes_in_pages_and_page_two_shows_the_next_contacts(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    import_rows(sqlite_runtime, owner, people(2 * PAGE_SIZE + 20))
    first = text(site.get("/contacts?sort=name"))
    assert names(first) == [f"Person {i:03d}" for i in range(PAGE_SIZE)]
    assert "Page 1 of 3" in first and "120 contacts" in first
    assert 'href="/contacts?sort=name&amp;page=2"' in first
    second = site.get("/contacts?sort=name&page=2")
    assert second.status_code == 200
    assert names(text(second)) == [f"Person {i:03d}" for i in range(PAGE_SIZE, 2 * PAGE_SIZE)]
    assert "Page 2 of 3" in text(second) and 'rel="prev"' in text(second)
    third = text(site.get("/contacts?sort=name&page=3"))
    assert names(third)[-1] == "Person 119" and len(names(third)) == 20
    assert 'rel="next"' not in third


def test_search_finds_a_contact_that_would_be_on_page_three(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    rows = people(2 * PAGE_SIZE + 20)
    rows.append({"name": "Zara Quist", "email": "zq@example.org", "tags": "climbing"})
    import_rows(sqlite_runtime, owner, rows)
    assert "Zara Quist" in names(text(site.get("/contacts?sort=name&page=3")))
    assert "Zara Quist" not in names(text(site.get("/contacts?sort=name")))
    for query in ("zara", "QUIST", "zq@example", "climbing", "zara quist"):
        found = text(site.get(f"/contacts?q={query}"))
        assert names(found) == ["Zara Quist"], query
        assert "1 contact matching" in found and "Page 1 of" not in found
    assert "No contacts match" in text(site.get("/contacts?q=zara+nobody"))


def test_most_overdue_first_keeps_its_order_across_the_page_boundary(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    day = today()
    # Peers (every 90 days) last met 200..259 days ago: the longer ago, the more overdue.
    rows = [
        {
            "name": f"Peer {i:02d}",
            "email": f"peer{i}@example.org",
            "relationship": "peer",
            "first_met": (day - timedelta(days=900)).isoformat(),
            "last_met": (day - timedelta(days=200 + i)).isoformat(),
            "times_met": "3",
        }
        for i in range(PAGE_SIZE + 10)
    ]
    # Met once five days ago: a follow-up, due before everyone overdue.
    once = (day - timedelta(days=5)).isoformat()
    rows.append({"name": "Fresh Face", "email": "ff@example.org", "first_met": once})
    # The most overdue of all, but snoozed: on no page of this sort.
    rows.append(
        {
            "name": "Sleepy Sam",
            "email": "sam@example.org",
            "relationship": "peer",
            "last_met": (day - timedelta(days=800)).isoformat(),
            "times_met": "2",
            "snooze_until": (day + timedelta(days=20)).isoformat(),
        }
    )
    import_rows(sqlite_runtime, owner, rows)
    first = text(site.get("/contacts"))
    second = text(site.get("/contacts?page=2"))
    order = names(first) + names(second)
    expected = ["Fresh Face"] + [f"Peer {i:02d}" for i in reversed(range(PAGE_SIZE + 10))]
    assert order == expected
    assert len(names(first)) == PAGE_SIZE and names(first)[-1] == expected[PAGE_SIZE - 1]
    assert "Sleepy Sam" not in first + second
    assert "1 snoozed contact not shown" in first
    # Searched for by name, the snoozed contact is found (last).
    assert names(text(site.get("/contacts?q=sam"))) == ["Sleepy Sam"]


def test_a_meeting_logged_moves_the_contact_down_the_list_at_once(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    day = today()
    rows = [
        {
            "name": f"Peer {i}",
            "email": f"peer{i}@example.org",
            "relationship": "peer",
            "last_met": (day - timedelta(days=200 + 10 * i)).isoformat(),
            "times_met": "2",
        }
        for i in range(3)
    ]
    import_rows(sqlite_runtime, owner, rows)
    assert names(text(site.get("/contacts"))) == ["Peer 2", "Peer 1", "Peer 0"]
    page = text(site.get("/contacts"))
    peer2 = int(re.search(r'href="/contacts/(\d+)">Peer 2<', page).group(1))  # type: ignore[union-attr]
    site.get(f"/contacts/{peer2}")
    logged = site.post(f"/contacts/{peer2}/log", {"on": day.isoformat(), "kind": "coffee"})
    assert logged.status_code == 303
    assert names(text(site.get("/contacts"))) == ["Peer 1", "Peer 0", "Peer 2"]


def test_a_page_past_the_end_is_a_clear_page_not_an_error(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    import_rows(sqlite_runtime, owner, people(PAGE_SIZE + 1))
    for url, says in (
        ("/contacts?page=9", "There is no page 9: the list has 2 pages."),
        ("/contacts?sort=name&page=3", "There is no page 3: the list has 2 pages."),
        ("/contacts?q=person+000&page=2", "There is no page 2: the list has 1 page."),
        # No page number at all: bad input, the same clear page with a 400.
        ("/contacts?page=0", "&#34;0&#34; is not a page number"),
        ("/contacts?page=-1", "&#34;-1&#34; is not a page number"),
        ("/contacts?page=abc", "&#34;abc&#34; is not a page number"),
    ):
        answer = site.get(url)
        assert answer.status_code == (404 if "There is no page" in says else 400), url
        page = text(answer)
        assert says in page, (url, page)
        assert "Go to the last page" in page and names(page) == []


def test_sorting_by_name_and_by_longest_since_met_across_pages(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    day = today()
    rows = [
        {
            "name": f"Met {i:02d}",
            "email": f"m{i}@example.org",
            "last_met": (day - timedelta(days=10 + i)).isoformat(),
            "times_met": "1",
        }
        for i in range(PAGE_SIZE)
    ]
    rows.append({"name": "Never Met", "email": "nm@example.org"})
    import_rows(sqlite_runtime, owner, rows)
    last = names(text(site.get("/contacts?sort=last")))
    later = names(text(site.get("/contacts?sort=last&page=2")))
    # Never met first, then the longest since the last meeting.
    assert last[:2] == ["Never Met", f"Met {PAGE_SIZE - 1:02d}"]
    assert later == ["Met 00"]
    by_name = names(text(site.get("/contacts?sort=name"))) + names(
        text(site.get("/contacts?sort=name&page=2"))
    )
    assert by_name == sorted(by_name, key=str.lower) and len(by_name) == PAGE_SIZE + 1


def test_snoozing_editing_and_deleting_show_in_the_list_at_once(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    day = today()
    rows = [
        {
            "name": f"Peer {i}",
            "email": f"peer{i}@example.org",
            "relationship": "peer",
            "last_met": (day - timedelta(days=200 + 10 * i)).isoformat(),
            "times_met": "2",
        }
        for i in range(3)
    ]
    import_rows(sqlite_runtime, owner, rows)
    page = text(site.get("/contacts"))
    ids = {name: int(cid) for cid, name in re.findall(r'href="/contacts/(\d+)">(Peer \d)<', page)}
    site.get(f"/contacts/{ids['Peer 2']}")
    site.post(f"/contacts/{ids['Peer 2']}/snooze", {"days": "30"})
    after = text(site.get("/contacts"))
    assert names(after) == ["Peer 1", "Peer 0"] and "1 snoozed contact not shown" in after
    # A mentor (every 45 days) last met 200 days ago is more overdue than any peer.
    site.get(f"/contacts/{ids['Peer 0']}")
    edited = site.post(
        f"/contacts/{ids['Peer 0']}/edit",
        {"name": "Peer 0", "emails": "peer0@example.org", "relationship": "mentor"},
    )
    assert edited.status_code == 303
    assert names(text(site.get("/contacts"))) == ["Peer 0", "Peer 1"]
    site.get(f"/contacts/{ids['Peer 1']}/delete")
    assert site.post(f"/contacts/{ids['Peer 1']}/delete").status_code == 303
    assert names(text(site.get("/contacts"))) == ["Peer 0"]
    health = text(site.get("/"))
    assert "Network health" in health


def test_the_list_after_changes_is_the_list_a_fresh_start_shows(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    """What the rules said about everyone is kept and brought up to date contact by contact;
    after every kind of change it must be what computing it all again gives."""
    from web.services import contacts as service
    from web.services import rule_snapshot

    day = today()
    rows = [
        {
            "name": f"Person {i % 9}",
            "email": f"p{i}@example.org",
            "relationship": ("peer", "mentor", "other")[i % 3],
            "first_met": (day - timedelta(days=30 * i + 3)).isoformat(),
            "last_met": (day - timedelta(days=17 * i)).isoformat() if i % 4 else "",
            "times_met": str(i % 3) if i % 4 else "",
        }
        for i in range(40)
    ]
    import_rows(sqlite_runtime, owner, rows)
    now = datetime.now(UTC)

    def seen() -> tuple[object, ...]:
        page = service.contact_page(sqlite_runtime, owner, now=now, per_page=100)
        return (
            [(line.contact.id, line.state) for line in page.lines],
            sorted((cid, item.status, item.reasons) for cid, item in page.status.items()),
            page.snoozed,
            service.health(sqlite_runtime, owner, now=now),
        )

    def fresh() -> tuple[object, ...]:
        rule_snapshot._memo.clear()
        return seen()

    ids = [line.contact.id for line in service.contact_page(sqlite_runtime, owner, now=now).lines]
    assert seen() == fresh()
    service.log_interaction(sqlite_runtime, owner, ids[0], on=day, kind="coffee")
    assert seen() == fresh()
    service.snooze(sqlite_runtime, owner, ids[1], day + timedelta(days=9))
    assert seen() == fresh()
    service.set_do_not_invite(sqlite_runtime, owner, ids[2], True)
    assert seen() == fresh()
    service.update_contact(sqlite_runtime, owner, ids[3], {"cadence_days": "7"})
    assert seen() == fresh()
    met = service.get_contact(sqlite_runtime, owner, ids[0], now=now).log[0].id
    service.delete_interaction(sqlite_runtime, owner, met)
    assert seen() == fresh()
    service.update_contact(sqlite_runtime, owner, ids[4], {"name": "Aaron First"})
    assert seen() == fresh()
    service.delete_contact(sqlite_runtime, owner, ids[5], now=now)
    assert seen() == fresh()


def test_someone_met_without_a_date_is_not_called_never_met(
    site: Web, sqlite_runtime: Runtime, owner: int
) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, ["name", "email", "how_met"])
    writer.writeheader()
    writer.writerows(
        [
            {"name": "Mo Panel", "email": "mo@example.org", "how_met": "Panel at FinTech night"},
            {"name": "Nell Never", "email": "nell@example.org", "how_met": ""},
        ]
    )
    import_file(sqlite_runtime, owner, out.getvalue().encode(), filename="people.csv")
    page = text(site.get("/contacts?sort=name"))
    mo = page.split(">Mo Panel<", 1)[1].split("</tr>", 1)[0]
    nell = page.split(">Nell Never<", 1)[1].split("</tr>", 1)[0]
    assert "met, no date yet" in mo and "never met" not in mo
    assert "log the last meeting" in mo
    assert "never met" in nell and "Not yet met" in nell
