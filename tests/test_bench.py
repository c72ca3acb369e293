"""The benchmark harness still runs (tiny sizes; no timing assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_quick_runs(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--scenarios", "1,2,3,4,5", "--results", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = results.read_text()
    assert "| # | measure |" in text
    assert "rows written: 200/200" in text
    assert "`sheetsync --version`" in text
    assert "python-calamine" in text  # the machine and library versions are recorded


def test_the_cpu_timeline_runs_and_shows_each_process(tmp_path: Path) -> None:
    if not Path("/proc/self/stat").exists():
        import pytest

        pytest.skip("the timeline reads /proc (Linux)")
    proc = subprocess.run([sys.executable, "-m", "bench.timeline", "--rows", "200", "--interval", "0.02"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = proc.stdout.splitlines()[0]
    assert first.startswith("sheetsync sync of 200 rows:") and "app " in first and "server " in first
    assert "read 200 rows" in proc.stdout and "sent and recorded" in proc.stdout  # the sync's own phases
