"""Small, strict readers for form values, so odd input is a message and never a 500."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from flask import render_template
from markupsafe import Markup

from scheduler import text as text_rules

# More digits than any id or count we store; also keeps int() clear of its 4300-digit limit.
MAX_DIGITS = 12


def sentence(message: object) -> str:
    """A service's message (worded for `error: …` on the command line) as a page shows it:
    capitalised when it starts with a plain word ("the note …"), never when it starts with a
    name that keeps its own spelling (an email address, a file name, a config key)."""
    text = str(message)
    if _PLAIN_WORD.match(text) is None or text.startswith(_OWN_SPELLING):
        return text
    return text[:1].upper() + text[1:]


_PLAIN_WORD = re.compile(r"[a-z][a-z'’-]*[,;]?(?: |$)")
_OWN_SPELLING = ("meetagain ", "meetagain's ")  # the product's name is written in lower case


def full_sentence(message: object) -> str:
    """A message standing alone on a page (an error page, beside a field): a capitalised
    sentence with its full stop."""
    text = sentence(message).rstrip()
    return text if not text or text.endswith((".", "!", "?", ":")) else f"{text}."


def page_sentence(value: object) -> object:
    """The `sentence` template filter: `full_sentence`, but Markup (already written for the
    page) is left as it is and nothing shows nothing."""
    if value is None or isinstance(value, Markup):
        return value or ""
    return full_sentence(value)


def whole_number(raw: str | None) -> int | None:
    """The non-negative integer a form field holds in ASCII digits, else None."""
    return text_rules.whole_number(raw, most_digits=MAX_DIGITS)


def whole_numbers(values: Iterable[str]) -> list[int]:
    """The values that are whole numbers (ids from checkboxes), in order; others are dropped."""
    return [n for n in (whole_number(v) for v in values) if n is not None]


def form_page(
    template: str,
    errors: Mapping[str, str] | None,
    form: Mapping[str, str] | None,
    **context: Any,
) -> str:
    """A page with a form: rendered with its errors and the values sent back (none at first)."""
    return render_template(template, errors=errors or {}, form=form or {}, **context)
