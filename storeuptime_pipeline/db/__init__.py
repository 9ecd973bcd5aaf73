"""Database layer: where the database is (config, embedded), its schema (models, migrations) and bulk I/O.

Submodules are imported explicitly by callers (``from storeuptime_pipeline.db import bulk``) so that
importing the package does not pull in pgserver or Alembic when only one piece is needed.
"""
