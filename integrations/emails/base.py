"""What a template returns, and its text and HTML renderings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape


@dataclass(frozen=True)
class Link:
    label: str
    href: str


@dataclass(frozen=True)
class Email:
    """One email for one reader. `paragraphs` are whole sentences; `items` an optional list
    (a prep card, the digest's rows) shown after the paragraphs; `links` at the end."""

    subject: str
    paragraphs: tuple[str, ...]
    links: tuple[Link, ...] = ()
    sections: tuple[tuple[str, tuple[str | Link, ...]], ...] = field(default=())

    def text(self) -> str:
        parts = list(self.paragraphs)
        for title, lines in self.sections:
            parts.append(title + "\n" + "\n".join(f"  - {_plain(line)}" for line in lines))
        if self.links:
            parts.append("\n".join(f"{link.label}: {link.href}" for link in self.links))
        return "\n\n".join(p.strip() for p in parts if p.strip()) + "\n"

    def html(self) -> str:
        body = "".join(
            f"<p>{escape(p.strip()).replace(chr(10), '<br>')}</p>" for p in self.paragraphs
        )
        for title, lines in self.sections:
            body += f"<h3>{escape(title)}</h3><ul>"
            body += "".join(f"<li>{_html(line)}</li>" for line in lines) + "</ul>"
        if self.links:
            body += (
                "<p>"
                + " · ".join(
                    f'<a href="{escape(link.href)}">{escape(link.label)}</a>' for link in self.links
                )
                + "</p>"
            )
        return body


def _plain(line: str | Link) -> str:
    return f"{line.label}: {line.href}" if isinstance(line, Link) else line


def _html(line: str | Link) -> str:
    if isinstance(line, Link):
        return f'<a href="{escape(line.href)}">{escape(line.label)}</a>'
    return escape(line)


def first_name(name: str, fallback: str = "there") -> str:
    parts = name.split()
    return parts[0] if parts else fallback


def quoted(note: str, *, whose: str) -> str:
    """A person's note as its own sentence: 'Their note: "…"' / 'Your note: "…"'."""
    note = " ".join(note.split())
    return f'{whose} note: "{note}"' if note else ""


def links(*pairs: tuple[str, str]) -> tuple[Link, ...]:
    return tuple(Link(label, href) for label, href in pairs if href)


def sentences(*parts: str) -> tuple[str, ...]:
    return tuple(p for p in parts if p)


def joined(items: Sequence[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
