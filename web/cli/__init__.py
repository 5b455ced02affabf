"""The `meetagain` command line. Imports stay lazy so `meetagain --help` starts fast."""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any

import click

from web.errors import UserError, database_unavailable

# Command groups living in their own modules, imported only when used.
LAZY_COMMANDS: dict[str, str] = {
    "slots": "web.cli.calendar:slots",
    "busy": "web.cli.calendar:busy",
    "contacts": "web.cli.contacts:contacts",
    "due": "web.cli.contacts:due",
    "plan": "web.cli.contacts:plan",
    "invites": "web.cli.invites:invites",
    "worker": "web.cli.invites:worker",
    "password": "web.cli.accounts:password",
    "trips": "web.cli.places:trips",
    "places": "web.cli.places:places",
}

LAZY_HELP: dict[str, str] = {
    "slots": "Free breakfast and lunch slots from calendars.",
    "busy": "Merged busy time from calendars.",
    "contacts": "Import, export and list contacts.",
    "due": "Who is due for a coffee, and why.",
    "plan": "This week's proposals: contacts paired with free times.",
    "invites": "Create coffee invites.",
    "worker": "Send queued mail and calendar writes, and sync calendars.",
    "password": "Set an account's password (a forgotten one).",
    "trips": "Trips you enter by hand (city, dates).",
    "places": "Places where you like to meet.",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            # --help lists short help without importing every module.
            if ctx.resilient_parsing or _listing_help():
                return click.Command(cmd_name, help=LAZY_HELP[cmd_name])
            module_name, attr = LAZY_COMMANDS[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(module_name), attr)
            return command
        return super().get_command(ctx, cmd_name)


def _listing_help() -> bool:
    args = sys.argv[1:]
    positional = [a for a in args if not a.startswith("-")]
    return ("--help" in args or "-h" in args) and not positional


class State:
    """What the global options chose; builds the runtime on first use."""

    def __init__(self, config_path: str | None, db_url: str | None, user: str | None) -> None:
        self.config_path = config_path
        self.db_url = db_url
        self.user = user
        self._runtime: Any = None
        self._config: Any = None
        self._owner: int | None = None

    @property
    def config(self) -> Any:
        # Loaded without building the runtime, so commands that need no database (slots, busy
        # on files) never import SQLAlchemy.
        if self._runtime is not None:
            return self._runtime.config
        if self._config is None:
            from integrations.config import load_config

            override = {"database": {"url": self.db_url}} if self.db_url else None
            self._config = load_config(self.config_path, override)
        return self._config

    @property
    def runtime(self) -> Any:
        if self._runtime is None:
            from web.composition import Runtime

            self._runtime = Runtime(self.config)
        return self._runtime

    def runtime_for_links(self) -> Any:
        """The runtime whose links (invite URLs, links in mail) reach this meetagain:
        [web] base_url when set, else where a running `meetagain serve` listens (recorded
        in the instance folder), else the default http://127.0.0.1:5000."""
        if self._runtime is None:
            from dataclasses import replace

            from integrations.config import WebConfig
            from web.composition import Runtime
            from web.instance import serving_url

            config = self.config
            served = serving_url(config.instance_dir)
            if served and config.web.base_url == WebConfig().base_url:
                config = replace(config, web=replace(config.web, base_url=served))
            self._runtime = Runtime(config)
        return self.runtime

    def owner_id(self, *, create: bool = False) -> int:
        if self._owner is None or create:
            self._owner = int(self.runtime.owner_id(self.user, create=create))
        return self._owner


pass_state = click.make_pass_decorator(State)
# `--format text|json`, as every listing command takes it.
format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="MEETAGAIN_CONFIG",
    show_envvar=True,  # also in errors: the bad value may have come from the environment
    help="Config file (default: ./config.toml if present).",
)
@click.option("--db", "db_url", help="Database URL (overrides [database] url).")
@click.option("--user", help="Act as this user (email); default: the config's owner.")
@click.option("--verbose", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def cli(
    ctx: click.Context, config_path: str | None, db_url: str | None, user: str | None, verbose: bool
) -> None:
    """meetagain: keep in touch over breakfast and lunch."""
    ctx.obj = State(config_path, db_url, user)


@cli.command()
@click.option(
    "--demo-secret",
    is_flag=True,
    hidden=True,
    help="Accepted for the Makefile; init always creates a missing secret.",
)
@click.option(
    "--host",
    default=None,
    help="The host `meetagain serve` will listen on, for the setup link (default: 127.0.0.1).",
)
@click.option(
    "--port",
    default=None,
    type=click.IntRange(0, 65535),
    help="The port `meetagain serve` will listen on, for the setup link (default: 5000; 0: "
    "not known yet, serve prints the link).",
)
@pass_state
def init(state: State, demo_secret: bool, host: str | None, port: int | None) -> None:
    """Create the instance folder, its secret key (mode 0600) and the database."""
    from web.instance import create_secret, ensure_instance, record_setup_link

    config = state.config
    if port != 0 and (host is not None or port is not None):
        config = _links_at(config, host or "127.0.0.1", port or 5000)
    folder = ensure_instance(config.instance_dir)
    if create_secret(folder):
        click.echo(f"created secret key {folder / 'secret_key'} (mode 0600)")
    else:
        click.echo(f"kept existing secret key {folder / 'secret_key'}")
    state.runtime.upgrade_database()
    state.owner_id(create=True)
    click.echo(f"database ready: {state.runtime.shown_url()}")
    from web.services.accounts import new_setup_token

    token = new_setup_token(state.runtime)
    if token is not None:
        # Anyone could claim a fresh server: from elsewhere, /setup needs this one-time link.
        base = config.web.base_url.rstrip("/")
        record_setup_link(folder, base)
        click.echo(f"create the first account (the admin) at: {base}/setup?token={token}")
        click.echo("  (one-time link; on this machine itself the setup page opens without it)")


@cli.command()
@click.option(
    "--today",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Date the demo data is relative to (default: today).",
)
@click.option(
    "--remove",
    is_flag=True,
    help="Remove the demo contacts, calendar, invites and bookings instead.",
)
@pass_state
def demo(state: State, today: Any, remove: bool) -> None:
    """Load the demo calendar and about 25 contacts (safe to run again), or --remove them."""
    from web.cli.values import check_day
    from web.services.demo import load_demo, remove_demo

    day = check_day(today.date(), "--today") if today else None
    runtime = state.runtime
    if not runtime.database_is_current():
        runtime.upgrade_database()
    if remove:
        click.echo(remove_demo(runtime, state.owner_id(create=True)).summary())
        return
    summary = load_demo(runtime, state.owner_id(create=True), day)
    click.echo(summary)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    default=5000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="0: any free port (the address is printed).",
)
@click.option(
    "--drain-outbox/--no-drain-outbox",
    default=False,
    help="Send queued mail from inside the server process (the demo does).",
)
@click.option(
    "--sync-calendars/--no-sync-calendars",
    default=True,
    show_default=True,
    help="Sync calendars into the store from inside the server process (else run `worker`).",
)
@pass_state
def serve(state: State, host: str, port: int, drain_outbox: bool, sync_calendars: bool) -> None:
    """Run the development server."""
    from werkzeug.serving import make_server

    from web.http.app import create_app
    from web.instance import forget_serving, record_serving

    runtime = state.runtime
    if not runtime.database_is_current():
        raise UserError("the database is not up to date: run `meetagain db upgrade`")
    if port:
        _check_port_free(host, port)
    # Bound first, so that with --port 0 the links name the port the system picked.
    app: dict[str, Any] = {}
    server = make_server(
        host, port, lambda environ, respond: app["wsgi"](environ, respond), threaded=True
    )
    runtime = _served_at(runtime, host, server.port)
    app["wsgi"] = create_app(
        runtime=runtime, drain_outbox=drain_outbox, sync_calendars=sync_calendars
    )
    import logging

    from web.http import logs

    logs.configure(runtime.config.log)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # our access line says it once
    instance = runtime.config.instance_dir
    # `meetagain invites create` and the other CLI commands read this to build their links.
    _exit_on_sigterm()
    try:
        record_serving(instance, runtime.config.web.base_url)
        _setup_link_for(runtime, state.config)
        click.echo(f"meetagain on {_shown_address(host, server.port)}")
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        # First: closing waits for request threads, and links must stop naming this port
        # even if the process is killed meanwhile.
        forget_serving(instance)
        server.server_close()


def _setup_link_for(served: Any, config: Any) -> None:
    """While no account exists and this server's links differ from the last setup link printed
    (by `meetagain init`, or a `serve` elsewhere: another port, no [web] base_url), print one
    for this address: it replaces that one, which names an address nothing serves."""
    from web.instance import record_setup_link, setup_link_base
    from web.services.accounts import new_setup_token

    base = served.config.web.base_url.rstrip("/")
    printed = setup_link_base(config.instance_dir) or config.web.base_url
    if base == printed.rstrip("/"):
        return  # the last link printed names this server
    token = new_setup_token(served)
    if token is not None:
        record_setup_link(config.instance_dir, base)
        click.echo(f"create the first account (the admin) at: {base}/setup?token={token}")
        click.echo("  (one-time link; it replaces the one printed before)")


def _exit_on_sigterm() -> None:
    """`kill` (SIGTERM) ends the server like Ctrl-C does, through its clean-up; and SIGINT
    does even when the server was started by a script as a background job (which starts it
    with SIGINT ignored)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _shown_address(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}"


def _served_at(runtime: Any, host: str, port: int) -> Any:
    """The runtime whose links (invite emails, redirects) point at this server: without a
    [web] base_url of the user's own, that is the host and port it serves on."""
    from web.composition import Runtime

    config = _links_at(runtime.config, host, port)
    if config is runtime.config:
        return runtime
    runtime.engine.dispose()  # the serving runtime opens its own
    return Runtime(config)


def _links_at(config: Any, host: str, port: int) -> Any:
    """`config` with links (setup, invites, redirects) naming a server on host:port, unless
    a [web] base_url of the user's own names the public address, whatever the local port."""
    from dataclasses import replace

    from integrations.config import WebConfig

    if config.web.base_url != WebConfig().base_url:
        return config
    base_url = _shown_address(host, port)
    if base_url == config.web.base_url:
        return config
    return replace(config, web=replace(config.web, base_url=base_url))


def _check_port_free(host: str, port: int) -> None:
    """One clear line instead of Werkzeug's two and exit 1 when the port is taken."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UserError(f"cannot serve on {host}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # The same option Werkzeug's server sets, so a port in TIME_WAIT is not called busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(
                    f"port {port} on {host} is already in use: pass --port or stop the other server"
                ) from None
            raise UserError(f"cannot serve on {host} port {port}: {exc.strerror or exc}") from None


@cli.group(name="db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command()
@click.option(
    "--revision", default="head", show_default=True, help="Upgrade up to this one (never down)."
)
@pass_state
def upgrade(state: State, revision: str) -> None:
    """Run the database migrations."""
    # What the database is at, which an older --revision than its own leaves unchanged.
    now_at = state.runtime.upgrade_database(revision)
    click.echo(f"database at revision {now_at}: {state.runtime.shown_url()}")


def _one_line(exc: object) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return " ".join(line.strip() for line in text.splitlines())


def main(argv: list[str] | None = None) -> None:
    """Console entry point: known errors print one line and exit 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in args
    try:
        cli.main(args=args, prog_name="meetagain", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:
        # `meetagain` or `meetagain contacts` alone: the help as it is laid out, as click shows it.
        click.echo(exc.format_message(), err=True)
        sys.exit(2)
    except click.ClickException as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"error: {_one_line(exc.format_message())}", err=True)
        sys.exit(2)
    except Exception as exc:  # every failure gets one clear line; --verbose shows the rest
        if verbose:
            traceback.print_exc()
        click.echo(f"error: {_describe(exc)}", err=True)
        sys.exit(2)
    sys.exit(0)


def _describe(exc: Exception) -> str:
    from integrations.config import ConfigError

    if isinstance(exc, UserError | ConfigError):
        return _one_line(exc)
    unavailable = database_unavailable(exc)
    if unavailable is not None:
        said = f" (database: {unavailable.detail})" if unavailable.detail else ""
        return f"{unavailable}; run it again{said}"
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.StatementError) and exc.orig is not None:
        # The driver's own words (server down, no such database), without SQLAlchemy's wrapping.
        return f"database: {_one_line(exc.orig)} (run with --verbose for details)"
    return f"{exc.__class__.__name__}: {_one_line(exc)} (run with --verbose for details)"
