"""The invite's default personal message (the owner edits it before sending)."""

from __future__ import annotations

from collections.abc import Sequence

from integrations.emails.base import first_name

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
        lines.append(f"It's been a while since {how_met}, and I'd love to catch up.")
    else:
        lines.append("It's been a while, and I'd love to catch up.")
    lines.append("Would you have time for a coffee or a bite? Here are a few times that work.")
    asked = [q for q in questions if q]
    if asked:
        lines += ["", f"I'd love to hear: {asked[0]}"]
    lines += ["", owner_name or ""]
    return "\n".join(lines).rstrip() + "\n"
