"""SQLAlchemy 2 declarative models: the schema the migrations create and the bulk layer writes.

The migration ``0001_initial`` is written by hand to match this file; a test runs Alembic's
``compare_metadata`` against a migrated database so the two cannot drift apart.

Design notes:
- ``store_id`` is an opaque ``text COLLATE "C"`` everywhere (19-digit integers and UUIDs both occur).
- ``store_status`` has no foreign key to ``stores``: bulk loads must not pay per-row FK checks, and
  polls may arrive for stores that no other file mentions. Loads insert missing store ids into
  ``stores`` (with the default timezone) instead.
- Business hours are stored as Postgres ``time``, which accepts ``24:00:00`` for "until midnight".
- Constraint names come from a naming convention so the migration can reference them exactly.
"""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storeuptime_pipeline.core.inputs import DEFAULT_TIMEZONE

# Opaque ids compare bytewise: no linguistic ordering is wanted, and under a libc locale such as
# en_US.UTF-8 or C.UTF-8 every B-tree comparison would otherwise go through strcoll (several times
# slower index builds, joins and sorts). Staging tables (db/staging.py) use the same collation.
StoreId = Text(collation="C")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base carrying the shared metadata and naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Store(Base):
    """One row per known store; its timezone as given in the file and as actually used."""

    __tablename__ = "stores"

    store_id: Mapped[str] = mapped_column(StoreId, primary_key=True)
    timezone_str: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(Text, server_default=text(f"'{DEFAULT_TIMEZONE}'"))
    timezone_defaulted: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # core.shards.store_hash(store_id), written with every new store (migration 0005_store_shards): a
    # report shard is the stores with shard_hash % N = i, the same set in SQL and in the engine.
    shard_hash: Mapped[int] = mapped_column(BigInteger)


class BusinessHours(Base):
    """A local-time opening interval of a store on one weekday (several per store-day allowed)."""

    __tablename__ = "business_hours"
    __table_args__ = (
        CheckConstraint("day_of_week BETWEEN 0 AND 6", name="day_of_week_range"),
        Index(None, "store_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    store_id: Mapped[str] = mapped_column(StoreId)
    day_of_week: Mapped[int] = mapped_column(SmallInteger)
    start_local: Mapped[time] = mapped_column(Time)
    end_local: Mapped[time] = mapped_column(Time)


class StoreStatus(Base):
    """One poll result. The PK doubles as the per-store time index used by window reads.

    Range-partitioned on timestamp_utc, one partition per ISO week (migration 0004_poll_weeks,
    ``db/poll_partitions.py``): both indexes contain the partition key, so a time-window read touches
    only the weeks it overlaps, and a week of older history loads without touching the others' indexes.
    """

    __tablename__ = "store_status"
    __table_args__ = (
        PrimaryKeyConstraint("store_id", "timestamp_utc"),
        Index(None, "timestamp_utc"),
        {"postgresql_partition_by": "RANGE (timestamp_utc)"},
    )

    store_id: Mapped[str] = mapped_column(StoreId)
    timestamp_utc: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    is_active: Mapped[bool] = mapped_column(Boolean)


class IngestedFile(Base):
    """One row per load of an input file, re-loads and quarantined files included (migration 0002).

    (kind, sha256) recognises content seen before; the newest row of a kind that is not quarantined
    is the live snapshot. A quarantined file wrote nothing but this row and its rejected rows.
    """

    __tablename__ = "ingested_files"
    __table_args__ = (
        CheckConstraint("kind IN ('status', 'hours', 'timezones')", name="kind"),
        Index(None, "kind", "sha256"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(Text)
    rows_read: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    rows_loaded: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    rows_rejected: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    rows_changed: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    quarantined: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    reject_share: Mapped[float | None] = mapped_column(Double)
    reason: Mapped[str | None] = mapped_column(Text)


class RejectedRow(Base):
    """An input line that failed parsing/validation, kept for the data-quality report."""

    __tablename__ = "rejected_rows"
    __table_args__ = (Index(None, "file_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    file_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ingested_files.id", ondelete="CASCADE"))
    source_file: Mapped[str] = mapped_column(Text)
    line_number: Mapped[int] = mapped_column(Integer)
    column_name: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    raw_line: Mapped[str] = mapped_column(Text)


class _ReportValues:
    """The columns of a stored report row (``uptime_report``)."""

    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    store_id: Mapped[str] = mapped_column(StoreId)
    uptime_last_hour: Mapped[float] = mapped_column(Double)
    uptime_last_day: Mapped[float] = mapped_column(Double)
    uptime_last_week: Mapped[float] = mapped_column(Double)
    downtime_last_hour: Mapped[float] = mapped_column(Double)
    downtime_last_day: Mapped[float] = mapped_column(Double)
    downtime_last_week: Mapped[float] = mapped_column(Double)


class _OutageValues:
    """The columns of one listed outage (``outages``)."""

    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    store_id: Mapped[str] = mapped_column(StoreId)
    start_utc: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_utc: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    timezone: Mapped[str] = mapped_column(Text)  # the zone the store was reported in (for local times)
    business_hours: Mapped[float] = mapped_column(Double)
    ongoing: Mapped[bool] = mapped_column(Boolean)


class _Generation:
    """Which writer's rows these are (migration 0006, ``db/report_stage.py``): 0 for a single-writer
    path, else the sharded run's ``report_generations.generation``. Readers see, per as-of, only the
    generation ``report_published`` names (none: 0), through the ``published_*`` views."""

    generation: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class UptimeReport(_ReportValues, _Generation, Base):
    """Report values per store as of an instant (minutes for the hour, hours for day/week)."""

    __tablename__ = "uptime_report"
    __table_args__ = (PrimaryKeyConstraint("as_of", "generation", "store_id"),)

    # Outage summary (migration 0003_outages); NULL on rows computed before it existed.
    outages_last_hour: Mapped[int | None] = mapped_column(Integer)
    outages_last_day: Mapped[int | None] = mapped_column(Integer)
    outages_last_week: Mapped[int | None] = mapped_column(Integer)
    longest_outage_last_week: Mapped[float | None] = mapped_column(Double)


class Outage(_OutageValues, _Generation, Base):
    """One outage of a store in the week before a report instant (README, "Outages: how often")."""

    __tablename__ = "outages"
    __table_args__ = (PrimaryKeyConstraint("as_of", "generation", "store_id", "start_utc"),)


class ReportGeneration(Base):
    """A sharded report run whose shards write rows nobody reads until it publishes (``db/report_stage.py``).

    Its as-ofs turn every lookup or delete of its rows into equality probes of the primary key
    (as_of, generation, ...): a range of as-ofs would scan every generation's rows in it.
    ``created_at`` lets a later run remove what a run that died before publishing left behind.
    """

    __tablename__ = "report_generations"
    __table_args__ = (UniqueConstraint("run_token"),)

    generation: Mapped[int] = mapped_column(BigInteger, Identity(always=False, start=1), primary_key=True)
    run_token: Mapped[str] = mapped_column(Text)
    as_ofs: Mapped[list[datetime]] = mapped_column(ARRAY(DateTime(timezone=True)))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ReportPublished(Base):
    """The generation each as-of shows, where it is not 0 (a sharded run published it)."""

    __tablename__ = "report_published"

    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)


class ReportRun(Base):
    """One requested report (a scheduled partition or an on-demand trigger) and its outcome."""

    __tablename__ = "report_runs"
    __table_args__ = (CheckConstraint("kind IN ('partition', 'on_demand')", name="kind"),)

    report_id: Mapped[str] = mapped_column(Text, primary_key=True)
    as_of: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(Text)
    csv_path: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


metadata = Base.metadata
