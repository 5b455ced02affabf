"""Services word their refusals for the command line ("error: the note must be ..."); pages
show the same words as sentences, without respelling the names a message starts with."""

from __future__ import annotations

import pytest
from markupsafe import Markup

from web.http.forms import full_sentence, page_sentence, sentence


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        (
            "the note must be 2000 characters or fewer, got 2001",
            "The note must be 2000 characters or fewer, got 2001.",
        ),
        ("keep at most 30 tags, got 31", "Keep at most 30 tags, got 31."),
        ("Pick one of the times.", "Pick one of the times."),
        ("is that right?", "Is that right?"),
        # Names keep their own spelling: a file, an email address, a config key.
        ("photo.jpg: line 1: not UTF-8 text", "photo.jpg: line 1: not UTF-8 text."),
        ("ana@example.org is already a contact", "ana@example.org is already a contact."),
        ("[windows.lunch] start is not a time", "[windows.lunch] start is not a time."),
        ("meetagain lost its connection", "meetagain lost its connection."),
        ("", ""),
    ],
)
def test_a_message_standing_alone_is_a_sentence(message: str, shown: str) -> None:
    assert full_sentence(message) == shown


def test_a_message_inside_a_sentence_gets_no_full_stop() -> None:
    assert f"{sentence('the date is in the past')}; nothing was logged." == (
        "The date is in the past; nothing was logged."
    )


def test_the_page_filter_leaves_markup_and_nothing_alone() -> None:
    written = Markup('<a href="/contacts">the list</a> &amp; more')
    assert page_sentence(written) is written
    assert page_sentence(None) == ""
    assert page_sentence("the note is too long") == "The note is too long."
