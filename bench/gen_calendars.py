"""Generate the benchmark calendars: 5 .ics files, about 10,000 VEVENTs over three years.

Deterministic for a given seed. Each file mixes what real exports carry: a few dozen recurring
series (daily, weekly, monthly by ordinal weekday; COUNT, UNTIL or open-ended) with EXDATEs and
moved or cancelled instances (RECURRENCE-ID), single events in several zones (TZID with a
VTIMEZONE, UTC, floating), all-day and multi-day events, transparent, tentative, cancelled and
declined events. The last file is a Google-style export (UTC times plus X-WR-TIMEZONE).

    python bench/gen_calendars.py OUT_DIR [--seed 7] [--events 10000]
"""

from __future__ import annotations

import argparse
import random
from datetime import date, datetime, timedelta
from pathlib import Path

FIRST_DAY = date(2025, 1, 1)
DAYS = 3 * 365
OWNER = "owner@example.com"
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", "")  # "" = floating

VTIMEZONES = {
    "Europe/Berlin": """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE""",
    "America/New_York": """BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:19700308T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:19701101T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE""",
    "Asia/Tokyo": """BEGIN:VTIMEZONE
TZID:Asia/Tokyo
BEGIN:STANDARD
TZOFFSETFROM:+0900
TZOFFSETTO:+0900
TZNAME:JST
DTSTART:19700101T000000
END:STANDARD
END:VTIMEZONE""",
}

TITLES = (
    "Standup",
    "1:1",
    "Planning",
    "Review",
    "Customer call",
    "Interview",
    "Dentist",
    "Lunch with a friend",
    "Gym",
    "Board meeting",
    "Retro",
    "Offsite prep",
)


def _stamp(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def _dt(prop: str, value: datetime, zone: str, *, utc: bool = False) -> str:
    if utc:
        return f"{prop}:{_stamp(value)}Z"
    if zone in ("", "UTC"):
        return f"{prop}:{_stamp(value)}" + ("Z" if zone == "UTC" else "")
    return f"{prop};TZID={zone}:{_stamp(value)}"


class _Writer:
    def __init__(self, rng: random.Random, index: int, google: bool) -> None:
        self.rng = rng
        self.index = index
        self.google = google
        self.lines: list[str] = []
        self.count = 0

    def uid(self, n: int) -> str:
        return f"bench-{self.index}-{n}@example.com"

    def zone(self) -> str:
        return "UTC" if self.google else self.rng.choice(ZONES)

    def common(self, n: int) -> list[str]:
        rng = self.rng
        lines = [
            f"UID:{self.uid(n)}",
            "DTSTAMP:20250101T000000Z",
            f"SUMMARY:{rng.choice(TITLES)} #{n}",
        ]
        roll = rng.random()
        if roll < 0.05:
            lines.append("TRANSP:TRANSPARENT")
        elif roll < 0.08:
            lines.append("STATUS:CANCELLED")
        elif roll < 0.12:
            lines.append("STATUS:TENTATIVE")
        if rng.random() < 0.15:
            partstat = rng.choice(("ACCEPTED", "DECLINED", "TENTATIVE", "NEEDS-ACTION"))
            lines.append(f"ORGANIZER;CN=Someone:mailto:someone{n % 17}@example.org")
            lines.append(f"ATTENDEE;CN=Owner;PARTSTAT={partstat}:mailto:{OWNER}")
            lines.append(f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:someone{n % 17}@example.org")
        if rng.random() < 0.2:
            lines.append(
                "DESCRIPTION:Agenda: status\\, risks\\, next steps. Dial-in details follow in"
                " a folded line that is long enough to wrap."
            )
        return lines

    def event(self, body: list[str]) -> None:
        self.lines.append("BEGIN:VEVENT")
        self.lines.extend(body)
        self.lines.append("END:VEVENT")
        self.count += 1

    def single(self, n: int) -> None:
        rng = self.rng
        day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        if rng.random() < 0.03:  # all-day, sometimes several days; half are "free"
            length = 1 if rng.random() < 0.8 else rng.randint(2, 5)
            body = [
                f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
                f"DTEND;VALUE=DATE:{day + timedelta(days=length):%Y%m%d}",
            ]
            if rng.random() < 0.5:
                body.append("TRANSP:TRANSPARENT")
            self.event([*self.common(n), *body])
            return
        start = datetime.combine(day, datetime.min.time()) + timedelta(
            minutes=15 * rng.randrange(7 * 4, 20 * 4)
        )
        zone = self.zone()
        body = [_dt("DTSTART", start, zone)]
        minutes = rng.choice((15, 30, 30, 45, 60, 60, 90, 120))
        if rng.random() < 0.2:
            body.append(f"DURATION:PT{minutes}M")
        else:
            body.append(_dt("DTEND", start + timedelta(minutes=minutes), zone))
        self.event([*self.common(n), *body])

    def series(self, n: int) -> None:
        rng = self.rng
        day = FIRST_DAY + timedelta(days=rng.randrange(DAYS - 60))
        start = datetime.combine(day, datetime.min.time()) + timedelta(
            minutes=15 * rng.randrange(7 * 4, 19 * 4)
        )
        zone = self.zone()
        minutes = rng.choice((15, 30, 45, 60))
        kind = rng.random()
        if kind < 0.1:
            rule, step = "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", timedelta(days=1)
        elif kind < 0.8:
            rule, step = f"FREQ=WEEKLY;INTERVAL={rng.choice((1, 1, 2))}", timedelta(days=7)
        else:
            ordinal = rng.choice(("1", "2", "-1"))
            weekday = rng.choice(("MO", "TU", "WE", "TH", "FR"))
            rule, step = f"FREQ=MONTHLY;BYDAY={ordinal}{weekday}", timedelta(days=30)
        end_roll = rng.random()
        if end_roll < 0.4:
            rule += f";COUNT={rng.randint(5, 80)}"
        elif end_roll < 0.85:
            until = start + timedelta(days=rng.randint(30, 700))
            rule += f";UNTIL={_stamp(until)}Z"
        body = [
            _dt("DTSTART", start, zone),
            _dt("DTEND", start + timedelta(minutes=minutes), zone),
            f"RRULE:{rule}",
        ]
        # EXDATEs and overrides on instances near the start (valid for daily/weekly series);
        # some EXDATEs are written in UTC against a zoned series, as Outlook and Google do.
        instances = [start + step * k for k in range(1, 8)] if step.days <= 7 else []
        rng.shuffle(instances)
        for moment in instances[: rng.randint(0, 3)]:
            body.append(_dt("EXDATE", moment, zone))
        self.event([*self.common(n), *body])
        for moment in instances[3 : 3 + rng.randint(0, 2)]:
            moved = moment + timedelta(minutes=rng.choice((-60, 30, 120, 24 * 60)))
            override = [
                f"UID:{self.uid(n)}",
                "DTSTAMP:20250101T000000Z",
                _dt("RECURRENCE-ID", moment, zone),
                _dt("DTSTART", moved, zone),
                _dt("DTEND", moved + timedelta(minutes=minutes), zone),
                "SUMMARY:moved instance",
            ]
            if rng.random() < 0.2:
                override.append("STATUS:CANCELLED")
            self.event(override)

    def text(self, name: str) -> str:
        head = [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            f"PRODID:-//meetagain bench//{name}//EN",
            "CALSCALE:GREGORIAN",
        ]
        if self.google:
            head += ["METHOD:PUBLISH", f"X-WR-CALNAME:{name}", "X-WR-TIMEZONE:Europe/Berlin"]
        else:
            head += list(VTIMEZONES.values())
        lines = [*head, *self.lines, "END:VCALENDAR"]
        return "".join(_fold(line) + "\r\n" for line in "\n".join(lines).split("\n"))


def _fold(line: str) -> str:
    """Fold a content line at 75 octets, as RFC 5545 asks."""
    if len(line) <= 75:
        return line
    parts = [line[:75]]
    rest = line[75:]
    while rest:
        parts.append(" " + rest[:74])
        rest = rest[74:]
    return "\r\n".join(parts)


def generate(out_dir: Path, *, seed: int = 7, events: int = 10_000, files: int = 5) -> list[Path]:
    """Write the calendars into out_dir and return their paths (same seed, same bytes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    per_file = events // files
    paths: list[Path] = []
    for index in range(files):
        google = index == files - 1
        writer = _Writer(rng, index, google)
        n = 0
        for _ in range(70):  # about 350 series in all, with their overrides
            writer.series(n)
            n += 1
        while writer.count < per_file:
            writer.single(n)
            n += 1
        name = f"calendar-{index + 1}{'-google' if google else ''}.ics"
        path = out_dir / name
        path.write_bytes(writer.text(name).encode("utf-8"))
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    for path in generate(args.out_dir, seed=args.seed, events=args.events):
        print(path)


if __name__ == "__main__":
    main()
