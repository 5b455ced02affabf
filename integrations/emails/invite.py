"""The invite: its default personal message (the owner edits it before sending), and the email
that carries it with one link per proposed time."""

from __future__ import annotations

from collections.abc import Sequence

from integrations.emails.base import Email, Link, first_name, links
from scheduler.rules import met_in_own_words

# Under this many days since the last meeting, "it's been a while" would be untrue.
A_WHILE_DAYS = 30


def default_message(
    owner_name: str,
    contact_name: str,
    *,
    how_met: str = "",
    questions: Sequence[str] = (),
    days_since_met: int | None = None,
) -> str:
    lines = [f"Hi {first_name(contact_name)},", ""]
    recent = days_since_met is not None and days_since_met < A_WHILE_DAYS
    if recent:
        lines.append("It was good to see you recently, and I'd love to continue our conversation.")
    elif how_met:
        # "since PyCon" reads well; a how-met that says it itself ("Met at TechConf",
        # "through Ana") reads as "since we met at TechConf".
        own = met_in_own_words(how_met)
        since = f"we met {own}" if own is not None else how_met.strip()
        lines.append(f"It's been a while since {since}, and I'd love to catch up.")
    elif days_since_met is None:
        # Never met as far as meetagain knows: there is nothing to catch up on yet.
        lines.append("I'd love to meet and hear what you're working on.")
    else:
        lines.append("It's been a while, and I'd love to catch up.")
    lines.append("Would you have time for a coffee or a bite? Here are a few times that work.")
    # "Questions to ask" may hold the owner's own prep notes ("Share the talk recording"):
    # only a question (it ends with "?") is put to them.
    asked = [q.strip() for q in questions if q.strip().endswith("?")]
    if asked:
        lines += ["", f"I'd love to hear: {asked[0]}"]
    lines += ["", owner_name or ""]
    return "\n".join(lines).rstrip() + "\n"


def for_invitee(
    *, owner: str, invitee: str, message: str, times: Sequence[Link], url: str
) -> Email:
    """The invite email: the owner's message, a link per time (label, link, where), then
    "none of these" and "not now"."""
    first = first_name(invitee, "")
    return Email(
        subject=f"Coffee{', ' + first if first else ''}? {owner} would like to catch up",
        paragraphs=(message.strip(),),
        sections=(("Pick a time (one click opens it, one more confirms):", tuple(times)),),
        links=links(
            ("None of these work", f"{url}?action=suggest"),
            ("Not now", f"{url}?action=decline"),
            ("Or open the invite", url),
        ),
    )
