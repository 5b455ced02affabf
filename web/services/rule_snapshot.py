"""What the rules derive from all of a user's contacts, computed once per change of the data.

Who is due, in what order, the health chart's counts and the contacts list's "most overdue
first" order all read every contact: for a heavy networker (30,000 LinkedIn connections) that
is half a second of loading and rules per page. The result depends only on the stored contacts,
their emails and confirmed meetings (`contacts.fingerprint`, a few milliseconds to read), the
day, the rules and the invite history, so it is kept here and reused while those stay the same.
When only a few contacts changed (a meeting logged, a snooze, an edit), only they are loaded and
judged again (`scheduler.rules.reevaluate`); anything else (contacts added, removed or renamed,
another day, other rules or invites) builds it anew.

Why a module-level memo (it outlives a request): it is keyed by everything the result depends
on, read fresh from the database on every call, so a change by another process or worker is
seen by the next request; it holds the last result of at most `KEEP` users (the memory of one
network each). Contacts and reports in it are never changed, derived results only added. The
rules themselves stay in `scheduler`: this only decides when their answer can be reused.
"""

from __future__ import annotations

import gc
import threading
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from integrations.storage.contacts import changes_since, fingerprint, load_contacts
from scheduler.model import Contact
from scheduler.rules import (
    DueReport,
    InviteHistory,
    RulesLike,
    asleep,
    evaluate,
    health_bucket,
    health_counts,
    most_overdue_key,
    reevaluate,
)

T = TypeVar("T")
KEEP = 4  # users whose snapshot is kept (the most recently used)


@dataclass
class Snapshot:
    """All of a user's contacts (by name) and what the rules say about them today; what is
    derived further (the chart's counts, the list's order, the plan's shortlist) is made on
    first use and kept with it."""

    contacts: list[Contact]
    report: DueReport
    today: date
    rules: RulesLike
    derived: dict[Hashable, Any] = field(default_factory=dict)

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The derived result under `key`, made once."""
        if key not in self.derived:
            self.derived[key] = _without_collections(make)
        return self.derived[key]

    def by_id(self) -> dict[int, Contact]:
        found: dict[int, Contact] = self.get(
            "by id", lambda: {c.id: c for c in self.contacts if c.id is not None}
        )
        return found

    def health(self) -> dict[str, int]:
        """How many contacts are in each of the health chart's buckets."""
        found: dict[str, int] = self.get(
            "health",
            lambda: health_counts(self.contacts, self.today, self.rules, self.follow_ups()),
        )
        return found

    def ranked(self) -> tuple[list[int], list[int]]:
        """The contacts list's "most overdue first" (`scheduler.rules.most_overdue_key`: in
        the order of the days overdue the list shows); and apart, in the same order, the
        snoozed contacts."""
        found: tuple[list[int], list[int]] = self.get("ranked", self._rank)
        return found

    def follow_ups(self) -> frozenset[int]:
        """The contacts the rules ask to follow up now."""
        found: frozenset[int] = self.get(
            "follow-ups",
            lambda: frozenset(
                d.contact.id
                for d in self.report.due
                if d.kind == "follow-up" and d.contact.id is not None
            ),
        )
        return found

    def overdue_key(self, c: Contact) -> tuple[int, int, int, str, str, int]:
        return most_overdue_key(c, self.today, self.rules, follow_up=c.id in self.follow_ups())

    def by_overdue(self) -> list[int]:
        """Every contact's id, most overdue first."""
        found: list[int] = self.get(
            "by overdue",
            lambda: [c.id for c in sorted(self.contacts, key=self.overdue_key) if c.id],
        )
        return found

    def _rank(self) -> tuple[list[int], list[int]]:
        every = self.by_id()
        today = self.today
        awake: list[int] = []
        sleeping: list[int] = []
        for cid in self.by_overdue():
            (sleeping if asleep(every[cid], today) else awake).append(cid)
        return awake, sleeping


_memo: OrderedDict[tuple[str, int], tuple[tuple[Any, ...], Snapshot]] = OrderedDict()
_lock = threading.Lock()


def snapshot(
    session: Session,
    user_id: int,
    *,
    today: date,
    rules: RulesLike,
    history: Mapping[int, InviteHistory],
) -> Snapshot:
    """The user's snapshot for `today`, `rules` and invite `history`, computed only when the
    stored contacts (or any of those) changed since the last call."""
    # The same user id in another database (tests, benchmarks) is another user.
    who = (str(session.connection().engine.url), user_id)
    key = (fingerprint(session, user_id), today, repr(rules), tuple(sorted(history.items())))
    with _lock:
        found = _memo.get(who)
        if found is not None and found[0] == key:
            _memo.move_to_end(who)
            return found[1]
    made = None
    if found is not None and found[0][1:] == key[1:]:
        # The same day, rules and history: a few contacts changed, judge only them again.
        before, old = found[0][0], found[1]
        made = _without_collections(
            lambda: _refresh(session, user_id, old, before, key[0], history)
        )
    if made is None:
        made = _without_collections(
            lambda: _make(load_contacts(session, user_id), today, rules, history)
        )
    with _lock:
        _memo[who] = (key, made)
        _memo.move_to_end(who)
        while len(_memo) > KEEP:
            _memo.popitem(last=False)
    return made


def _without_collections(build: Callable[[], T]) -> T:
    """Build with the cyclic garbage collector paused: tens of thousands of new (acyclic)
    contacts would otherwise set off collections that walk every live object, the previous
    snapshot included, which doubles the time of a build. Reference counting still frees
    everything; collection resumes right after."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return build()
    finally:
        if paused:
            gc.enable()


REFRESH_AT_MOST = 200  # more contacts changed than this: build anew


def _refresh(
    session: Session,
    user_id: int,
    old: Snapshot,
    before: tuple[Any, ...],
    now: tuple[Any, ...],
    history: Mapping[int, InviteHistory],
) -> Snapshot | None:
    """`old` brought up to date when contacts were only changed or given meetings (none
    added, removed or renamed, no meeting removed or confirmed later); else None."""
    changes = changes_since(session, user_id, before)
    count, max_id, *_ = before
    meetings, confirmed = before[4], before[6]
    if (
        now[0] != count
        or now[1] != max_id
        or now[4] != meetings + changes.meetings
        or now[6] != confirmed + changes.confirmed
        or not changes.contact_ids
        or len(changes.contact_ids) > REFRESH_AT_MOST
    ):
        return None
    every = old.by_id()
    fresh = load_contacts(session, user_id, ids=changes.contact_ids)
    if any(c.id not in every or every[c.id].name != c.name for c in fresh):
        return None  # the list's order by name would move
    if len(fresh) != len(changes.contact_ids):
        return None
    now_by_id = {c.id: c for c in fresh}
    contacts = [now_by_id.get(c.id, c) for c in old.contacts]
    report = reevaluate(
        old.report, contacts, fresh, today=old.today, rules=old.rules, history=history
    )
    made = Snapshot(contacts, report, old.today, old.rules)
    if "health" in old.derived:
        counts = dict(old.health())
        asked, asks = old.follow_ups(), made.follow_ups()
        for c in fresh:
            was = every[c.id or 0]
            counts[health_bucket(was, old.today, old.rules, follow_up=was.id in asked)] -= 1
            counts[health_bucket(c, old.today, old.rules, follow_up=c.id in asks)] += 1
        made.derived["health"] = counts
    if "by overdue" in old.derived:
        current = made.by_id()

        def key(cid: int) -> tuple[int, int, int, str, str, int]:
            return made.overdue_key(current[cid])

        order = [cid for cid in old.by_overdue() if cid not in now_by_id]
        for c in fresh:
            if c.id is not None:
                order.insert(bisect_left(order, made.overdue_key(c), key=key), c.id)
        made.derived["by overdue"] = order
    return made


def _make(
    contacts: list[Contact],
    today: date,
    rules: RulesLike,
    history: Mapping[int, InviteHistory],
) -> Snapshot:
    report = evaluate(contacts, today=today, rules=rules, history=history)
    return Snapshot(contacts, report, today, rules)
