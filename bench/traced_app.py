"""QuartFeed tracing its memory allocations, switched by signals from
`python -m bench.soak --tracemalloc`: what the server still holds at one
moment that it did not hold at an earlier one.

    SIGUSR1  take the reference snapshot
    SIGUSR2  take another, and write what grew since the reference to
             $TRACEMALLOC_OUTPUT: the largest growths by line, then by
             whole traceback

Both snapshots are taken after a full garbage collection, so what they
count is alive, not garbage waiting for the collector. Tracing makes every
allocation slower and the process larger: its figures are for finding
what holds memory, never for RSS or latency.

Served by `hypercorn --workers 0 "bench.traced_app:create_app()"`: with no
worker processes, the process that gets the signals is the one that serves.
"""

import gc
import os
import signal
import tracemalloc
from pathlib import Path

from quart import Quart

from application import create_app as create_quartfeed

FRAMES = 30  # deep enough to reach the app's own code from inside a library
TOP_LINES = 30
TOP_TRACEBACKS = 10
# tracemalloc's own bookkeeping is no part of the app.
NOT_TRACEMALLOC = [tracemalloc.Filter(False, tracemalloc.__file__)]


class Tracer:
    def __init__(self, output: Path) -> None:
        self.output = output
        self.reference: tracemalloc.Snapshot | None = None

    @staticmethod
    def snapshot() -> tracemalloc.Snapshot:
        gc.collect()
        return tracemalloc.take_snapshot().filter_traces(NOT_TRACEMALLOC)

    def take_reference(self) -> None:
        self.reference = self.snapshot()

    def write_growth(self) -> None:
        now = self.snapshot()
        by_line = now.compare_to(self.reference, "lineno")
        by_traceback = now.compare_to(self.reference, "traceback")
        grown = sum(stat.size_diff for stat in by_line)
        blocks = sum(stat.count_diff for stat in by_line)
        lines = [f"Alive now, not at the reference: {grown / 1024:,.1f} KiB in {blocks:,} blocks"]
        lines += ["", f"Largest growths by line (top {TOP_LINES}):"]
        lines += [str(stat) for stat in by_line[:TOP_LINES]]
        lines += ["", f"Largest growths by traceback (top {TOP_TRACEBACKS}), newest frame last:"]
        for stat in by_traceback[:TOP_TRACEBACKS]:
            lines += ["", f"{stat.size_diff / 1024:+,.1f} KiB, {stat.count_diff:+,} blocks"]
            lines += stat.traceback.format()
        # Written whole, then renamed: whoever waits for the file never reads half of it.
        partial = self.output.with_suffix(".partial")
        partial.write_text("\n".join(lines) + "\n")
        partial.replace(self.output)


def create_app() -> Quart:
    tracemalloc.start(FRAMES)
    app = create_quartfeed()
    tracer = Tracer(Path(os.environ["TRACEMALLOC_OUTPUT"]))
    signal.signal(signal.SIGUSR1, lambda *_: tracer.take_reference())
    signal.signal(signal.SIGUSR2, lambda *_: tracer.write_growth())
    return app
