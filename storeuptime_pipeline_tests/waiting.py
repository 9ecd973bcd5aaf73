"""Bounded waits that say what they waited for: the one way the tests wait for something to happen.

A test that sleeps a fixed time is slow when the machine is fast and flaky when it is loaded; a test
that asserts how long something took (``restart_s < 15``) fails for the machine's reason, not the
code's. ``wait_until`` polls a condition instead, returns as soon as it holds, and on timeout fails
with a message naming what it was waiting for, the last value it saw and whatever else the caller
can tell (a server log's tail), so a failure reads as "waited 60 s for the report to complete; last
seen: Running" rather than as a bare ``assert False``.

The timeouts are generous on purpose: they bound a hang, they do not measure speed. Figures worth
knowing (how long a restart or a failover takes) are printed, not asserted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimedOut(AssertionError):
    """The condition did not hold within the timeout (an assertion failure of the test)."""


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    what: str,
    *,
    every: float = 0.5,
    ignoring: tuple[type[BaseException], ...] = (),
    details: Callable[[], str] | None = None,
) -> T:
    """Call ``condition`` every ``every`` seconds until it returns something truthy; return that.

    ``what`` completes "waited N s for ...". Exceptions in ``ignoring`` (e.g. a server not
    listening yet) count as "not yet"; any other exception propagates at once, so a condition can
    also fail fast (``assert status != "Failed"``). ``details`` is called only on timeout and its
    text is appended (a log tail). The condition is always tried at least once, and once more
    after the deadline, so a slow last poll is not lost.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        expired = time.monotonic() >= deadline
        try:
            value = condition()
        except ignoring as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if expired:
            message = f"waited {timeout:g} s for {what}; last seen: {last!r}"
            if details is not None:
                message += "\n" + details()
            raise WaitTimedOut(message)
        time.sleep(max(0.0, min(every, deadline - time.monotonic())))


def finishes_within(action: Callable[[], T], timeout: float, what: str) -> T:
    """Run ``action`` (a blocking call) and return its result, failing if it has not returned by ``timeout``.

    For a call with no timeout of its own (starting a server): the test fails naming ``what``
    instead of hanging. The call goes on in a daemon thread if it overruns.
    """
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = action()
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, name=f"finishes_within: {what}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise WaitTimedOut(f"waited {timeout:g} s for {what}; it has not returned")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
