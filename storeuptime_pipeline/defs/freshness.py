"""Is the status feed still delivering? Two signals: one from the load time, one from the newest poll.

- The 1.13 ``FreshnessPolicy`` on ``store_status`` (evaluated by the daemon, shown in the catalog):
  FAIL when no status load has happened for the fail window. Dagster measures it from the last
  materialization, so it follows the polls only as long as the files carry current polls.
- The asset check ``newest_poll_is_recent`` on ``store_status`` (checks.py), run with every ingest:
  it compares the newest poll in the database (also recorded on every status load as
  ``dagster/last_updated_timestamp``) with the clock, so a file of old polls warns at once.
"""

from __future__ import annotations

from dagster import FreshnessPolicy

from storeuptime_pipeline import settings


def feed_freshness_policy() -> FreshnessPolicy:
    """The policy from the settings (STOREUPTIME_FEED_FAIL_HOURS, _WARN_HOURS); default FAIL after 2 h."""
    return FreshnessPolicy.time_window(
        fail_window=settings.feed_fail_window(), warn_window=settings.feed_warn_window()
    )
