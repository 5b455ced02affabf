"""The rules engine: who is due for a coffee, who is excluded, and why, in plain sentences.

Pure: `today` is passed in, nothing is read from the clock or the outside world.

Scoring, so the order reads right:
- a follow-up (met exactly once, between `follow_up_after_days` and `follow_up_window_days` ago)
  scores FOLLOW_UP_BASE plus the days since the meeting, so every follow-up ranks above every
  cadence-due contact, and among follow-ups the one whose window closes first comes first;
- a cadence-due contact scores `weight(relationship) * min(days_since / cadence, OVERDUE_CAP)`,
  i.e. how overdue relative to its own cadence, weighted by how much the relationship matters.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Protocol

from scheduler.model import Contact, Interaction, InteractionKind, Relationship
from scheduler.text import counted, fold, moment_text

FOLLOW_UP_BASE = 100.0
OVERDUE_CAP = 10.0

# How much an overdue relationship matters relative to a peer.
RELATIONSHIP_WEIGHT: dict[Relationship, float] = {
    Relationship.MENTOR: 1.5,
    Relationship.SPONSOR: 1.4,
    Relationship.ADVOCATE: 1.3,
    Relationship.DEPARTMENT_HEAD: 1.2,
    Relationship.PEER: 1.0,
    Relationship.FRIEND: 1.0,
    Relationship.RECRUITER: 0.8,
    Relationship.OTHER: 0.7,
}

_LABEL: dict[Relationship, str] = {
    Relationship.DEPARTMENT_HEAD: "Department head",
}

_LAST: dict[InteractionKind, str] = {
    InteractionKind.COFFEE: "last coffee",
    InteractionKind.MEAL: "last meal",
    InteractionKind.MEETING: "last met",
    InteractionKind.CALL: "last call",
    InteractionKind.EMAIL: "last email",
    InteractionKind.EVENT: "last seen at an event",
}


class RulesLike(Protocol):
    """What the engine reads from `integrations.config.RulesConfig` (or any look-alike)."""

    @property
    def cadence_days(self) -> Mapping[str, int]: ...
    @property
    def follow_up_after_days(self) -> int: ...
    @property
    def follow_up_window_days(self) -> int: ...
    @property
    def decline_cooldown_days(self) -> int: ...
    @property
    def ignored_invites_to_pause(self) -> int: ...


# The longest cadence anyone can set (ten years): beyond it, keeping in touch is not the point,
# and a due date would leave the calendar's range.
LONGEST_CADENCE_DAYS = 3650
# A snooze lasts from a day up to this many.
LONGEST_SNOOZE_DAYS = 3650
# The most each [rules] number may be (the settings form and config.toml alike): far beyond
# any sensible value, and small enough that a date plus that many days stays a date.
RULE_LIMITS: Mapping[str, int] = MappingProxyType(
    {
        "follow_up_after_days": 10000,
        "follow_up_window_days": 10000,
        "decline_cooldown_days": 10000,
        "ignored_invites_to_pause": 10000,
    }
)
# The most meetings one imported contact may claim (an import's `times_met`). Each claimed
# meeting becomes a stored interaction, so the count needs a bound: 500 is a weekly coffee for
# almost ten years, more than any real count, while a typo or a hostile file cannot make
# millions of rows (one row claiming 10**23 meetings ran the import out of memory).
MOST_MEETINGS_PER_IMPORTED_CONTACT = 500
# The most meetings one import may add in all: many rows at the limit above still add at most
# this many (a few seconds of writing); the rows past it keep only the meeting on their
# last_met date (one a row, as any contact with a last_met has) and say their count was left out.
MOST_MEETINGS_PER_IMPORT = 100_000

# The documented cadence per relationship, in days; [rules.cadence_days] overrides it.
DEFAULT_CADENCE_DAYS: Mapping[str, int] = MappingProxyType(
    {
        "mentor": 45,
        "advocate": 60,
        "sponsor": 60,
        "department-head": 90,
        "peer": 90,
        "recruiter": 120,
        "friend": 60,
        "other": 180,
    }
)


@dataclass(frozen=True)
class DefaultRules:
    """The documented defaults, for callers without a config."""

    cadence_days: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CADENCE_DAYS))
    follow_up_after_days: int = 2
    follow_up_window_days: int = 21
    decline_cooldown_days: int = 30
    ignored_invites_to_pause: int = 3


@dataclass(frozen=True, slots=True)
class InviteHistory:
    """What past invites to one contact say about asking again.

    `open_since`: creation date of an invite still waiting for an answer (None if none).
    `last_declined` / `last_ignored`: date of the latest decline / expiry without answer.
    `ignored_in_a_row`: invites that expired unanswered since the last answer (or unpause).
    `booked_for`: start of the next coffee booked and not yet over, in the owner's zone.
    """

    open_since: date | None = None
    last_declined: date | None = None
    last_ignored: date | None = None
    ignored_in_a_row: int = 0
    booked_for: datetime | None = None


@dataclass(frozen=True, slots=True)
class DueContact:
    contact: Contact
    score: float
    reasons: tuple[str, ...]
    kind: str  # "follow-up" | "cadence"


@dataclass(frozen=True, slots=True)
class Excluded:
    contact: Contact
    reasons: tuple[str, ...]
    paused: bool = False  # ignored too many invites: flagged until the user unpauses


@dataclass(frozen=True, slots=True)
class DueReport:
    due: list[DueContact]
    excluded: list[Excluded]
    not_yet_met: list[Contact] = field(default_factory=list)


def _on(item: Interaction) -> date:
    return item.on


def day_label(day: date, today: date) -> str:
    """'10 Mar', with the year when it is not this year's."""
    text = f"{day.day} {day:%b}"
    return text if day.year == today.year else f"{text} {day.year}"


# Words that already say how two people met: "at PyCon", "through Ana", "via LinkedIn".
_MET_PREPOSITIONS = frozenset(
    ("at", "in", "on", "through", "via", "from", "during", "after", "over", "by", "with", "when")
)


def met_in_own_words(how_met: str) -> str | None:
    """The words after "met" when `how_met` says them itself: "at TechConf" for "Met at
    TechConf" (the "met" typed is not said twice), "through Ana"; None for a bare name."""
    text = _without_met(how_met)
    if not text or text.split(maxsplit=1)[0].lower() not in _MET_PREPOSITIONS:
        return None
    return text


def where_met(how_met: str) -> str:
    """`how_met` as the words after "met": "at PyCon" for "PyCon", else as it says itself."""
    own = met_in_own_words(how_met)
    text = _without_met(how_met)
    return own if own is not None else f"at {text}" if text else ""


def _without_met(how_met: str) -> str:
    text = how_met.strip()
    return text[4:].lstrip() if text[:4].lower() == "met " or text.lower() == "met" else text


def _ago(n: int) -> str:
    return "today" if n == 0 else f"{counted(n, 'day')} ago"


def relationship_label(rel: Relationship) -> str:
    return _LABEL.get(rel, rel.value.capitalize())


def met_without_date(contact: Contact) -> bool:
    """How you met says you did, though no meeting has a date (a LinkedIn connection alone
    is not a meeting)."""
    how = contact.how_met.strip().casefold()
    return bool(how) and how != "linkedin"


def no_meeting_date(contact: Contact) -> str:
    """What a contact with no meeting date yet is called."""
    return "met, no date yet" if met_without_date(contact) else "never met"


def connected_only(contact: Contact) -> bool:
    """The first-met date is a LinkedIn connection, not a meeting: nothing logged since."""
    return (
        contact.first_met is not None
        and not contact.interactions
        and contact.how_met.strip().casefold() == "linkedin"
    )


def last_met(contact: Contact) -> date | None:
    """The latest meeting: a logged one, else the first meeting (a connection is none)."""
    if contact.interactions:
        return contact.last_met
    return None if connected_only(contact) else contact.first_met


def cadence_for(contact: Contact, rules: RulesLike) -> int:
    """The contact's own cadence if set, else the relationship's default."""
    if contact.cadence_days:
        return contact.cadence_days
    return int(rules.cadence_days.get(contact.relationship.value, 180))


def due_date(contact: Contact, rules: RulesLike) -> date | None:
    """The day the cadence comes round: the last meeting (or the first) plus the cadence."""
    last = contact.last_met or contact.first_met
    return None if last is None else last + timedelta(days=cadence_for(contact, rules))


def asleep(contact: Contact, today: date) -> bool:
    """Snoozed past today: not overdue for anything until the snooze ends."""
    return contact.snoozed_until is not None and contact.snoozed_until > today


def overdue_days(contact: Contact, today: date, rules: RulesLike) -> int | None:
    """How many days past its due date the contact is today (negative: days until it comes;
    None: never met, so no due date)."""
    due_on = due_date(contact, rules)
    return None if due_on is None else (today - due_on).days


# How near a due date counts as "due soon" (the list's "due in N days", the chart's bucket).
DUE_SOON_DAYS = 14


def standing(contact: Contact, today: date, overdue: int | None, *, follow_up: bool = False) -> str:
    """Where the contact stands today, as the contacts list says it, given its `overdue_days`
    and whether the rules ask for a follow-up now: "do-not-invite", "paused", "snoozed",
    "never-met", "overdue", "follow-up" (asked for before the due date), "due-today",
    "due-soon" (within DUE_SOON_DAYS) or "on-track"."""
    if contact.do_not_invite:
        return "do-not-invite"
    if contact.paused:
        return "paused"
    if asleep(contact, today):
        return "snoozed"
    if overdue is None:
        return "never-met"
    if overdue > 0:
        return "overdue"
    if follow_up:
        return "follow-up"
    if overdue == 0:
        return "due-today"
    if overdue > -DUE_SOON_DAYS:
        return "due-soon"
    return "on-track"


# "Most overdue first": the follow-ups the rules ask for (they show no days overdue, and a
# follow-up is only worth it while the meeting is fresh), then everyone with a due date by
# days overdue (most first; then those due soonest), then who was never met, and last who is
# not to be invited now (do not invite, paused, snoozed), among them in the same order.
_SET_ASIDE = frozenset({"do-not-invite", "paused", "snoozed"})


def most_overdue_key(
    contact: Contact, today: date, rules: RulesLike, *, follow_up: bool = False
) -> tuple[int, int, int, str, str, int]:
    """The contacts list's "most overdue first" order, in the days overdue each line shows
    (`overdue_days`, `standing`); ties by name (`scheduler.text.fold`), name and id."""
    overdue = overdue_days(contact, today, rules)
    where = standing(contact, today, overdue, follow_up=follow_up)
    set_aside = 1 if where in _SET_ASIDE else 0
    rank = 2 if overdue is None else 0 if where == "follow-up" else 1
    days = 0 if overdue is None else -overdue
    return (set_aside, rank, days, fold(contact.name), contact.name, contact.id or 0)


# The dashboard's health chart: every contact in one bucket, by how overdue they are.
HEALTH_BUCKETS = (
    ("on-track", "On track"),
    ("due-soon", "Due now or within 2 weeks"),
    ("overdue", "Overdue up to a month"),
    ("long-overdue", "Overdue more than a month"),
    ("never", "Never met, or no date to count from"),
    ("paused", "Snoozed, paused or not invited"),
)


def health_bucket(
    contact: Contact, today: date, rules: RulesLike, *, follow_up: bool = False
) -> str:
    """Which bucket of HEALTH_BUCKETS the contact counts in today, as `standing` places them
    on the contacts list (a follow-up the rules ask for now is due now, not on track)."""
    overdue = overdue_days(contact, today, rules)
    where = standing(contact, today, overdue, follow_up=follow_up)
    if where in _SET_ASIDE:
        return "paused"
    if overdue is None:
        return "never"
    if overdue > 30:
        return "long-overdue"
    if overdue > 0:
        return "overdue"
    if where in ("follow-up", "due-today", "due-soon"):
        return "due-soon"
    return "on-track"


def health_counts(
    contacts: Iterable[Contact],
    today: date,
    rules: RulesLike,
    follow_ups: Collection[int] = frozenset(),
) -> dict[str, int]:
    """How many contacts fall in each of HEALTH_BUCKETS today; `follow_ups`: the ids of the
    contacts the rules ask to follow up now."""
    counts = dict.fromkeys((key for key, _ in HEALTH_BUCKETS), 0)
    for contact in contacts:
        follow_up = contact.id is not None and contact.id in follow_ups
        counts[health_bucket(contact, today, rules, follow_up=follow_up)] += 1
    return counts


def exclusion_reasons(
    contact: Contact, *, today: date, rules: RulesLike, history: InviteHistory | None
) -> tuple[list[str], bool]:
    """Why the contact must not be invited now (empty if nothing stops it) and the paused flag."""
    reasons: list[str] = []
    paused = False
    if contact.do_not_invite:
        reasons.append("Marked do-not-invite")
    if contact.snoozed_until is not None and contact.snoozed_until > today:
        left = (contact.snoozed_until - today).days
        reasons.append(
            f"Snoozed until {day_label(contact.snoozed_until, today)}, "
            f"{counted(left, 'day')} from now"
        )
    if contact.paused:
        paused = True
        reasons.append("Paused after ignored invites: unpause to invite again")
    if history is not None:
        limit = rules.ignored_invites_to_pause
        if history.ignored_in_a_row >= limit and not contact.paused:
            paused = True
            reasons.append(
                f"Ignored {history.ignored_in_a_row} invites in a row: paused until you unpause"
            )
        if history.booked_for is not None:
            b = history.booked_for
            reasons.append(f"Coffee booked for {moment_text(b)}")
        if history.open_since is not None:
            reasons.append(
                f"An invite sent on {day_label(history.open_since, today)} "
                f"({_ago((today - history.open_since).days)}) is still open"
            )
        cooldown = rules.decline_cooldown_days
        for when, verb in ((history.last_declined, "Declined"), (history.last_ignored, "Ignored")):
            if when is None:
                continue
            ago = (today - when).days
            if 0 <= ago < cooldown:
                reasons.append(
                    f"{verb} an invite {_ago(ago)}: waiting {cooldown} days before asking "
                    f"again ({counted(cooldown - ago, 'day')} left)"
                )
    return reasons, paused


def evaluate(
    contacts: Iterable[Contact],
    *,
    today: date,
    rules: RulesLike | None = None,
    history: Mapping[int, InviteHistory] | None = None,
) -> DueReport:
    """Split contacts into due (descending score), excluded (with reasons) and not yet met.

    Contacts that are neither (met recently, cadence not reached) are left out.
    """
    rules = rules or DefaultRules()
    history = history or {}
    due: list[DueContact] = []
    excluded: list[Excluded] = []
    not_met: list[Contact] = []
    after = rules.follow_up_after_days
    window = rules.follow_up_window_days
    for contact in contacts:
        hist = history.get(contact.id) if history and contact.id is not None else None
        if (
            hist is not None
            or contact.do_not_invite
            or contact.paused
            or (contact.snoozed_until is not None and contact.snoozed_until > today)
        ):
            reasons, paused = exclusion_reasons(contact, today=today, rules=rules, history=hist)
            if reasons:
                excluded.append(Excluded(contact, tuple(reasons), paused))
                continue
        log = contact.interactions
        latest = max(log, key=_on) if log else None
        times = len(log)
        # The first meeting counts even when the log does not hold it: met at PyCon on 1 Mar
        # (first met) and for coffee on 10 Mar is twice, so the coffee is no new follow-up.
        if contact.first_met is not None and (not log or contact.first_met < min(map(_on, log))):
            times += 1
        if latest is None and contact.first_met is None:
            not_met.append(contact)
            continue
        if times <= 1:
            met_on = latest.on if latest is not None else contact.first_met
            assert met_on is not None
            since = (today - met_on).days
            if after <= since <= window:
                where = where_met(contact.how_met)
                first = (
                    f"Connected on {contact.how_met}"
                    if connected_only(contact)
                    else f"Met once {where}".rstrip()
                )
                due.append(
                    DueContact(
                        contact,
                        round(FOLLOW_UP_BASE + since, 3),
                        (
                            f"{first} on {day_label(met_on, today)}, {_ago(since)}: "
                            "follow up while it's fresh",
                        ),
                        "follow-up",
                    )
                )
                continue
            if since < after:
                continue
        cadence = cadence_for(contact, rules)
        if latest is not None:
            since = (today - latest.on).days
            if since < cadence:
                continue
            what = f"{_LAST[latest.kind]} {_ago(since)}"
        else:
            assert contact.first_met is not None
            since = (today - contact.first_met).days
            if since < cadence:
                continue
            where = where_met(contact.how_met)
            what = (
                f"connected on {contact.how_met} {_ago(since)}"
                if connected_only(contact)
                else " ".join(filter(None, ("met once", where, _ago(since))))
            )
        own = " (own cadence)" if contact.cadence_days else ""
        ratio = min(since / cadence, OVERDUE_CAP)
        score = round(RELATIONSHIP_WEIGHT[contact.relationship] * ratio, 3)
        reason = f"{relationship_label(contact.relationship)}, {what}, every {cadence} days{own}"
        due.append(DueContact(contact, score, (reason,), "cadence"))
    due.sort(key=due_order)
    return DueReport(due=due, excluded=excluded, not_yet_met=not_met)


def due_order(d: DueContact) -> tuple[float, str, int]:
    """The order of the due list: highest score first; ties by name (case and accents aside,
    `scheduler.text.fold`), then id. Every list of due contacts is in this order."""
    return (-d.score, fold(d.contact.name), d.contact.id or 0)


def reevaluate(
    report: DueReport,
    contacts: Sequence[Contact],
    changed: Sequence[Contact],
    *,
    today: date,
    rules: RulesLike | None = None,
    history: Mapping[int, InviteHistory] | None = None,
) -> DueReport:
    """What `evaluate(contacts, ...)` says, from `report` (its answer for the same contacts,
    day, rules and history before `changed` changed) by evaluating only `changed` again: each
    contact is judged on its own, so only their places in the lists move. `changed` are
    contacts of `contacts` (same ids), as they are now."""
    ids = {c.id for c in changed}
    fresh = evaluate(changed, today=today, rules=rules, history=history)
    due = [d for d in report.due if d.contact.id not in ids]
    for d in fresh.due:
        insort(due, d, key=due_order)
    position = {c.id: n for n, c in enumerate(contacts)}
    excluded = sorted(
        [e for e in report.excluded if e.contact.id not in ids] + fresh.excluded,
        key=lambda e: position[e.contact.id],
    )
    not_met = sorted(
        [c for c in report.not_yet_met if c.id not in ids] + fresh.not_yet_met,
        key=lambda c: position[c.id],
    )
    return DueReport(due=due, excluded=excluded, not_yet_met=not_met)
