"""Files in the instance folder: written whole or not at all, and telling a full disk apart."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

# "No space left", "disk quota exceeded" and "file too large" (a size limit): no room to save.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_SQLITE_FULL = 13  # SQLITE_FULL: "database or disk is full"
_POSTGRES_DISK_FULL = "53100"  # SQLSTATE disk_full


class UnreadableFile(ValueError):
    """A local file that cannot be read whole: `kind` says why ("missing", "folder",
    "special" for a device, pipe or socket, "too_large", "unreadable"); str is the reason."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def read_regular_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or UnreadableFile. A device
    (/dev/zero), a named pipe or a socket is refused before any read: reading one may never
    end. A file that grows past `limit` while read is refused too (never more is read)."""
    try:
        # Non-blocking: opening a named pipe must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if stat.S_ISDIR(mode):
                raise UnreadableFile("folder", "is a folder, not a file")
            if not stat.S_ISREG(mode):
                raise UnreadableFile(
                    "special", "is not a regular file (a device, a pipe or a socket)"
                )
            data = file.read(limit + 1)
    except FileNotFoundError:
        raise UnreadableFile("missing", "no such file") from None
    except IsADirectoryError:
        raise UnreadableFile("folder", "is a folder, not a file") from None
    except OSError as exc:
        raise UnreadableFile("unreadable", f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise UnreadableFile("too_large", f"is larger than the limit of {limit // 1024} KiB")
    return data


class NotUtf8(ValueError):
    """A file's bytes are not UTF-8 text; the message names the line of the first bad byte."""


def utf8_text(data: bytes) -> str:
    """A file's bytes as UTF-8 text (a byte order mark is dropped); NotUtf8 when they are not,
    naming UTF-16 or UTF-32 when the file plainly is one of those."""
    wide = wide_encoding(data)
    if wide:
        raise NotUtf8(f"the file is {wide} encoded, not UTF-8 (save it as UTF-8 and try again)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise NotUtf8(
            f"line {line}: not UTF-8 text (save the file as UTF-8 and try again)"
        ) from None


def wide_encoding(data: bytes) -> str:
    """ "UTF-16" or "UTF-32" when the file plainly is (a byte order mark, or ASCII text with
    zero bytes between the letters), else "". (Such ASCII would pass for UTF-8 with NULs.)"""
    head = data[:4]
    if head in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return "UTF-32"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "UTF-16"
    if (
        len(head) == 4
        and (head[1] == head[3] == 0 or head[0] == head[2] == 0)
        and head.count(0) == 2
    ):
        return "UTF-16"
    return ""


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, then rename.

    On any failure (a full disk) nothing is left behind: no partial or empty file.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def is_disk_full(exc: BaseException) -> bool:
    """True when `exc` (or what it wraps) says there is no room left to save: a file write or
    a database (SQLite's SQLITE_FULL, PostgreSQL's disk_full) that ran out of space."""
    for cause in _chain(exc):
        if isinstance(cause, OSError) and cause.errno in _NO_ROOM:
            return True
        if getattr(cause, "sqlite_errorcode", None) == _SQLITE_FULL:
            return True
        if getattr(cause, "sqlstate", None) == _POSTGRES_DISK_FULL:
            return True
    return False


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)  # SQLAlchemy's DBAPIError wraps the driver's
        if isinstance(orig, BaseException):
            yield orig
        current = current.__cause__ or current.__context__
