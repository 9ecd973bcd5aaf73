"""Errors of the database layer that the CLI prints as one line (no import of anything heavy)."""

from __future__ import annotations


class EmbeddedServerError(RuntimeError):
    """The embedded Postgres cannot be used; ``str()`` says why and what to do, in one line."""
