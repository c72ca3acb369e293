"""Run one measured child process: wall time and that process's own peak RSS."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
#: Where the code under test lives (``desktop/`` below it): the working tree, or a snapshot
#: of a commit (``python -m bench --commit REV``) so other people's unfinished edits do not
#: break or skew a run.
CODE_ROOT = ROOT


@dataclass
class Run:
    seconds: float
    rss_mb: float
    cpu: float  # user + system seconds of that process
    returncode: int
    stdout: str
    stderr: str
    started: float  # time.time() just before the child was spawned

    def check(self, what: str) -> Run:
        if self.returncode != 0:
            raise RuntimeError(
                f"{what}: exit {self.returncode}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"
            )
        return self


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(CODE_ROOT / "desktop"), str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(extra)
    return env


def run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 3600) -> Run:
    """Spawn ``cmd``, wait for it with wait4 (its own rusage, not every child's max)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env or child_env(), cwd=ROOT)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait again
        out.seek(0)
        err.seek(0)
        return Run(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, proc.returncode,
                   out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"), started)
