"""The contact merge page finds the duplicate by a search (a GET form, no script needed), so a
user with thousands of contacts is not handed a list of all of them."""

from __future__ import annotations

import re

from integrations.storage.contacts import ContactRepository
from integrations.storage.db import transaction
from scheduler.model import Contact
from tests.web.support import Web, text
from web.composition import Runtime


def _many_contacts(runtime: Runtime, owner: int, count: int) -> dict[str, int]:
    ids = {}
    with transaction(runtime.sessions) as session:
        repo = ContactRepository(session, owner)
        for n in range(count):
            name = f"Person {n:03d}"
            ids[name] = repo.add(Contact(name=name, emails=(f"p{n}@example.org",))).id
        ids["Jonas Weber"] = repo.add(Contact(name="Jonas Weber", emails=("jonas@example.com",))).id
        ids["J. Weber"] = repo.add(Contact(name="J. Weber", emails=("jw@home.example",))).id
    return ids


def _options(page: str) -> list[str]:
    select = page.split('id="merge-other"', 1)[1].split("</select>", 1)[0]
    return re.findall(r"<option [^>]*>([^<]*)</option>", select)


def test_the_merge_page_finds_the_duplicate_among_many_contacts_by_a_search(
    site: Web, owner: int, sqlite_runtime: Runtime
) -> None:
    ids = _many_contacts(sqlite_runtime, owner, 110)
    url = f"/contacts/{ids['Jonas Weber']}/merge"
    plain = text(site.get(url))
    # Without a search: a list cut short, saying so, and a search field (a GET form: no script).
    assert len(_options(plain)) == 50
    assert "The first 50 of 111 contacts, by name" in plain
    assert re.search(r'<input type="search" id="merge-q" name="q"', plain)
    found = text(site.get(url + "?q=weber"))
    assert _options(found) == ["J. Weber (jw@home.example)"]  # never the contact itself
    assert "1 contact matching “weber”" in found
    by_email = text(site.get(url + "?q=home.example"))
    assert _options(by_email) == ["J. Weber (jw@home.example)"]
    # The search travels with the pick; the preview keeps it picked.
    preview = text(site.get(url + f"?q=weber&other={ids['J. Weber']}"))
    assert "Merge J. Weber into Jonas Weber" in preview
    assert f'<option value="{ids["J. Weber"]}" selected>J. Weber' in preview
    none = text(site.get(url + "?q=nobody-by-that-name"))
    assert "No other contact matches “nobody-by-that-name”" in none
