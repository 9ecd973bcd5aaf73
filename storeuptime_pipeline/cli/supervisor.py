"""A small process supervisor for ``storeuptime dev``: start children, stop them all together.

Each child runs in its own session (process group), so stopping it reaches what it started too
(``dagster dev`` starts a webserver, a daemon and a code server). The supervisor returns as soon
as one child exits, on Ctrl-C, or on SIGTERM (a service manager, ``kill``), and always stops the
others: SIGTERM to each group, then SIGKILL to a group still there after ``stop_timeout_s``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass


@dataclass(frozen=True)
class Child:
    """One command to run: its argv, and the environment and folder it starts in (None: this one's)."""

    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: str | None = None


def supervise(
    children: Sequence[Child],
    *,
    started: Callable[[], None] | None = None,
    poll_s: float = 0.5,
    stop_timeout_s: float = 20.0,
) -> None:
    """Run ``children`` until one exits, Ctrl-C or SIGTERM; then stop every one still running.

    ``started`` is called once all children are started (e.g. to print where they listen).
    """

    def on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # a SIGTERM cleans up like Ctrl-C

    procs: list[subprocess.Popen] = []
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        for c in children:  # one by one: if a later one cannot start, the earlier ones are stopped
            env = None if c.env is None else dict(c.env)
            procs.append(subprocess.Popen(list(c.argv), start_new_session=True, env=env, cwd=c.cwd))
        if started is not None:
            started()
        while all(p.poll() is None for p in procs):
            time.sleep(poll_s)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        try:
            _stop(procs, stop_timeout_s)
        finally:
            signal.signal(signal.SIGTERM, previous)


def _stop(procs: Sequence[subprocess.Popen], timeout_s: float) -> None:
    """SIGTERM to every child's group, then SIGKILL to a group whose leader outlives the wait.

    A child that exited by itself still gets its group signalled: what it started may outlive it.
    """
    for p in procs:
        _signal_group(p, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _signal_group(p, signal.SIGKILL)
            p.wait()


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    with suppress(ProcessLookupError):  # the group is gone already
        os.killpg(proc.pid, signum)
