"""The sync engine: rows in, one outcome per batch out, as the batches complete.

``SyncEngine.run()`` is a plain generator (see superqt's GeneratorWorker): callers show
progress per yielded outcome and cancel between batches; it is tested without Qt. Batches
are built lazily from the plan, sent by up to ``concurrency`` threads through one shared
client, and fewer when the server answers 429. Rows that share an email or phone are in
different "rounds" (see ``contacts.prepare``) and a round starts only when the previous
one is done, so a contact is never in two requests at once.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from .contacts import Plan, RowPlan
from .errors import BatchFailed, BatchTooLarge, JobStopped
from .options import (  # re-exported: the engine's options, defined where they are light to import
    DEFAULT_BATCH_SIZE,
    DEFAULT_CONCURRENCY,
    MAX_BATCH_SIZE,
    MAX_CONCURRENCY,
    JobOptions,
    validate_campaign_id,
)
from .reconcile import reconcile
from .results import ERROR, SKIPPED, RowResult, now

log = logging.getLogger("sheetsync.engine")

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_CONCURRENCY", "MAX_BATCH_SIZE", "MAX_CONCURRENCY", "JobOptions",
           "validate_campaign_id"]


class Reply(Protocol):
    message: str | None
    success: list[Any]
    errors: list[Any]


class Sender(Protocol):
    def post_contacts(self, campaign_id: str, body: dict[str, Any], content: bytes | None = None) -> Reply:
        """``content``: ``body`` already serialised (the journal hashed those bytes)."""


class Journal(Protocol):
    """Where a crash-safe job records each batch before it is sent and each answer on arrival."""

    def before_send(self, batch_id: str, rows: Sequence[int], payload_sha256: str, *, durable: bool = True) -> None:
        """``durable``: on disk (fsync'ed) before it returns; else soon after."""

    def record(self, batch_id: str, results: Sequence[RowResult], unmatched: Sequence[Any]) -> None: ...


@dataclass
class BatchOutcome:
    index: int  # 0-based, in completion order; -1 for rows never sent
    results: list[RowResult]
    unmatched: list[Any] = field(default_factory=list)
    server_message: str | None = None
    error: str | None = None  # set when the whole batch failed
    sent: bool = True


class SyncEngine:
    def __init__(
        self,
        plan: Plan,
        options: JobOptions,
        sender: Sender,
        *,
        cancel: threading.Event | None = None,
        journal: Journal | None = None,
        rows: Sequence[RowPlan] | None = None,
        stream: Iterator[RowPlan] | None = None,
    ) -> None:
        """``rows``: the rows to send (default: every row the plan sends). ``stream``:
        instead, rows as they are checked, in sheet order, all for the job's campaign and
        action; each batch is taken from it when a request slot is about to need it, so
        the checking of later rows overlaps the requests of earlier ones."""
        self.plan = plan
        self.options = options.validated()
        self.sender = sender
        self.cancel = cancel or threading.Event()
        self.journal = journal
        self._stream = stream
        self.rows = [] if stream is not None else list(rows if rows is not None else plan.to_send)
        self.stop_error: JobStopped | None = None
        self._limit = self.options.concurrency
        self.lowest_limit = self._limit  # how far 429s pushed the requests in flight down
        self._calm = 0
        self._max_batch = self.options.batch_size
        self._lock = threading.Lock()
        self._count = 0
        # Requests on the wire are limited by this gate, not by the pool: up to twice as many
        # batches are prepared (contacts built) and reconciled on either side of their
        # request, so a slot is reused the moment its answer arrives. The gate lets batches
        # through in the order they were submitted (a ticket each), so they go out in row
        # order however the threads are scheduled: the results come back in row order for
        # the write-ahead copy, and the batches in flight at a crash are the next ones.
        self._slots = threading.Condition()
        self._busy = 0
        self._next_ticket = 0  # handed out on submission (the run's thread)
        self._serving = 0  # the ticket the gate lets through next
        self._dropped: set[int] = set()  # tickets whose batch never came to the gate

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    # -- throttling -------------------------------------------------------
    def note_retry(self, throttled: bool) -> None:
        """Called by the client on a retry; a 429 halves the requests in flight."""
        if throttled:
            with self._lock:
                self._limit = max(1, self._limit // 2)
                self.lowest_limit = min(self.lowest_limit, self._limit)
                self._calm = 0
            log.info("server throttled: %d request(s) in flight from now on", self._limit)

    def _note_success(self) -> None:
        with self._lock:
            self._calm += 1
            if self._limit < self.options.concurrency and self._calm >= 4 * self._limit:
                self._limit += 1
                self._calm = 0

    # -- the run ----------------------------------------------------------
    def run(self) -> Iterator[BatchOutcome]:
        self.plan.contacts([])  # build the row index before threads share it
        unsent: list[RowPlan] = []
        with ThreadPoolExecutor(2 * self.options.concurrency, thread_name_prefix="sheetsync-batch") as pool:
            rest: list[RowPlan] = self.rows
            if self._stream is not None:
                # Repeated contacts (round 1 and up) wait until the first round is done. If
                # the job stops, _run_round takes the rest of the stream (checked now) as unsent.
                rest = []
                first = (row for row in self._stream if row.round == 0 or rest.append(row))
                yield from self._run_round(pool, self._stream_batches(first), unsent)
            phases = self._phases(rest)
            for position, rows in enumerate(phases):
                if self._stopping():
                    unsent.extend(r for phase in phases[position:] for r in phase)
                    break
                yield from self._run_round(pool, self._batches(rows), unsent)
        if unsent:
            yield self._unsent_outcome(unsent)

    def _phases(self, rows: Sequence[RowPlan]) -> list[list[RowPlan]]:
        """Rows in the order they go: by duplicate round, removals after everything else.

        Within a phase, rows for different campaigns or actions go in separate requests
        (``_batches`` never mixes them).
        """
        phases: dict[tuple[bool, int], list[RowPlan]] = {}
        for row in rows:
            removal = (row.action or self.options.action) == "remove"
            phases.setdefault((removal, row.round), []).append(row)
        return [phases[key] for key in sorted(phases)]

    def _target(self, row: RowPlan) -> tuple[str, str]:
        return (row.campaign or self.options.campaign_id, row.action or self.options.action)

    def _stopping(self) -> bool:
        return self.cancel.is_set() or self.stop_error is not None

    def _batches(self, rows: list[RowPlan]) -> Iterator[tuple[tuple[str, str], list[RowPlan]]]:
        """(campaign and action, rows) per request, each target's rows in turn. Sliced as
        each batch is taken: a 413 meanwhile makes the next ones smaller."""
        queues: dict[tuple[str, str], list[RowPlan]] = {}
        for row in rows:
            queues.setdefault(self._target(row), []).append(row)
        for target, queue in queues.items():
            start = 0
            while start < len(queue):
                batch = queue[start : start + self._max_batch]
                start += len(batch)
                yield target, batch

    def _stream_batches(self, rows: Iterator[RowPlan]) -> Iterator[tuple[tuple[str, str], list[RowPlan]]]:
        target = (self.options.campaign_id, self.options.action)
        while batch := list(itertools.islice(rows, self._max_batch)):
            yield target, batch

    def _run_round(self, pool: ThreadPoolExecutor, batches: Iterator[tuple[tuple[str, str], list[RowPlan]]],
                   unsent: list[RowPlan]) -> Iterator[BatchOutcome]:
        in_flight: dict[Future[BatchOutcome], list[RowPlan]] = {}
        more = True
        while more or in_flight:
            while more and len(in_flight) < 2 * self._limit and not self._stopping():
                taken = next(batches, None)
                if taken is None:
                    more = False
                    break
                target, batch = taken
                ticket, self._next_ticket = self._next_ticket, self._next_ticket + 1
                in_flight[pool.submit(self._send_batch, batch, *target, ticket)] = batch
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                batch = in_flight.pop(future)
                outcome = self._collect(future, batch)
                if outcome is not None:
                    yield outcome
        if more:  # stopped: what was never taken
            unsent.extend(r for _, batch in batches for r in batch)

    def _collect(self, future: Future[BatchOutcome], batch: list[RowPlan]) -> BatchOutcome | None:
        try:
            return future.result()
        except JobStopped as exc:
            if self.stop_error is None:
                self.stop_error = exc
            # The request was refused as a whole: nothing was processed.
            results = [RowResult(r.number, SKIPPED, f"Not sent: {exc}", now()) for r in batch]
            return self._numbered(BatchOutcome(-1, results, error=str(exc), sent=False))
        except Exception as exc:  # a bug must not lose the other batches' results
            log.exception("batch failed unexpectedly")
            results = [RowResult(r.number, ERROR, f"Sheet Sync failed on this batch: {exc}", now()) for r in batch]
            return self._numbered(BatchOutcome(-1, results, error=str(exc)))

    def _numbered(self, outcome: BatchOutcome) -> BatchOutcome:
        with self._lock:
            outcome.index = self._count
            self._count += 1
        return outcome

    def _unsent_outcome(self, rows: list[RowPlan]) -> BatchOutcome:
        if self.stop_error is not None:
            why = f"Not sent: the job stopped ({self.stop_error})"
        else:
            why = "Not sent: the sync was cancelled before this row's batch"
        stamp = now()
        return BatchOutcome(-1, [RowResult(r.number, SKIPPED, why, stamp) for r in rows], sent=False)

    # -- one batch (runs on a pool thread) ----------------------------------
    def _body(self, rows: Sequence[RowPlan], action: str) -> dict[str, Any]:
        body: dict[str, Any] = {"contacts": list(self.plan.contacts(list(rows))), "action": action}
        if self.options.external_id_key:
            body["externalIdKey"] = self.options.external_id_key
            body["externalIdValue"] = self.options.external_id_value
        return body

    def _send_batch(self, rows: list[RowPlan], campaign: str, action: str, ticket: int) -> BatchOutcome:
        outcome = self._send_rows(rows, campaign, action, ticket)
        if outcome.sent:
            self._note_success()
        return self._numbered(outcome)

    def _acquire(self, ticket: int | None) -> bool:
        """Wait for a free request slot and, with a ticket, for its turn; False when the
        job is stopping (send nothing). The halves of a split batch have no ticket: they
        continue a batch that already had its turn."""
        with self._slots:
            while not self._stopping() and (self._busy >= self._limit or not self._my_turn(ticket)):
                self._slots.wait(0.05)
            if self._stopping():
                return False
            self._busy += 1
            if ticket is not None:
                self._serving += 1
                self._slots.notify_all()  # the next ticket may go too, if a slot is free
            return True

    def _my_turn(self, ticket: int | None) -> bool:
        while self._serving in self._dropped:
            self._dropped.discard(self._serving)
            self._serving += 1
        return ticket is None or ticket == self._serving

    def _drop(self, ticket: int | None) -> None:
        """A ticketed batch that will never come to the gate must not hold up the next."""
        if ticket is not None:
            with self._slots:
                self._dropped.add(ticket)
                self._slots.notify_all()

    def _release(self) -> None:
        with self._slots:
            self._busy -= 1
            self._slots.notify_all()

    def _send_rows(self, rows: list[RowPlan], campaign: str, action: str, ticket: int | None = None) -> BatchOutcome:
        # An upsert or updateOnly batch is journaled while it waits for its turn, and its
        # line does not wait for the disk (the journal fsyncs such lines a few times a
        # second): safe to repeat, a resumed job sends it again whether the line survived a
        # power cut or not. A crash before its turn leaves it "in flight" though it never
        # went out, and a resumed job sends it, as it would anyway. A removal in flight is
        # never repeated, so it is journaled, on disk, only once its turn has come: no more
        # rows than necessary end up with an unknown outcome.
        early = self.journal is not None and action != "remove"
        try:
            body = self._body(rows, action)
            batch_id = uuid.uuid4().hex
            content = orjson.dumps(body) if self.journal is not None else None
            digest = hashlib.sha256(content).hexdigest() if content is not None else ""
            if early:  # safe to send again: the line need not be on disk before the request
                self._journal_send(batch_id, rows, digest, durable=False)
        except BaseException:
            self._drop(ticket)
            raise
        if not self._acquire(ticket):
            if early:
                self.journal.record(batch_id, [], [])  # type: ignore[union-attr]  # not sent after all
            return self._unsent_outcome(list(rows))
        try:
            if self.journal is not None and not early:
                self._journal_send(batch_id, rows, digest, durable=True)
            reply = self.sender.post_contacts(campaign, body, content)
        except BatchTooLarge as exc:
            self._release()
            if len(rows) == 1:
                return self._failed(batch_id, rows, f"The server refused this contact as too large: {exc}")
            half = len(rows) // 2
            with self._lock:
                self._max_batch = max(1, min(self._max_batch, half))
            log.info("413 for %d contacts: batches of at most %d from now on", len(rows), half)
            if self.journal is not None:
                self.journal.record(batch_id, [], [])  # answered, nothing processed
            first, second = self._send_rows(rows[:half], campaign, action), self._send_rows(rows[half:], campaign, action)
            return BatchOutcome(
                -1,
                first.results + second.results,
                first.unmatched + second.unmatched,
                first.server_message or second.server_message,
            )
        except BatchFailed as exc:
            self._release()
            return self._failed(batch_id, rows, str(exc))
        except JobStopped as exc:
            with self._lock:  # before the slot frees: no batch waiting at the gate goes out
                if self.stop_error is None:
                    self.stop_error = exc
            self._release()
            raise
        except BaseException:
            self._release()
            raise
        self._release()
        done = reconcile(
            rows,
            reply.success,
            reply.errors,
            server_message=reply.message,
            action=action,
            at=now(),
        )
        if done.unmatched:
            log.warning("%d item(s) of the answer matched no row of the batch", len(done.unmatched))
        if self.journal is not None:
            self.journal.record(batch_id, done.results, done.unmatched)
        return BatchOutcome(-1, done.results, done.unmatched, reply.message)

    def _journal_send(self, batch_id: str, rows: Sequence[RowPlan], digest: str, *, durable: bool) -> None:
        self.journal.before_send(batch_id, [r.number for r in rows], digest, durable=durable)  # type: ignore[union-attr]

    def _failed(self, batch_id: str, rows: Sequence[RowPlan], message: str) -> BatchOutcome:
        stamp = now()
        results = [RowResult(r.number, ERROR, message, stamp) for r in rows]
        if self.journal is not None:
            self.journal.record(batch_id, results, [])
        return BatchOutcome(-1, results, error=message)
