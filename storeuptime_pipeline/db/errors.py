"""Errors of the database layer that the CLI prints as one line (no import of anything heavy)."""

from __future__ import annotations


class EmbeddedServerError(RuntimeError):
    """The embedded Postgres cannot be used; ``str()`` says why and what to do, in one line."""


class SchemaNotReady(RuntimeError):
    """The database is not at the schema revision this code needs; ``str()`` is one line naming the fix.

    Nothing migrates on first use (resources, the API): the commands that prepare an environment do,
    once, and everything else checks and stops with this instead of failing later on a missing table.
    """
