#!/usr/bin/env bash
# Retake the README's UI tour from a running `make dev` (after `make run` and an in-process backfill):
#   STOREUPTIME_UI_PORT=3000 STOREUPTIME_API_PORT=8000 docs/screenshots.sh
# Needs chromium (apt-get install -y chromium). Writes docs/*.png.
set -euo pipefail
ui="http://127.0.0.1:${STOREUPTIME_UI_PORT:-3000}"
api="http://127.0.0.1:${STOREUPTIME_API_PORT:-8000}"
partition="${PARTITION:-2023-01-24-12:00}"
here="$(cd "$(dirname "$0")" && pwd)"
graphql() { curl -sf -X POST "$ui/graphql" -H 'Content-Type: application/json' -d "$1"; }
# The UI's first-visit "Join the Dagster community" dialog would cover every shot: dismiss it (as Skip does).
graphql '{"query":"mutation { setNuxSeen }"}' > /dev/null
run_id="$(graphql '{"query":"{ runsOrError(filter: {pipelineName: \"uptime_report_job\", statuses: [SUCCESS], tags: [{key: \"storeuptime/source\", value: \"cli\"}]}, limit: 1) { ... on Runs { results { runId } } } }"}' \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["runsOrError"]["results"][0]["runId"])')"
shot() {
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --user-data-dir="$(mktemp -d)" --virtual-time-budget=20000 \
    --screenshot="$here/$1.png" --window-size=1600,1000 "$2" > /dev/null 2>&1
  echo "$here/$1.png: $2"
}
shot ui_catalog "$ui/assets"
shot ui_asset_graph "$ui/assets/uptime_report?view=lineage&lineageScope=upstream"
shot ui_partitions "$ui/assets/uptime_report?view=partitions&partition=${partition/:/%3A}"
shot ui_run "$ui/runs/$run_id"
shot api_docs "$api/docs"
