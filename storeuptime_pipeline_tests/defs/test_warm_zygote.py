"""The zygote that forks warm run workers, on a tiny job and a throw-away instance (no deployment).

A real zygote process loads the job from a file; the spares it forks execute real runs, report
their exit codes through it, refuse nothing they should not, and a zygote whose code changed on
disk refuses to fork. test_warm_runs_live.py covers the same on a full deployment.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.origin import JobPythonOrigin
from dagster._serdes import serialize_value

from storeuptime_pipeline.defs.warm_runs import Spare
from storeuptime_pipeline.defs.warm_zygote import Zygote, ZygoteGone
from storeuptime_pipeline_tests.waiting import wait_until

JOB = """
import os
from dagster import in_process_executor, job, op

@op
def write_pid():
    with open(os.environ["ZYGOTE_TEST_OUT"], "w") as out:
        out.write(str(os.getpid()))

@job(executor_def=in_process_executor)
def tiny():
    write_pid()
"""


@dataclass
class Setup:
    zygote: Zygote
    instance: DagsterInstance
    recon: ReconstructableJob
    origin: JobPythonOrigin
    job_file: Path
    out: Path


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    job_file = tmp_path / "tiny_job.py"
    job_file.write_text(JOB)
    out = tmp_path / "pid.txt"
    monkeypatch.setenv("ZYGOTE_TEST_OUT", str(out))
    recon = ReconstructableJob.for_file(str(job_file), "tiny")
    origin = recon.get_python_origin()
    (tmp_path / "home").mkdir()
    with DagsterInstance.local_temp(tempdir=str(tmp_path / "home")) as instance:
        zygote = Zygote(
            {"origin": serialize_value(origin), "instance_ref": serialize_value(instance.get_ref())},
            cwd=str(tmp_path),
        )
        try:
            zygote.wait_ready(120)
            yield Setup(zygote, instance, recon, origin, job_file, out)
        finally:
            zygote.close()
            zygote.process.wait(timeout=30)


def _spare(setup: Setup) -> Spare:
    process, replies = setup.zygote.spawn()
    return Spare(process, replies)


def test_a_forked_spare_executes_a_real_run_and_its_exit_code_comes_from_the_zygote(setup: Setup) -> None:
    started = time.monotonic()
    spare = _spare(setup)
    forked_in = time.monotonic() - started
    assert (
        psutil.Process(spare.process.pid).ppid() == setup.zygote.process.pid
    )  # a fork, not a new interpreter
    spare.wait_ready(60)
    run = setup.instance.create_run_for_job(
        job_def=setup.recon.get_definition(), job_code_origin=setup.origin
    )
    spare.hand(run.run_id, 30)
    spare.close()
    assert spare.process.wait(timeout=60) == 0
    assert setup.instance.get_run_by_id(run.run_id).status == DagsterRunStatus.SUCCESS
    assert setup.out.read_text() == str(spare.process.pid)  # the op ran in the forked worker
    print(f"\nforked a spare in {forked_in * 1000:.0f} ms")

    # A spare killed while idle: the zygote reaped it and knows how it ended.
    killed = _spare(setup)
    killed.wait_ready(60)
    os.kill(killed.process.pid, signal.SIGKILL)
    assert killed.process.wait(timeout=30) == -signal.SIGKILL
    killed.close()
    assert psutil.Process(setup.zygote.process.pid).children() == []  # no zombie left behind


def test_a_spare_refuses_a_run_of_another_job_snapshot(setup: Setup) -> None:
    spare = _spare(setup)
    spare.wait_ready(60)
    run = setup.instance.create_run_for_job(
        job_def=setup.recon.get_definition(), job_code_origin=setup.origin
    )
    setup.instance.delete_run(run.run_id)
    with pytest.raises(Exception, match="refused: no such run"):
        spare.hand(run.run_id, 30)
    spare.close()
    assert spare.process.wait(timeout=30) == 0


def test_a_zygote_whose_code_changed_refuses_to_fork_and_exits(setup: Setup) -> None:
    idle = _spare(setup)
    idle.wait_ready(60)
    stat = setup.job_file.stat()
    os.utime(setup.job_file, (stat.st_atime, stat.st_mtime + 5))
    with pytest.raises(ZygoteGone, match=r"stale .*tiny_job\.py"):
        setup.zygote.spawn()
    assert setup.zygote.process.wait(timeout=30) == 0
    # The spare forked before the edit refuses the run too (it checks the files when handed one).
    run = setup.instance.create_run_for_job(
        job_def=setup.recon.get_definition(), job_code_origin=setup.origin
    )
    with pytest.raises(Exception, match="changed since"):
        idle.hand(run.run_id, 30)
    idle.close()


def test_a_zygote_and_its_idle_spares_exit_when_the_launcher_goes_away(setup: Setup) -> None:
    spare = _spare(setup)
    spare.wait_ready(60)
    pid = spare.process.pid
    setup.zygote.close()
    assert setup.zygote.process.wait(timeout=30) == 0
    spare.close()  # end of its stdin, as when the daemon exits
    wait_until(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
        30,
        "the idle spare to exit",
    )
