"""A hand-computed case through the whole pipeline: CSV files -> ingest assets -> report partition -> API.

Every other integration test compares the pipeline with the engine (or ``storeuptime report``),
so a bug in the engine passes all of them. Here the expected figures were worked out by hand from
the README's rules, in the comments below, and nothing in this file calls the engine.

The report is partition ``2023-01-23-17:00``, i.e. as of T = Monday 2023-01-23 18:00 UTC.
Windows: hour [17:00, 18:00) UTC, day [Sun 01-22 18:00, Mon 01-23 18:00) UTC, week [Mon 01-16
18:00, Mon 01-23 18:00) UTC.

Store ``s10``, America/New_York (UTC-5 all week, no DST change), open Mondays 09:00-17:00 local
only (closed every other day):
    polls (UTC): 15:10 active, 17:00 inactive, 18:30 active (after T: never seen by this report).
    The switch is at the midpoint 16:05 UTC (11:05 local); before 15:10 the first poll (active)
    holds, after 17:00 the last seen poll (inactive) holds up to T.
    hour  [12:00, 13:00) local, all business, all inactive:      up 0.00 min,  down 60.00 min
    day   business Mon 09:00-13:00 local = 4 h; up 09:00-11:05 = 2 h 05 min = 2.0833 -> 2.08;
          down = 4.00 - 2.08 = 1.92
    week  business Mon 01-16 13:00-17:00 (4 h, up: before the first poll) + the day's 4 h = 8 h;
          up 4 h + 2 h 05 min = 6.0833 -> 6.08; down = 8.00 - 6.08 = 1.92
    (Had the 18:30 poll been seen, the hour would be 15 min up: the as-of rule is checked too.)

Store ``s2``, Asia/Kolkata (UTC+5:30), an OVERNIGHT row Sunday 22:00-02:00 (Sun 22:00-24:00 and
Mon 00:00-02:00) and a row Monday 20:00-23:00. T is Monday 23:30 local.
    polls: Sun 01-22 17:30 UTC (23:00 IST) inactive, Sun 19:30 UTC (Mon 01:00 IST) active,
    Mon 16:30 UTC (22:00 IST) active, Mon 17:50 UTC (23:20 IST) inactive.
    Timeline (IST): inactive until the midpoint Mon 00:00, active until the midpoint of 22:00 and
    23:20 = 22:40, inactive from 22:40 to T.
    hour  [22:30, 23:30) IST: business 22:30-23:00 = 30 min; up 22:30-22:40 = 10.00, down 20.00
    day   [Sun 23:30, Mon 23:30) IST: business Sun 23:30-24:00 (0.5 h, down) + Mon 00:00-02:00
          (2 h, up) + Mon 20:00-23:00 (3 h: 2 h 40 min up, 20 min down) = 5.5 h;
          up 4 h 40 min = 4.6667 -> 4.67; down = 5.50 - 4.67 = 0.83
    week  the rows of Sun 01-15/Mon 01-16 all end before the week starts (Mon 01-16 23:30 IST), so
          business = Sun 22:00-24:00 (2 h, down) + Mon 00:00-02:00 (2 h) + Mon 20:00-23:00 (3 h)
          = 7 h; up 4.67; down = 7.00 - 4.67 = 2.33
    (Ignoring the overnight row would give 3 h of business in the day and in the week.)

Store ``s3``: no timezone row (America/Chicago, UTC-6) and no hours rows (open 24x7).
    polls: 17:20 UTC inactive, listed twice (the second copy says active: inactive wins), and
    17:40 UTC active. Inactive until the midpoint 17:30, active from then to T.
    hour  down 17:00-17:30 = 30.00 min, up 30.00 min
    day   business 24 h; up 0.50, down 23.50;   week  business 168 h; up 0.50, down 167.50

Store ``s4`` is in the hours and timezones files but never polled: it has no row.
Rows are sorted by store_id as text: s10, s2, s3.

Outages (maximal inactive stretches with business time, clipped to [T - 7d, T)):
    s10  16:05 UTC -> T, ongoing; business 11:05-13:00 local = 1 h 55 min = 1.92 h; in every window
    s2   T - 7d (01-16 18:00 UTC, 23:30 IST) -> Sun 01-22 18:30 UTC (Mon 00:00 IST); business =
         Sun 22:00-24:00 = 2.00 h (one outage across a week of closed hours); in the day (Sun
         23:30-24:00) and the week, not the hour
    s2   17:10 UTC (22:40 IST) -> T, ongoing; business 20 min = 0.33 h; in every window
    s3   T - 7d -> 17:30 UTC; business 167 h 30 min = 167.50 h; in every window
    counts (hour, day, week) and longest: s10 1, 1, 1, 1.92; s2 1, 2, 2, 2.00; s3 1, 1, 1, 167.50
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize
from fastapi.testclient import TestClient

from storeuptime_pipeline.api.app import create_app
from storeuptime_pipeline.api.launcher import run_config
from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.run_records import record_report
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.definitions import resources
from storeuptime_pipeline.defs.assets.ingest import INGEST_ASSETS
from storeuptime_pipeline.defs.assets.report import REPORT_ASSETS
from storeuptime_pipeline.defs.checks import INGEST_CHECKS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
warnings.filterwarnings("ignore", category=DeprecationWarning)

ALL = [*INGEST_ASSETS, *INGEST_CHECKS, *REPORT_ASSETS]
PARTITION = "2023-01-23-17:00"
AS_OF = pd.Timestamp("2023-01-23 18:00", tz="UTC")

STATUS_CSV = """store_id,status,timestamp_utc
s10,active,2023-01-23 15:10:00 UTC
s10,inactive,2023-01-23 17:00:00 UTC
s10,active,2023-01-23 18:30:00 UTC
s2,inactive,2023-01-22 17:30:00 UTC
s2,active,2023-01-22 19:30:00 UTC
s2,active,2023-01-23 16:30:00 UTC
s2,inactive,2023-01-23 17:50:00 UTC
s3,inactive,2023-01-23 17:20:00 UTC
s3,active,2023-01-23 17:20:00 UTC
s3,active,2023-01-23 17:40:00 UTC
"""
HOURS_CSV = """store_id,day,start_time_local,end_time_local
s10,0,09:00:00,17:00:00
s2,6,22:00:00,02:00:00
s2,0,20:00:00,23:00:00
s4,2,08:00:00,20:00:00
"""
TIMEZONES_CSV = """store_id,timezone_str
s10,America/New_York
s2,Asia/Kolkata
s4,Europe/London
"""

HEADER = (
    "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
    "downtime_last_hour,downtime_last_day,downtime_last_week"
)
#: The report as of T, from the figures in the module docstring (not from the engine).
EXPECTED_CSV = f"""{HEADER}
s10,0.00,2.08,6.08,60.00,1.92,1.92
s2,10.00,4.67,4.67,20.00,0.83,2.33
s3,30.00,0.50,0.50,30.00,23.50,167.50
"""
EXPECTED_EXTENDED_CSV = f"""{HEADER},outages_last_hour,outages_last_day,outages_last_week,longest_outage_last_week
s10,0.00,2.08,6.08,60.00,1.92,1.92,1,1,1,1.92
s2,10.00,4.67,4.67,20.00,0.83,2.33,1,2,2,2.00
s3,30.00,0.50,0.50,30.00,23.50,167.50,1,1,1,167.50
"""
EXPECTED_OUTAGES_CSV = """store_id,start_utc,end_utc,start_local,business_hours,ongoing
s10,2023-01-23T16:05:00Z,2023-01-23T18:00:00Z,2023-01-23T11:05:00-05:00,1.92,true
s2,2023-01-16T18:00:00Z,2023-01-22T18:30:00Z,2023-01-16T23:30:00+05:30,2.00,false
s2,2023-01-23T17:10:00Z,2023-01-23T18:00:00Z,2023-01-23T22:40:00+05:30,0.33,true
s3,2023-01-16T18:00:00Z,2023-01-23T17:30:00Z,2023-01-16T12:00:00-06:00,167.50,false
"""


@dataclass
class InProcessLauncher:
    """The webserver's part, done in this process: the API's trigger runs the on-demand job here."""

    instance: DagsterInstance
    resources: dict
    results: list = field(default_factory=list)

    def launch(self, report_id: str, as_of: str) -> str:
        result = materialize(
            ALL,
            selection=["on_demand_report"],
            instance=self.instance,
            resources=self.resources,
            run_config=run_config(report_id, as_of),
        )
        self.results.append(result)
        return result.run_id

    def reachable(self) -> tuple[bool, str]:
        return True, "in-process launcher"


@dataclass
class Pipeline:
    client: TestClient
    url: str
    reports: Path
    launcher: InProcessLauncher
    partition_result: object


@pytest.fixture(scope="module")
def pipeline(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """The three files ingested by the ingest assets, then the one partition materialized."""
    landing = tmp_path_factory.mktemp("incoming")
    reports = tmp_path_factory.mktemp("reports")
    (landing / "store_status.csv").write_text(STATUS_CSV)
    (landing / "menu_hours.csv").write_text(HOURS_CSV)
    (landing / "timezones.csv").write_text(TIMEZONES_CSV)
    with temporary_database(admin_url, prefix="storeuptime_hand_") as url:
        migrate.upgrade(url)
        res = resources(database_url=url, landing=str(landing), reports=str(reports))
        with DagsterInstance.ephemeral() as instance:
            ingest = materialize(
                ALL, selection=[a.key for a in INGEST_ASSETS], instance=instance, resources=res
            )
            assert ingest.success
            partition = materialize(
                ALL, selection=["uptime_report"], partition_key=PARTITION, instance=instance, resources=res
            )
            assert partition.success
            launcher = InProcessLauncher(instance, res)
            app = create_app(database_url=url, instance=instance, launcher=launcher)
            with TestClient(app) as client:
                yield Pipeline(client, url, reports, launcher, partition)


def _partition_report_id(pipeline: Pipeline) -> str:
    """An API report id for the partition's instant.

    The API serves reports by id and an hourly partition has none, so the test records one pointing
    at T, as the on-demand asset records its own when it finishes; the API then serves the rows and
    the outage list the partition wrote.
    """
    report_id = uuid.uuid4().hex
    record_report(get_engine(pipeline.url), report_id, None, status="complete", as_of=AS_OF)
    return report_id


def test_the_partition_run_passed_its_checks(pipeline: Pipeline) -> None:
    checks = {e.check_name: e.passed for e in pipeline.partition_result.get_asset_check_evaluations()}
    assert checks == {
        "uptime_plus_downtime_equals_business_time": True,
        "every_polled_store_has_a_row": True,
        "outages_add_up_to_downtime": True,
    }


def test_the_partition_csv_file_is_the_hand_computed_report(pipeline: Pipeline) -> None:
    (path,) = pipeline.reports.glob("uptime_report_*.csv")
    assert path.read_text() == EXPECTED_CSV


def test_the_api_serves_the_partition_report_as_computed_by_hand(pipeline: Pipeline) -> None:
    report_id = _partition_report_id(pipeline)
    answer = pipeline.client.get(f"/get_report/{report_id}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Report-Status"] == "Complete"
    assert answer.text == EXPECTED_CSV
    as_json = pipeline.client.get(f"/get_report/{report_id}", params={"format": "json"}).json()
    assert as_json == {"status": "Complete", "as_of": "2023-01-23T18:00:00Z", "csv": EXPECTED_CSV}


def test_the_api_serves_the_partition_outages_as_computed_by_hand(pipeline: Pipeline) -> None:
    report_id = _partition_report_id(pipeline)
    extended = pipeline.client.get(f"/get_report/{report_id}", params={"columns": "extended"})
    assert extended.status_code == 200, extended.text
    assert extended.text == EXPECTED_EXTENDED_CSV
    outages = pipeline.client.get(f"/get_report/{report_id}/outages")
    assert outages.status_code == 200, outages.text
    assert outages.text == EXPECTED_OUTAGES_CSV


def test_a_report_triggered_through_the_api_gives_the_same_hand_computed_figures(pipeline: Pipeline) -> None:
    """POST /trigger_report as of T: the on-demand run (in process) replaces T's rows with its own."""
    trigger = pipeline.client.post("/trigger_report", params={"as_of": "2023-01-23T18:00:00Z"})
    assert trigger.status_code == 200, trigger.text
    assert pipeline.launcher.results[-1].success
    report_id = trigger.json()["report_id"]
    answer = pipeline.client.get(f"/get_report/{report_id}")
    assert answer.headers["X-Report-Status"] == "Complete"
    assert answer.text == EXPECTED_CSV
    assert pipeline.client.get(f"/get_report/{report_id}/outages").text == EXPECTED_OUTAGES_CSV
