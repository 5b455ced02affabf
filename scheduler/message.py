"""The owner's own invite message: a template with placeholders, and a signature.

Pure text: placeholders are replaced by name only ({first_name}, never attribute access or
format specs). What reads as an attempt at one is refused when the template is saved (see
`template_problems`): a short brace group on one line that names no placeholder, a
placeholder never closed, or one in double braces ({{first_name}}, as other tools write them),
so no half-typed placeholder reaches an invitee.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

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
# {first_name.x}, {name!r}), a placeholder's name after a brace that is never closed, or a
# placeholder with a doubled brace (Jinja's and Mustache's {{first_name}}, or a slip of the key):
# ours would leave "{Ana}".
_NAMES = "|".join(PLACEHOLDERS)
_BRACED = re.compile(r"\{([^{}\n]{0,40})\}")
_UNCLOSED = re.compile(r"\{(" + _NAMES + r")(?![A-Za-z_}])")
# A doubled brace on either side ({{first_name}}, {{first_name}, {first_name}}); group 2: the name.
_DOUBLED = re.compile(r"\{(\{)?[ \t]*(" + _NAMES + r")[ \t]*\}(?(1)\}?|\})")


@dataclass(frozen=True)
class TemplateProblem:
    """Something written in braces that would reach the invitee as typed."""

    written: str  # as typed, "{0}" or "{first_name" or "{{first_name}}" or "{first_name}}"
    kind: Literal["unknown", "unclosed", "doubled"]
    name: str = ""  # the placeholder meant, for "doubled"


def template_problems(template: str) -> list[TemplateProblem]:
    """Each brace group in `template` that is no placeholder, in order of appearance, once."""
    found: list[tuple[int, TemplateProblem]] = []
    doubled = list(_DOUBLED.finditer(template))
    inside = {i for m in doubled for i in range(m.start(), m.end())}
    found += [(m.start(), TemplateProblem(m.group(0), "doubled", m.group(2))) for m in doubled]
    braced = [m for m in _BRACED.finditer(template) if m.start() not in inside]
    found += [
        (m.start(), TemplateProblem(m.group(0), "unknown"))
        for m in braced
        if m.group(1) not in PLACEHOLDERS
    ]
    closed = {m.start() for m in braced} | inside  # a group closed later is not "never closed"
    found += [
        (m.start(), TemplateProblem(m.group(0), "unclosed"))
        for m in _UNCLOSED.finditer(template)
        if m.start() not in closed
    ]
    return list(dict.fromkeys(problem for _, problem in sorted(found, key=lambda f: f[0])))


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
