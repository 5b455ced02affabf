"""Settings asks for the new password twice, as setup does, with setup's message."""

from __future__ import annotations

import re

from tests.web.support import PASSWORD, Web, text


def test_settings_asks_for_the_new_password_twice_and_refuses_two_that_differ(
    site: Web, owner: int
) -> None:
    page = text(site.get("/settings"))
    assert re.search(r'<label for="f-confirm_password">New password again', page)
    differ = site.post(
        "/settings/password",
        {
            "current_password": PASSWORD,
            "new_password": "a fresh passphrase",
            "confirm_password": "a fresh passphrse",
        },
    )
    assert differ.status_code == 400
    assert "The two passwords differ." in text(differ)  # setup's message, word for word
    site.post("/logout")
    assert site.sign_in("owner@example.com").status_code == 303  # the old one still works
