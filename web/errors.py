"""Errors meant for the person at the keyboard: one clear line, no traceback."""


class UserError(Exception):
    """Bad input or an unreadable resource, worded to say what was wrong and where."""
