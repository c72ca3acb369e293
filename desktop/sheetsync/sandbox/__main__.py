"""``python -m sheetsync.sandbox``: run the local API in the foreground until Ctrl+C."""

from __future__ import annotations

import argparse
import logging
import threading

from sheetsync.sandbox.server import DEMO_API_KEY, DEMO_CAMPAIGN_ID, Faults, SandboxApi


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sheetsync.sandbox",
        description="Run the local stand-in for the campaign contacts API on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="S",
                        help="seconds added to every request")
    parser.add_argument("--max-batch", type=int, default=None, metavar="N",
                        help="answer 413 to requests with more than N contacts")
    parser.add_argument("--rate-limit", type=float, default=None, metavar="R",
                        help="answer 429 above R requests per second")
    parser.add_argument("--api-key", default=DEMO_API_KEY, help="the key to accept")
    parser.add_argument("--no-shuffle", action="store_true",
                        help="answer items in request order")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(message)s")
    faults = Faults(latency=args.latency, max_batch=args.max_batch, rate_limit=args.rate_limit)
    api = SandboxApi(api_key=args.api_key, faults=faults, port=args.port,
                     shuffle=not args.no_shuffle)
    with api:
        print(f"Sheet Sync local API running at {api.base_url}", flush=True)
        print(f"  API key:     {args.api_key}")
        print(f"  campaign ID: {DEMO_CAMPAIGN_ID}")
        print("Press Ctrl+C to stop.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("Stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
