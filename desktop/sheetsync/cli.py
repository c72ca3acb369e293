"""The command line: the same core the window uses.

Exit codes: 0 every row sent was accepted; 1 some rows are error, invalid or not
processed (or the results could not be saved into the workbook); 2 bad input or usage;
3 the API stopped the job (key refused, campaign not found, server unreachable).
Heavy modules (the GUI, httpx, calamine) are imported inside the commands, so
``sheetsync --version`` starts fast.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__

if TYPE_CHECKING:
    import threading

    from .core.contacts import Plan
    from .core.engine import JobOptions

log = logging.getLogger("sheetsync.cli")

EXIT_OK, EXIT_PROBLEMS, EXIT_INPUT, EXIT_API = 0, 1, 2, 3


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other input error
        self.print_usage(sys.stderr)
        raise SystemExit(f"sheetsync: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sheetsync",
        description="Sync contacts from an Excel workbook into a Replify campaign and write "
        "every row's result back into the workbook. With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"Sheet Sync {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--selftest", action="store_true", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sync = sub.add_parser("sync", help="send a workbook's rows to a campaign")
    sync.add_argument("workbook", type=Path)
    sync.add_argument("--campaign", required=True, help="campaign ID (a UUID) or a saved label")
    sync.add_argument("--sheet", help="sheet name (default: the first visible sheet)")
    sync.add_argument("--header-row", type=int, help="row number of the headers (default: first non-empty row)")
    sync.add_argument("--mapping", type=Path, help="mapping file (JSON); see `sheetsync inspect`")
    sync.add_argument("--action", choices=["upsert", "updateOnly", "remove"])
    sync.add_argument("--batch-size", type=int)
    sync.add_argument("--concurrency", type=int, help="requests in flight (default 4)")
    sync.add_argument("--base-url", help="API base URL (default: settings, else the Replify API)")
    sync.add_argument("--region", help="default phone region, e.g. US, GB (default: settings)")
    sync.add_argument("--external-id-key")
    sync.add_argument("--external-id-value")
    sync.add_argument("--dry-run", action="store_true", help="check and show what would be sent; send nothing")
    sync.add_argument("--quiet", "-q", action="store_true", help="no progress line; only errors and the summary")
    sync.add_argument("--all", dest="send_all", action="store_true",
                      help="send every row, also those unchanged since their last successful sync")
    sync.add_argument("--remove-missing", action="store_true",
                      help="also remove from the campaign the contacts synced from this sheet before whose rows are gone")
    sync.add_argument("--ignore-lock", action="store_true",
                      help="sync even though Excel or LibreOffice seems to have the workbook open")
    sync.add_argument("--restart", action="store_true",
                      help="forget an interrupted sync of this workbook and start over")

    inspect = sub.add_parser("inspect", help="sheets, headers, and the auto-mapping as a mapping file")
    inspect.add_argument("workbook", type=Path)
    inspect.add_argument("--sheet")
    inspect.add_argument("--header-row", type=int)

    key = sub.add_parser("key", help="the API key in the system keyring")
    key.add_argument("action", choices=["set", "clear", "status"])
    key.add_argument("--base-url")

    campaign = sub.add_parser("campaign", help="saved campaign labels (a Campaign column may name them)")
    campaign.add_argument("action", choices=["list", "label"])
    campaign.add_argument("campaign_id", nargs="?")
    campaign.add_argument("label", nargs="?")

    demo = sub.add_parser("demo", help="try it: a local demo API and a copy of the sample workbook")
    demo.add_argument("--headless", action="store_true", help="run in the terminal even with a display")

    gui = sub.add_parser("gui", help="open the window")
    gui.add_argument("workbook", type=Path, nargs="?")

    export = sub.add_parser("export-problems", help="the rows with problems, to a new workbook to fix and sync")
    export.add_argument("workbook", type=Path)
    export.add_argument("--sheet")
    export.add_argument("--header-row", type=int)
    export.add_argument("--out", type=Path, help="default: '<name> - problems.xlsx' beside the workbook")

    apply = sub.add_parser("apply-results", help="write a saved results file into its workbook")
    apply.add_argument("results", type=Path)
    apply.add_argument("--workbook", type=Path, help="write into this workbook instead")
    return parser


def main(argv: list[str] | None = None) -> int:
    """The ``sheetsync`` command; ``argv`` None means this is the process's entry point
    (the console script, ``python -m sheetsync``, the frozen app)."""
    try:
        return _main(argv)
    finally:
        if argv is None:
            from .core.gctuning import leave_to_the_os

            leave_to_the_os()


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.selftest:
        from .selftest import run_selftest

        return run_selftest()
    _configure_logging(args.debug)
    from .core.gctuning import tune_for_bulk_data

    tune_for_bulk_data()
    command = args.command or "gui"
    handler = {
        "sync": cmd_sync,
        "inspect": cmd_inspect,
        "key": cmd_key,
        "campaign": cmd_campaign,
        "demo": cmd_demo,
        "gui": cmd_gui,
        "apply-results": cmd_apply_results,
        "export-problems": cmd_export_problems,
    }[command]
    from .core.errors import SheetSyncError

    try:
        return handler(args)
    except SheetSyncError as exc:
        if args.debug:
            log.exception("failed")
        print(f"sheetsync: {exc}", file=sys.stderr)
        if args.debug and exc.details:
            print(exc.details, file=sys.stderr)
        return exc.exit_code
    except UsageError as exc:
        print(f"sheetsync: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("\nsheetsync: interrupted", file=sys.stderr)
        return 130


def gui_main() -> int:
    if not sys.argv[1:]:
        sys.argv.append("gui")
    return main()


def _configure_logging(debug: bool) -> None:
    from .core.logsetup import configure
    from .core.paths import AppPaths

    configure(AppPaths.default().log_file, verbose=debug)


def _settings() -> Any:
    from .core.paths import AppPaths
    from .core.settings import Settings

    return Settings.load(AppPaths.default().settings_file)


# -- sync -------------------------------------------------------------------------
def cmd_sync(args: argparse.Namespace) -> int:
    # Only light modules until the workbook is read: the rest (httpx, keyring, the engine)
    # is imported on a thread while calamine parses without the GIL (_preload).
    from .core.mapping import Mapping
    from .core.options import JobOptions
    from .core.workbook import load_sheet

    settings = _settings()
    mapping = Mapping.load(args.mapping) if args.mapping else Mapping()
    sheet_name = args.sheet or mapping.sheet
    header_row = args.header_row or mapping.header_row
    campaign = settings.campaign_for_label(args.campaign) or args.campaign
    options = JobOptions(
        campaign_id=campaign,
        action=args.action or mapping.action or "upsert",
        batch_size=settings.batch_size if args.batch_size is None else args.batch_size,
        concurrency=settings.concurrency if args.concurrency is None else args.concurrency,
        external_id_key=args.external_id_key or mapping.external_id_key,
        external_id_value=args.external_id_value or mapping.external_id_value,
    ).validated()
    base_url = args.base_url or settings.base_url
    region = (args.region or settings.region).upper()
    _check_region(region)
    # A dry run needs neither httpx nor keyring. The thread is always joined: a thread still
    # importing as the interpreter exits (a dry run of a small sheet, a workbook that cannot
    # be read) can crash it (seen: SIGSEGV in 2 of 120 dry runs).
    preload = None if args.dry_run else _preload(
        "sheetsync.core.job", "sheetsync.core.credentials", "sheetsync.core.syncjob", "sheetsync.core.client",
        "sheetsync.core.locks", "sheetsync.core.profiles", "sheetsync.core.logsetup")
    try:
        loaded = load_sheet(args.workbook, sheet_name, header_row)
        from .core.credentials import KeyStore
        from .core.job import plan_job
        from .core.profiles import find_profile, save_profile

        if args.mapping:
            save_profile(settings.profiles, loaded.data.headers, mapping)
        else:
            profile = find_profile(settings.profiles, loaded.data.headers)
            if profile is not None:
                mapping = profile
                print("Using the mapping saved for sheets with these headers.", file=sys.stderr)
                if not args.action and profile.action:
                    options = replace(options, action=profile.action)
        # Lazy: when every row goes, the first batches go out while later rows are checked.
        plan = plan_job(loaded.data, mapping, region=region, campaign_labels=settings.campaign_labels(),
                        lazy=not args.dry_run)
        out = sys.stdout
        for warning in loaded.data.warnings + plan.mapping.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if args.dry_run:
            print_dry_run(plan, options, out)
            return EXIT_PROBLEMS if plan.invalid else EXIT_OK
        from .core.client import check_base_url

        check_base_url(base_url)
        from .core.locks import find_lock

        lock = find_lock(args.workbook)
        if lock is not None and not args.ignore_lock:
            from .core.errors import WorkbookError

            raise WorkbookError(
                lock.describe(args.workbook) + " If it is not open (a lock file left by a crash), "
                "sync with --ignore-lock."
            )
        api_key = KeyStore().require(base_url)
        code = run_sync(loaded, plan, options, base_url, api_key, quiet=args.quiet, out=out, restart=args.restart,
                        send_all=args.send_all, remove_missing=args.remove_missing)
        settings.remember_campaign(options.campaign_id)
        _save_settings(settings)
        return code
    finally:
        if preload is not None:
            preload.join()


def _preload(*names: str) -> threading.Thread:
    """Import these on a thread while the workbook is read: calamine parses without the
    GIL, so the imports the sync needs next (httpx, multiprocessing...) cost no time.
    Join the thread before returning from the command."""
    import importlib
    import threading

    def run() -> None:
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # imported again where it is used, and fails there properly
                pass

    thread = threading.Thread(target=run, name="preload", daemon=True)
    thread.start()
    return thread


def _check_region(region: str) -> None:
    from .core.errors import JobConfigError
    from .core.phones import is_known_region

    if not is_known_region(region):
        raise JobConfigError(f"'{region}' is not a phone region. Use a two-letter country code such as US, GB or DE.")


def _save_settings(settings: Any) -> None:
    from .core.paths import AppPaths

    try:
        settings.save(AppPaths.default().settings_file)
    except OSError as exc:
        log.warning("settings not saved: %s", exc)


def run_sync(
    loaded: Any, plan: Plan, options: JobOptions, base_url: str, api_key: str, *,
    quiet: bool, out: TextIO, restart: bool = False, send_all: bool = False, remove_missing: bool = False,
) -> int:
    """Send (resuming an interrupted job if its journal is there), write back, summarise."""
    import threading

    from .core.errors import SaveError
    from .core.job import save_results
    from .core.logsetup import add_secret
    from .core.syncjob import JobEnd, Started, run_job

    add_secret(api_key)
    cancel = threading.Event()
    job = run_job(loaded, plan, options, base_url, api_key, cancel,
                  restart=restart, send_all=send_all, remove_gone=remove_missing)
    started: Started = next(job)
    run = started.run
    _print_resumed(run.resumed, out)
    progress = _Progress(started.total, enabled=not quiet and sys.stderr.isatty())
    # Rows done: those with a result since the start. Counting each batch's rows would miss
    # the invalid rows a streamed job finds as it goes (they are part of its total).
    known = len(run.book.results)
    end: JobEnd | None = None
    try:
        while True:
            outcome = next(job)
            if outcome.sent:
                progress.batch(len(run.book.results) - known)
    except StopIteration as stop:
        end = stop.value
    except KeyboardInterrupt:
        cancel.set()
        job.close()  # closes the journal: what was answered is recorded
        run.remember()
        print("\nsheetsync: interrupted; writing the results received so far", file=sys.stderr)
    finally:
        progress.done()
    stop_error = end.stop if end is not None else None
    if end is not None and end.missing is not None and end.missing.total:
        report = end.missing
        print(f"{report.total} contact(s) were no longer in the sheet: {report.summary_line()}.", file=out)
        for line in report.lines()[:10]:
            print(f"  {line}", file=out)
    if stop_error is not None:
        print(f"sheetsync: {stop_error}", file=sys.stderr)
    book = run.book
    summary = end.summary if end is not None and end.summary is not None else book.summary()
    try:
        save_results(loaded.data, book, stamp=loaded.stamp, ahead=run.write_ahead)
    except SaveError as exc:
        print(f"sheetsync: {exc}", file=sys.stderr)
        print(f"{summary.line()}.", file=out)
        return EXIT_PROBLEMS
    run.journal.discard()
    where = f"Results written into {loaded.data.path.name} (sheet '{loaded.data.sheet}')."
    print(f"{summary.line()}. {where}", file=out)
    problems = book.problem_rows()
    for number in problems[:10]:
        result = book.results[number]
        print(f"  row {number}: {result.status}: {result.message}", file=out)
    if len(problems) > 10:
        print(f"  ... and {len(problems) - 10} more rows with problems (see the Sync Status column)", file=out)
    if book.unmatched:
        print(f"note: {len(book.unmatched)} item(s) of the server's answers matched no row; they are in the log.", file=out)
        log.warning("unmatched server items: %s", json.dumps(book.unmatched, default=str)[:10_000])
    if stop_error is not None:
        return stop_error.exit_code
    return EXIT_PROBLEMS if summary.problems else EXIT_OK


def _print_resumed(resumed: Any, out: TextIO) -> None:
    if resumed is None:
        return
    print(resumed.describe(), file=out)
    if resumed.in_flight:
        again = "sent again (upsert and updateOnly are safe to repeat)" if resumed.can_resend_in_flight \
            else "marked error, not sent again (a removal is not repeated blindly)"
        print(f"The {len(resumed.in_flight):,} row(s) whose outcome is unknown are {again}.", file=out)


class _Progress:
    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.rows = 0
        self.batches = 0
        self.started = time.monotonic()
        self._last = 0.0

    def batch(self, done: int) -> None:
        """A batch answered; ``done`` rows have their result now."""
        self.rows = done
        self.batches += 1
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and self.rows < self.total):
            return
        self._last = now
        elapsed = max(now - self.started, 1e-6)
        rate = self.rows / elapsed
        left = (self.total - self.rows) / rate if rate else 0
        sys.stderr.write(
            f"\rSyncing: {self.rows:,} / {self.total:,} rows · {self.batches:,} batches · "
            f"{rate:,.0f} rows/s · {left:,.0f} s left   "
        )
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self.batches:
            sys.stderr.write("\n")


def print_dry_run(plan: Plan, options: JobOptions, out: TextIO) -> None:
    to_send = plan.to_send
    print(f"Dry run: nothing was sent. Sheet '{plan.sheet.sheet}', header row {plan.sheet.header_row}.", file=out)
    print(f"  {len(to_send):,} contact(s) would be sent with action {options.action} "
          f"to campaign {options.campaign_id}", file=out)
    print(f"  {len(plan.invalid):,} invalid row(s), {len(plan.duplicates):,} duplicate row(s)", file=out)
    mapped = ", ".join(f"{c.header} -> {c.target}" for c in plan.mapping.mapped())
    print(f"  mapping: {mapped}", file=out)
    for row in plan.invalid[:20]:
        print(f"  row {row.number}: invalid: {row.message}", file=out)
    if len(plan.invalid) > 20:
        print(f"  ... and {len(plan.invalid) - 20} more invalid rows", file=out)
    from .core.syncstate import SyncState

    state = SyncState.load(plan.sheet.path, plan.sheet.sheet)
    _, unchanged = state.split_unchanged(plan, to_send, campaign=options.campaign_id, action=options.action)
    if unchanged:
        print(f"  {len(unchanged):,} of them are unchanged since their last sync and would not be sent "
              "(--all sends them anyway)", file=out)
    missing = state.missing(plan, options.campaign_id)
    if missing:
        print(f"  {len(missing):,} contact(s) synced from this sheet before are no longer in the sheet; "
              "--remove-missing would remove them from the campaign", file=out)
    if to_send:
        first = next(plan.contacts(to_send[:1]))
        print("First contact that would be sent:", file=out)
        print(json.dumps(first, indent=2, ensure_ascii=False), file=out)


# -- inspect ------------------------------------------------------------------------
def cmd_inspect(args: argparse.Namespace) -> int:
    from .core.mapping import Mapping, resolve
    from .core.workbook import list_sheets, read_sheet

    sheets = list_sheets(args.workbook)
    data = read_sheet(args.workbook, args.sheet, args.header_row)
    resolved = resolve(data.headers)
    for info in sheets:
        flags = "" if info.visible else " (hidden)"
        flags += "" if info.is_worksheet else " (chart)"
        mark = "*" if info.name == data.sheet else " "
        print(f"{mark} sheet '{info.name}'{flags}", file=sys.stderr)
    print(f"Header row {data.header_row}, {len(data.rows):,} data row(s); headers: {', '.join(data.headers)}", file=sys.stderr)
    for warning in data.warnings + resolved.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    mapping = resolved.to_mapping(Mapping(sheet=data.sheet, header_row=data.header_row))
    for col in resolved.columns:
        if data.is_status_column(col.index):
            mapping.columns.pop(col.header, None)
    print(json.dumps(mapping.to_json(), indent=2, ensure_ascii=False))
    return EXIT_OK


# -- key ------------------------------------------------------------------------------
def cmd_key(args: argparse.Namespace) -> int:
    import getpass

    from .core.credentials import ENV_VAR, NO_KEYRING_HELP, KeyStore

    settings = _settings()
    base_url = args.base_url or settings.base_url
    store = KeyStore()
    if args.action == "status":
        status = store.status(base_url)
        where = {
            "environment": f"from the {ENV_VAR} environment variable",
            "keyring": f"in the system keyring ({status.keyring_name})",
            "session": "for this session only",
        }.get(status.source or "", "not set")
        print(f"API key for {base_url}: {where}")
        if not status.keyring_ok:
            print(NO_KEYRING_HELP)
        return EXIT_OK if status.has_key else EXIT_PROBLEMS
    if args.action == "clear":
        store.clear(base_url)
        print(f"API key for {base_url} removed from the keyring.")
        return EXIT_OK
    if not sys.stdin.isatty():
        raise UsageError("`sheetsync key set` asks for the key at a terminal. For scripts, set SHEETSYNC_API_KEY.")
    key = getpass.getpass(f"API key for {base_url} (typing is hidden): ")
    where = store.set(base_url, key)
    if where == "session":
        print(NO_KEYRING_HELP, file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"API key saved in the system keyring ({store.keyring_name()}).")
    return EXIT_OK


# -- export-problems --------------------------------------------------------------------
def cmd_export_problems(args: argparse.Namespace) -> int:
    from .core.export import export_problems_of

    path, count = export_problems_of(args.workbook, args.sheet, args.header_row, args.out)
    print(f"{count} row(s) with problems written to {path}. Fix them there and sync that workbook.")
    return EXIT_OK


# -- campaign labels ----------------------------------------------------------------------
def cmd_campaign(args: argparse.Namespace) -> int:
    from .core.engine import validate_campaign_id

    settings = _settings()
    if args.action == "label":
        if not args.campaign_id or not args.label:
            raise UsageError("usage: sheetsync campaign label CAMPAIGN_ID LABEL")
        settings.remember_campaign(validate_campaign_id(args.campaign_id), args.label.strip())
        _save_settings(settings)
    for item in settings.recent_campaigns:
        print(f"{item.id}  {item.label}".rstrip())
    return EXIT_OK


# -- apply-results ----------------------------------------------------------------------
def cmd_apply_results(args: argparse.Namespace) -> int:
    from .core.job import apply_results_file

    target, summary = apply_results_file(args.results, args.workbook)
    print(f"{summary.line()}. Results written into {target}.")
    return EXIT_OK


# -- demo and gui ---------------------------------------------------------------------
def has_display(env: dict[str, str] | None = None) -> bool:
    env = dict(os.environ) if env is None else env
    if sys.platform.startswith("linux"):
        return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")) or env.get("QT_QPA_PLATFORM") == "offscreen"
    return True


def cmd_demo(args: argparse.Namespace) -> int:
    from .core.demo import copy_sample_workbook

    if not args.headless and has_display() and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        try:
            from .gui.app import run_demo
        except ImportError as exc:
            print(f"sheetsync: the window cannot start ({exc}); running the demo in the terminal.", file=sys.stderr)
        else:
            return run_demo()
    elif not args.headless:
        print("No display found (DISPLAY/WAYLAND_DISPLAY unset): running the demo in the terminal.", file=sys.stderr)
    return run_headless_demo(copy_sample_workbook(), sys.stdout)


def run_headless_demo(workbook: Path, out: TextIO) -> int:
    from .core.engine import JobOptions
    from .core.demo import demo_mapping
    from .core.job import load_sheet, plan_job
    from .sandbox.server import DEMO_API_KEY, DEMO_CAMPAIGN_ID, SandboxApi

    with SandboxApi(api_key=DEMO_API_KEY, campaigns=[DEMO_CAMPAIGN_ID]) as api:
        print(f"Local demo API at {api.base_url} (campaign {DEMO_CAMPAIGN_ID}).", file=out)
        print(f"Syncing a copy of the sample workbook: {workbook}", file=out)
        loaded = load_sheet(workbook)
        plan = plan_job(loaded.data, demo_mapping())
        options = JobOptions(campaign_id=DEMO_CAMPAIGN_ID).validated()
        code = run_sync(loaded, plan, options, api.base_url, DEMO_API_KEY, quiet=False, out=out)
        contacts = len(api.contacts(DEMO_CAMPAIGN_ID))
    print(f"The demo campaign now holds {contacts} contact(s). Open {workbook} to see the "
          "Sync Status, Sync Message and Synced At columns.", file=out)
    if code == EXIT_PROBLEMS:
        print("The sample has a few problem rows on purpose (a bad email, completed and "
              "disqualified contacts): the demo worked.", file=out)
        return EXIT_OK
    return code


def cmd_gui(args: argparse.Namespace) -> int:
    try:
        from .gui.app import run_app
    except ImportError as exc:
        raise UsageError(f"the window cannot start: {exc}. Install the GUI extra: pip install 'replify-sheet-sync[gui]'.") from exc
    return run_app(getattr(args, "workbook", None))
