"""Background work: the one threading mechanism of the window.

A :class:`Worker` is a QObject moved to its own QThread (superqt's GeneratorWorker shape):
it calls a plain function; when the function returns a generator, the worker emits
``yielded`` per value, so the core's ``SyncEngine.run()`` drives a progress bar without
knowing Qt. Cancelling is the caller's business (the engine's ``threading.Event``).

:class:`TaskRunner` starts workers, delivers their results on the GUI thread through a
relay object that lives there (never a direct call from the worker thread), keeps a
reference to every running worker and thread, and waits for them on close
(git-cola's ``RunTask``, superqt's ``_worker_set``).
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

log = logging.getLogger("sheetsync.gui.worker")

#: Every QThread a runner started and that has not finished yet (tests check it is empty).
LIVE_THREADS: weakref.WeakSet[QThread] = weakref.WeakSet()


class Worker(QObject):
    yielded = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    done = Signal()

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> None:
        super().__init__()
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self.name = name

    @Slot()
    def run(self) -> None:
        with _quiet_gc():
            self._run()

    def _run(self) -> None:
        try:
            result = self._fn(*self._args, **self._kwargs)
            if inspect.isgenerator(result):
                gen = result
                while True:
                    try:
                        value = next(gen)
                    except StopIteration as stop:
                        result = stop.value
                        break
                    self.yielded.emit(value)
            self.succeeded.emit(result)
        except Exception as exc:  # delivered to the GUI thread, shown as a dialog there
            log.info("task %s failed: %s", self.name, exc, exc_info=not _is_user_error(exc))
            self.failed.emit(exc)
        finally:
            self.done.emit()


_gc_lock = threading.Lock()
_gc_tasks = 0


@contextlib.contextmanager
def _quiet_gc() -> Iterator[None]:
    """No cyclic garbage collection while background work runs.

    A 100,000-row sheet is over a million objects; a full collection triggered by the
    worker's allocations walks them all holding the GIL, which freezes the window for
    hundreds of milliseconds. Reference counting still frees everything meanwhile; when the
    last task ends, what it built is frozen out of later collections (gc.freeze).
    """
    global _gc_tasks
    with _gc_lock:
        _gc_tasks += 1
        gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_tasks -= 1
            if _gc_tasks == 0:
                gc.freeze()
                gc.enable()


def _is_user_error(exc: BaseException) -> bool:
    from sheetsync.core.errors import SheetSyncError

    return isinstance(exc, SheetSyncError)


class _Relay(QObject):
    """Lives on the GUI thread: the worker's queued signals land here."""

    def __init__(self, parent: QObject, on_yield: Callable[[Any], None] | None,
                 on_success: Callable[[Any], None] | None, on_failure: Callable[[BaseException], None] | None) -> None:
        super().__init__(parent)
        self._on_yield = on_yield
        self._on_success = on_success
        self._on_failure = on_failure
        self.on_thread_finished: Callable[[], None] | None = None

    @Slot(object)
    def yielded(self, value: Any) -> None:
        if self._on_yield is not None:
            self._on_yield(value)

    @Slot(object)
    def succeeded(self, value: Any) -> None:
        if self._on_success is not None:
            self._on_success(value)

    @Slot(object)
    def failed(self, exc: BaseException) -> None:
        if self._on_failure is not None:
            self._on_failure(exc)

    @Slot()
    def thread_finished(self) -> None:
        if self.on_thread_finished is not None:
            self.on_thread_finished()


class Task:
    """A running (or finished) background call."""

    def __init__(self, thread: QThread, worker: Worker, relay: _Relay) -> None:
        self.thread = thread
        self.worker = worker
        self.relay = relay

    @property
    def running(self) -> bool:
        return self.thread.isRunning()


class TaskRunner(QObject):
    """Starts workers and keeps them until their thread has finished."""

    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: list[Task] = []

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def start(
        self,
        name: str,
        fn: Callable[..., Any],
        *args: Any,
        on_yield: Callable[[Any], None] | None = None,
        on_success: Callable[[Any], None] | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
        **kwargs: Any,
    ) -> Task:
        thread = QThread()
        thread.setObjectName(f"sheetsync-{name}")
        worker = Worker(fn, args, kwargs, name)
        worker.moveToThread(thread)
        relay = _Relay(self, on_yield, on_success, on_failure)
        worker.yielded.connect(relay.yielded)
        worker.succeeded.connect(relay.succeeded)
        worker.failed.connect(relay.failed)
        worker.done.connect(thread.quit)
        thread.started.connect(worker.run)
        task = Task(thread, worker, relay)
        relay.on_thread_finished = lambda: self._finished(task)
        thread.finished.connect(relay.thread_finished)
        was_busy = self.busy
        self._tasks.append(task)
        LIVE_THREADS.add(thread)
        thread.start()
        if not was_busy:
            self.busy_changed.emit(True)
        return task

    def _finished(self, task: Task) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        task.thread.wait()
        LIVE_THREADS.discard(task.thread)
        task.worker.deleteLater()
        task.relay.deleteLater()
        task.thread.deleteLater()
        if not self._tasks:
            self.busy_changed.emit(False)

    def wait_all(self, timeout_ms: int = 60_000) -> bool:
        """Block until every thread has finished (on quit, after cancelling the jobs)."""
        ok = True
        for task in list(self._tasks):
            ok = task.thread.wait(timeout_ms) and ok
        return ok
