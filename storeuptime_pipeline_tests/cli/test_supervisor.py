"""``storeuptime dev``'s supervisor with small stand-in children (real processes, real signals).

What ``make dev`` relies on: it returns when one child exits and stops the others with whatever
they started; SIGTERM to the supervisor stops everything; a child that ignores SIGTERM is killed.
Only processes these tests started are signalled (by pid or by their own process group).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from storeuptime_pipeline.cli.supervisor import Child, supervise
from storeuptime_pipeline_tests.waiting import wait_until

PY = sys.executable


def _sleeper(pidfile: Path, *, ignore_term: bool = False, grandchild: bool = False) -> Child:
    """A child that writes its pid (and its grandchild's) to ``pidfile``, then sleeps."""
    code = (
        "import os, signal, subprocess, sys, time\n"
        + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_term else "")
        + "pids = [os.getpid()]\n"
        + (
            "pids.append(subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']).pid)\n"
            if grandchild
            else ""
        )
        # Written whole or not at all (tmp + rename): the other child waits for the file to exist.
        + f"open({str(pidfile) + '.tmp'!r}, 'w').write(' '.join(map(str, pids)))\n"
        + f"os.replace({str(pidfile) + '.tmp'!r}, {str(pidfile)!r})\n"
        + "time.sleep(120)\n"
    )
    return Child([PY, "-c", code])


def _pids(pidfile: Path, timeout_s: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert time.monotonic() < deadline, f"no pid written to {pidfile} within {timeout_s} s"
        time.sleep(0.05)
    return [int(p) for p in pidfile.read_text().split()]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_returns_when_one_child_exits_and_stops_the_others_with_their_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "sleeper.pid"
    started = []
    waits_for_pid = f"import os, time\nwhile not os.path.exists({str(pidfile)!r}): time.sleep(0.05)\n"
    supervise(
        [_sleeper(pidfile, grandchild=True), Child([PY, "-c", waits_for_pid + "raise SystemExit(3)"])],
        started=lambda: started.append(True),
        poll_s=0.05,
        stop_timeout_s=10,
    )
    assert started == [True]
    sleeper, grandchild = _pids(pidfile)
    assert not _alive(sleeper)
    # The group's SIGTERM is delivered to the grandchild asynchronously: under load it may still be
    # running its last instructions when supervise returns. Unsignalled, it would sleep for 120 s.
    wait_until(
        lambda: not _alive(grandchild),
        10,
        "the sleeper's own child to end (it outlives the stop only if its group was not signalled)",
        every=0.05,
    )


@pytest.mark.timeout(60)  # without the SIGKILL, supervise would wait out the child's 120 s sleep
def test_a_child_that_ignores_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    pidfile = tmp_path / "stubborn.pid"
    waits_for_pid = f"import os, time\nwhile not os.path.exists({str(pidfile)!r}): time.sleep(0.05)\n"
    supervise(
        [_sleeper(pidfile, ignore_term=True), Child([PY, "-c", waits_for_pid + "time.sleep(0.5)"])],
        poll_s=0.05,
        stop_timeout_s=1.0,
    )
    (stubborn,) = _pids(pidfile)
    assert not _alive(stubborn)


@pytest.mark.timeout(120)
def test_sigterm_to_the_supervisor_stops_every_child(tmp_path: Path) -> None:
    """As a service manager stops ``storeuptime dev``: SIGTERM to its process only."""
    first, second = tmp_path / "first.pid", tmp_path / "second.pid"
    script = (
        "import sys\n"
        "from storeuptime_pipeline.cli.supervisor import Child, supervise\n"
        f"children = [Child({_sleeper(first).argv!r}), Child({_sleeper(second, grandchild=True).argv!r})]\n"
        "supervise(children, started=lambda: print('started', flush=True), poll_s=0.05, stop_timeout_s=10)\n"
        "print('stopped', flush=True)\n"
    )
    proc = subprocess.Popen([PY, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "started\n"
        pids = [*_pids(first), *_pids(second)]
        assert all(_alive(p) for p in pids)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and out == "stopped\n"
    assert not [p for p in pids if _alive(p)]
    assert os.getpid() not in pids


def test_a_child_that_cannot_start_stops_those_already_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "first.pid"
    with pytest.raises(FileNotFoundError):
        supervise([_sleeper(pidfile), Child([str(tmp_path / "no-such-program")])], stop_timeout_s=10)
    # Stopped perhaps before it wrote its pid: found by its command line (which names the pid file).
    running = [
        proc.pid
        for proc in psutil.process_iter(["cmdline", "status"])
        if str(pidfile) in " ".join(proc.info["cmdline"] or [])
        and proc.info["status"] != psutil.STATUS_ZOMBIE
    ]
    assert running == []
