"""Real meetagain processes for deployment tests: gunicorn with deploy/gunicorn.conf.py and
`meetagain worker`, on loopback, stopped with SIGTERM like systemd does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def meetagain_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a deployed process: ours, minus settings of whoever runs the tests."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MEETAGAIN_", "PROMETHEUS_"))
    }
    env.update(extra)
    return env


class Process:
    """A child process whose output goes to a file (read it with `output()`)."""

    def __init__(self, args: list[str], env: Mapping[str, str], log: Path, cwd: Path) -> None:
        self.log = log
        self._file = log.open("wb")
        self.popen = subprocess.Popen(
            args, env=dict(env), cwd=cwd, stdout=self._file, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, then wait; kill if it does not stop in time (and fail then)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(f"{self.popen.args} ignored SIGTERM:\n{self.output()}") from None
        finally:
            self._file.close()
        return code


@contextmanager
def gunicorn(
    env: Mapping[str, str], folder: Path, *, workers: int = 2, extra: tuple[str, ...] = ()
) -> Iterator[tuple[str, Process]]:
    """gunicorn with the deploy config on a free loopback port; yields (base URL, process)."""
    port = free_port()
    args = [
        str(BIN / "gunicorn"),
        "--config",
        str(GUNICORN_CONF),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        *extra,
        "web.http.wsgi:app",
    ]
    process = Process(args, env, folder / f"gunicorn-{port}.log", ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        yield base, process
    finally:
        process.terminate()


def _wait_until_up(base: str, process: Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{process.output()}")
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"gunicorn did not answer /healthz in time:\n{process.output()}")


@contextmanager
def worker(env: Mapping[str, str], folder: Path, name: str) -> Iterator[Process]:
    """`meetagain worker` (the deploy unit's ExecStart)."""
    process = Process(
        [str(BIN / "meetagain"), "worker", "--interval", "0.3"], env, folder / f"{name}.log", ROOT
    )
    try:
        yield process
    finally:
        process.terminate()
