"""Run client threads side by side and fail the test with whatever any of them raised."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_all(targets: list[Callable[[], None]]) -> None:
    """Start every target on its own thread, wait for all, and re-raise their errors in the test's thread."""
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "client threads did not finish"
    assert not errors, errors
