"""Generate benchmark contacts: a LinkedIn Connections.csv and a native CSV with histories.

Deterministic for a given seed. The LinkedIn file has the real export's `Notes:` preamble,
accented names, quoted commas in companies and titles, and about a third of rows without an
email (deduplicated by profile URL). The native file carries relationships, preferences,
zones and a `last_met`/`times_met` history for most contacts, relative to `today`.

    python bench/gen_contacts.py OUT_DIR [--rows 20000] [--seed 11] [--today 2026-03-16]
"""

from __future__ import annotations

import argparse
import csv
import random
from datetime import date, timedelta
from pathlib import Path

from integrations.contacts_import.records import NATIVE_COLUMNS

FIRST = (
    "Ana",
    "Jonas",
    "Priya",
    "Marcus",
    "Sofia",
    "Daniel",
    "Lena",
    "Tom",
    "Aisha",
    "Chen",
    "Isabel",
    "Oliver",
    "Fatima",
    "Lukas",
    "Emma",
    "Rafael",
    "Hannah",
    "Noah",
    "Mia",
    "Yusuf",
    "Clara",
    "Ben",
    "Greta",
    "Mateo",
    "Zoë",
    "José",
    "François",
    "Søren",
    "Łukasz",
    "Ingrid",
)
LAST = (
    "Souza",
    "Weber",
    "Raman",
    "Lee",
    "Rossi",
    "Kim",
    "Fischer",
    "Becker",
    "Bello",
    "Wei",
    "García",
    "Schmidt",
    "Zahra",
    "Braun",
    "Johansson",
    "Costa",
    "Müller",
    "Williams",
    "Novak",
    "Demir",
    "Dubois",
    "Carter",
    "Larsen",
    "Rinaldi",
    "Núñez",
    "Lefèvre",
    "Kowalski",
    "Ødegård",
)
COMPANIES = (
    "Acme, Inc.",
    "Nordlicht GmbH",
    "Helix Bio",
    "Atlas Cloud",
    "Fermata",
    "Brightpath",
    "Stadtwerke",
    "Société Générale",
    "Lumen Analytics",
    "Ventura Capital",
    "Globex",
)
TITLES = ("Engineer", "Head of Data", "CTO", "Founder, CEO", "VP Engineering", "Recruiter")
RELATIONSHIPS = (
    "mentor",
    "advocate",
    "sponsor",
    "peer",
    "peer",
    "peer",
    "department-head",
    "recruiter",
    "friend",
    "other",
    "other",
)
ZONES = ("", "", "", "Europe/Berlin", "Europe/London", "America/New_York", "Asia/Tokyo")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PREAMBLE = (
    "Notes:\r\n"
    '"When exporting your connection data, you may notice that some of the email addresses are '
    "missing. You will only see email addresses for connections who have allowed their "
    "connections to see or download their email address using this setting "
    'https://www.linkedin.com/psettings/privacy/email."\r\n'
    "\r\n"
)


def _name(rng: random.Random, i: int) -> tuple[str, str]:
    return rng.choice(FIRST), f"{rng.choice(LAST)}{'' if i % 7 else ' Jr.'}"


def linkedin(path: Path, rows: int, seed: int = 11) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(PREAMBLE)
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(
            [
                "First Name",
                "Last Name",
                "URL",
                "Email Address",
                "Company",
                "Position",
                "Connected On",
            ]
        )
        for i in range(rows):
            first, last = _name(rng, i)
            email = f"person{i}@example.com" if rng.random() < 0.66 else ""
            day = date(2015, 1, 1) + timedelta(days=rng.randrange(11 * 365))
            writer.writerow(
                [
                    first,
                    last,
                    f"https://www.linkedin.com/in/person-{i:05d}",
                    email,
                    rng.choice(COMPANIES),
                    rng.choice(TITLES),
                    f"{day.day:02d} {MONTHS[day.month - 1]} {day.year}",
                ]
            )
    return path


def native(
    path: Path,
    rows: int,
    today: date,
    seed: int = 13,
    cities: tuple[str, ...] = (),
    *,
    all_met: bool = False,
) -> Path:
    """Contacts with histories; all in Berlin unless `cities` is given (then one of them each,
    drawn from a second generator so every other column stays the same). With `all_met` every
    contact has at least one logged meeting (the draws are the same, so is everything else)."""
    rng = random.Random(seed)
    where = random.Random(seed + 1)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(NATIVE_COLUMNS)
        for i in range(rows):
            first, last = _name(rng, i)
            first_met = today - timedelta(days=rng.randrange(3, 2000))
            times = rng.choice((0, 1, 1, 2, 3, 4, 6, 10)) or (1 if all_met else 0)
            span = (today - first_met).days
            last_met = first_met + timedelta(days=rng.randrange(span + 1)) if times else None
            meals = rng.choice(("", "", "breakfast", "lunch", "coffee", "breakfast;lunch"))
            days = rng.choice(("", "", "", "mon;wed", "tue;thu", "fri"))
            snooze = today + timedelta(days=rng.randrange(1, 60)) if rng.random() < 0.03 else None
            writer.writerow(
                [
                    f"{first} {last}",
                    f"member{i}@example.org",
                    rng.choice(COMPANIES),
                    rng.choice(TITLES),
                    rng.choice(RELATIONSHIPS),
                    rng.choice(("", "conference", "data;conference", "founder")),
                    rng.choice(("PyCon", "KubeCon EU", "Meetup", "LinkedIn", "")),
                    first_met.isoformat(),
                    last_met.isoformat() if last_met else "",
                    str(times) if times else "",
                    str(rng.choice((30, 45, 60))) if rng.random() < 0.1 else "",
                    meals,
                    days,
                    rng.choice(ZONES),
                    where.choice(cities) if cities else "Berlin",
                    "",
                    "",
                    "yes" if rng.random() < 0.02 else "no",
                    snooze.isoformat() if snooze else "",
                ]
            )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 3, 16))
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    print(linkedin(args.out_dir / "Connections.csv", args.rows, args.seed))
    print(native(args.out_dir / "contacts.csv", args.rows, args.today, args.seed + 2))


if __name__ == "__main__":
    main()
