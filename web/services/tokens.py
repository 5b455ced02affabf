"""Secrets handed out in links and cookies (invite links, setup links, sign-in sessions, push
channels): the token goes to its holder once; the database keeps only its SHA-256, so a copy of
the database opens nothing."""

from __future__ import annotations

import hashlib


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
