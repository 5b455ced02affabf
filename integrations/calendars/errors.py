"""Errors raised by calendar adapters."""

from __future__ import annotations


class CalendarError(Exception):
    """A calendar could not be read; the message names the source and, if known, the line."""


def about(name: str, exc: BaseException) -> str:
    """The error as one warning line about calendar `name` (named once, not twice)."""
    message = str(exc)
    return message if message.startswith(f"{name}: ") else f"{name}: {message}"
