"""File formats: decode, detect and turn each row or card into a ContactRecord (or a problem)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from integrations.contacts_import.records import (
    EXTRA_COLUMNS,
    NATIVE_COLUMNS,
    ContactRecord,
    RowError,
    native_record,
    normalise_linkedin,
    parse_email,
    parse_met_date,
    parse_zone,
    shown,
)
from integrations.files import NotUtf8, utf8_text

FORMATS = ("auto", "csv", "linkedin", "vcard")
LINKEDIN_HEADER = ("First Name", "Last Name", "URL", "Email Address", "Company", "Position")
MAP_TARGETS = (*NATIVE_COLUMNS, *EXTRA_COLUMNS, "first_name", "last_name")


class ContactFileError(Exception):
    """The file as a whole cannot be imported (encoding, header, unknown format)."""


Item = ContactRecord | tuple[int, str]  # a record, or (line, reason) for a bad row


@dataclass
class Parsed:
    format: str
    total: int  # rows or cards, for the progress bar
    items: Iterator[Item]


def decode(data: bytes, source: str) -> str:
    """UTF-8 text, with or without a byte order mark."""
    try:
        text = utf8_text(data)
    except NotUtf8 as exc:
        raise ContactFileError(f"{source}: {exc}") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_mapping(spec: str | Mapping[str, str] | None) -> dict[str, str]:
    """`"Full Name=name,E-mail=email"` -> {"Full Name": "name", "E-mail": "email"}."""
    if spec is None:
        return {}
    pairs = (
        spec.items()
        if isinstance(spec, Mapping)
        else (tuple(p.split("=", 1)) if "=" in p else (p, "") for p in spec.split(",") if p.strip())
    )
    mapping: dict[str, str] = {}
    for source_col, target in pairs:
        target = target.strip().lower()
        if not target:
            raise ContactFileError(f"--map: {source_col.strip()!r} needs '=field'")
        if target not in MAP_TARGETS:
            raise ContactFileError(
                f"--map: unknown field {target!r} (use one of {', '.join(MAP_TARGETS)})"
            )
        mapping[source_col.strip()] = target
    return mapping


def parse_file(
    data: bytes, *, source: str, format: str = "auto", mapping: Mapping[str, str] | None = None
) -> Parsed:
    if format not in FORMATS:
        raise ContactFileError(f"unknown format {format!r} (use {', '.join(FORMATS)})")
    text = decode(data, source)
    if format == "vcard" or (
        format == "auto"
        and (
            source.lower().endswith((".vcf", ".vcard"))
            or text.lstrip().upper().startswith("BEGIN:VCARD")
        )
    ):
        return _vcards(text, source)
    return _csv(text, source=source, format=format, mapping=mapping or {})


# --- CSV ---------------------------------------------------------------------------------


def _csv(text: str, *, source: str, format: str, mapping: Mapping[str, str]) -> Parsed:
    lines = text.split("\n")
    header_index = 0
    # LinkedIn exports start with a "Notes:" preamble; the real header follows a blank line.
    for i, line in enumerate(lines[:50]):
        if line.startswith("First Name") and "Last Name" in line:
            header_index = i
            break
    else:
        while header_index < len(lines) and not lines[header_index].strip():
            header_index += 1
    if header_index >= len(lines) or not lines[header_index].strip():
        raise ContactFileError(f"{source}: the file is empty")
    body = "\n".join(lines[header_index:])
    sample = "\n".join(lines[header_index : header_index + 20])
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    unclosed = _unclosed_quote(body, delimiter)
    if unclosed is not None:
        raise ContactFileError(
            f"{source}: line {header_index + unclosed}: a quoted field starts here and is never "
            'closed (a " without its partner), so every line after it would be one value'
        )
    source_lines = _Lines(body)
    reader = csv.reader(source_lines, delimiter=delimiter, quotechar='"', doublequote=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ContactFileError(f"{source}: the file is empty") from None
    except csv.Error:  # the only error the lenient reader raises: a cell over its limit
        raise ContactFileError(
            f"{source}: line {header_index + 1}: a header cell is longer than "
            f"{csv.field_size_limit()} characters, the most a CSV cell may hold"
        ) from None
    offset = header_index  # physical line = offset + the lines read of `body`
    total = max(0, sum(1 for line in lines[header_index + 1 :] if line.strip()))

    is_linkedin = all(h in header for h in ("First Name", "Last Name", "URL"))
    if format == "linkedin" and not is_linkedin:
        raise ContactFileError(
            f"{source}: line {offset + 1}: not a LinkedIn Connections.csv header "
            f"(expected {','.join(LINKEDIN_HEADER)},Connected On)"
        )
    if is_linkedin and format in ("auto", "linkedin") and not mapping:
        return Parsed("linkedin", total, _linkedin_rows(reader, source_lines, header, offset))

    if not mapping and format in ("auto", "csv"):
        known = known_export(header)
        if known is not None:
            name, preset = known
            columns = [preset.get(h, "") for h in header]
            return Parsed(name, total, _native_rows(reader, source_lines, header, columns, offset))
    if mapping:
        missing = [col for col in mapping if col not in header]
        if missing:
            raise ContactFileError(
                f"{source}: line {offset + 1}: column {missing[0]!r} from --map is not in the "
                f"header ({', '.join(header)})"
            )
    columns = [mapping.get(h, h.lower() if h.lower() in MAP_TARGETS else "") for h in header]
    if (
        "name" not in columns
        and not ({"first_name", "last_name"} & set(columns))
        and ("email" not in columns)
    ):
        raise ContactFileError(
            f"{source}: line {offset + 1}: no name or email column in the header; expected "
            f'{",".join(NATIVE_COLUMNS)} (or map yours with --map "Your Column=name,...")'
        )
    twice = next(
        (c for n, c in enumerate(columns) if c and c not in _JOINED and c in columns[:n]), None
    )
    if twice is not None:
        # Only the first would be read: the other's values would go without a word.
        named = [h for h, c in zip(header, columns, strict=True) if c == twice]
        raise ContactFileError(
            f"{source}: line {offset + 1}: the columns {' and '.join(repr(h) for h in named)} "
            f"both give the contact's {twice}; keep one (or map the other elsewhere with --map)"
        )
    rows = _native_rows(reader, source_lines, header, columns, offset)
    return Parsed("csv" if not mapping else "mapped", total, rows)


def _unclosed_quote(body: str, delimiter: str) -> int | None:
    """The line (of `body`) of a record whose quoted field the file never closes, or None.
    The lenient reader would take the rest of the file as that one value; strict parsing is
    the only way to tell, and other quoting slips it refuses stay the lenient reader's."""
    lines = _Lines(body)
    reader = csv.reader(lines, delimiter=delimiter, quotechar='"', strict=True)
    while True:
        start = lines.read
        try:
            next(reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):  # csv's only signal for EOF in quotes
                return start + 1
            if "field larger than field limit" in str(exc):  # and its only one for this
                lines.skip_rest_of_row(start)  # reported with its row when it is read


# Other address books' CSV exports, recognised by their header: the column mapping each needs.
_GOOGLE = {
    "Name": "name",
    "Given Name": "first_name",
    "Family Name": "last_name",
    "First Name": "first_name",
    "Last Name": "last_name",
    **{f"E-mail {n} - Value": "email" for n in range(1, 6)},
    "Organization 1 - Name": "company",
    "Organization 1 - Title": "title",
    "Organization Name": "company",
    "Organization Title": "title",
    "Address 1 - City": "city",
    "Notes": "notes",
}
_OUTLOOK = {
    "First Name": "first_name",
    "Last Name": "last_name",
    "E-mail Address": "email",
    "E-mail 2 Address": "email",
    "E-mail 3 Address": "email",
    "Company": "company",
    "Job Title": "title",
    "Business City": "city",
    "Notes": "notes",
}


def known_export(header: list[str]) -> tuple[str, dict[str, str]] | None:
    """("google" | "outlook", its column mapping) when the header is one of theirs."""
    if "E-mail 1 - Value" in header:
        return "google", _GOOGLE
    if "E-mail Address" in header and "First Name" in header and "Job Title" in header:
        return "outlook", _OUTLOOK
    return None


# Several columns may feed one field (E-mail 1, E-mail 2, ...): their values are joined.
_JOINED = {"email", "tags", "questions"}


class _Lines:
    """The lines of a CSV body for `csv.reader`, counting those read: after a cell over csv's
    size limit the rest of its row is skipped here, which the reader's `line_num` misses."""

    def __init__(self, body: str) -> None:
        self.lines = io.StringIO(body).readlines()
        self.read = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.read >= len(self.lines):
            raise StopIteration
        self.read += 1
        return self.lines[self.read - 1]

    def skip_rest_of_row(self, start: int) -> None:
        """Read on to the end of the row begun on line `start` (0-based) of the body: while
        its quotes are unbalanced, the row goes on (a quoted cell spans lines)."""
        quotes = sum(line.count('"') for line in self.lines[start : self.read])
        while quotes % 2 and self.read < len(self.lines):
            quotes += self.lines[self.read].count('"')
            self.read += 1


def _long_cell(row: str, delimiter: str, limit: int) -> int:
    """The index of the first cell of `row` (its text) longer than `limit` characters."""
    index = length = 0
    quoted = False
    for char in row:
        if char == '"':
            quoted = not quoted
            continue
        if char == delimiter and not quoted:
            index, length = index + 1, 0
            continue
        length += 1
        if length > limit:
            break
    return index


def _numbered_rows(
    reader: Iterator[list[str]], lines: _Lines, header: list[str], offset: int
) -> Iterator[tuple[int, list[str] | str]]:
    """Each non-blank row with the file line it starts on, or with why it cannot be read (a
    cell longer than csv's limit: the row is skipped and the rest of the file still read)."""
    while True:
        start = lines.read
        # A quoted cell may span lines: a row starts on the line after the previous row.
        line = offset + start + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error:  # the only error the lenient reader raises: a cell over its limit
            limit = csv.field_size_limit()
            lines.skip_rest_of_row(start)
            row = "".join(lines.lines[start : lines.read])
            index = _long_cell(row, reader.dialect.delimiter, limit)  # type: ignore[attr-defined]
            column = shown(header[index]) if index < len(header) else f"cell {index + 1}"
            why = f"{column} is longer than {limit} characters, the most a CSV cell may hold"
            yield line, why
            continue
        if any(c.strip() for c in cells):
            yield line, cells


def _native_rows(
    reader: Iterator[list[str]],
    lines: _Lines,
    header: list[str],
    columns: list[str],
    offset: int,
) -> Iterator[Item]:
    for line, cells in _numbered_rows(reader, lines, header, offset):
        if isinstance(cells, str):
            yield (line, cells)
            continue
        if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
            yield (line, f"has {len(cells)} fields but the header has {len(columns)}")
            continue
        row: dict[str, str] = {}
        for col, cell in zip(columns, cells, strict=False):
            if not col or not cell.strip():
                continue
            if col == "email":
                cell = cell.replace(" ::: ", ";")  # Google's several values in one cell
            if col in row and col in _JOINED:
                row[col] = f"{row[col]};{cell}"
            else:
                row.setdefault(col, cell)
        try:
            yield native_record(row, line)
        except RowError as exc:
            yield (line, str(exc))


def _linkedin_rows(
    reader: Iterator[list[str]], lines: _Lines, header: list[str], offset: int
) -> Iterator[Item]:
    index = {h: i for i, h in enumerate(header)}

    def cell(cells: list[str], name: str) -> str:
        i = index.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    for line, cells in _numbered_rows(reader, lines, header, offset):
        if isinstance(cells, str):
            yield (line, cells)
            continue
        try:
            name = " ".join(p for p in (cell(cells, "First Name"), cell(cells, "Last Name")) if p)
            email = cell(cells, "Email Address")
            warnings: list[str] = []
            try:
                emails = [parse_email(email, "Email Address")] if email else []
            except RowError as exc:
                if not name:
                    raise
                warnings.append(f"{exc}; Email Address left empty")
                emails = []
            try:
                url = normalise_linkedin(cell(cells, "URL"))
            except RowError as exc:
                warnings.append(f"{exc}; URL left empty")
                url = ""
            if not name and not emails:
                raise RowError("has no name and no email")
            rec = ContactRecord(line=line, name=name or emails[0].split("@")[0], emails=emails)
            rec.linkedin_url = url
            rec.warnings = warnings
            if cell(cells, "Company"):
                rec.values["company"] = cell(cells, "Company")
            if cell(cells, "Position"):
                rec.values["title"] = cell(cells, "Position")
            connected = cell(cells, "Connected On")
            if connected:
                rec.values["how_met"] = "LinkedIn"
                rec.soft.add("how_met")
                try:
                    rec.values["first_met"] = parse_met_date(connected, "Connected On")
                    rec.soft.add("first_met")
                except RowError as exc:
                    warnings.append(f"{exc}; Connected On left empty")
            if not emails and not url:
                raise RowError("has neither an email nor a profile URL to recognise it by")
            yield rec
        except RowError as exc:
            yield (line, str(exc))


# --- vCard -------------------------------------------------------------------------------

_UTC_OFFSET = re.compile(r"(UTC|GMT)?[+-]\d{1,2}(:?\d{2})?", re.IGNORECASE)
_BEGIN = re.compile(r"^BEGIN:VCARD\s*$", re.IGNORECASE)
_END = re.compile(r"^END:VCARD\s*$", re.IGNORECASE)


def _vcards(text: str, source: str) -> Parsed:
    lines = text.split("\n")
    cards: list[tuple[int, str]] = []
    start: int | None = None
    for i, line in enumerate(lines):
        if _BEGIN.match(line):
            if start is not None:
                cards.append((start + 1, "\n".join(lines[start:i])))  # unterminated: report it
            start = i
        elif _END.match(line) and start is not None:
            cards.append((start + 1, "\n".join(lines[start : i + 1])))
            start = None
    if start is not None:
        cards.append((start + 1, "\n".join(lines[start:])))
    if not cards:
        raise ContactFileError(f"{source}: no BEGIN:VCARD found: not a vCard file")
    return Parsed("vcard", len(cards), (_card(line, body) for line, body in cards))


def _card(line: int, body: str) -> Item:
    import vobject

    if not _END.match(body.rstrip().split("\n")[-1]):
        return (line, "card has no END:VCARD")
    readable, unreadable, where = _readable_lines(line, body)
    try:
        # Lines vobject cannot read are left out first, so it never skips one itself (it would
        # log that to stderr with a line number of its own counting, not the file's).
        card = vobject.readOne(readable + "\n")
    except Exception as exc:  # vobject raises several kinds for malformed cards
        return (
            line,
            f"unreadable card: {str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__}",
        )
    try:
        rec = _card_record(line, card, where)
    except RowError as exc:
        return (line, str(exc))
    rec.line_notes.extend(unreadable)
    return rec


def _readable_lines(
    first: int, body: str
) -> tuple[str, list[tuple[int, str]], dict[str, list[int]]]:
    """The card's text without the content lines vobject cannot parse, those lines' file line
    numbers with why they were left out, and the file line of each property kept, by name
    ("EMAIL": [11, 12], in order). `first`: the file line of the card's first."""
    from vobject.base import VObjectError, parseLine

    physical = body.split("\n")
    # Logical lines (RFC 6350 3.2: a line starting with a space or tab continues the one
    # before) as (index of their first physical line, index past their last).
    spans: list[tuple[int, int]] = []
    for i, text in enumerate(physical):
        if text[:1] in (" ", "\t") and spans:
            spans[-1] = (spans[-1][0], i + 1)
        elif text.strip():
            spans.append((i, i + 1))
    kept: list[str] = []
    unreadable: list[tuple[int, str]] = []
    where: dict[str, list[int]] = {}
    for start, end in spans:
        logical = physical[start] + "".join(p[1:] for p in physical[start + 1 : end])
        try:
            name = parseLine(logical)[0]
        except VObjectError:
            unreadable.append(
                (first + start, f"{shown(logical)!r} is not a vCard property; line left out")
            )
            continue
        where.setdefault(str(name).upper(), []).append(first + start)
        kept.extend(physical[start:end])
    return "\n".join(kept), unreadable, where


def _values(card: object, name: str) -> list[object]:
    return [c.value for c in getattr(card, "contents", {}).get(name, [])]


def _text(value: object) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value if v).strip()
    return str(value or "").strip()


def _card_record(line: int, card: object, where: dict[str, list[int]]) -> ContactRecord:
    """The contact a card describes; a value left out is said on its property's own line."""

    def line_of(name: str, index: int) -> int:
        found = where.get(name, [])
        return found[index] if index < len(found) else line

    emails: list[str] = []
    bad_emails: list[tuple[int, RowError]] = []
    for index, value in enumerate(_values(card, "email")):
        raw = _text(value)
        if raw:
            try:
                email = parse_email(raw, "EMAIL")
            except RowError as exc:  # like a CSV row: left empty, unless it is all there is
                bad_emails.append((line_of("EMAIL", index), exc))
                continue
            if email.lower() not in {e.lower() for e in emails}:
                emails.append(email)
    name = next((_text(v) for v in _values(card, "fn") if _text(v)), "")
    if not name:
        for n in _values(card, "n"):
            parts = [
                _text(getattr(n, attr, "")) for attr in ("prefix", "given", "additional", "family")
            ]
            name = " ".join(p for p in parts if p)
            if name:
                break
    if not name and not emails:
        if bad_emails:
            raise bad_emails[0][1]  # nothing else to know the contact by
        raise RowError("card has no FN, no N and no EMAIL")
    rec = ContactRecord(line=line, name=name or emails[0].split("@")[0], emails=emails)
    rec.line_notes.extend((at, f"{exc}; EMAIL left empty") for at, exc in bad_emails)
    orgs = _values(card, "org")
    if orgs:
        org = orgs[0]
        company = _text(org[0] if isinstance(org, list) and org else org)
        if company:
            rec.values["company"] = company
    title = next((_text(v) for v in _values(card, "title") if _text(v)), "")
    if title:
        rec.values["title"] = title
    note = next((_text(v) for v in _values(card, "note") if _text(v)), "")
    if note:
        rec.values["notes"] = note
    for adr in _values(card, "adr"):
        city = _text(getattr(adr, "city", ""))
        if city:
            rec.values["city"] = city
            break
    for index, url in enumerate(_values(card, "url")):
        if "linkedin.com/" in _text(url).lower():
            try:
                rec.linkedin_url = normalise_linkedin(_text(url))
            except RowError as exc:
                rec.line_notes.append((line_of("URL", index), f"{exc}; URL left empty"))
            break
    for index, tz in enumerate(_values(card, "tz")):
        zone = _text(tz)
        # vCard allows a UTC offset ("-05:00") here: only a time zone's name is kept.
        if zone and not _UTC_OFFSET.fullmatch(zone):
            try:
                rec.values["timezone"] = parse_zone(zone)
            except RowError as exc:
                rec.line_notes.append((line_of("TZ", index), f"{exc}; TZ left empty"))
    categories = _values(card, "categories")
    if categories:
        tags: list[str] = []
        for c in categories:
            items = c if isinstance(c, list) else str(c).split(",")
            # Google's export labels every card "myContacts": a system group, not a tag.
            tags.extend(
                _text(x) for x in items if _text(x) and _text(x) not in ("myContacts", "starred")
            )
        if tags:
            rec.values["tags"] = tags
            rec.soft.add("tags")
    # Where each value came from, for a note about one left out (the first such property).
    for key, prop in _VALUE_PROPERTIES.items():
        if key in rec.values and where.get(prop):
            rec.value_lines[key] = where[prop][0]
    return rec


# The vCard property each imported value is read from.
_VALUE_PROPERTIES = {
    "company": "ORG",
    "title": "TITLE",
    "notes": "NOTE",
    "city": "ADR",
    "timezone": "TZ",
    "tags": "CATEGORIES",
}
