"""The zygote's report rehearsal: it walks the whole report path, and a fork after it is safe."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from storeuptime_pipeline.services.rehearsal import rehearse_report


def test_the_rehearsal_reports_every_made_up_store_with_its_outage() -> None:
    # One store per zone, each down in its business hours a day ago: the outage pass and its list
    # (what the on-demand report writes) are on the path the rehearsal warms, not skipped.
    rows, outages = rehearse_report()
    assert rows == 5
    assert outages >= 1


def test_the_rehearsal_starts_no_thread_and_opens_no_file_or_connection() -> None:
    # The zygote forks after it: a thread alive at a fork can leave a lock held in every spare, and a
    # descriptor would be shared by all of them. Counted by the kernel, so native threads count too.
    script = textwrap.dedent(
        """
        import json, os, threading
        import storeuptime_pipeline.services.rehearsal as rehearsal
        def counts():
            return [len(os.listdir("/proc/self/task")), len(os.listdir("/proc/self/fd"))]
        before = counts()
        rehearsal.rehearse_report()
        print(json.dumps({"before": before, "after": counts(), "python": threading.active_count()}))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["after"] == seen["before"], seen
    assert seen["python"] == 1
