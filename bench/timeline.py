"""Where a sync's time goes, process by process: a CPU timeline (Linux only, from /proc).

Runs one ``sheetsync --debug sync`` of the styled workbook (100,000 rows unless
``--rows``) against the local API, samples every process's CPU every 100 ms, and prints
how busy each one was (100 % is one core) next to the sync's own phase timings from its
log. This is how the notes on scenario 1 know which process bounds which phase.

    .venv/bin/python -m bench.timeline [--rows N] [--interval S]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .harness import DEMO_CAMPAIGN_ID, DRIVERS, PY, sync_env
from .proc import ROOT, VENV_BIN, child_env
from .workbooks import cached, working_copy

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PHASES = re.compile(r"(\d\d:\d\d:\d\d,\d\d\d) DEBUG \S+ \[\S+\] (read .*|checked .*|sending .*|sent and .*)$")


def _cpu(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds so far) of a live process, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (info := _cpu(int(name))) is not None:
            parents[int(name)] = info[0]
    found, grew = {root}, True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--interval", type=float, default=0.1)
    args = parser.parse_args(argv)
    if not Path("/proc/self/stat").exists():
        print("bench.timeline reads /proc: Linux only", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="timeline-"))
    book = working_copy(cached(args.rows, styled=True), work)
    server = subprocess.Popen([PY, str(DRIVERS / "sandbox.py")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              env=child_env(), cwd=ROOT, text=True)
    try:
        url = server.stdout.readline().strip() if server.stdout else ""
        env = sync_env(work / "home")
        started = time.time()
        app = subprocess.Popen([str(VENV_BIN / "sheetsync"), "--debug", "sync", str(book), "--campaign",
                                DEMO_CAMPAIGN_ID, "--base-url", url, "--quiet"], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seen: dict[int, float] = {}
        totals = {"app": 0.0, "writer": 0.0, "server": 0.0}
        rows: list[str] = []
        t0 = time.perf_counter()
        while True:
            done = app.poll() is not None
            now = {"app": 0.0, "writer": 0.0, "server": 0.0}
            for pid in _descendants(app.pid) | {server.pid}:
                info = _cpu(pid)
                if info is None:
                    continue
                who = "server" if pid == server.pid else "app" if pid == app.pid else "writer"
                used = info[1] - seen.get(pid, 0.0)
                seen[pid] = info[1]
                now[who] += used
                totals[who] += used
            if any(now.values()):
                rows.append(f"{time.perf_counter() - t0:5.1f} s  " + "  ".join(
                    f"{who} {100 * used / args.interval:4.0f} %" for who, used in now.items()))
            if done:
                break
            time.sleep(args.interval)
        wall = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(10)
    print(f"sheetsync sync of {args.rows:,} rows: {wall:.2f} s; CPU: " +
          ", ".join(f"{who} {cpu:.2f} s" for who, cpu in totals.items()) + " (100 % = one core)")
    print("\n".join(rows))
    log = work / "home" / "logs" / "sheetsync.log"
    for line in log.read_text(encoding="utf-8").splitlines() if log.exists() else []:
        m = _PHASES.search(line)
        if m:
            h, mi, rest = m.group(1).split(":")
            at = int(h) * 3600 + int(mi) * 60 + float(rest.replace(",", ".")) - _seconds_of_day(started)
            print(f"{at:5.2f} s  {m.group(2)}")
    return 0 if app.returncode == 0 else 1


def _seconds_of_day(epoch: float) -> float:
    t = time.localtime(epoch)
    return t.tm_hour * 3600 + t.tm_min * 60 + t.tm_sec + epoch % 1


if __name__ == "__main__":
    sys.exit(main())
