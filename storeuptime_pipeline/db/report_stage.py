"""The rows of sharded report runs before they are published: one generation per run (migration 0006).

Why generations and not a stage table: a partition's rows must change in one transaction (a reader
never sees some shards' new rows beside the others' old ones), while the shards of a run compute
in different processes, on different machines. Each run gets a generation number
(``report_generations``, keyed by its token); its shards COPY their report rows and outage lists
straight into ``uptime_report`` / ``outages`` under that number, where no reader looks: readers see,
per as-of, only the generation ``report_published`` names (no row: 0, the single-writer paths), through
the ``published_*`` views. :func:`publish_staged` then repoints the run's as-ofs and deletes the rows
they showed before, in the caller's one transaction. So a publish moves no rows: with 0005's stage,
moving a 168-hour backfill's ~9.6M rows was over half of the run. A shard that fails leaves only
rows nobody sees; the run's :func:`clear_run` (or a later run's :func:`clear_stale`) deletes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP
from sqlalchemy.engine import Connection

from storeuptime_pipeline.core.outages import OUTAGE_SUMMARY_COLUMNS
from storeuptime_pipeline.db.copyio import BinaryColumn, binary_payload, copy_in, utc_microseconds
from storeuptime_pipeline.db.outage_rows import OUTAGE_ROW_COLUMNS, outage_row_columns
from storeuptime_pipeline.db.reads import Shard, shard_filter
from storeuptime_pipeline.db.report_rows import (
    STORED_REPORT_COLUMNS,
    delete_as_ofs_locked,
    report_row_columns,
)

#: A run's rows older than this belong to a run that died before publishing: the next run drops them.
STALE_AFTER: Final = timedelta(days=1)
_TABLES: Final = ("uptime_report", "outages")
_AS_OFS = bindparam("as_ofs", type_=ARRAY(TIMESTAMP(timezone=True)))


def open_run(conn: Connection, token: str, as_ofs: Sequence[pd.Timestamp]) -> int:
    """The generation of run ``token`` (created on first use; every shard of a run asks).

    Call it in a transaction of its own, before a shard's: the INSERT's row lock would otherwise be
    held until the shard commits and serialize the shards.
    """
    params = {"token": token, "as_ofs": sorted(t.to_pydatetime() for t in as_ofs)}
    conn.execute(
        text(
            "INSERT INTO report_generations (run_token, as_ofs) VALUES (:token, :as_ofs)"
            " ON CONFLICT (run_token) DO NOTHING"
        ).bindparams(_AS_OFS),
        params,
    )
    generation = conn.execute(
        text("SELECT generation FROM report_generations WHERE run_token = :token"), params
    ).scalar_one()
    return int(generation)


def _generation_column(generation: int, rows: int) -> BinaryColumn:
    return BinaryColumn("int8", np.full(rows, generation, dtype=np.int64))


def clear_shard(conn: Connection, generation: int, shard: Shard, as_ofs: Sequence[pd.Timestamp]) -> None:
    """Drop what an earlier attempt of this shard wrote (a retried step replaces its own rows)."""
    where, params = shard_filter("store_id", shard)  # psycopg2 placeholders: run on the driver
    for table in _TABLES:
        conn.exec_driver_sql(
            f"DELETE FROM {table} WHERE as_of = ANY(%(as_ofs)s) AND generation = %(generation)s{where}",
            {"as_ofs": [t.to_pydatetime() for t in as_ofs], "generation": generation, **params},
        )


def stage_outages(conn: Connection, generation: int, frame: pd.DataFrame) -> int:
    """COPY one chunk of a shard's outage list into ``outages``, under the run's generation."""
    if frame.empty:
        return 0
    columns = [*outage_row_columns(frame), _generation_column(generation, len(frame))]
    copy_in(conn, "outages", (*OUTAGE_ROW_COLUMNS, "generation"), binary_payload(columns))
    return len(frame)


def stage_report(conn: Connection, generation: int, frame: pd.DataFrame) -> int:
    """COPY a shard's report rows (with the outage summary) into ``uptime_report``, under the run's generation."""
    if frame.empty:
        return 0
    names, columns = report_row_columns(frame, utc_microseconds(frame["as_of"]))
    if len(names) != len(STORED_REPORT_COLUMNS) + len(OUTAGE_SUMMARY_COLUMNS):
        raise ValueError("a shard's report rows need the outage summary columns")
    payload = binary_payload([*columns, _generation_column(generation, len(frame))])
    copy_in(conn, "uptime_report", (*names, "generation"), payload)
    return len(frame)


def publish_staged(conn: Connection, token: str, as_ofs: Sequence[pd.Timestamp], expected_rows: int) -> int:
    """Make run ``token``'s rows what ``as_ofs`` show; return its report rows.

    Runs in the caller's transaction, under the report write lock (``delete_as_ofs_locked``): the
    rows the as-ofs showed are deleted and ``report_published`` points them at the run's generation,
    all or nothing. No row is moved.
    Refused before anything changes: rows of the run at an instant outside ``as_ofs`` (they would
    stay beside that hour's rows), and a run that does not hold the ``expected_rows`` its shards
    reported (a publish repeated after the run was published would otherwise empty the hours).
    """
    found = conn.execute(
        text("SELECT generation, as_ofs FROM report_generations WHERE run_token = :token"),
        {"token": token},
    ).one_or_none()
    if found is None:
        raise ValueError(
            f"run {token} has no unpublished rows: already published, or it never ran; re-run the report"
        )
    generation, written = found
    params = {"generation": generation, "written": written, "as_ofs": [t.to_pydatetime() for t in as_ofs]}
    staged, stray = conn.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE NOT as_of = ANY(:as_ofs)) FROM uptime_report"
            " WHERE as_of = ANY(:written) AND generation = :generation"
        ).bindparams(_AS_OFS, bindparam("written", type_=ARRAY(TIMESTAMP(timezone=True)))),
        params,
    ).one()
    if stray:
        raise ValueError(f"{stray} report rows of run {token} lie outside the instants it publishes")
    if staged != expected_rows:
        raise ValueError(
            f"run {token} holds {staged:,} report rows, its shards computed {expected_rows:,}:"
            " a shard's rows were lost; re-run the report"
        )
    delete_as_ofs_locked(conn, "outages", list(as_ofs))
    delete_as_ofs_locked(conn, "uptime_report", list(as_ofs))
    conn.execute(
        text(
            "INSERT INTO report_published (as_of, generation) SELECT unnest(:as_ofs), :generation"
            " ON CONFLICT (as_of) DO UPDATE SET generation = excluded.generation"
        ).bindparams(_AS_OFS),
        params,
    )
    clear_run(conn, token)
    return int(staged)


def clear_run(conn: Connection, token: str) -> None:
    """Forget run ``token``: delete its rows that no as-of shows (all of them, unless it published).

    After a publish every as-of of the run shows it, so nothing is deleted and nothing is scanned:
    the as-ofs that do not show it are found first (one probe each), and only their rows go.
    """
    found = conn.execute(
        text("DELETE FROM report_generations WHERE run_token = :token RETURNING generation, as_ofs"),
        {"token": token},
    ).one_or_none()
    if found is not None:
        _delete_unpublished(conn, *found)


def _delete_unpublished(conn: Connection, generation: int, as_ofs: Sequence[object]) -> int:
    hidden = (
        conn.execute(
            text(
                "SELECT a FROM unnest(:as_ofs) AS a WHERE NOT EXISTS"
                " (SELECT 1 FROM report_published p WHERE p.as_of = a AND p.generation = :generation)"
            ).bindparams(_AS_OFS),
            {"as_ofs": list(as_ofs), "generation": generation},
        )
        .scalars()
        .all()
    )
    if not hidden:
        return 0
    removed = 0
    for table in _TABLES:
        removed += conn.execute(
            text(f"DELETE FROM {table} WHERE as_of = ANY(:as_ofs) AND generation = :generation").bindparams(
                _AS_OFS
            ),
            {"as_ofs": list(hidden), "generation": generation},
        ).rowcount
    return int(removed)


def clear_stale(conn: Connection, older_than: timedelta = STALE_AFTER) -> int:
    """Delete the rows of runs that died before publishing (opened longer ago than ``older_than``)."""
    stale = conn.execute(
        text("DELETE FROM report_generations WHERE created_at < now() - :age RETURNING generation, as_ofs"),
        {"age": older_than},
    ).all()
    return sum(_delete_unpublished(conn, *row) for row in stale)
