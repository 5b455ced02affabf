"""The owner's own invite message: a template with placeholders, and a signature.

Pure text: placeholders are replaced by name only ({first_name}, never attribute access or
format specs). Anything else written in braces is refused when the template is saved (see
`unknown_placeholders`), so no half-typed placeholder reaches an invitee.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDERS = {
    "first_name": "their first name",
    "name": "their full name",
    "how_met": "how you met (empty when not recorded)",
    "question": "the first of your questions to ask them (empty when none)",
    "my_name": "your name",
}
_FIELD = re.compile(r"\{([A-Za-z_]+)\}")
MAX_TEMPLATE = 5000
MAX_SIGNATURE = 1000


# What reads as an attempt at a placeholder: a short brace group on one line ({0},
# {first_name.x}, {name!r}), or a placeholder's name after a brace that is never closed.
_BRACED = re.compile(r"\{([^{}\n]{0,40})\}")
_UNCLOSED = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")(?![A-Za-z_}])")


def unknown_placeholders(template: str) -> list[str]:
    """What `template` writes in braces that is no placeholder ("{first_name" for one never
    closed), in order of appearance: each would reach the invitee as typed."""
    braced = list(_BRACED.finditer(template))
    found = [(m.start(), m.group(1)) for m in braced if m.group(1) not in PLACEHOLDERS]
    closed = {m.start() for m in braced}  # a group closed later is not "never closed"
    found += [
        (m.start(), m.group(0)) for m in _UNCLOSED.finditer(template) if m.start() not in closed
    ]
    return list(dict.fromkeys(text for _, text in sorted(found)))


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """`template` with each known {placeholder} replaced by its value; lines left empty by an
    empty value keep the text around them readable (no doubled blank lines)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return values.get(name, "") if name in PLACEHOLDERS else match.group(0)

    text = _FIELD.sub(value, template.replace("\r\n", "\n"))
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def with_signature(message: str, signature: str, owner_name: str = "") -> str:
    """`message` signed with `signature` (when there is one): it takes the place of a last
    line that is just the owner's name."""
    body = message.rstrip()
    signature = signature.replace("\r\n", "\n").strip()
    if not signature:
        return body + "\n"
    lines = body.split("\n")
    if owner_name and lines and lines[-1].strip() == owner_name.strip():
        body = "\n".join(lines[:-1]).rstrip()
    return f"{body}\n\n{signature}\n"
