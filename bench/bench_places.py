"""Cities and trips at scale: `plan` over 30,000 contacts living in ~40 cities (typed as people
type them: aliases, a country, an unknown name, an ambiguous one), with a home city, two trips
and places, against the same plan for contacts without cities and no trips (target <= 1.5x).
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

from bench.gen_contacts import native
from bench.report import Report, bench_env, meetagain_argv, timed_subprocess

ROWS = 30_000
NOW = "2026-03-16T08:00:00+01:00"
REPEAT = 3
CITIES = (
    "Berlin", "Berlin", "Berlin", "Boston", "Boston, US", "New York", "London", "Paris",
    "München", "Hamburg", "Lisboa", "Madrid", "São Paulo", "Tokyo", "Lagos", "Nairobi",
    "Toronto", "San Francisco", "Cambridge", "Cambridge, MA", "Sydney", "Mumbai", "Seoul",
    "Stockholm", "Oslo", "Warsaw", "Vienna", "Zurich", "Amsterdam", "Dublin", "Rome",
    "Milan", "Barcelona", "Athens", "Istanbul", "Cairo", "Mexico City", "Bogota", "Atlantis X",
    "",
)  # fmt: skip


def _config(folder: Path, name: str, place: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        '[owner]\nname = "Bench"\nemails = ["owner@example.com"]\ntimezone = "Europe/Berlin"\n'
        f'{place}\n[scheduling]\nhorizon_days = 14\n\n[web]\ninstance_path = "instance"\n'
    )
    return path


def run(report: Report) -> None:
    folder = report.tmpdir("places")
    env = bench_env()
    today = datetime.date(2026, 3, 16)
    plain_csv = native(folder / "plain.csv", ROWS, today=today, cities=("",))
    cities_csv = native(folder / "cities.csv", ROWS, today=today, cities=CITIES)
    plain_cfg = _config(folder, "plain", "")
    places_cfg = _config(
        folder, "places", 'city = "Berlin"\nvideo_room_url = "https://meet.example/bench"\n'
    )
    report.note(f"{ROWS} contacts; {len(set(CITIES))} city spellings; trips to Boston and London")

    def cli(config: Path, db: Path, *args: str) -> list[str]:
        return meetagain_argv("--config", str(config), "--db", f"sqlite:///{db}", *args)

    plain_db, places_db = folder / "plain.db", folder / "places.db"
    for config, db, csv in ((plain_cfg, plain_db, plain_csv), (places_cfg, places_db, cities_csv)):
        timed_subprocess(cli(config, db, "init"), env=env, cwd=folder)
        timed_subprocess(cli(config, db, "contacts", "import", str(csv)), env=env, cwd=folder)
    for args in (
        ("trips", "add", "Boston", "2026-03-18", "2026-03-20"),
        ("trips", "add", "London", "2026-03-24", "2026-03-25"),
        ("places", "add", "Café Einstein", "--default-for", "breakfast"),
        ("places", "add", "Tatte", "--city", "Boston"),
    ):
        timed_subprocess(cli(places_cfg, places_db, *args), env=env, cwd=folder)

    plain_s, _ = timed_subprocess(
        cli(plain_cfg, plain_db, "plan", "--now", NOW, "--format", "json"),
        env=env,
        cwd=folder,
        repeat=REPEAT,
    )
    report.figure("plan, no cities or trips (baseline)", plain_s, "s", target="informational")
    places_s, _ = timed_subprocess(
        cli(places_cfg, places_db, "plan", "--now", NOW, "--format", "json"),
        env=env,
        cwd=folder,
        repeat=REPEAT,
    )
    report.figure(
        f"plan with {ROWS} cities resolved, 2 trips, places",
        places_s,
        "s",
        baseline_name="plan without them",
        baseline_value=plain_s,
        target="<= 1.5x",
    )
    report.note(f"best of {REPEAT}; no calendars (every window free); horizon 14 days")


if __name__ == "__main__":  # pragma: no cover
    print("run through bench/run.py", file=sys.stderr)
