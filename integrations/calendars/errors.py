"""Errors raised by calendar adapters."""

from __future__ import annotations


class CalendarError(Exception):
    """A calendar could not be read; the message names the source and, if known, the line."""
