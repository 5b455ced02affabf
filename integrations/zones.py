"""The time zones a person picks from: the tz database's own list of canonical zones, read
from the tzdata package (data on disk, so here beside the other adapters, not in scheduler/)."""

from __future__ import annotations

from functools import lru_cache

# The zone lists of the tz database: one line per zone, "code<TAB>coordinates<TAB>Zone/Name...".
_ZONE_TABLE = "zone.tab"


def _zone_table() -> str:
    """The tz database's zone.tab: from the tzdata package (a dependency, updated with it), else
    from the system's zoneinfo folders; "" when neither has one."""
    from importlib import resources
    from pathlib import Path
    from zoneinfo import TZPATH

    try:
        return (resources.files("tzdata") / "zoneinfo" / _ZONE_TABLE).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        pass
    for folder in TZPATH:
        table = Path(folder) / _ZONE_TABLE
        if table.is_file():
            return table.read_text(encoding="utf-8")
    return ""


# Cached: the list is the same for every page and every user; the tz files do not change while
# the process runs (a tzdata upgrade restarts it).
@lru_cache(maxsize=1)
def zone_choices() -> tuple[str, ...]:
    """The time zones a person picks from, sorted, with UTC: the tz database's canonical zones
    as zone.tab lists them (at least one per country, e.g. Europe/Oslo), never its
    backward-compatible aliases (Africa/Asmera, America/Atka, US/Pacific). An alias still names
    a zone (`known_zone`): a form accepts one a user has stored or sends."""
    from zoneinfo import available_timezones

    loadable = available_timezones()
    names = {
        fields[2]
        for line in _zone_table().splitlines()
        if line and not line.startswith("#") and len(fields := line.split("\t")) >= 3
    }
    listed = names & loadable
    if not listed:  # no zone.tab anywhere: every zone with a region, as before
        listed = {z for z in loadable if "/" in z}
    return tuple(sorted(listed | {"UTC"}))
