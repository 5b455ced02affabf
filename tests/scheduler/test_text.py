"""Text rules shared by the contact form and every import: email addresses, control characters."""

from __future__ import annotations

import pytest

from scheduler.text import (
    address_list,
    calendar_url_problem,
    control_character,
    counted,
    email_address,
    fold,
    is_email_address,
    search_forms,
)


@pytest.mark.parametrize(
    "address", ["ana@example.org", "ana.souza+coffee@mail.example.co.uk", "o'brien@example.ie"]
)
def test_an_ordinary_address_is_an_email_address(address: str) -> None:
    assert is_email_address(address)


@pytest.mark.parametrize(
    "text",
    [
        "ana",
        "ana@localhost",  # a contact's address needs a domain with a dot
        "ana@@example.org",
        "ana souza@example.org",
        "ana@example.org; bob@example.org",  # two addresses in one
        "Ana <ana@example.org>",
        "",
    ],
)
def test_what_is_not_one_address_is_refused(text: str) -> None:
    assert not is_email_address(text)


def test_control_characters_are_named_for_people() -> None:
    assert control_character("two\nlines") == "a line break"
    assert control_character("bell\x07") == "the control character U+0007"
    assert control_character("next\x85line") == "the control character U+0085"
    assert control_character("Café Einstein") is None


def test_a_note_keeps_its_lines_and_loses_other_control_characters() -> None:
    from scheduler.text import plain_text

    assert plain_text("  Caf\x07e at 9?\r\nOr \x1b[31mlater\t \n\n") == "Caf e at 9?\nOr  [31mlater"
    assert plain_text("Thanks!\n\nSee you") == "Thanks!\n\nSee you"


@pytest.mark.parametrize(
    "written",
    [
        "ana@example.org",
        "  mailto:ana@example.org ",
        "<ana@example.org>",
        "<mailto:ana@example.org>",
        "Ana Lima <ana@example.org>",
        '"Lima, Ana" <MAILTO:ana@example.org>',
    ],
)
def test_an_address_as_mail_programs_and_links_copy_it_is_read(written: str) -> None:
    assert email_address(written) == "ana@example.org"


@pytest.mark.parametrize("written", ["Ana Lima", "<>", "Ana <ana@example.org", "<a@b.c> <d@e.f>"])
def test_text_naming_no_single_address_is_none(written: str) -> None:
    assert email_address(written) is None


@pytest.mark.parametrize(
    ("typed", "addresses"),
    [
        ("a@x.org, b@y.org; c@z.org", ["a@x.org", "b@y.org", "c@z.org"]),
        ('"Lima, Ana" <ana@x.org>, bo@y.org', ['"Lima, Ana" <ana@x.org>', "bo@y.org"]),
        # Outlook copies a "Last, First" name without quotes.
        (
            "Lima, Ana <ana@x.org>; Li, Bo <bo@y.org>",
            ["Lima, Ana <ana@x.org>", "Li, Bo <bo@y.org>"],
        ),
        ("<a,b@x.org>", ["<a,b@x.org>"]),
        (" , ;", []),
    ],
)
def test_a_typed_list_of_addresses_splits_between_addresses_only(
    typed: str, addresses: list[str]
) -> None:
    assert address_list(typed) == addresses


def test_each_listed_address_is_read_bare() -> None:
    listed = address_list('"Lima, Ana" <ana@x.org>; Li, Bo <MAILTO:bo@y.org>, c@z.org')
    assert [email_address(a) for a in listed] == ["ana@x.org", "bo@y.org", "c@z.org"]


@pytest.mark.parametrize(
    ("written", "typed"),
    [
        ("Zoë Müller", "zoe muller"),
        ("ZOË MÜLLER", "zoe muller"),
        ("Zoe\u0308 Mu\u0308ller", "zoe muller"),  # accents as separate combining marks
        ("Émile Roux", "emile roux"),
        ("Straße", "strasse"),
        ("Søren Ærø", "soren aero"),
        ("Łódź", "lodz"),
        ("İstanbul", "istanbul"),
    ],
)
def test_text_folds_to_what_a_person_types_without_accents_or_capitals(
    written: str, typed: str
) -> None:
    assert fold(written) == typed
    assert fold(typed) == typed


def test_an_umlaut_is_searched_for_as_the_vowel_and_as_the_vowel_and_an_e() -> None:
    assert search_forms("Zoë Müller") == ["zoe muller", "zoe mueller"]
    assert search_forms("Ana Lima") == ["ana lima"]


@pytest.mark.parametrize(
    ("n", "noun", "plural", "said"),
    [
        (0, "booking", "", "0 bookings"),
        (1, "booking", "", "1 booking"),
        (2, "open invite", "", "2 open invites"),
        (1, "person", "people", "1 person"),
        (3, "person", "people", "3 people"),
    ],
)
def test_a_count_agrees_with_its_noun(n: int, noun: str, plural: str, said: str) -> None:
    assert counted(n, noun, plural) == said


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://[::1", "the host in [brackets] is not an IPv6 address"),
        ("http://[zz]/x", "the host in [brackets] is not an IPv6 address"),
        ("https://example.invalid:99999/", "the port must be a number from 1 to 65535"),
        ("http://example.com:-1/x", "the port must be a number from 1 to 65535"),
        ("http://example.com:0/x", "the port must be a number from 1 to 65535"),
        ("http://a b/x", "the address contains a space (write it as %20)"),
        ("http://%00/x", "the host name is not valid (letters, digits, hyphens and dots only)"),
        ("http://ex\x00ample.com/x", "the address contains a NUL"),
        ("http:///x", "the address has no host name"),
        ("file:///etc/passwd", "the address must start with https:// or http://"),
    ],
)
def test_a_calendar_address_that_can_never_be_read_is_named_for_what_is_wrong(
    url: str, problem: str
) -> None:
    assert calendar_url_problem(url, ("https", "http")) == problem


@pytest.mark.parametrize(
    "url",
    [
        "https://cal.example.org/remote.php/dav/calendars/me/personal/",
        "webcal://calendar.example.org/private-abc/basic.ics",
        "https://me:secret@cal.example.org:8443/dav/",
        "http://[::1]:5232/me/cal/",
        "http://127.1/cal.ics",  # the network policy, not this rule, decides on addresses
        "https://münchen.example/cal.ics",
    ],
)
def test_well_formed_calendar_addresses_pass(url: str) -> None:
    assert calendar_url_problem(url, ("https", "http", "webcal", "webcals")) is None
