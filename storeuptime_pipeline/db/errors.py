"""Errors of the database layer that the CLI prints as one line (no import of anything heavy)."""

from __future__ import annotations


class EmbeddedServerError(RuntimeError):
    """The embedded Postgres cannot be used; ``str()`` says why and what to do, in one line."""


class SchemaNotReady(RuntimeError):
    """The database is not at the schema revision this code needs; ``str()`` is one line naming the fix.

    Nothing migrates on first use (resources, the API): the commands that prepare an environment do,
    once, and everything else checks and stops with this instead of failing later on a missing table.
    """


class ReadBlocked(RuntimeError):
    """A report's parallel read waited too long for a table lock; ``str()`` is one line naming the fix.

    Why it exists: the reads hold their tables' ACCESS SHARE locks on several connections. A statement
    that needs ACCESS EXCLUSIVE (DROP, TRUNCATE, most ALTER TABLE, VACUUM FULL) queued after one of
    them blocks the next, while the first waits for the next in this process: a cycle Postgres cannot
    see. The lock timeout breaks it, the report fails, the other statement goes on.
    """
