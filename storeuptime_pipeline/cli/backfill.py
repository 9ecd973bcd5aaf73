"""Launching an asset backfill of the hourly report through the webserver's GraphQL API.

A backfill launched this way (an *asset* backfill) honours the report's single-run policy: the
whole range is one run. The daemon executes it, and it shows in the UI under Backfills.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

_LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on PartitionSetNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}
"""


class BackfillError(RuntimeError):
    pass


def launch_report_backfill(dagster_url: str, start: str, end: str, timeout: float = 30) -> str:
    """Backfill ``uptime_report`` partitions start..end (keys like 2023-01-18-00:00); returns the backfill id."""
    params = {
        "partitionsByAssets": [
            {"assetKey": {"path": ["uptime_report"]}, "partitions": {"range": {"start": start, "end": end}}}
        ],
        "title": f"uptime_report {start} .. {end}",
    }
    body = json.dumps({"query": _LAUNCH, "variables": {"params": params}}).encode()
    request = urllib.request.Request(
        dagster_url.rstrip("/") + "/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
    except (urllib.error.URLError, TimeoutError) as exc:
        raise BackfillError(
            f"the Dagster webserver at {dagster_url} did not answer ({exc}); is `make dev` running?"
        ) from None
    if answer.get("errors"):
        raise BackfillError("; ".join(e.get("message", "") for e in answer["errors"]))
    result = answer["data"]["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise BackfillError(f"{result['__typename']}: {result.get('message', '')}")
    return result["backfillId"]
