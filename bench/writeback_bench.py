"""Benchmark of the lossless write-back (not a test).

Makes a styled 100,000 x 12 workbook once (cached in bench/out/), then runs
``patch_sheet`` in a fresh process writing the three status columns into every row, and
prints the seconds and the peak RSS of that process.

    .venv/bin/python bench/writeback_bench.py [--rows N]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "desktop"))


def make_workbook(path: Path, rows: int) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Contacts")
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEEFF")
    headers = ["First Name", "Last Name", "Email", "Phone", "Company", "City",
               "Country", "Tier", "Score", "Joined", "Notes", "Owner"]
    header_cells = []
    for h in headers:
        c = WriteOnlyCell(ws, h)
        c.font, c.fill = bold, fill
        header_cells.append(c)
    ws.append(header_cells)
    for i in range(rows):
        ws.append([f"First{i}", f"Last{i}", f"user{i}@example.com", 15551000000 + i,
                   f"Company {i % 977}", "Springfield", "US", "gold" if i % 3 else "silver",
                   i % 100, datetime(2024, 1, 1 + i % 28), f"note {i}", "owner@example.com"])
    wb.save(path)


def _peak_rss_mb() -> float:
    """This process's own peak RSS: VmHWM (ru_maxrss also counts the parent's at fork time)."""
    try:
        with open("/proc/self/status") as fh:
            return int(fh.read().split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(path: Path, rows: int) -> None:
    from sheetsync.core.writeback import patch_sheet

    dst = path.with_name("patched.xlsx")
    now = datetime.now().replace(microsecond=0)
    results = {r: ["created", f"contact {r} created", now] for r in range(2, rows + 2)}
    t0 = time.perf_counter()
    patch_sheet(path, dst, sheet_name="Contacts", header_row=1,
                columns=[(13, "Sync Status"), (14, "Sync Message"), (15, "Synced At")],
                rows=results)
    seconds = time.perf_counter() - t0
    rss_mb = _peak_rss_mb()
    print(f"patch_sheet: {rows:,} rows x 12 columns (+3): {seconds:.2f} s, peak RSS {rss_mb:.0f} MB "
          f"(input {path.stat().st_size / 1e6:.1f} MB, output {dst.stat().st_size / 1e6:.1f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.rows)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"bench_{args.rows}.xlsx"
    if not path.exists():
        print(f"making {path} ...", flush=True)
        make_workbook(path, args.rows)
    # A fresh process, so the peak RSS is the write-back's own, not openpyxl's.
    subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--measure", str(path)], check=True)


if __name__ == "__main__":
    main()
