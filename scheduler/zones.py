"""Time-zone names as people, forms and files write them: which of them name a zone."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo


# Cached: a plan asks this of every contact, and ZoneInfo keeps only eight zones strongly, so
# with more zones than that among the contacts it read the tz files again and again.
@lru_cache(maxsize=4096)
def known_zone(name: str | None) -> ZoneInfo | None:
    """The IANA zone `name` names, or None (empty, unknown, or no zone name at all)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    # Unknown (ZoneInfoNotFoundError is a KeyError); not a key at all (a path, a NUL byte);
    # a folder of zones ("Europe") or a name too long for the file system (OSError).
    except (KeyError, ValueError, OSError):
        return None


def check_zone(name: str) -> str:
    """Return name if it is an IANA time zone, else raise ValueError."""
    if known_zone(name) is None:
        raise ValueError(f'"{name}" is not a known time zone (use an IANA name like Europe/Berlin)')
    return name
