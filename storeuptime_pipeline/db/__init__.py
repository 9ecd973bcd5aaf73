"""Database layer: where the database is (config, embedded), its schema (models, migrations) and bulk I/O.

Submodules are imported explicitly by callers (``from storeuptime_pipeline.db import reads``) so that
importing the package does not pull in pgserver or Alembic when only one piece is needed.

The bulk layer, one module per kind of data (shared rules in ``staging``): ``poll_load`` (polls),
``reference_load`` (hours and timezone snapshots), ``file_records`` (file history, rejected rows),
``report_rows`` and ``outage_rows`` (stored reports), ``reads`` (the engine's inputs back out);
``queries`` holds the small one-statement reads.
"""
