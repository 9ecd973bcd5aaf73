"""Warm run workers without a deployment: which runs may go to one, and when a spare refuses a run.

The live behaviour (same CSV as the normal path, fallback, cancel, kill -9) is in
test_warm_runs_live.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dagster import DagsterRun, DagsterRunStatus

from storeuptime_pipeline import settings
from storeuptime_pipeline.defs import warm_runs
from storeuptime_pipeline.defs.warm_runs import WarmPool, _changed, _refusal


def test_the_setting_defaults_to_off_and_refuses_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.WARM_RUNS_ENV, raising=False)
    assert settings.warm_runs() == 0
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


def test_a_spare_whose_launcher_is_gone_exits(tmp_path: Path) -> None:
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    done = subprocess.run(
        [sys.executable, "-m", warm_runs.__name__, str(write_end)],
        stdin=subprocess.DEVNULL,
        pass_fds=(write_end,),
        timeout=60,
    )
    os.close(write_end)
    os.close(read_end)
    assert done.returncode == 0
