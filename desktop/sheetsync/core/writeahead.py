"""The results written into a copy of the workbook while the sync is still running.

The lossless write-back streams the sheet's XML once, row by row: about 1.5 s of CPU for
100,000 rows, which used to start only once the last answer was in. Here a second process
writes the copy while the batches go out. Each batch's results go down a pipe the moment
they arrive, and the copy advances to the first row still waiting for its result; batches
go out in row order, so it follows close behind and finishes moments after the last answer.
A second process, not a thread: the GIL would make a thread share one core with the
sync. Started with "spawn" (a fresh interpreter), which is safe beside Qt's threads and
works the same on Windows, macOS and Linux.

It only makes the save faster, never different: ``job.save_results`` takes the copy only
if every result of the book reached it before its row was written, and otherwise (or when
the second process fails in any way) writes the workbook itself as before.

"spawn" starts the child by importing the parent's main module again: a script that runs a
sync must keep its work under ``if __name__ == "__main__":`` (as ``sheetsync`` does), and a
frozen app must call ``multiprocessing.freeze_support()`` first (``packaging/entry.py``).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import queue
import shutil
import signal
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .gctuning import tune_for_bulk_data
from .results import RowResult
from .workbook import STATUS_HEADERS, SheetData
from .writeback import KEEP, MAX_ROW, StreamedRows, Value, patch_sheet

log = logging.getLogger("sheetsync.writeahead")

#: Smaller sheets are written after the sync, in the process: it takes milliseconds, less
#: than starting a second interpreter.
MIN_ROWS = 1_000
#: Larger sheets are written after the sync, in the process: the zip64 decision needs a
#: size bound up front (below), and a million rows' values would be held twice.
MAX_ROWS = 300_000
#: Bytes the three status cells of one row are assumed to add at most, for the zip64
#: decision only; a copy that outgrows it fails and the workbook is written in-process.
ROW_BOUND = 1_000
#: How long ``finish`` waits for the copy once the sync is over.
FINISH_TIMEOUT = 600.0


class WriteAhead:
    """The parent's side: feeds results to the writing process, then takes the copy."""

    def __init__(self, rows: Sequence[int], path: Path, source: Path, process: Any, conn: Connection) -> None:
        self.rows = frozenset(rows)
        self.path = path
        self._process = process
        self._conn = conn
        self._sent: dict[int, RowResult] = {}
        self._failed = False
        self._done = False
        # The pipe is written by a thread of its own: the sync's thread never waits on it,
        # even while the writer starts (Windows' and macOS's pipes hold only 8 KB) or stalls.
        self._outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # The rows go down the pipe too, first: as an argument they would make start()
        # wait until the new interpreter had read them (a pipe holds 64 KB at most).
        self._outbox.put(sorted(self.rows))
        self._feeder = threading.Thread(target=self._feed, name="sheetsync-writeahead-feed", daemon=True)
        self._feeder.start()
        self._finalizer = weakref.finalize(self, _discard, process, conn, path, source, self._outbox)
        self._source = source

    def _feed(self) -> None:
        while (message := self._outbox.get()) is not None:
            if self._failed:
                continue
            try:
                self._conn.send(message)
            except (OSError, ValueError) as exc:  # the writer is gone: the save writes in-process
                log.info("write-ahead stopped: %s", exc)
                self._failed = True

    @classmethod
    def start(cls, sheet: SheetData, rows: Sequence[int]) -> WriteAhead | None:
        """A writer for the results of ``rows`` (data rows), or None where it does not apply."""
        if not MIN_ROWS <= len(rows) <= MAX_ROWS:
            return None
        if sheet.header_row in rows or not all(1 <= n <= MAX_ROW for n in rows):
            return None  # the in-process write checks and refuses these properly
        path: Path | None = None
        source: Path | None = None
        try:
            # The writer reads a private copy: the workbook itself stays closed during the
            # sync, so Excel can save it (on Windows an open file cannot be replaced). A
            # change made meanwhile is caught by the stamp check before the copy is used.
            fd, name = tempfile.mkstemp(prefix="sheetsync-source-", suffix=sheet.path.suffix)
            os.close(fd)
            source = Path(name)
            shutil.copyfile(sheet.path, source)
            fd, name = tempfile.mkstemp(prefix=f".~{sheet.path.stem}.", suffix=sheet.path.suffix,
                                        dir=sheet.path.parent)
            os.close(fd)
            path = Path(name)
            context = multiprocessing.get_context("spawn")
            parent, child = context.Pipe()
            columns = list(zip(sheet.status_columns(), STATUS_HEADERS, strict=True))
            process = context.Process(
                target=_write, name="sheetsync-writeahead", daemon=True,
                args=(child, str(source), name, sheet.sheet, sheet.header_row, columns),
            )
            process.start()
            child.close()
        except Exception as exc:  # e.g. a read-only folder: the save says so later
            log.info("results not written ahead: %s", exc)
            for leftover in (path, source):
                if leftover is not None:
                    _unlink(leftover)
            return None
        return cls(rows, path, source, process, parent)

    def add(self, results: Iterable[RowResult]) -> None:
        """Results as they arrive (any order); a row's last result is the one that counts."""
        if self._failed or self._done:
            return
        # Grouped by value: a batch's rows usually share one status, message and time, so
        # a message is a few lists of row numbers, not a tuple and a datetime per row.
        groups: dict[tuple[Any, ...], list[int]] = {}
        rows, sent = self.rows, self._sent
        for result in results:
            if result.number in rows:
                sent[result.number] = result
                groups.setdefault((result.status, result.message or None, result.at), []).append(result.number)
        if groups:
            self._outbox.put(("rows", [(*values, numbers) for values, numbers in groups.items()]))

    def finish(self, results: dict[int, RowResult]) -> Path | None:
        """The copy with exactly ``results`` written, or None (nothing left behind)."""
        if self._done:
            return None
        if any(n >= 1 and n not in self.rows for n in results) or any(n not in results for n in self._sent):
            self.abandon()
            return None
        self.add([r for n, r in results.items() if n >= 1 and self._sent.get(n) is not r])
        self._done = True
        reply: Any = None
        try:
            self._outbox.put(("end",))
            self._outbox.put(None)
            self._feeder.join(FINISH_TIMEOUT)
            if not self._failed:
                # The answer, or the writer's end (a crash): never a wait on a dead process.
                if multiprocessing.connection.wait([self._conn, self._process.sentinel], FINISH_TIMEOUT) \
                        and self._conn.poll():
                    reply = self._conn.recv()
        except Exception as exc:  # whatever went wrong, the workbook is written in-process
            log.info("write-ahead lost: %s", exc)
        self._process.join(5)
        _unlink(self._source)  # the writer is done with it, whatever it answered
        if reply == ("ok", 0):
            self._finalizer.detach()
            self._conn.close()
            return self.path
        log.info("write-ahead copy not used: %s", reply or "no answer")
        self.abandon()
        return None

    def abandon(self) -> None:
        """Stop the writer and remove its copy."""
        self._done = True
        self._finalizer()


def _discard(process: Any, conn: Connection, path: Path, source: Path, outbox: Any) -> None:
    outbox.put(None)
    try:
        conn.close()
    except OSError:
        pass
    if process.is_alive():
        process.terminate()
    process.join(5)
    _unlink(path)
    _unlink(source)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


# -- the writing process ---------------------------------------------------------------


class _Feed(StreamedRows):
    """The rows' values as the parent sends them; ``self[row]`` reads the pipe until its
    row has come. One thread: the writer reads when it needs a row, so no thread hands it
    the GIL back (the parent's feeder thread waits meanwhile, never the sync)."""

    def __init__(self, conn: Connection, rows: Sequence[int]) -> None:
        self._conn = conn
        self._rows = list(rows)
        self._set = frozenset(rows)
        self._values: dict[int, list[Value]] = {}
        self._taken: set[int] = set()
        self._ended = False
        self.orphaned = False  # the parent went away without saying "end"
        self.broken: BaseException | None = None  # the feed failed: the copy must not be used
        self.stale = 0  # results that came for rows already written

    def _receive(self) -> bool:
        """Take one message from the pipe; False once no more will come."""
        if self._ended:
            return False
        try:
            message = self._conn.recv()
            if message[0] == "end":
                self._ended = True
                return False
            values, taken = self._values, self._taken
            for status, text, at, numbers in message[1]:
                shared = [status, text, at]  # read only: one list for the group's rows
                for number in numbers:
                    if number in taken:
                        self.stale += 1
                    values[number] = shared
        except (EOFError, OSError):
            self.orphaned = self._ended = True
        except BaseException as exc:  # an unreadable message: stop, and say so at the end
            self.broken = exc
            self.orphaned = self._ended = True
        return not self._ended

    def wait_end(self) -> None:
        """Read the rest: results for rows already written make the copy stale."""
        while self._receive():
            pass

    # -- Mapping -----------------------------------------------------------------------
    def __getitem__(self, rnum: int) -> Sequence[Value]:
        if self.header is not None and rnum == self.header[0]:
            return self.header[1]
        if rnum not in self._set:
            raise KeyError(rnum)
        while rnum not in self._values and self._receive():
            pass
        if self.orphaned:  # nothing more will come: stop writing, the copy is not used
            raise RuntimeError(f"the results feed stopped ({self.broken or 'the app went away'})")
        self._taken.add(rnum)
        return self._values.get(rnum, KEEP)

    def __iter__(self) -> Iterator[int]:
        if self.header is not None and self.header[0] not in self._set:
            return iter([self.header[0], *self._rows])
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows) + (1 if self.header is not None and self.header[0] not in self._set else 0)

    def __contains__(self, rnum: object) -> bool:
        return rnum in self._set or (self.header is not None and rnum == self.header[0])

    def size_bound(self) -> int:
        return 4096 + len(self) * ROW_BOUND


def _write(conn: Connection, src: str, dst: str, sheet: str, header_row: int,
           columns: list[tuple[int, str]]) -> None:
    """The writing process: the copy, then ("ok", stale results) or ("error", text).

    The first message is the list of rows to write; then come their results."""
    # Ctrl+C in a terminal reaches this process too: the app decides what to do, not us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_for_bulk_data()
    try:
        rows: list[int] = conn.recv()
    except (EOFError, OSError):  # the app went away before it sent anything
        _unlink(Path(dst))
        return
    feed = _Feed(conn, rows)
    try:
        patch_sheet(Path(src), Path(dst), sheet_name=sheet, header_row=header_row, columns=columns,
                    rows={}, streamed=feed)
        feed.wait_end()
        if feed.orphaned:
            raise RuntimeError(f"the results feed stopped ({feed.broken or 'the app went away'})")
        conn.send(("ok", feed.stale))
    except BaseException as exc:  # the parent writes in-process and reports it properly
        _unlink(Path(dst))
        try:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        except (OSError, ValueError):
            pass
