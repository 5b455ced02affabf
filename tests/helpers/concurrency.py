"""Running attempts at the same moment, as two browsers or two nodes would."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def at_once(*attempts: Callable[[], T], timeout: float = 30) -> list[T]:
    """Each attempt in its own thread, all released together: what each returned, in the
    order they finished."""
    gate = threading.Barrier(len(attempts))
    outcomes: list[T] = []

    def run(attempt: Callable[[], T]) -> None:
        gate.wait()
        outcomes.append(attempt())

    threads = [threading.Thread(target=run, args=(attempt,)) for attempt in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return outcomes
