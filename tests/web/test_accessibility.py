"""Accessibility basics on every owner page: one h1, no skipped heading levels, unique ids,
a label for every form control, and a CSRF token in every form that posts."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import web
from tests.web.support import Web, ics_bytes, text
from web.composition import Runtime
from web.services.demo import load_demo


@dataclass
class Page(HTMLParser):
    ids: list[str] = field(default_factory=list)
    label_for: set[str] = field(default_factory=set)
    controls: list[tuple[str, dict[str, str], bool]] = field(default_factory=list)
    headings: list[int] = field(default_factory=list)
    post_forms: list[bool] = field(default_factory=list)  # has a csrf_token field
    _in_label: int = 0

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "label":
            self._in_label += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        elif tag == "form" and a.get("method", "get").lower() == "post":
            self.post_forms.append(False)
        elif tag in ("input", "select", "textarea"):
            if a.get("name") == "csrf_token" and self.post_forms:
                self.post_forms[-1] = True
            if a.get("type") not in ("hidden", "submit", "button", "reset"):
                self.controls.append((tag, a, self._in_label > 0))
        elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self.headings.append(int(tag[1]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._in_label -= 1


def problems(html: str) -> list[str]:
    page = Page()
    page.feed(html)
    found = []
    if page.headings[:1] != [1] or page.headings.count(1) != 1:
        found.append(f"headings should start with one h1: {page.headings}")
    for before, after in zip(page.headings, page.headings[1:], strict=False):
        if after > before + 1:
            found.append(f"heading level skipped: h{before} then h{after}")
    dups = sorted({i for i in page.ids if page.ids.count(i) > 1})
    if dups:
        found.append(f"duplicate ids: {dups}")
    for tag, a, wrapped in page.controls:
        named = a.get("aria-label") or a.get("aria-labelledby")
        if not (wrapped or named or a.get("id") in page.label_for):
            found.append(f"{tag} {a.get('name')!r} has no label")
    if not all(page.post_forms):
        found.append("a form that posts has no csrf_token")
    return found


def test_every_owner_page_has_headings_labels_unique_ids_and_csrf(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    load_demo(sqlite_runtime, owner)
    site.get("/calendars")
    site.post(
        "/calendars/ics",
        {"name": "Work", "file": (io.BytesIO(ics_bytes()), "work.ics")},
        content_type="multipart/form-data",
    )
    contacts = text(site.get("/contacts"))
    contact_url = contacts.split('href="/contacts/', 1)[1].split('"', 1)[0]
    dashboard = text(site.get("/"))
    plan = dashboard.split('action="/plan/', 1)[1].split("/", 1)[0]
    calendars = text(site.get("/calendars"))
    calendar = calendars.split('href="/calendars/', 1)[1].split('"', 1)[0]
    pages = [
        "/",
        "/contacts",
        "/contacts?q=a&sort=name",
        f"/contacts/{contact_url}",
        "/contacts/new",
        "/contacts/import",
        "/calendars",
        f"/calendars/{calendar}",
        f"/plan/{plan}",
        "/settings",
        "/settings/help/google",
        "/places",
        "/setup/time",
        "/setup/calendars",
        "/setup/contacts",
        "/setup/rules",
    ]
    found = {}
    for url in pages:
        response = site.get(url)
        assert response.status_code == 200, url
        if problems(text(response)):
            found[url] = problems(text(response))
    # Pages with errors and reports shown render their extra parts accessibly too.
    site.get("/calendars")
    errored = site.post("/calendars/caldav", {"caldav_url": "nope", "caldav_name": "N" * 300})
    if problems(text(errored)):
        found["/calendars (errors)"] = problems(text(errored))
    site.get("/contacts/import")
    report = site.post(
        "/contacts/import",
        {"file": (io.BytesIO(b"name,email\nA,a@example.org\nB,broken\n"), "people.csv")},
        content_type="multipart/form-data",
    )
    if problems(text(report)):
        found["/contacts/import (report)"] = problems(text(report))
    assert found == {}


def test_the_sign_in_and_first_run_pages_are_accessible_too(site: Web) -> None:
    assert problems(text(site.get("/setup"))) == []
    site.post("/setup", {"email": "o@example.com", "password": "x", "confirm": "y"})
    assert problems(text(site.post("/setup", {"email": "bad", "password": "x"}))) == []


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_text_colours_have_good_contrast_and_the_focus_ring_shows_on_white() -> None:
    css = (Path(web.__file__).parent / "http" / "static" / "app.css").read_text()
    colour = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", css))
    for fg, bg in [
        ("text", "bg"),
        ("muted", "bg"),
        ("muted", "card"),
        ("primary", "card"),
        ("primary", "bg"),
        ("error", "card"),
        ("error", "error-bg"),
        ("warn", "warn-bg"),
    ]:
        assert contrast(colour[fg], colour[bg]) >= 4.5, (fg, bg)
    ring = re.search(r":focus-visible\s*\{[^}]*outline:\s*\d+px solid var\(--([\w-]+)\)", css)
    assert ring is not None
    assert contrast(colour[ring.group(1)], colour["card"]) >= 3, ring.group(1)
