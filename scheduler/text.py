"""Rules for text: what leaves the app in headers and spreadsheets, and how text is compared
(search and name order, `fold`); pure, no I/O.

Names and email addresses end up in mail headers (To, From, Reply-To, Subject) and in
calendar properties, where a CR or LF starts a new header and other control characters make
servers refuse the message. Exported CSV cells end up in spreadsheets, which run a cell that
starts like a formula.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from datetime import date, datetime
from urllib.parse import urlsplit

# C0 controls, DEL and C1 controls (U+0080-U+009F; U+0085 is a line break to some parsers).
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_RUNS = re.compile(r"[\x00-\x1f\x7f-\x9f]+")

# An email address: one @, nothing that separates addresses in a list or a header (white
# space, ; , < >), and for a contact a dot in the domain.
_EMAIL = re.compile(r"^[^@\s;,<>]+@[^@\s;,<>]+\.[^@\s;,<>]+$")
# "Display Name <address>": the address between its one pair of angle brackets.
_BRACKETED = re.compile(r"^[^<>]*<([^<>]*)>$")
_MAILBOX = re.compile(r"^[^@\s;,<>]+@[^@\s;,<>]+$")

# OWASP CSV injection: a cell starting with one of these may be read as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Dates a request may carry: far enough for any meeting or first encounter, and far enough
# from date.min/date.max that adding a cadence or a week can never overflow.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2999

# The digits of a row id the routes and the command line accept: 18 always fit the 64-bit
# id columns of SQLite and PostgreSQL, so a longer one names no row rather than overflowing.
ID_DIGITS = 18


def control_character(value: str) -> str | None:
    """A readable name of the first control character in `value`, or None if it has none."""
    found = _CONTROLS.search(value)
    if found is None:
        return None
    char = found.group()
    names = {"\r": "a carriage return", "\n": "a line break", "\t": "a tab", "\x00": "a NUL"}
    return names.get(char, f"the control character U+{ord(char):04X}")


def is_email_address(value: str, *, dotless_host: bool = False) -> bool:
    """Whether `value` (already stripped) can be a contact's email address; `dotless_host`:
    also one at a host without a dot, as a sender's meetagain@localhost can be."""
    return (_MAILBOX if dotless_host else _EMAIL).match(value) is not None


def email_address(value: str) -> str | None:
    """The address `value` names, or None when it names none: trimmed, taken from between
    angle brackets ("Ana Lima <ana@example.org>", as mail programs copy it) and without a
    "mailto:" before it (as copied from a link)."""
    value = value.strip()
    bracketed = _BRACKETED.match(value)
    if bracketed:
        value = bracketed.group(1).strip()
    if value[:7].lower() == "mailto:":
        value = value[7:].strip()
    return value if is_email_address(value) else None


def address_list(value: str) -> list[str]:
    """The addresses typed in one field, each as written (trimmed): separated by commas or
    semicolons, except inside quotes or angle brackets ('"Lima, Ana" <ana@example.org>'). A
    piece with no @ before one written as "Name <address>" is the first part of that name, as
    Outlook copies 'Lima, Ana <ana@example.org>'."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = bracketed = False
    for char in value:
        if char == '"' and not bracketed:
            quoted = not quoted
        elif char == "<" and not quoted:
            bracketed = True
        elif char == ">" and not quoted:
            bracketed = False
        elif char in ",;" and not quoted and not bracketed:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    found: list[str] = []
    for piece in (p.strip() for p in pieces):
        if not piece:
            continue
        if found and "@" not in found[-1] and _BRACKETED.match(piece):
            found[-1] = f"{found[-1]}, {piece}"
        else:
            found.append(piece)
    return found


def day_month(day: date) -> str:
    """ "7 Dec": a day of the month as the pages and the emails write it (no leading zero)."""
    return f"{day.day} {day:%b}"


def day_text(day: date) -> str:
    """ "Mon 7 Dec": a day with its weekday."""
    return f"{day:%a} {day_month(day)}"


def date_text(day: date) -> str:
    """ "7 Dec 2026": a date with its year (the history of meetings, a snooze)."""
    return f"{day_month(day)} {day:%Y}"


def moment_text(moment: datetime) -> str:
    """ "Mon 7 Dec, 12:00": a local time on the owner's pages (their 24-hour clock)."""
    return f"{day_text(moment)}, {moment:%H:%M}"


def counted(n: int, noun: str, plural: str = "") -> str:
    """ "1 booking", "3 bookings", "2 people" (with `plural` for a noun that is not +s)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def refuse_controls(value: str, what: str) -> str | None:
    """The message refusing `value` as `what` ("the name"), or None when it is clean."""
    found = control_character(value)
    if found is None:
        return None
    return f"{what[:1].upper()}{what[1:]} contains {found}; use one line of plain text."


def without_controls(value: str) -> str:
    """`value` with every run of control characters replaced by one space, trimmed."""
    return _CONTROL_RUNS.sub(" ", value).strip()


def plain_text(value: str) -> str:
    """Free text (a note, several lines) as kept: line breaks stay (a Windows CR LF becomes
    LF), every other control character (a bell, an escape) becomes a space, and it is trimmed."""
    lines = value.replace("\r\n", "\n").split("\n")
    return "\n".join(_CONTROL_RUNS.sub(" ", line).rstrip() for line in lines).strip()


def spreadsheet_safe(cell: str) -> str:
    """The cell as a spreadsheet will show it and never run it (a leading ' when needed)."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def from_spreadsheet_safe(cell: str) -> str:
    """Undo `spreadsheet_safe`, so an export reads back unchanged."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def is_web_link(value: str) -> bool:
    """True for an http(s) address: the only links a page may show (no javascript: or data:)."""
    return value.lower().startswith(("https://", "http://"))


# The schemes of a calendar's address: an ICS feed's (webcal is http, webcals https) and a
# CalDAV collection's, in the order messages name them.
FEED_SCHEMES = ("https", "http", "webcal", "webcals")
CALDAV_SCHEMES = ("https", "http")
# The longest calendar address taken: real feed and CalDAV addresses are far shorter, and
# servers commonly refuse request lines past 8 KB.
LONGEST_CALENDAR_URL = 4096
_HOST_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


def calendar_url_problem(url: str, schemes: tuple[str, ...]) -> str | None:
    """What makes `url` unusable as a calendar's address (an ICS feed, a CalDAV collection),
    as a phrase naming the part at fault ("the port must be ..."); None when it is well formed.

    The one rule for every calendar address a person gives (the calendar forms, `--calendar`,
    config.toml): a scheme of `schemes` (lower case, without "://"), a host (a DNS name, an IPv4
    address or an IPv6 one in brackets), a port from 1 to 65535 if one is given, and no white
    space or control character anywhere. The address is never quoted back: a feed's address
    often holds a secret. `is_web_link` is another rule: which links a page may show, where
    only the scheme matters (a link that leads nowhere harms nobody).
    """
    if not url:
        return "the address is empty"
    if len(url) > LONGEST_CALENDAR_URL:
        return f"the address is longer than {LONGEST_CALENDAR_URL} characters"
    control = control_character(url)
    if control is not None:
        return f"the address contains {control}"
    if any(char.isspace() for char in url):
        return "the address contains a space (write it as %20)"
    shown = " or ".join(", ".join(f"{s}://" for s in schemes).rsplit(", ", 1))
    scheme, colon, _ = url.partition(":")
    if not colon or scheme.lower() not in schemes or not url[len(scheme) :].startswith("://"):
        return f"the address must start with {shown}"
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed "[" or a bracketed host that is no IPv6 address
        return "the host in [brackets] is not an IPv6 address"
    hostinfo = parts.netloc.rpartition("@")[2]
    if hostinfo.startswith("["):
        host, _, rest = hostinfo[1:].partition("]")
        if rest and not rest.startswith(":"):
            return "the host in [brackets] is not an IPv6 address"
        port = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "the host in [brackets] is not an IPv6 address"
    else:
        host, _, port = hostinfo.partition(":")
        if not host:
            return "the address has no host name"
        problem = _host_name_problem(host)
        if problem:
            return problem
    number = whole_number(port, most_digits=5) if port else None
    if port and (number is None or not 1 <= number <= 65535):
        return "the port must be a number from 1 to 65535"
    return None


def _host_name_problem(host: str) -> str | None:
    """Why `host` (not in brackets) is no DNS name or IPv4 address, or None. An IPv4 address
    in any spelling the resolver takes ("127.1", one decimal number) passes: which addresses
    may be contacted is the network policy's question, asked of what the name resolves to."""
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return "the host name is not valid"
    labels = ascii_host.removesuffix(".").split(".")
    if len(ascii_host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        return "the host name is not valid (letters, digits, hyphens and dots only)"
    return None


def in_supported_range(value: date | datetime) -> bool:
    """True for dates a request may carry (see EARLIEST_YEAR and LATEST_YEAR)."""
    return EARLIEST_YEAR <= value.year <= LATEST_YEAR


def ascii_digits(text: str) -> bool:
    """True when `text` is one or more ASCII digits and nothing else: the only digits read as
    a number. `str.isdigit` alone accepts "²", which `int` then refuses, and "١٢", which `int`
    reads as 12."""
    return text.isascii() and text.isdigit()


def whole_number(raw: str | None, *, most_digits: int) -> int | None:
    """The non-negative integer written in ASCII digits in `raw` (blanks around it allowed),
    at most `most_digits` long, else None (see `ascii_digits`)."""
    text = (raw or "").strip()
    if not text or len(text) > most_digits or not ascii_digits(text):
        return None
    return int(text)


# Letters that are not a plain letter with an accent, so NFKD leaves them whole: what a person
# typing without them writes instead ("Søren" as "soren", "Łódź" as "lodz").
_UNACCENTED = str.maketrans(
    {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "ħ": "h", "ı": "i", "ŧ": "t", "þ": "th",
     "æ": "ae", "œ": "oe"}
)  # fmt: skip


def fold(value: str) -> str:
    """`value` as search and name order compare it, case and accents aside: "Zoë Müller",
    "ZOE MULLER" and "zoe muller" fold alike. Case-folded ("ß" is "ss"), decomposed (NFKD:
    "é" is "e" and an accent, "ﬁ" is "fi"), accents dropped, and the few letters that are no
    letter-and-accent written as people type them without it ("ø" is "o", "æ" is "ae").
    The one rule of it: the stored folded columns and every search are folded here."""
    decomposed = unicodedata.normalize("NFKD", value.casefold().translate(_UNACCENTED))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# German writes an umlaut as the vowel and an e where it cannot be typed ("Mueller").
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})


def search_forms(value: str) -> list[str]:
    """The folded forms of `value` a search looks in: `fold(value)`, and when it has an
    umlaut the form with the umlaut written out as well, so "muller" and "mueller" both
    find "Müller" (a search is folded with `fold` alone)."""
    forms = [fold(value)]
    spelled = fold(unicodedata.normalize("NFC", value.casefold()).translate(_UMLAUTS))
    if spelled != forms[0]:
        forms.append(spelled)
    return forms
