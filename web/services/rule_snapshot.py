"""What the rules derive from all of a user's contacts, computed once per change of the data.

Who is due, in what order, the health chart's counts and the contacts list's "most overdue
first" order all read every contact: for a heavy networker (30,000 LinkedIn connections) that
is half a second of loading and rules per page. The result depends only on the stored contacts,
their emails and confirmed meetings (`contacts.fingerprint`, a few milliseconds to read), the
day, the rules and the invite history, so it is kept here and reused while those stay the same.

Why a module-level memo (it outlives a request): it is keyed by everything the result depends
on, read fresh from the database on every call, so a change by another process or worker is
seen by the next request; it holds the last result of at most `KEEP` users (the memory of one
network each), and nothing in it is ever mutated. The rules themselves stay in `scheduler`:
this only decides when their answer can be reused.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from integrations.storage.contacts import fingerprint, load_contacts
from scheduler.model import Contact
from scheduler.rules import (
    DueReport,
    InviteHistory,
    RulesLike,
    asleep,
    due_date,
    evaluate,
    health_counts,
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
            "health", lambda: health_counts(self.contacts, self.today, self.rules)
        )
        return found

    def ranked(self) -> tuple[list[int], list[int]]:
        """The contacts list's "most overdue first": who is due in the rules' order, then the
        rest by how overdue; and apart, in the same order, the snoozed contacts."""
        found: tuple[list[int], list[int]] = self.get("ranked", self._rank)
        return found

    def _rank(self) -> tuple[list[int], list[int]]:
        today, rules = self.today, self.rules
        order = {d.contact.id: n for n, d in enumerate(self.report.due)}

        def how_overdue(c: Contact) -> tuple[int, str]:
            due_on = due_date(c, rules)
            return (-(today - due_on).days if due_on else 10**6, c.name.lower())

        by_overdue = sorted(self.contacts, key=how_overdue)
        awake = sorted(
            (c for c in by_overdue if not asleep(c, today)),
            key=lambda c: order.get(c.id, len(order)),
        )
        return (
            [c.id for c in awake if c.id is not None],
            [c.id for c in by_overdue if c.id is not None and asleep(c, today)],
        )


_memo: OrderedDict[tuple[str, int], tuple[Hashable, Snapshot]] = OrderedDict()
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


def _make(
    contacts: list[Contact],
    today: date,
    rules: RulesLike,
    history: Mapping[int, InviteHistory],
) -> Snapshot:
    report = evaluate(contacts, today=today, rules=rules, history=history)
    return Snapshot(contacts, report, today, rules)
