"""The fan-out worker: finishes, a batch at a time, the fan-outs of actions
whose audience is too large for the transaction that wrote them.

Writing an action tells its first FANOUT_BATCH readers and, when there are
more, leaves the rest in `fanout`, split in lanes (see feed.models). Every
app process runs WORKERS workers, each taking one lane at a time, so that
a large fan-out goes several batches at once. They are woken when their
own process leaves work, and look for work left by others every
FANOUT_SWEEP_S (one small query per worker, whatever the streams): a
process that dies in the middle of a fan-out leaves its lane to the next
worker that looks. Each batch is its own
transaction, committed before its event is published to the bus, as every
other event is.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from db import DATABASE_ERRORS

logger = logging.getLogger(__name__)

WORKERS = 4  # in each process: the lanes a large fan-out is split into

# Does every batch there is to do (`feed.service.Feed.finish_fanouts`).
FinishFanouts = Callable[[], Awaitable[int]]


class FanoutWorker:
    """Runs the fan-outs left in the database, when woken and every `sweep_s`."""

    def __init__(self, sweep_s: float = 5) -> None:
        self.sweep_s = sweep_s
        self._work = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def start(self, finish_fanouts: FinishFanouts) -> None:
        """Start the workers. Fan-outs left by a process that stopped are
        taken at the first sweep, `sweep_s` from now."""
        self._tasks = [asyncio.create_task(self._run(finish_fanouts)) for _ in range(WORKERS)]

    def wake(self) -> None:
        """A fan-out was left to do: take it now, not at the next sweep."""
        self._work.set()

    async def close(self) -> None:
        """Stop, even in the middle of a batch: its transaction is rolled
        back, and the row waits for another worker."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, finish_fanouts: FinishFanouts) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.sweep_s):
                    await self._work.wait()
            self._work.clear()
            try:
                await finish_fanouts()
            except DATABASE_ERRORS as error:
                logger.warning("Fan-out paused, retrying at the next sweep: %s", error)
            except Exception:  # a bug must not stop every later fan-out
                logger.exception("Fan-out failed, retrying at the next sweep")
