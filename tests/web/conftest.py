"""Web fixtures (defined in tests/web/support.py): `app`, `site` (CSRF-aware client), `owner`."""

from tests.web.support import app, owner, site  # noqa: F401
