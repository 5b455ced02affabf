"""Adapters to the outside world: calendars, mail, contact files, persistence, configuration."""
