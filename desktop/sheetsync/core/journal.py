"""A job journal: what was sent and what came back, on disk before anything else.

One append-only JSON-lines file per workbook in the app's data folder (never beside the
workbook). Before a batch is sent, a ``send`` line records its rows (number, email,
phone) and the SHA-256 of its body; each answer is recorded by a ``reply`` line the moment
it arrives, before the workbook is touched.

Every line is written to the operating system before the call returns, so a killed app
(the common crash) loses nothing. What a power cut may lose depends on the line:

- The ``send`` line of a removal is fsync'ed before the call returns (0.1-2 ms), so even
  a power cut cannot lose the fact that it may have gone out: a removal whose outcome is
  unknown is never sent again blindly. Lines written by several threads at once share
  one fsync (a group commit): a thread waits for the fsync that covers its line, not for
  every other one.
- The ``send`` line of an upsert or updateOnly batch, and every ``reply`` line, do not
  wait for the disk: an fsync covers them within ``LAZY_SYNC_SECONDS`` (the first line
  written after that long does it), and ``close`` (before the workbook is written) covers
  the rest. A power cut can lose the last fraction of a second of them. Their rows are
  then "never sent" or "in flight", and a resumed job sends them again, which is safe for
  these actions and gives them a result. One fsync per batch cost 0.36 s of a
  100,000-row sync here (500 fsyncs), for nothing a resume would do differently.

An upsert batch is journaled while it waits for its turn (see ``SyncEngine._send_rows``);
if it never goes, an empty reply closes it.

After a crash, ``JournalState`` tells which rows have results (write them in), which
batches were in flight (their outcome is unknown: re-send only for idempotent actions),
and so which rows were never sent. A finished job whose results are saved deletes its
journal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic
from typing import Any

import orjson

from .contacts import RowPlan
from .results import RowResult

log = logging.getLogger("sheetsync.journal")

FORMAT_VERSION = 1
#: Lines that do not wait for the disk are fsync'ed within this long (see the module docstring).
LAZY_SYNC_SECONDS = 0.25


def journal_path(journal_dir: Path, workbook: Path) -> Path:
    digest = hashlib.sha256(str(Path(workbook).resolve()).encode("utf-8")).hexdigest()[:20]
    return journal_dir / f"{digest}.jsonl"


@dataclass(frozen=True)
class JobHeader:
    workbook: str
    sheet: str
    header_row: int
    campaign_id: str
    action: str
    started: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "job", "version": FORMAT_VERSION, "workbook": self.workbook, "sheet": self.sheet,
                "headerRow": self.header_row, "campaign": self.campaign_id, "action": self.action,
                "started": self.started}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobHeader:
        return cls(data["workbook"], data["sheet"], int(data["headerRow"]), data["campaign"],
                   data["action"], data.get("started", ""))


@dataclass(frozen=True)
class SentRow:
    number: int
    email: str | None
    phone: str | None


class JobJournal:
    """Writes the journal; implements the engine's ``Journal`` protocol. Thread-safe."""

    def __init__(self, path: Path, rows: dict[int, RowPlan] | None = None) -> None:
        self.path = path
        self._rows = rows or {}
        self._lock = threading.Lock()  # appends
        self._sync_lock = threading.Lock()  # fsyncs
        self._written = 0  # lines appended (under _lock)
        self._synced = 0  # lines known on disk (under _sync_lock)
        self._synced_at = monotonic()  # when the last fsync started (under _sync_lock)
        self._file = None

    @classmethod
    def start(cls, path: Path, header: JobHeader, rows: Sequence[RowPlan]) -> JobJournal:
        path.parent.mkdir(parents=True, exist_ok=True)
        journal = cls(path, {r.number: r for r in rows})
        journal._file = path.open("wb")
        journal._write(header.to_json())
        return journal

    @classmethod
    def resume(cls, path: Path, rows: Sequence[RowPlan]) -> JobJournal:
        journal = cls(path, {r.number: r for r in rows})
        journal._file = path.open("ab")
        journal._write({"type": "resume", "at": dt.datetime.now().isoformat(timespec="seconds")})
        return journal

    def _write(self, record: dict[str, Any], *, durable: bool = True) -> None:
        """Append one line; with ``durable``, return only once an fsync covered it, else
        fsync only if the last one is ``LAZY_SYNC_SECONDS`` old."""
        line = orjson.dumps(record, default=str) + b"\n"
        with self._lock:
            if self._file is None:
                raise RuntimeError("journal closed")
            self._file.write(line)
            self._file.flush()
            self._written += 1
            mine = self._written
            fd = self._file.fileno()
        if not durable and monotonic() - self._synced_at < LAZY_SYNC_SECONDS:
            return
        with self._sync_lock:
            if self._synced < mine:  # else another thread's fsync (or close) covered this line
                with self._lock:
                    if self._file is None:
                        raise RuntimeError("journal closed")
                    covered = self._written
                self._synced_at = monotonic()
                os.fsync(fd)
                self._synced = covered

    def know(self, row: RowPlan) -> None:
        """A row checked after the journal started (a lazy plan), before it is sent."""
        self._rows[row.number] = row

    def before_send(self, batch_id: str, rows: Sequence[int], payload_sha256: str, *, durable: bool = True) -> None:
        """``durable``: on disk before the call returns (a removal's); else soon (see above)."""
        known = self._rows
        described = [[n, p.email, p.phone] if (p := known.get(n)) is not None else [n, None, None] for n in rows]
        self._write({"type": "send", "batch": batch_id, "rows": described, "sha256": payload_sha256}, durable=durable)

    def record(self, batch_id: str, results: Sequence[RowResult], unmatched: Sequence[Any]) -> None:
        self._write({
            "type": "reply",
            "batch": batch_id,
            # orjson writes a datetime as its isoformat(), without a Python call per row
            "results": [[r.number, r.status, r.message, r.at] for r in results],
            "unmatched": list(unmatched),
        }, durable=False)

    def close(self) -> None:
        with self._sync_lock, self._lock:
            if self._file is not None and self._synced < self._written:
                os.fsync(self._file.fileno())
                self._synced = self._written
            if self._file is not None:
                self._file.close()
                self._file = None

    def discard(self) -> None:
        """The results are safely in the workbook: the journal is no longer needed."""
        self.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


@dataclass
class JournalState:
    """What a journal left by an interrupted job says."""

    path: Path
    header: JobHeader
    results: list[tuple[SentRow, RowResult]] = field(default_factory=list)
    in_flight: list[SentRow] = field(default_factory=list)
    unmatched: list[Any] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> JournalState | None:
        """None when there is no usable journal (a torn last line is ignored)."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        header: JobHeader | None = None
        sent: dict[str, list[SentRow]] = {}
        replies: dict[str, list[list[Any]]] = {}
        unmatched: list[Any] = []
        for line in raw.splitlines():
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                log.warning("journal %s: a torn line ignored", path.name)
                continue
            kind = record.get("type")
            if kind == "job":
                header = JobHeader.from_json(record)
            elif kind == "send":
                sent[record["batch"]] = [SentRow(int(n), e, p) for n, e, p in record["rows"]]
            elif kind == "reply":
                replies[record["batch"]] = record["results"]
                unmatched.extend(record.get("unmatched") or [])
        if header is None:
            return None
        state = cls(path, header, unmatched=unmatched)
        for batch, rows in sent.items():
            if batch not in replies:
                state.in_flight.extend(rows)
                continue
            by_number = {r.number: r for r in rows}
            for number, status, message, at in replies[batch]:
                row = by_number.get(int(number), SentRow(int(number), None, None))
                stamp = dt.datetime.fromisoformat(at) if at else None
                state.results.append((row, RowResult(int(number), status, message or "", stamp)))
        return state
