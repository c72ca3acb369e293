"""The scenarios of issue 5, the table, and bench/RESULTS.md."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import proc
from .proc import ROOT, VENV_BIN, Run, child_env, run
from .workbooks import MAX_ROWS, cached, working_copy

DRIVERS = Path(__file__).resolve().parent / "drivers"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
DEMO_API_KEY = "demo-key"
DEMO_CAMPAIGN_ID = "8f14e45f-ceea-467f-a0e6-5c4a3c1e2b7d"
PY = sys.executable


@dataclass
class Line:
    """One line of the table: samples of one measure."""

    scenario: str
    what: str
    unit: str
    samples: list[float]
    rss: list[float] = field(default_factory=list)  # MB, per sample
    cpu: list[float] = field(default_factory=list)  # CPU seconds of the measured process, per sample
    ratio: float | None = None
    target: str = ""
    verdict: str = ""  # PASS / MISS / "" (reference or information)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")


@dataclass
class Config:
    quick: bool
    repeat: int
    work: Path
    rows: int  # the "100k" size
    big_rows: int  # the "1,048,575" size
    ref_repeat: int


# -- helpers ----------------------------------------------------------------------------
def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


@contextlib.contextmanager
def sandbox(latency: float = 0.0) -> Iterator[str]:
    """A fresh local API in its own process (not measured); yields its base URL."""
    proc = subprocess.Popen([PY, str(DRIVERS / "sandbox.py"), "--latency", str(latency)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=child_env(), cwd=ROOT, text=True)
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        if not url.startswith("http"):
            raise RuntimeError("the local API did not start")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sync_env(home: Path) -> dict[str, str]:
    return child_env(SHEETSYNC_API_KEY=DEMO_API_KEY, SHEETSYNC_HOME=str(home))


_COUNT = """
import sys
import python_calamine as calamine
book = calamine.CalamineWorkbook.from_path(sys.argv[1])
rows = book.get_sheet_by_name(book.sheet_names[0]).to_python(skip_empty_area=False)
header = [str(v) for v in rows[0]]
col = header.index("Sync Status") if "Sync Status" in header else None
print(0 if col is None else sum(1 for r in rows[1:] if col < len(r) and r[col] not in ("", None)))
"""


def count_results(path: Path) -> int:
    """Data rows whose Sync Status cell is filled in the written workbook.

    Read in a child process: the harness must stay small, because a child's peak RSS
    starts from the size of the process that spawned it.
    """
    done = run([PY, "-c", _COUNT, str(path)]).check("count results")
    return int(done.stdout.strip())


def sync_once(cfg: Config, source: Path, tag: str, latency: float = 0.0) -> tuple[Run, int]:
    folder = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=cfg.work))
    book = working_copy(source, folder)
    with sandbox(latency) as url:
        result = run([str(VENV_BIN / "sheetsync"), "sync", str(book), "--campaign", DEMO_CAMPAIGN_ID,
                      "--base-url", url, "--quiet"], env=sync_env(folder / "home"), timeout=3600)
    result.check(f"sheetsync sync {book.name}")
    written = count_results(book)
    book.unlink()
    return result, written


# -- scenarios --------------------------------------------------------------------------
def scenario_1(cfg: Config) -> list[Line]:
    source = cached(cfg.rows, styled=True)
    runs: list[Run] = []
    written = []
    for i in range(cfg.repeat):
        result, n = sync_once(cfg, source, "s1")
        runs.append(result)
        written.append(n)
        log(f"  sync {i + 1}/{cfg.repeat}: {result.seconds:.2f} s, {result.rss_mb:.0f} MB, {n:,} rows written")
    refs: list[Run] = []
    for i in range(cfg.ref_repeat):
        folder = Path(tempfile.mkdtemp(prefix="ref-", dir=cfg.work))
        book = working_copy(source, folder)
        result = run([PY, str(DRIVERS / "ref_openpyxl.py"), str(book), str(folder / "out.xlsx")]).check("openpyxl reference")
        refs.append(result)
        log(f"  openpyxl reference {i + 1}/{cfg.ref_repeat}: {result.seconds:.2f} s, {result.rss_mb:.0f} MB")
        for p in folder.iterdir():
            p.unlink()
    ref_line = Line("1", f"reference: openpyxl load + 3 columns + save, {cfg.rows:,} styled", "s",
                    [r.seconds for r in refs], [r.rss_mb for r in refs], [r.cpu for r in refs], 1.0)
    sync = Line("1", f"`sheetsync sync` {cfg.rows:,} styled, local API, no latency", "s",
                [r.seconds for r in runs], [r.rss_mb for r in runs], [r.cpu for r in runs])
    sync.ratio = sync.median / ref_line.median
    all_written = all(n == cfg.rows for n in written)
    ok = sync.ratio <= 0.15 and sync.median < 4.0 and max(sync.rss) <= 400 and all_written
    sync.target = "<= 0.15x ref, < 4 s, RSS <= 400 MB"
    sync.verdict = verdict(ok)
    sync.note = f"rows written: {min(written):,}/{cfg.rows:,}"
    return [sync, ref_line]


def scenario_2(cfg: Config) -> list[Line]:
    source = cached(cfg.big_rows, styled=True)
    result, n = sync_once(cfg, source, "s2")
    log(f"  sync {cfg.big_rows:,}: {result.seconds:.1f} s, {result.rss_mb:.0f} MB, {n:,} rows written")
    line = Line("2", f"`sheetsync sync` {cfg.big_rows:,} styled, local API, no latency", "s",
                [result.seconds], [result.rss_mb], [result.cpu])
    line.target = "completes, all rows written, RSS <= 2.5 GB"
    line.verdict = verdict(n == cfg.big_rows and result.rss_mb <= 2560)
    line.note = f"rows written: {n:,}/{cfg.big_rows:,}"
    return [line]


def scenario_3(cfg: Config) -> list[Line]:
    latency = 0.05
    source = cached(cfg.rows, styled=True)
    rates, rss, cpu, info = [], [], [], {}
    for i in range(cfg.repeat):
        with sandbox(latency) as url:
            result = run([PY, str(DRIVERS / "throughput.py"), str(source), url]).check("throughput")
        info = json.loads(result.stdout.strip().splitlines()[-1])
        if info["problems"] or info["stop"]:
            raise RuntimeError(f"throughput run had problems: {info}")
        rates.append(info["contacts"] / info["seconds"])
        rss.append(result.rss_mb)
        cpu.append(result.cpu)
        log(f"  send {i + 1}/{cfg.repeat}: {info['contacts']:,} contacts in {info['seconds']:.2f} s = {rates[-1]:,.0f}/s")
    ideal = info["batch"] * info["concurrency"] / latency
    line = Line("3", f"throughput at 50 ms latency, batch {info['batch']} x {info['concurrency']} in flight, "
                f"{cfg.rows:,} rows", "contacts/s", rates, rss, cpu, statistics.median(rates) / ideal)
    line.target = f">= 85% of ideal {ideal:,.0f}/s"
    line.verdict = verdict(line.ratio >= 0.85)
    line.note = "ratio is to the ideal; send phase only (read and plan not timed); RSS and CPU: whole process"
    return [line]


def scenario_4(cfg: Config) -> list[Line]:
    if not (proc.CODE_ROOT / "desktop" / "sheetsync" / "gui" / "main_window.py").exists():
        return [Line("4", "GUI: open 100k, stalls", "s", [], note="not run: sheetsync.gui.main_window does not exist yet",
                     target="preview < 2 s; stall < 50 ms", verdict="n/a")]
    source = cached(cfg.rows, styled=True)
    lines = []
    samples: dict[str, list[float]] = {}
    rss, cpu = [], []
    for i in range(cfg.repeat):
        folder = Path(tempfile.mkdtemp(prefix="s4-", dir=cfg.work))
        book = working_copy(source, folder)
        with sandbox(0.02) as url:
            env = sync_env(folder / "home")
            env["QT_QPA_PLATFORM"] = "offscreen"
            result = run([PY, str(DRIVERS / "gui_probe.py"), str(book), url], env=env, timeout=900)
        if result.returncode != 0:
            why = next((t for t in result.stderr.splitlines() if "Fatal Python error" in t or "probe failed" in t),
                       f"exit {result.returncode}")
            log(f"  GUI {i + 1}/{cfg.repeat}: FAILED after {result.seconds:.1f} s: {why}")
            lines.append(Line("4", f"GUI probe run {i + 1} (open {cfg.rows:,}, then sync)", "s", [result.seconds],
                              [result.rss_mb], [result.cpu], target="completes", verdict="MISS",
                              note=f"crashed: {why} (exit {result.returncode}); see the notes"))
            continue
        info = json.loads(result.stdout.strip().splitlines()[-1])
        for key, value in info.items():
            if isinstance(value, int | float):
                samples.setdefault(key, []).append(value)
        rss.append(result.rss_mb)
        cpu.append(result.cpu)
        log(f"  GUI {i + 1}/{cfg.repeat}: {info}")
    spec = [
        ("preview_s", f"GUI: open {cfg.rows:,}, time to preview rows", "s", lambda v: v < 2.0, "< 2 s"),
        ("stall_load_ms", "GUI: longest event-loop stall while loading", "ms", lambda v: v < 50, "< 50 ms"),
        ("stall_sync_ms", "GUI: longest event-loop stall while syncing (20 ms latency)", "ms", lambda v: v < 50, "< 50 ms"),
        ("sync_s", "GUI: sync to results written (information)", "s", None, ""),
    ]
    note = "offscreen Qt; 5 ms precise QTimer on the GUI thread, stall = gap between ticks - 5 ms; RSS/CPU: whole probe process"
    for key, what, unit, check, target in spec:
        if key not in samples:
            continue
        line = Line("4", what, unit, samples[key], rss if key == "preview_s" else [], cpu if key == "preview_s" else [],
                    target=target)
        if check is not None:
            line.verdict = verdict(check(max(line.samples)))
        if key == "preview_s":
            line.note = note
        lines.append(line)
    return lines


def scenario_5(cfg: Config) -> list[Line]:
    n = max(cfg.repeat, 5) if not cfg.quick else 2
    runs = [run([str(VENV_BIN / "sheetsync"), "--version"]).check("sheetsync --version") for _ in range(n + 1)][1:]
    version = Line("5", "`sheetsync --version`", "s", [r.seconds for r in runs], [r.rss_mb for r in runs], [r.cpu for r in runs],
                   target="< 0.3 s")
    version.verdict = verdict(version.median < 0.3)
    lines = [version]
    if not (proc.CODE_ROOT / "desktop" / "sheetsync" / "gui" / "main_window.py").exists():
        lines.append(Line("5", "launch to window shown", "s", [], target="< 1.5 s", verdict="n/a",
                          note="not run: sheetsync.gui.main_window does not exist yet"))
        return lines
    shown, rss, cpu = [], [], []
    for _ in range(n):
        with tempfile.TemporaryDirectory(dir=cfg.work) as home:
            env = sync_env(Path(home))
            env["QT_QPA_PLATFORM"] = "offscreen"
            result = run([PY, str(DRIVERS / "gui_launch.py")], env=env, timeout=120).check("launch")
        info = json.loads(result.stdout.strip().splitlines()[-1])
        shown.append(info["shown_at"] - result.started)
        rss.append(result.rss_mb)
        cpu.append(result.cpu)
    launch = Line("5", "launch (`sheetsync gui`) to window shown", "s", shown, rss, cpu, target="< 1.5 s")
    launch.verdict = verdict(launch.median < 1.5)
    launch.note = "offscreen Qt; to the window's first paint; CPU/RSS include the quit after it"
    return [version, launch]


SCENARIOS: dict[int, Callable[[Config], list[Line]]] = {
    1: scenario_1, 2: scenario_2, 3: scenario_3, 4: scenario_4, 5: scenario_5,
}


# -- report -----------------------------------------------------------------------------
def machine() -> dict[str, str]:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    versions = []
    for dist in ("python-calamine", "openpyxl", "httpx", "orjson", "phonenumbers", "stamina", "PySide6-Essentials"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
    mem = ""
    with contextlib.suppress(OSError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GB"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {
        "CPU": cpu, "cores": str(os.cpu_count()), "memory": mem,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(), "libraries": ", ".join(versions), "commit": commit,
    }


def fmt(value: float, unit: str) -> str:
    if value != value:  # nan
        return "-"
    if unit == "contacts/s":
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:.1f}"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def table(lines: list[Line]) -> str:
    out = ["| # | measure | unit | n | median | min | max | peak RSS (MB) | CPU s | ratio | target | result | note |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for ln in lines:
        lo = min(ln.samples) if ln.samples else float("nan")
        hi = max(ln.samples) if ln.samples else float("nan")
        rss = f"{max(ln.rss):,.0f}" if ln.rss else "-"
        ratio = f"{ln.ratio:.3f}" if ln.ratio is not None else "-"
        cpu = f"{statistics.median(ln.cpu):.2f}" if ln.cpu else "-"
        out.append(f"| {ln.scenario} | {ln.what} | {ln.unit} | {len(ln.samples)} | {fmt(ln.median, ln.unit)} | "
                   f"{fmt(lo, ln.unit)} | {fmt(hi, ln.unit)} | {rss} | {cpu} | {ratio} | {ln.target} | {ln.verdict} | {ln.note} |")
    return "\n".join(out)


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def snapshot(rev: str, folder: Path) -> Path:
    """``desktop/`` and ``resources/`` of commit ``rev``, extracted into ``folder``."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "--format=tar", rev, "desktop", "resources"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    # Byte-compiled as an installed copy would be (PYTHONDONTWRITEBYTECODE may be set here).
    subprocess.run([PY, "-m", "compileall", "-q", str(folder / "desktop")], check=True)
    return folder


def report(lines: list[Line], cfg: Config, args: argparse.Namespace, loads: list[str]) -> str:
    info = machine()
    head = [f"## {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} · `python -m bench"
            f"{' --quick' if cfg.quick else ''} --scenarios {args.scenarios} --repeat {cfg.repeat}`", ""]
    head += [f"- {k}: {v}" for k, v in info.items()]
    head += [f"- {loads[0]}"]
    head += [f"- load average (1 min) before each scenario: {', '.join(loads[1:])} (other work on this machine inflates wall times; CPU s does not)"]
    head += ["- peak RSS is the measured process's own (wait4); the local API runs in a separate process", "", ""]
    return "\n".join(head) + table(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (200 rows): checks the harness runs")
    parser.add_argument("--scenarios", default="1,2,3,4,5", help="comma-separated, e.g. 1,3")
    parser.add_argument("--repeat", type=int, default=None, help="runs per scenario (default 3; 1 with --quick)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="file to append the report to")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to the results file")
    parser.add_argument("--commit", metavar="REV",
                        help="benchmark this commit's desktop/ (a git archive snapshot) instead of the working tree")
    args = parser.parse_args(argv)
    wanted = [int(s) for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {unknown}")
    repeat = args.repeat or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="sheetsync-bench-") as work:
        cfg = Config(quick=args.quick, repeat=repeat, work=Path(work),
                     rows=200 if args.quick else 100_000, big_rows=500 if args.quick else MAX_ROWS,
                     ref_repeat=1 if args.quick else max(1, min(repeat, 3)))
        code = "working tree"
        if args.commit:
            proc.CODE_ROOT = snapshot(args.commit, Path(work) / "tree")
            code = f"commit {args.commit} ({_git('rev-parse', '--short', args.commit)})"
        # Measure the app as installed: with its bytecode compiled (pip and the installers
        # compile it; PYTHONDONTWRITEBYTECODE would otherwise make every run compile it).
        subprocess.run([PY, "-m", "compileall", "-q", str(proc.CODE_ROOT / "desktop" / "sheetsync")], check=False)
        lines: list[Line] = []
        loads: list[str] = [f"code under test: {code}, byte-compiled"]
        for number in wanted:
            loads.append(f"{number}: {os.getloadavg()[0]:.2f}")
            log(f"scenario {number} ...")
            t0 = time.perf_counter()
            lines.extend(SCENARIOS[number](cfg))
            log(f"scenario {number} done in {time.perf_counter() - t0:.0f} s")
    loads.append(f"end: {os.getloadavg()[0]:.2f}")
    text = report(lines, cfg, args, loads)
    print(text)
    if not args.no_record:
        with args.results.open("a", encoding="utf-8") as fh:
            if fh.tell() == 0:
                fh.write("# Benchmark results (appended by `python -m bench`)\n\n"
                         "Targets from issue 5. Each line: samples from fresh processes.\n\n")
            fh.write(text + "\n")
    return 0
