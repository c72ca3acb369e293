"""Smoke test of a built app: start the real executable the way a user's first minutes
would, like qutebrowser's build_release.smoke_test. Shared by build_linux.py,
build_windows.py, build_macos.py and tests/test_packaging.py.

    python packaging/smoke.py PATH/TO/EXECUTABLE
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import appinfo  # noqa: E402

ROOT = appinfo.ROOT


def has_selftest() -> bool:
    return (ROOT / "desktop" / "sheetsync" / "selftest.py").exists()


def smoke_test(executable: Path | str, *, selftest: bool | None = None) -> list[str]:
    """Run the frozen app the way a user's first minutes would; returns what was checked.

    Like qutebrowser's build_release.smoke_test: start the real executable, not Python.
    """
    selftest = has_selftest() if selftest is None else selftest
    checked = []
    with tempfile.TemporaryDirectory(prefix="sheetsync-smoke-") as home:
        env = dict(os.environ, SHEETSYNC_HOME=home, QT_QPA_PLATFORM="offscreen", HOME=home)
        env.pop("SHEETSYNC_API_KEY", None)
        out = subprocess.run([str(executable), "--version"], env=env, capture_output=True,
                             text=True, timeout=60)
        want = f"Sheet Sync {appinfo.version()}"
        if out.returncode != 0 or out.stdout.strip() != want:
            raise SystemExit(f"smoke test: --version said {out.stdout!r} {out.stderr!r}, "
                             f"exit {out.returncode}; wanted {want!r}")
        checked.append("--version")
        # The demo starts the local API and syncs the sample workbook: it needs httpx,
        # calamine, openpyxl, phonenumbers' metadata and the bundled resources.
        demo = subprocess.run([str(executable), "demo", "--headless"], env=env,
                              capture_output=True, text=True, timeout=120)
        summary = re.search(r"(\d+) created, (\d+) updated", demo.stdout)
        if demo.returncode not in (0, 1) or not summary or int(summary.group(1)) == 0:
            raise SystemExit(f"smoke test: demo --headless failed (exit {demo.returncode}):\n"
                             f"{demo.stdout}\n{demo.stderr}")
        checked.append(f"demo --headless ({summary.group(0)})")
        if selftest:
            test = subprocess.run([str(executable), "--selftest"], env=env,
                                  capture_output=True, text=True, timeout=180)
            if test.returncode != 0:
                raise SystemExit(f"smoke test: --selftest failed (exit {test.returncode}):\n"
                                 f"{test.stdout}\n{test.stderr}")
            checked.append("--selftest")
    return checked


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python packaging/smoke.py PATH/TO/EXECUTABLE")
    print("smoke test passed: " + ", ".join(smoke_test(sys.argv[1])))
