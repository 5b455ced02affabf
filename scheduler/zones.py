"""Time-zone names as people, forms and files write them: which of them name a zone."""

from __future__ import annotations

from zoneinfo import ZoneInfo


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
