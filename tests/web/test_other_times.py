"""Reported by a Berlin owner about Rafael, in São Paulo: "Show me other free times" added the
same three days a quarter hour later; after he asked for other times with a note, the plan
proposed him the very times he had turned down, and his link said only "This link is no
longer active"."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient

from integrations.storage.contacts import ContactRepository
from integrations.storage.db import transaction
from scheduler.invites import utc_iso
from scheduler.model import Contact, Interaction, ProposedTime
from tests.helpers.invite_fixtures import make_owner, times_at
from web.composition import Runtime
from web.services import invites as svc
from web.services.planning import plan_for_user

BERLIN = ZoneInfo("Europe/Berlin")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def _now() -> datetime:
    return datetime.now(UTC)


def _rafael(runtime: Runtime, owner: int) -> int:
    """Rafael, last met over a year ago (so he is due), living in São Paulo."""
    with transaction(runtime.sessions) as session:
        row = ContactRepository(session, owner).add(
            Contact(
                name="Rafael Costa",
                emails=("rafael.costa@example.br",),
                timezone="America/Sao_Paulo",
                city="São Paulo",
                interactions=(Interaction(on=_now().date() - timedelta(days=400)),),
            )
        )
        return row.id


def _three_lunches() -> list[datetime]:
    """12:00 in Berlin on the first three weekdays at least two days away."""
    day = (_now().astimezone(BERLIN) + timedelta(days=2)).date()
    found: list[datetime] = []
    while len(found) < 3:
        if day.weekday() < 5:
            found.append(datetime.combine(day, time(12), tzinfo=BERLIN))
        day += timedelta(days=1)
    return found


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _three_lunches_for_rafael(runtime: Runtime) -> svc.CreatedInvite:
    """An owner's invite to Rafael offering `_three_lunches`."""
    owner = make_owner(runtime)
    rafael = _rafael(runtime, owner)
    return svc.create_invite(runtime, owner, rafael, times_at(*_three_lunches()), now=_now())


def _berlin_day(t: ProposedTime | svc.OfferedTime) -> object:
    return t.start.astimezone(BERLIN).date()


def test_other_free_times_are_other_days_inside_the_invitees_morning(
    client: FlaskClient, sqlite_runtime: Runtime
) -> None:
    created = _three_lunches_for_rafael(sqlite_runtime)
    resp = client.post(
        urlsplit(created.url).path, data={"action": "suggest", "tz": "America/Sao_Paulo"}
    )
    assert resp.status_code == 303 and "more=1" in resp.headers["Location"]

    view = svc.load_invite(sqlite_runtime, _token(created.url), now=_now())
    offered = {t.start for t in created.times}
    added = [t for t in view.times if t.start not in offered]
    # Two weeks of free Berlin lunches: six of them, none on a day already offered (no
    # 09:45 next to 09:30 for Rafael), each on a day of its own.
    assert len(added) == 6
    assert not {_berlin_day(t) for t in added} & {_berlin_day(t) for t in created.times}
    assert len({_berlin_day(t) for t in added}) == 6
    for t in added:  # 08:00 in São Paulo: he is awake (07:00-21:00 his time)
        a, b = t.start.astimezone(SAO_PAULO), t.end.astimezone(SAO_PAULO)
        assert a.time() >= time(7) and b.time() <= time(21) and a.date() == b.date(), a
        assert t.window == "lunch" and t.start > _now() + timedelta(hours=24)
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    for t in added:
        assert utc_iso(t.start) in page


def test_after_asking_for_other_times_the_plan_does_not_propose_the_same_times_again(
    client: FlaskClient, sqlite_runtime: Runtime
) -> None:
    owner = make_owner(sqlite_runtime)
    rafael = _rafael(sqlite_runtime, owner)
    [proposal] = plan_for_user(sqlite_runtime, owner, now=_now()).proposals
    turned_down = proposal.times
    created = svc.create_invite(sqlite_runtime, owner, rafael, list(turned_down), now=_now())
    resp = client.post(
        urlsplit(created.url).path, data={"action": "suggest", "note": "the week of 4 Jan"}
    )
    assert resp.status_code == 303

    [again] = plan_for_user(sqlite_runtime, owner, now=_now()).proposals
    assert again.contact.name == "Rafael Costa" and again.times
    for t in again.times:
        for old in turned_down:
            assert abs(t.start - old.start) >= timedelta(hours=1), (t.start, old.start)


def test_the_link_after_asking_for_other_times_says_the_owner_will_reply(
    client: FlaskClient, sqlite_runtime: Runtime
) -> None:
    created = _three_lunches_for_rafael(sqlite_runtime)
    path = urlsplit(created.url).path
    resp = client.post(path, data={"action": "suggest", "note": "the week of 4 Jan"})
    thanks = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Olivia Owner will reply with other times" in thanks
    assert "the week of 4 Jan" in thanks

    again = client.get(path)
    page = again.get_data(as_text=True)
    assert "no longer active" not in page
    assert "Olivia Owner will reply with other times" in page
    assert "the week of 4 Jan" in page
    assert "no longer held for you" in page


def test_change_a_time_offers_only_times_the_plan_would_offer_the_invitee(
    sqlite_runtime: Runtime,
) -> None:
    """The owner's "change a time" list for Rafael: no 07:30 Berlin breakfast by video, which is
    03:30 in São Paulo, only times inside his waking hours there."""
    owner = make_owner(sqlite_runtime)
    rafael = _rafael(sqlite_runtime, owner)
    plan = plan_for_user(sqlite_runtime, owner, now=_now())
    others = plan.other_times[rafael]
    assert others, "lunches in Berlin are mornings in São Paulo: there are times to offer"
    for t in others:
        local = t.start.astimezone(SAO_PAULO)
        assert time(7) <= local.time() and t.end.astimezone(SAO_PAULO).time() <= time(21), local
    assert {t.window for t in others} == {"lunch"}
