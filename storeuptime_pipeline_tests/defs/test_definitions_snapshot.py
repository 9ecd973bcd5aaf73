"""What Dagster sees, as a reviewed diff: the definitions compared with a checked-in snapshot.

A renamed asset, a check that stops blocking, a job that selects one asset more, a schedule on
another cron, a sensor that no longer runs by default, a partition start that moved, a backfill
policy dropped: each changes what the UI, the daemon and the stored runs see, often silently for
the code's own tests. Here it changes ``definitions_snapshot.json`` and must be committed with the
change (as dagster-open-platform does with its asset and job snapshots).

The snapshot is taken in a fresh interpreter with every ``STOREUPTIME_*`` variable removed, so it
shows the definitions of a default deployment, whatever the shell running the tests has set (the
partition start, the sensor interval and the freshness windows come from the environment).

To accept a change, review the printed diff, then write the new snapshot and commit it::

    STOREUPTIME_UPDATE_SNAPSHOT=1 .venv/bin/pytest -q storeuptime_pipeline_tests/defs/test_definitions_snapshot.py

Descriptions are left out on purpose: rewording a docstring is not a change in what runs.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.txt")
REPO = Path(__file__).resolve().parents[2]
UPDATE_ENV = "STOREUPTIME_UPDATE_SNAPSHOT"


def _partitions(partitions_def: Any) -> dict[str, Any] | None:
    if partitions_def is None:
        return None
    out: dict[str, Any] = {"type": type(partitions_def).__name__, "shown": str(partitions_def)}
    for attribute in ("start", "timezone", "fmt", "cron_schedule", "end_offset"):
        value = getattr(partitions_def, attribute, None)
        if value is not None:
            out[attribute] = value.isoformat() if hasattr(value, "isoformat") else value
    return out


def _freshness(policy: Any) -> dict[str, Any] | None:
    if policy is None:
        return None
    out: dict[str, Any] = {"type": type(policy).__name__}
    for attribute in ("fail_window", "warn_window"):
        window = getattr(policy, attribute, None)  # a SerializableTimeDelta (days, seconds, microseconds)
        out[f"{attribute}_seconds"] = (
            None if window is None else window.days * 86_400 + window.seconds + window.microseconds / 1e6
        )
    return out


def _metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata keys, with the table name and the column names and types spelled out."""
    out: dict[str, Any] = {}
    for key in sorted(metadata):
        value = getattr(metadata[key], "value", metadata[key])
        if key == "dagster/column_schema":
            out[key] = [f"{column.name}: {column.type}" for column in value.columns]
        elif isinstance(value, str | int | float | bool) or value is None:
            out[key] = value
        else:
            out[key] = type(value).__name__
    return out


def describe_definitions() -> dict[str, Any]:
    """The definitions of ``storeuptime_pipeline.definitions`` as plain, sorted JSON-able data."""
    from storeuptime_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    repository = defs.get_repository_def()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "partitions": _partitions(node.partitions_def),
            "backfill_policy": str(node.backfill_policy) if node.backfill_policy else None,
            "freshness_policy": _freshness(node.freshness_policy),
            "automation_condition": str(node.automation_condition) if node.automation_condition else None,
            "kinds": sorted(node.kinds),
            "owners": sorted(node.owners),
            "tags": dict(sorted(node.tags.items())),
            "metadata": _metadata(dict(node.metadata)),
            "code_version": node.code_version,
        }
    checks = {}
    for check_key in sorted(graph.asset_check_keys, key=lambda k: k.to_user_string()):
        spec = graph.get_check_spec(check_key)
        checks[check_key.to_user_string()] = {
            "blocking": spec.blocking,
            "additional_deps": sorted(dep.asset_key.to_user_string() for dep in spec.additional_deps),
            "partitions": _partitions(spec.partitions_def),
        }
    jobs = {}
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue  # Dagster's implicit all-assets job: named by Dagster, not by us
        layer = job.asset_layer
        jobs[job.name] = {
            "assets": sorted(k.to_user_string() for k in layer.selected_asset_keys),
            "checks": sorted(k.to_user_string() for k in layer.asset_graph.asset_check_keys),
            "partitions": _partitions(job.partitions_def),
            "executor": job.executor_def.name,
            "tags": dict(sorted(job.tags.items())),
        }
    schedules = {
        s.name: {
            "job": s.job_name,
            "cron": s.cron_schedule,
            "timezone": s.execution_timezone,
            "default_status": s.default_status.name,
            "required_resources": sorted(s.required_resource_keys),
        }
        for s in sorted(repository.schedule_defs, key=lambda s: s.name)
    }
    sensors = {}
    for s in sorted(repository.sensor_defs, key=lambda s: s.name):
        entry: dict[str, Any] = {
            "type": s.sensor_type.name,
            "jobs": sorted(job.name for job in s.jobs) if s.has_jobs else [],
            "minimum_interval_seconds": s.minimum_interval_seconds,
            "default_status": s.default_status.name,
            "required_resources": sorted(s.required_resource_keys),
        }
        # Run-status sensors keep what they watch in private attributes (no public accessor in 1.13).
        if getattr(s, "_run_status", None) is not None:
            entry["run_status"] = s._run_status.name
            entry["monitored_jobs"] = sorted(
                getattr(job, "name", str(job)) for job in s._monitored_jobs or []
            )
        sensors[s.name] = entry
    resources = {}
    for key, resource in sorted(repository.get_top_level_resources().items()):
        cls = getattr(resource, "configurable_resource_cls", type(resource))
        fields = getattr(cls, "model_fields", {})
        resources[key] = {"class": cls.__qualname__, "config": sorted(fields)}
    return {
        "assets": assets,
        "asset_checks": checks,
        "jobs": jobs,
        "schedules": schedules,
        "sensors": sensors,
        "resources": resources,
        "executor": defs.executor.name if defs.executor is not None else None,
    }


def _lines(prefix: str, value: Any) -> list[str]:
    """One line per fact, each naming its full path, so every line of a diff says what changed."""
    if isinstance(value, dict) and value:
        return [
            line for key, item in value.items() for line in _lines(f"{prefix}.{key}" if prefix else key, item)
        ]
    if isinstance(value, list) and value:
        return [f"{prefix}[] = {json.dumps(item)}" for item in value]
    return [f"{prefix} = {json.dumps(value)}"]


def _as_text(data: dict[str, Any]) -> str:
    """The snapshot file's text: ``assets.uptime_report.backfill_policy = "..."``, one fact a line."""
    return "\n".join(_lines("", data)) + "\n"


def _current() -> str:
    """The snapshot text, computed in a fresh interpreter without any STOREUPTIME_* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREUPTIME_")}
    code = (
        "import json, warnings; warnings.simplefilter('ignore');"
        "from storeuptime_pipeline_tests.defs.test_definitions_snapshot import describe_definitions, _as_text;"
        "import sys; sys.stdout.write(_as_text(describe_definitions()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_definitions_match_the_checked_in_snapshot() -> None:
    current = _current()
    if os.environ.get(UPDATE_ENV) == "1":
        SNAPSHOT.write_text(current)
        pytest.skip(f"wrote {SNAPSHOT.name}; review `git diff` and commit it")
    assert SNAPSHOT.exists(), f"no snapshot yet: run with {UPDATE_ENV}=1 to write {SNAPSHOT.name}"
    expected = SNAPSHOT.read_text()
    if current != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                current.splitlines(keepends=True),
                fromfile=f"{SNAPSHOT.name} (checked in)",
                tofile="definitions now",
            )
        )
        pytest.fail(
            "the Dagster definitions changed; if that is intended, re-run with "
            f"{UPDATE_ENV}=1 and commit {SNAPSHOT.name}:\n{diff}",
            pytrace=False,
        )


def test_the_snapshot_is_not_trivial() -> None:
    """Guards the guard: an empty or truncated snapshot would accept every change."""
    lines = set(SNAPSHOT.read_text().splitlines())
    for asset in ("store_status", "business_hours", "store_timezones", "uptime_report", "on_demand_report"):
        assert any(line.startswith(f"assets.{asset}.group = ") for line in lines), asset
    for section in ("jobs", "schedules", "sensors", "resources"):
        assert any(line.startswith(f"{section}.") for line in lines), section
    assert "asset_checks.uptime_report:uptime_plus_downtime_equals_business_time.blocking = true" in lines
    assert 'assets.uptime_report.backfill_policy = "BackfillPolicy.single_run()"' in lines
