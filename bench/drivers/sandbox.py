"""The local API in its own process (not measured): prints its base URL, runs until killed.

Request bodies are not kept (``keep_bodies=False``), so the server's memory does not grow
with the number of contacts across a long run.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from sheetsync.sandbox.server import DEMO_API_KEY, DEMO_CAMPAIGN_ID, Faults, SandboxApi


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    api = SandboxApi(api_key=DEMO_API_KEY, campaigns=[DEMO_CAMPAIGN_ID], faults=Faults(latency=args.latency),
                     keep_bodies=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with api:
        print(api.base_url, flush=True)
        stop.wait()
    sys.exit(0)


if __name__ == "__main__":
    main()
