"""gunicorn settings for meetagain: `gunicorn --config deploy/gunicorn.conf.py 'web.http.wsgi:app'`.

The systemd unit deploy/meetagain-web.service runs exactly that. Flags on the command line win
over this file (the tests add --bind). meetagain itself reads $MEETAGAIN_CONFIG and the
environment (README, "Deploying for a team").
"""

import os
import shutil
from pathlib import Path

# Behind the reverse proxy on the same machine (deploy/nginx.conf); another node's proxy
# reaches it through MEETAGAIN_BIND, e.g. "0.0.0.0:8000" on a private network.
bind = os.environ.get("MEETAGAIN_BIND", "127.0.0.1:8000")
# Sync workers: each request holds one for its duration (the accept's live calendar check
# waits at most 8 s). Two per core is a good start on a small machine.
workers = int(os.environ.get("MEETAGAIN_WORKERS", str(2 * (os.cpu_count() or 1))))
worker_class = "sync"
timeout = 30  # a worker silent this long is restarted
graceful_timeout = 25  # on SIGTERM, requests in flight get this long to finish
keepalive = 5  # the proxy keeps connections open (nginx: keepalive in the upstream)
# Not preloaded: each worker builds its app after the fork, so no database connection or
# rate-limit store is shared between processes.
preload_app = False

# meetagain logs one line per request itself (with the request id, tokens redacted) through
# its [log] settings; gunicorn's access log would say it twice. If you switch it on, the
# logger class below redacts it as well.
accesslog = None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
logger_class = "web.http.gunicorn_logging.RedactingLogger"
errorlog = "-"


def on_starting(server: object) -> None:
    """Prometheus multiprocess mode: start from an empty folder (old workers' counts go)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        path = Path(folder)
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)


def child_exit(server: object, worker: object) -> None:
    """A worker gone: its live gauges go with it (its counters stay in the totals)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
