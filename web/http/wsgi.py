"""The WSGI entry point for production servers: `gunicorn 'web.http.wsgi:app'`.

This is the one module that builds an app at import, because a WSGI server imports a module and
looks up a callable. Nothing else imports it. Configuration comes from $MEETAGAIN_CONFIG (or
./config.toml) and the environment, exactly as for the `meetagain` command; log lines go to
stderr as `[log]` says (text or JSON).
"""

from integrations.config import load_config
from web.http import logs
from web.http.app import create_app

_config = load_config()
logs.configure(_config.log)
app = create_app(_config)
