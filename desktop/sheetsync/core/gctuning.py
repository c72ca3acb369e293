"""The cyclic garbage collector, tuned for a process that holds a sheet in memory.

Reading, checking and syncing 100,000 rows allocates millions of small objects (rows,
their value lists, plans, results) that live until the job ends and hold no reference
cycles: reference counting frees them. With CPython's default threshold the collector
still runs every 700 container allocations and walks the young ones again and again as
they age: about a second of a 100,000-row sync (measured with ``python -m bench``).
Collecting the youngest generation every 20,000 allocations instead removes nearly all of
that cost; the few cyclic objects (tracebacks, HTTP connections) are still collected, a
little later. The middle generation is collected every 100 young collections instead of
10: each of its collections walks every survivor since the last one (the rows checked and
the results recorded, all still alive), 40 ms each, 0.12 s of a 100,000-row sync; now none
at that size, and 2,000,000 allocations between two at a million rows.

At exit the same objects would cost about 0.25 s more: a sync's rows hang together in
reference cycles (the engine, its client and its callbacks), so only the interpreter's
final collection frees them, walking every object first. ``leave_to_the_os`` skips that.
"""

from __future__ import annotations

import gc

#: Container allocations between two collections of the youngest generation (CPython: 700).
YOUNG_THRESHOLD = 20_000
#: Young collections between two collections of the middle generation (CPython: 10).
MIDDLE_THRESHOLD = 100


def tune_for_bulk_data() -> None:
    """Collect less often; the oldest generation keeps CPython's ratio. Idempotent."""
    young, middle, old = gc.get_threshold()
    if 0 < young < YOUNG_THRESHOLD:  # 0: someone disabled collection; leave it so
        gc.set_threshold(YOUNG_THRESHOLD, max(middle, MIDDLE_THRESHOLD), old)


def leave_to_the_os() -> None:
    """Just before the process exits: the final collection skips every object alive now
    (the operating system takes the memory back at once).

    Only for the process's own entry point, never in a library call: objects that are
    part of a cycle are not finalised. The app's files are closed by then (every file is
    opened in a ``with`` block) and logging flushes at exit (``atexit``), before this matters.
    """
    gc.freeze()
