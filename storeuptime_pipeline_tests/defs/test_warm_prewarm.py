"""A run of another job makes the warm spares of its code location's on-demand job (``WarmPool.prewarm``).

Real processes on a throw-away instance: a file of definitions with an ``on_demand_report_job`` and
an ``ingest_job``, as the project's code location has. Launching nothing but an ingest run must leave
a spare ready for the on-demand job, so the first report a person asks for is warm; a location
without that job is tried once, not at every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.definitions.reconstruct import ReconstructableRepository

from storeuptime_pipeline import settings
from storeuptime_pipeline.defs.warm_runs import WARM_WORKER_TAG, WarmPool
from storeuptime_pipeline_tests.waiting import wait_until

DEFS = """
import os
from dagster import Definitions, in_process_executor, job, op

@op
def write_pid():
    with open(os.environ["PREWARM_TEST_OUT"], "w") as out:
        out.write(str(os.getpid()))

@job(executor_def=in_process_executor)
def on_demand_report_job():
    write_pid()

@job(executor_def=in_process_executor)
def ingest_job():
    write_pid()

defs = Definitions(jobs=[{jobs}])
"""


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DagsterInstance]:
    monkeypatch.setenv(settings.WARM_RUNS_ENV, "1")
    monkeypatch.setenv("PREWARM_TEST_OUT", str(tmp_path / "pid.txt"))
    (tmp_path / "home").mkdir()
    with DagsterInstance.local_temp(tempdir=str(tmp_path / "home")) as instance:
        yield instance


def _repository(tmp_path: Path, jobs: str) -> ReconstructableRepository:
    path = tmp_path / f"defs_{jobs.count(',')}.py"
    path.write_text(DEFS.format(jobs=jobs))
    return ReconstructableRepository.for_file(str(path), "defs", working_directory=str(tmp_path))


def _zygotes() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "--zygote" in " ".join(p.cmdline())]


def test_an_ingest_run_leaves_a_spare_that_takes_the_first_on_demand_report(
    instance: DagsterInstance, tmp_path: Path
) -> None:
    repo = _repository(tmp_path, "on_demand_report_job, ingest_job")
    ingest = repo.get_reconstructable_job("ingest_job")
    on_demand = repo.get_reconstructable_job("on_demand_report_job")
    pool = WarmPool()
    try:
        ingest_run = instance.create_run_for_job(
            job_def=ingest.get_definition(), job_code_origin=ingest.get_python_origin()
        )
        report_run = instance.create_run_for_job(
            job_def=on_demand.get_definition(), job_code_origin=on_demand.get_python_origin()
        )
        assert not WarmPool.handles(ingest_run) and WarmPool.handles(report_run)
        assert pool.live_spares(report_run) == 0

        pool.prewarm(instance, report_run)  # a warm job's own run is fill's business, not prewarm's
        assert _zygotes() == []
        pool.prewarm(instance, ingest_run)
        wait_until(lambda: pool.live_spares(report_run) == 1, 120, "a spare for the on-demand job")
        assert pool.live_spares(ingest_run) == 0  # only warm jobs get spares

        assert pool.launch(instance, report_run)
        wait_until(
            lambda: instance.get_run_by_id(report_run.run_id).status == DagsterRunStatus.SUCCESS,  # type: ignore[union-attr]
            60,
            "the on-demand run to succeed in the spare",
        )
        done = instance.get_run_by_id(report_run.run_id)
        assert done is not None
        pid = int(done.tags[WARM_WORKER_TAG])
        assert (tmp_path / "pid.txt").read_text() == str(pid)  # the op ran in the forked spare
    finally:
        pool.dispose()


def test_a_location_without_the_on_demand_job_is_tried_once(
    instance: DagsterInstance, tmp_path: Path
) -> None:
    repo = _repository(tmp_path, "ingest_job")
    ingest = repo.get_reconstructable_job("ingest_job")
    pool = WarmPool()
    try:
        run = instance.create_run_for_job(
            job_def=ingest.get_definition(), job_code_origin=ingest.get_python_origin()
        )
        pool.prewarm(instance, run)
        (zygote,) = _zygotes()
        wait_until(lambda: not zygote.is_running() or zygote.status() == "zombie", 120, "the zygote to fail")
        wait_until(lambda: not pool._loading, 30, "the launcher to note the failure")
        pool.prewarm(instance, run)
        assert [p for p in _zygotes() if p.status() != "zombie"] == []  # not tried again
    finally:
        pool.dispose()
