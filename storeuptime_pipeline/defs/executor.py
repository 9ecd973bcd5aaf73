"""Which executor runs the steps of every job: in-process (default) or Dagster's Celery executor.

``STOREUPTIME_EXECUTOR=celery`` (settings.py) turns scale-out on; without it nothing changes: each
run's steps execute inside the run's own process and no Redis is needed.

The combination, and why (dagster-celery 0.29.27, Celery 5.7, Redis as broker and result backend):

* **Runs** are launched as they always are: by the instance's ``MonitoredRunLauncher``
  (``DefaultRunLauncher`` plus a health check, defs/run_launcher.py), which starts each run worker
  as a subprocess of the code server, or by the CLI in its own process (cli/local_runs.py). The run
  process is the coordinator: it plans the run, submits each ready step and waits for its result.
* **Steps** go through ``celery_executor``: each one is a Celery task (``execute_plan``) that a
  ``storeuptime worker`` process takes from the Redis queue ``dagster``, executes against the same
  Postgres instance, and answers with the step's events.
* **Not** ``CeleryRunLauncher``. It runs the run itself as a Celery task (``execute_job``); combined
  with ``celery_executor`` that task then waits for its step tasks with ``AsyncResult.get()``, which
  Celery forbids inside a task ("Never call result.get() within a task!", dagster issues #29660 and
  #32915), so every such run fails; allowing it (``allow_join_result``) would instead let runs that
  occupy every worker slot deadlock waiting for steps that can never start. With the coordinator
  outside Celery, ``result.get()`` is an ordinary client call and a worker slot only ever holds a
  step, which always finishes.

Celery settings (``config_source``), for steps that take seconds to minutes and much memory: late
acknowledgement with a prefetch of one, so a worker holds only the step it runs (an idle worker gets
the next step, not a busy one that reserved it early); a step whose worker process dies (OOM kill)
fails its run rather than being redelivered into the next OOM. A worker stopped with SIGKILL (no
warm shutdown) leaves its step unacknowledged: Redis hands it to another worker after the visibility
timeout, 2 hours, which is also the longest a step may run before a second worker starts it too.

Workers need what the steps touch: the same Postgres (STOREUPTIME_DATABASE_URL or the embedded one
on the same machine), the landing folder (ingest) and the reports folder (report CSVs) at the same
paths. docker-compose.yml shares them as volumes; on separate machines, mount them there too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dagster import ExecutorDefinition, in_process_executor

from storeuptime_pipeline import settings

if TYPE_CHECKING:
    from celery import Celery

#: The queue dagster-celery routes every step task to (make_app declares only this one).
CELERY_QUEUE = "dagster"
#: Redis visibility timeout: an unacknowledged step (its worker was killed) goes to another worker
#: after this long; a step running longer would be started a second time.
VISIBILITY_TIMEOUT_S = 2 * 3600
#: How long a run waits for a first worker to answer before it fails with the reason.
WORKER_PING_TIMEOUT_S = 5.0


def celery_config_source() -> dict[str, Any]:
    """Extra Celery settings, the same on the submitting side (the run) and on the workers."""
    from dagster_celery.defaults import broker_transport_options

    return {
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        "task_reject_on_worker_lost": False,
        # dagster-celery's own retry settings, kept (a config_source key replaces its default whole).
        "broker_transport_options": {**broker_transport_options, "visibility_timeout": VISIBILITY_TIMEOUT_S},
        "worker_hijack_root_logger": False,
    }


def celery_executor_config() -> dict[str, Any]:
    """The celery executor's config, from the environment (broker and backend URLs)."""
    return {
        "broker": settings.celery_broker(),
        "backend": settings.celery_backend(),
        "config_source": celery_config_source(),
    }


def selected_executor() -> ExecutorDefinition:
    """The executor the setting names: every job, and the Definitions' default, use this one."""
    if settings.executor_name() != "celery":
        # Every job is one or a few short steps on one database: running them inside the run
        # worker saves a second interpreter start (and definitions import) per step.
        return in_process_executor
    # dagster_celery (and Celery, ~0.2 s of imports) only when chosen.
    return _checked_celery_executor().configured(celery_executor_config(), name="celery")


def _checked_celery_executor() -> ExecutorDefinition:
    """dagster-celery's ``celery_executor`` (same config schema and requirements), whose runs first
    look for a live worker."""
    from dagster import DagsterEvent, executor, multiple_process_executor_requirements
    from dagster._core.events import EngineEventData
    from dagster._core.execution.retries import RetryMode
    from dagster_celery.executor import CELERY_CONFIG, CeleryExecutor

    class CheckedCeleryExecutor(CeleryExecutor):
        """Fails a run at once when no worker answers, instead of leaving its steps queued in Redis
        until one starts; the run's log names the first worker that answered."""

        def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[DagsterEvent]:
            workers = live_workers(self.app_args())
            yield DagsterEvent.engine_event(
                plan_context,
                f"Celery executor: worker {workers[0]} answers on {redacted(self.broker)}",
                EngineEventData({"Celery worker": workers[0]}),
            )
            yield from super().execute(plan_context, execution_plan)

    @executor(
        name="celery", config_schema=CELERY_CONFIG, requirements=multiple_process_executor_requirements()
    )
    def checked_celery_executor(init_context: Any) -> CheckedCeleryExecutor:
        config = init_context.executor_config
        return CheckedCeleryExecutor(
            broker=config.get("broker"),
            backend=config.get("backend"),
            config_source=config.get("config_source"),
            include=config.get("include"),
            retries=RetryMode.from_config(config["retries"]),
        )

    return checked_celery_executor


class NoWorkerError(RuntimeError):
    """No Celery worker answered on the broker (or the broker itself does not answer)."""


def live_workers(app_args: dict[str, Any], timeout: float = WORKER_PING_TIMEOUT_S) -> list[str]:
    """Names of the workers that answered a ping on the broker (the first reply ends the wait: a run
    pays milliseconds, not the timeout); raises NoWorkerError when none does."""
    from dagster_celery.make_app import make_app
    from kombu.exceptions import OperationalError

    app = make_app(app_args)
    broker = redacted(app_args["broker"])
    try:
        replies = app.control.ping(timeout=timeout, limit=1)
    except (OperationalError, OSError) as exc:
        raise NoWorkerError(f"the Celery broker {broker} does not answer ({exc})") from None
    finally:
        app.close()
    if not replies:
        raise NoWorkerError(
            f"no Celery worker answers on {broker} within {timeout:.0f} s: start one with "
            "`storeuptime worker` (or `make dev WORKERS=2`), or unset STOREUPTIME_EXECUTOR"
        )
    return [name for reply in replies for name in reply]


def celery_app() -> Celery:
    """The Celery app of ``storeuptime worker``: the executor's broker, backend, queue and settings,
    with dagster-celery's step task registered (a worker with another configuration would never see
    the tasks the runs submit)."""
    from dagster._core.execution.retries import RetryMode
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    config = celery_executor_config()
    app = make_app(CeleryExecutor(retries=RetryMode(RetryMode.DISABLED), **config).app_args())
    create_task(app)
    _pool_step_storage()
    return app


#: Connections a step task's instance keeps open while the task runs (then all are closed).
_STEP_POOL_OVERFLOW = 2


def _pool_step_storage() -> None:
    """Let each step task write its events over a few pooled connections, closed when it ends.

    Why: dagster-celery's task opens the instance with Dagster's default storage, which connects to
    Postgres anew for every event (NullPool, ~8 ms each here, against ~1 ms pooled). A backfill's
    publish step records ~700 events (a materialization and three check evaluations per hour): ~5 s
    of its ~25 s. The task body is dagster-celery's own; only its ``DagsterInstance.from_ref`` is
    wrapped, in this worker process, and the instances it opened are disposed after each task.
    """
    from celery.signals import task_postrun
    from dagster import DagsterInstance
    from dagster._core.instance import InstanceRef
    from dagster_celery import tasks

    opened: list[DagsterInstance] = []

    class _PooledInstance:
        get = staticmethod(DagsterInstance.get)

        @staticmethod
        def from_ref(ref: InstanceRef) -> DagsterInstance:
            instance = DagsterInstance.from_ref(ref)
            instance.optimize_for_webserver(
                statement_timeout=0, pool_recycle=3600, max_overflow=_STEP_POOL_OVERFLOW
            )
            opened.append(instance)
            return instance

    def _dispose(**_: object) -> None:
        while opened:
            opened.pop().dispose()

    tasks.DagsterInstance = _PooledInstance  # type: ignore[misc]
    task_postrun.connect(_dispose, weak=False)


def redacted(url: str) -> str:
    """A broker URL without its password, for logs and errors."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
