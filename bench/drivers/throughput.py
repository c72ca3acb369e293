"""Scenario 3 child: read and plan (not timed), then time only the sending of every row.

Prints one JSON line: contacts sent, seconds, batch size, requests in flight, latency.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from sheetsync.core.client import ContactsApi
from sheetsync.core.engine import DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, JobOptions, SyncEngine
from sheetsync.core.job import ResultBook, load_sheet, plan_job
from sheetsync.sandbox.server import DEMO_API_KEY, DEMO_CAMPAIGN_ID


def main(path: str, base_url: str) -> None:
    loaded = load_sheet(Path(path))
    plan = plan_job(loaded.data)
    options = JobOptions(DEMO_CAMPAIGN_ID, batch_size=DEFAULT_BATCH_SIZE, concurrency=DEFAULT_CONCURRENCY).validated()
    book = ResultBook.for_plan(plan)
    with ContactsApi(base_url, DEMO_API_KEY) as client:
        engine = SyncEngine(plan, options, client, cancel=threading.Event())
        t0 = time.perf_counter()
        sent = 0
        for outcome in engine.run():
            book.add(outcome)
            if outcome.sent:
                sent += len(outcome.results)
        seconds = time.perf_counter() - t0
    problems = book.summary().problems
    print(json.dumps({"contacts": sent, "seconds": seconds, "batch": options.batch_size,
                      "concurrency": options.concurrency, "problems": problems,
                      "stop": str(engine.stop_error) if engine.stop_error else None}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
