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
