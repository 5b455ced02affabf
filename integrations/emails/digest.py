"""The owner's Monday digest: who is due and why, proposed times with approve links, last week."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from integrations.emails.base import Email, Link, links, sentences
from scheduler.text import counted


@dataclass(frozen=True)
class DueRow:
    name: str
    reasons: tuple[str, ...]
    times: tuple[str, ...]
    approve_url: str  # "" when there is nothing to approve (no free time found)


def for_owner(
    *,
    owner: str,
    week: str,
    due: Sequence[DueRow],
    last_week: Sequence[str],
    home_url: str = "",
    settings_url: str = "",
) -> Email:
    paragraphs = [f"Good morning {owner}, here is your week of {week}."]
    sections: list[tuple[str, tuple[str | Link, ...]]] = []
    if due:
        paragraphs.append(
            f"{counted(len(due), 'person', 'people')} {'is' if len(due) == 1 else 'are'} due "
            "for a coffee. "
            "Each link opens a page where you confirm before anything is sent."
        )
        for row in due:
            lines: list[str | Link] = [
                f"Why: {'; '.join(row.reasons)}." if row.reasons else "Due now."
            ]
            if row.times:
                lines.append("Times: " + "; ".join(row.times))
            lines.append(
                Link("Approve and send", row.approve_url)
                if row.approve_url
                else "No free time fits this week."
            )
            sections.append((row.name, tuple(lines)))
    else:
        paragraphs.append("Nobody is due this week.")
    sections.append(("Last week's coffees", tuple(last_week) or ("None last week.",)))
    return Email(
        subject=f"Your week of {week}: {len(due)} due",
        paragraphs=sentences(*paragraphs),
        sections=tuple(sections),
        links=links(("Open meetagain", home_url), ("Stop these emails", settings_url)),
    )
