"""Warm run workers without a deployment: which runs may go to one, and when a spare refuses a run.

The live behaviour (same CSV as the normal path, fallback, cancel, kill -9) is in
test_warm_runs_live.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.utils import make_new_run_id

from storeuptime_pipeline import settings
from storeuptime_pipeline.defs import warm_runs
from storeuptime_pipeline.defs.run_launcher import WORKER_PID_TAG
from storeuptime_pipeline.defs.warm_runs import (
    WARM_WORKER_TAG,
    Spare,
    SpareUnusable,
    WarmPool,
    _changed,
    _disown,
    _refusal,
)


def test_the_setting_defaults_to_one_spare_and_refuses_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.WARM_RUNS_ENV, raising=False)
    assert settings.warm_runs() == 1
    monkeypatch.setenv(settings.WARM_RUNS_ENV, "")
    assert settings.warm_runs() == 1
    monkeypatch.setenv(settings.WARM_RUNS_ENV, "1")
    assert settings.warm_runs() == 1
    monkeypatch.setenv(settings.WARM_RUNS_ENV, "0")
    assert settings.warm_runs() == 0
    for bad in ("-1", "two", "99"):
        monkeypatch.setenv(settings.WARM_RUNS_ENV, bad)
        with pytest.raises(ValueError, match=settings.WARM_RUNS_ENV):
            settings.warm_runs()


def test_only_on_demand_reports_go_to_warm_workers_and_none_when_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.WARM_RUNS_ENV, "1")
    assert not WarmPool.handles(DagsterRun(job_name="uptime_report_job"))
    assert not WarmPool.handles(DagsterRun(job_name="on_demand_report_job"))  # no code origin: not ours


def test_a_spare_refuses_a_run_it_must_not_execute(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text("x = 1\n")
    sources = {str(source): source.stat().st_mtime}
    origin = object()
    run = DagsterRun(job_name="on_demand_report_job", status=DagsterRunStatus.STARTING)
    assert _refusal(None, origin, "snap", sources) == "refused: no such run"
    assert "another job" in (_refusal(run, origin, "snap", sources) or "")

    assert _changed(sources) is None
    os.utime(source, (source.stat().st_atime, source.stat().st_mtime + 5))  # edited after the warm-up
    assert _changed(sources) == str(source)
    source.unlink()
    assert _changed(sources) == str(source)


def test_the_module_refuses_to_start_without_a_zygote_socket() -> None:
    done = subprocess.run(
        [sys.executable, "-m", warm_runs.__name__, "7"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert b"--zygote FD" in done.stderr


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    """A live process standing in for a spare's process (what the launcher signals and waits for)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], stdin=subprocess.PIPE)
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


def test_an_answer_already_in_the_pipe_counts_even_past_the_deadline(sleeper: subprocess.Popen) -> None:
    """A launcher thread that was not scheduled for a while must not take a waiting answer for silence."""
    read_end, write_end = os.pipe()
    try:
        spare = Spare(sleeper, read_end)
        os.write(write_end, b"accepted\n")
        assert spare.reply(time.monotonic() - 5) == "accepted"
        with pytest.raises(SpareUnusable, match="no answer in time"):
            spare.reply(time.monotonic() - 5)
    finally:
        os.close(write_end)
        os.close(read_end)


def _tagged_run(instance: DagsterInstance, pid: int | None, status: DagsterRunStatus) -> DagsterRun:
    tags = {WARM_WORKER_TAG: str(pid), WORKER_PID_TAG: str(pid)} if pid else {}
    return instance.add_run(
        DagsterRun(job_name="on_demand_report_job", run_id=make_new_run_id(), status=status, tags=tags)
    )


def test_a_spare_that_tagged_the_run_keeps_it_whatever_its_answer_said(sleeper: subprocess.Popen) -> None:
    """The double launch behind a FAILURE seen in a burst of reports: the accept came late, the
    launcher killed the spare that was running the run and started it again."""
    read_end, write_end = os.pipe()
    os.close(write_end)
    spare = Spare(sleeper, read_end)
    with DagsterInstance.ephemeral() as instance:
        # Alive and tagged: it accepted; the run is its own, nothing is killed or launched again.
        run = _tagged_run(instance, sleeper.pid, DagsterRunStatus.STARTED)
        assert _disown(instance, run, spare, "no answer in time") is True
        assert sleeper.poll() is None
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED

        # Not tagged: it never took the run; it is killed and the run may start the normal way.
        untouched = _tagged_run(instance, None, DagsterRunStatus.STARTING)
        assert _disown(instance, untouched, spare, "no answer in time") is False
        assert sleeper.poll() is not None

        # Tagged by a spare that is gone: before the run began, the tags are blanked (normal launch);
        # after, the run has no worker and fails in one line instead of being launched twice.
        early = _tagged_run(instance, sleeper.pid, DagsterRunStatus.STARTING)
        assert _disown(instance, early, spare, "exited with -9") is False
        assert instance.get_run_by_id(early.run_id).tags[WARM_WORKER_TAG] == ""
        begun = _tagged_run(instance, sleeper.pid, DagsterRunStatus.STARTED)
        assert _disown(instance, begun, spare, "exited with -9") is True
        assert instance.get_run_by_id(begun.run_id).status == DagsterRunStatus.FAILURE
    os.close(read_end)
