"""Web fixtures (defined in tests/web/support.py): `app`, `client`, `site` (CSRF-aware
client), `owner`."""

from tests.web.support import app, client, owner, site  # noqa: F401
