"""Demo data: a realistic two-week calendar relative to today and about 25 contacts.

Loading is idempotent: the calendar file is rewritten for the new dates, contacts are matched by
email and only added when missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from integrations.files import write_atomically
from integrations.storage import calendars
from integrations.storage.bookings import BookingStore
from integrations.storage.contacts import ContactRepository, email_owners, remove_all
from integrations.storage.db import transaction
from scheduler.model import Contact, Interaction, InteractionKind, Meal, Relationship
from scheduler.text import counted
from web.composition import Runtime
from web.services.places import trips_followed

DEMO_CALENDAR_NAME = "Work (demo)"


@dataclass(frozen=True)
class _Person:
    name: str
    email: str
    company: str
    title: str
    relationship: Relationship
    how_met: str
    met_days_ago: tuple[int, ...]  # interactions, days before today
    first_met_days_ago: int | None = None
    meals: tuple[Meal, ...] = ()
    days: tuple[int, ...] = ()
    tz: str | None = None
    city: str = "Berlin"
    questions: tuple[str, ...] = ()
    notes: str = ""
    tags: tuple[str, ...] = ()
    do_not_invite: bool = False
    snooze_days: int | None = None
    cadence_days: int | None = None


R = Relationship
_PEOPLE: tuple[_Person, ...] = (
    _Person(
        "Ana Souza",
        "ana.souza@example.org",
        "Lumen Analytics",
        "Head of Data",
        R.PEER,
        "PyData Berlin",
        (6,),
        meals=(Meal.BREAKFAST,),
        questions=("How did the migration to dbt go?",),
        tags=("data", "conference"),
    ),
    _Person(
        "Jonas Weber",
        "jonas.weber@example.com",
        "Nordlicht GmbH",
        "CTO",
        R.MENTOR,
        "Former manager",
        (59, 110, 170, 260),
        meals=(Meal.LUNCH,),
        questions=("How is the board role he mentioned going?",),
        notes="Prefers Italian.",
    ),
    _Person(
        "Priya Raman",
        "priya@example.net",
        "Helix Bio",
        "VP Engineering",
        R.SPONSOR,
        "Leadership offsite",
        (75, 160),
        meals=(Meal.BREAKFAST, Meal.COFFEE),
        tz="Europe/London",
        city="London",
    ),
    _Person(
        "Marcus Lee",
        "marcus.lee@example.com",
        "Atlas Cloud",
        "Staff Engineer",
        R.PEER,
        "KubeCon EU",
        (3,),
        questions=("How did the talk go?", "Share the talk recording"),
        tags=("conference",),
    ),
    _Person(
        "Sofia Rossi",
        "sofia.rossi@example.it",
        "Fermata",
        "Product Director",
        R.ADVOCATE,
        "Product circle dinner",
        (40, 120),
        meals=(Meal.LUNCH,),
    ),
    _Person(
        "Daniel Kim",
        "daniel.kim@example.com",
        "Brightpath",
        "Recruiter",
        R.RECRUITER,
        "LinkedIn",
        (),
        first_met_days_ago=200,
        meals=(Meal.COFFEE,),
    ),
    _Person(
        "Lena Fischer",
        "lena.fischer@example.de",
        "Stadtwerke",
        "Head of IT",
        R.DEPARTMENT_HEAD,
        "Quarterly review",
        (95, 190),
        meals=(Meal.LUNCH,),
        days=(1, 3),
    ),
    _Person(
        "Tom Becker",
        "tom.becker@example.de",
        "Freelance",
        "Designer",
        R.FRIEND,
        "University",
        (62, 130, 300),
        meals=(Meal.BREAKFAST, Meal.LUNCH),
    ),
    _Person(
        "Aisha Bello",
        "aisha.bello@example.org",
        "OpenHealth",
        "Founder",
        R.PEER,
        "Startup night",
        (12,),
        tags=("founder",),
    ),
    _Person(
        "Chen Wei",
        "chen.wei@example.cn",
        "Yunfan",
        "Architect",
        R.PEER,
        "Hackathon",
        (),
        first_met_days_ago=None,
        tz="Asia/Shanghai",
        city="Shanghai",
    ),
    _Person(
        "Isabel García",
        "isabel.garcia@example.es",
        "Mercado Digital",
        "COO",
        R.MENTOR,
        "Women in Tech breakfast",
        (30, 80),
        meals=(Meal.BREAKFAST,),
        tz="Europe/Madrid",
        city="Madrid",
    ),
    _Person(
        "Oliver Schmidt",
        "oliver.schmidt@example.de",
        "Nordlicht GmbH",
        "Engineer",
        R.PEER,
        "Same team",
        (20, 45, 100),
    ),
    _Person(
        "Fatima Zahra",
        "fatima.z@example.ma",
        "Atlas Cloud",
        "SRE Lead",
        R.PEER,
        "Incident review guild",
        (8,),
        meals=(Meal.LUNCH,),
    ),
    _Person(
        "Lukas Braun",
        "lukas.braun@example.de",
        "Ventura Capital",
        "Partner",
        R.SPONSOR,
        "Demo day",
        (140,),
        meals=(Meal.BREAKFAST,),
        questions=("Intro to the climate fund?",),
    ),
    _Person(
        "Emma Johansson",
        "emma.j@example.se",
        "Nordic Apps",
        "Engineering Manager",
        R.ADVOCATE,
        "Conference panel",
        (70, 150),
        tz="Europe/Stockholm",
        city="Stockholm",
    ),
    _Person(
        "Rafael Costa",
        "rafael.costa@example.br",
        "Pago",
        "Principal Engineer",
        R.PEER,
        "Rust meetup",
        (16,),
        tz="America/Sao_Paulo",
        city="São Paulo",
    ),
    _Person(
        "Hannah Müller",
        "hannah.mueller@example.de",
        "Kita Tech",
        "Founder",
        R.FRIEND,
        "Neighbour",
        (25, 90),
        meals=(Meal.COFFEE,),
    ),
    _Person(
        "Noah Williams",
        "noah.w@example.com",
        "Globex",
        "Director",
        R.DEPARTMENT_HEAD,
        "Partner kickoff",
        (200,),
        tz="America/New_York",
        city="New York",
    ),
    _Person(
        "Mia Novak",
        "mia.novak@example.cz",
        "Prague Labs",
        "Data Scientist",
        R.OTHER,
        "Workshop",
        (),
        first_met_days_ago=400,
    ),
    _Person(
        "Yusuf Demir",
        "yusuf.demir@example.tr",
        "Bosphorus AI",
        "CEO",
        R.OTHER,
        "Meetup",
        (5,),
        do_not_invite=True,
        notes="Asked not to be contacted for now.",
    ),
    _Person(
        "Clara Dubois",
        "clara.dubois@example.fr",
        "Lyra",
        "Head of Product",
        R.PEER,
        "Product camp",
        (100,),
        snooze_days=20,
        tz="Europe/Paris",
        city="Paris",
    ),
    _Person(
        "Ben Carter",
        "ben.carter@example.co.uk",
        "Thames Data",
        "Consultant",
        R.RECRUITER,
        "Career fair",
        (130,),
        tz="Europe/London",
        city="London",
    ),
    _Person(
        "Greta Larsen",
        "greta.larsen@example.dk",
        "Windkraft",
        "VP Ops",
        R.MENTOR,
        "Mentoring programme",
        (46, 95, 140),
        meals=(Meal.BREAKFAST,),
        days=(0, 2, 4),
    ),
    _Person(
        "Mateo Rinaldi",
        "mateo.rinaldi@example.it",
        "Fermata",
        "Engineer",
        R.FRIEND,
        "Climbing gym",
        (55,),
        cadence_days=30,
    ),
    _Person(
        "Zoe Adams",
        "zoe.adams@example.com",
        "Helix Bio",
        "Chief of Staff",
        R.ADVOCATE,
        "Leadership offsite",
        (18,),
    ),
)


def demo_contacts(today: date) -> list[Contact]:
    """About 25 contacts with varied relationships and histories, relative to `today`."""
    contacts = []
    for p in _PEOPLE:
        interactions = tuple(
            Interaction(on=today - timedelta(days=d), kind=InteractionKind.COFFEE)
            for d in sorted(p.met_days_ago, reverse=True)
        )
        first = (
            today - timedelta(days=p.first_met_days_ago)
            if p.first_met_days_ago is not None
            else (interactions[0].on if interactions else None)
        )
        contacts.append(
            Contact(
                name=p.name,
                emails=(p.email,),
                company=p.company,
                title=p.title,
                relationship=p.relationship,
                tags=p.tags,
                how_met=p.how_met,
                first_met=first,
                interactions=interactions,
                cadence_days=p.cadence_days,
                preferred_meals=frozenset(p.meals),
                preferred_days=frozenset(p.days),
                timezone=p.tz,
                city=p.city,
                notes=p.notes,
                questions=p.questions,
                do_not_invite=p.do_not_invite,
                snoozed_until=today + timedelta(days=p.snooze_days) if p.snooze_days else None,
            )
        )
    return contacts


def demo_calendar(today: date, zone: ZoneInfo, owner_email: str) -> bytes:
    """A two-week work calendar starting on the Monday of `today`'s week, as ICS bytes."""
    from icalendar import Calendar, Event, vCalAddress

    monday = today - timedelta(days=today.weekday())
    cal = Calendar()
    cal.add("prodid", "-//meetagain//demo//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", DEMO_CALENDAR_NAME)
    stamp = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    counter = 0

    def event(summary: str, day: date, start: time, minutes: int, **extra: object) -> Event:
        nonlocal counter
        counter += 1
        ev = Event()
        ev.add("uid", f"demo-{counter}@meetagain")
        ev.add("dtstamp", stamp)
        ev.add("summary", summary)
        begin = datetime.combine(day, start, tzinfo=zone)
        ev.add("dtstart", begin)
        ev.add("dtend", begin + timedelta(minutes=minutes))
        for key, value in extra.items():
            ev.add(key.replace("_", "-"), value)
        cal.add_component(ev)
        return ev

    # Daily stand-up, every weekday, as a recurring series.
    standup = event(
        "Team stand-up",
        monday,
        time(9, 30),
        15,
        rrule={"freq": "weekly", "byday": ["MO", "TU", "WE", "TH", "FR"], "count": 10},
    )
    standup.add("description", "Recurring daily sync")
    d = lambda n: monday + timedelta(days=n)  # noqa: E731
    event("Planning", d(0), time(10, 0), 90)
    event("Lunch with the team", d(1), time(12, 0), 60)
    event("Early flight prep", d(2), time(7, 0), 90)
    event("1:1 with manager", d(3), time(12, 30), 30)
    event("Customer call", d(4), time(8, 0), 30, status="TENTATIVE")
    event("Focus time", d(4), time(14, 0), 120, transp="TRANSPARENT")
    event("Architecture review", d(7), time(8, 30), 60)
    declined = event("Vendor pitch", d(8), time(12, 0), 60)
    me = vCalAddress(f"mailto:{owner_email}")
    me.params["PARTSTAT"] = "DECLINED"
    declined.add("attendee", me)
    event("Dentist", d(9), time(7, 45), 45)
    event("Board prep", d(10), time(11, 30), 120)
    event("Offsite", d(11), time(0, 0), 0)  # replaced by an all-day event below
    cal.subcomponents.pop()
    allday = Event()
    allday.add("uid", "demo-offsite@meetagain")
    allday.add("dtstamp", stamp)
    allday.add("summary", "Team offsite")
    allday.add("dtstart", d(11))
    allday.add("dtend", d(12))
    cal.add_component(allday)
    return cal.to_ical()


def load_demo(runtime: Runtime, user_id: int, today: date | None = None) -> str:
    """Write the demo calendar, register it and add the demo contacts that are missing."""
    config = runtime.config
    zone = config.zone
    real_today = datetime.now(zone).date()
    today = today or real_today
    folder = config.instance_dir
    folder.mkdir(parents=True, exist_ok=True)
    ics_path = Path(folder) / "demo-calendar.ics"
    # Whole or not at all: a full disk must not leave a truncated calendar in its place.
    write_atomically(ics_path, demo_calendar(today, zone, config.owner.emails[0]))
    added = 0
    with transaction(runtime.sessions) as session:
        found = calendars.by_name(session, user_id, DEMO_CALENDAR_NAME)
        if found is not None:
            calendar_id = found.id
        else:
            calendar_id = calendars.add(
                session,
                user_id,
                name=DEMO_CALENDAR_NAME,
                kind="ics",
                location=str(ics_path.resolve()),
                now=datetime.now(UTC),
            )
        contacts = demo_contacts(today)
        taken = email_owners(session, user_id, [c.emails[0] for c in contacts])
        repo = ContactRepository(session, user_id)
        for contact in contacts:
            if contact.emails[0].lower() not in taken:
                repo.add(contact, interaction_source="demo")
                added += 1
    from web.services.calendar_sync import sync_calendar

    # The calendar file was just (re)written; a demo pinned to another day is read around it.
    pinned = datetime.combine(today, time(8), tzinfo=zone)
    sync_calendar(runtime, calendar_id, now=None if today == real_today else pinned)
    total = len(_PEOPLE)
    return (
        f"demo calendar written to {ics_path}; contacts: {added} added, "
        f"{total - added} already there"
    )


@dataclass(frozen=True)
class DemoRemoved:
    """What `remove_demo` took away."""

    contacts: int
    calendars: int
    invites: int
    bookings: int

    def summary(self) -> str:
        return "demo data removed: " + ", ".join(
            (
                counted(self.contacts, "contact"),
                counted(self.calendars, "calendar"),
                counted(self.invites, "invite"),
                counted(self.bookings, "booking"),
            )
        )


def remove_demo(runtime: Runtime, user_id: int) -> DemoRemoved:
    """Remove what `load_demo` added: its contacts (matched by their demo email, with their
    history), their invites and bookings, and the demo calendar with its file."""
    with transaction(runtime.sessions) as session:
        ids = list(email_owners(session, user_id, _demo_emails()).values())
        # Emails and interactions go with the contact (ON DELETE CASCADE); invites and
        # bookings too, but they are counted for the summary.
        invites, bookings = BookingStore(session).remove_of_contacts(user_id, ids)
        remove_all(session, user_id, ids)
        demo_calendar = calendars.by_name(session, user_id, DEMO_CALENDAR_NAME)
        if demo_calendar is not None:
            with trips_followed(runtime, session, user_id):
                calendars.remove(session, demo_calendar.id)
    ours = (Path(runtime.config.instance_dir) / "demo-calendar.ics").resolve()
    if demo_calendar is not None:
        path = Path(demo_calendar.location)
        if path.resolve() == ours:  # only the file load_demo wrote, never one of the user's
            path.unlink(missing_ok=True)
    return DemoRemoved(len(ids), int(demo_calendar is not None), invites, bookings)


def _demo_emails() -> list[str]:
    return [p.email.lower() for p in _PEOPLE]


def demo_present(runtime: Runtime, user_id: int) -> int:
    """How many demo contacts and calendars the user has (0: nothing to remove)."""
    with transaction(runtime.sessions) as session:
        contacts = email_owners(session, user_id, _demo_emails())
        demo_calendar = calendars.by_name(session, user_id, DEMO_CALENDAR_NAME)
    return len(contacts) + int(demo_calendar is not None)
