"""Delivery latency: N readers hold /sse open, their author posts 20 times,
200 ms apart. For every (stream, event): receive time − send time.

    python -m bench.delivery [--quick] [--sizes 100 1000]
"""

import argparse
import asyncio
import itertools
import json
import time
from dataclasses import dataclass

import httpx

from bench import targets
from bench.client import close_all, open_streams
from bench.common import (
    RESULTS,
    CpuMeter,
    milliseconds,
    percentile,
    prepare_client,
    print_table,
)

_markers = itertools.count()


@dataclass
class Delivery:
    target: str
    readers: int
    latencies: list[float]  # seconds, one per (stream, event)
    first_stream: list[float]  # seconds, one per event: when the first stream had it
    last_stream: list[float]  # seconds, one per event: when the last stream had it
    missing: int
    span: float  # seconds from the first send to the last arrival

    @property
    def per_second(self) -> float:
        """Deliveries (one event to one stream) per second over the run."""
        return len(self.latencies) / self.span

    def row(self) -> list:
        return [
            self.target,
            self.readers,
            milliseconds(percentile(self.latencies, 0.50)),
            milliseconds(percentile(self.latencies, 0.99)),
            milliseconds(max(self.latencies)),
            milliseconds(_mean(self.first_stream)),
            milliseconds(_mean(self.last_stream)),
            self.missing,
        ]


HEADERS = [
    "target", "N", "p50 ms", "p99 ms", "max ms", "first stream ms", "last stream ms", "missing",
]  # fmt: skip


async def post_at_rate(send, http: httpx.AsyncClient, markers: list[int], interval: float):
    """Send each marker on schedule (not after the previous answer); return send times."""
    sent: dict[int, float] = {}
    start = time.perf_counter()

    async def one(index: int, marker: int) -> None:
        await asyncio.sleep(max(0.0, start + index * interval - time.perf_counter()))
        sent[marker] = time.perf_counter()
        await send(http, marker)

    await asyncio.gather(*(one(index, marker) for index, marker in enumerate(markers)))
    return sent


async def wait_until_delivered(streams, expected: int, patience_s: float) -> None:
    deadline = time.perf_counter() + patience_s
    while time.perf_counter() < deadline:
        if sum(len(stream.received) for stream in streams) >= expected:
            return
        await asyncio.sleep(0.02)


async def deliver(
    target: targets.Target,
    readers: int,
    posts: int = 20,
    interval: float = 0.2,
    side_load=None,
    meter: CpuMeter | None = None,
) -> Delivery:
    """Open `readers` streams on a running target, post, and time every delivery.

    A `meter` is started once the streams are open and stopped once the last
    event has arrived: it sees the posting and delivering, not the connecting.
    """
    port = target.server.port
    path = target.stream_path.format(size=readers)
    streams = await open_streams(port, path, await target.cookies(readers))
    recorders = [asyncio.create_task(stream.record()) for stream in streams]
    send = await target.sender(readers)
    markers = [next(_markers) for _ in range(posts)]
    async with httpx.AsyncClient(base_url=target.server.url, timeout=30) as http:
        side_task = asyncio.create_task(side_load(http)) if side_load else None
        if meter:
            meter.start()
        sent = await post_at_rate(send, http, markers, interval)
        await wait_until_delivered(streams, readers * posts, patience_s=10 + readers / 500)
        if meter:
            meter.stop()
        if side_task:
            side_task.cancel()
    close_all(streams)
    await asyncio.gather(*recorders, return_exceptions=True)
    return summarize(target.name, readers, streams, sent)


def summarize(name: str, readers: int, streams, sent: dict[int, float]) -> Delivery:
    latencies, first_arrival, last_arrival = [], {}, {}
    for stream in streams:
        for marker, arrived in stream.received:
            if marker in sent:
                latencies.append(arrived - sent[marker])
                first_arrival[marker] = min(first_arrival.get(marker, arrived), arrived)
                last_arrival[marker] = max(last_arrival.get(marker, 0.0), arrived)
    first_stream = [first_arrival[marker] - sent[marker] for marker in first_arrival]
    last_stream = [last_arrival[marker] - sent[marker] for marker in last_arrival]
    missing = readers * len(sent) - len(latencies)
    span = max(last_arrival.values(), default=0.0) - min(sent.values())
    nothing = [float("nan")]
    return Delivery(
        name, readers, latencies, first_stream or nothing, last_stream or nothing, missing, span
    )


def save_latencies(deliveries: list[Delivery], readers: int) -> None:
    """Keep the N=`readers` samples for the CDF plot (bench.plot)."""
    RESULTS.mkdir(exist_ok=True)
    samples = {d.target: d.latencies for d in deliveries if d.readers == readers}
    (RESULTS / f"latency-{readers}.json").write_text(json.dumps(samples))


async def run_target(target: targets.Target, sizes: list[int]) -> list[Delivery]:
    with target.server:
        return [await deliver(target, size) for size in sizes]


def ratios(deliveries: list[Delivery]) -> list[list]:
    """QuartFeed against both baselines, size by size."""
    by_key = {(d.target, d.readers): d for d in deliveries}
    rows = []
    for (name, size), ours in by_key.items():
        quart = by_key.get(("Quart baseline", size))
        starlette = by_key.get(("sse-starlette baseline", size))
        if not name.startswith("QuartFeed") or not quart or not starlette:
            continue
        rows.append([
            name, size,
            _mean(ours.last_stream) / _mean(quart.last_stream),
            percentile(ours.latencies, 0.99) / percentile(quart.latencies, 0.99),
            percentile(ours.latencies, 0.99) / percentile(starlette.latencies, 0.99),
        ])  # fmt: skip
    return rows


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def main(sizes: list[int]) -> list[Delivery]:
    prepare_client()
    deliveries = []
    for make_target in (
        targets.quartfeed,
        targets.quartfeed_group,
        targets.quart,
        targets.starlette,
        lambda: targets.quartfeed(workers=2, broker_url=targets.REDIS_URL),
        # What the garbage-collector tuning in application.py is worth.
        lambda: targets.quartfeed(label="GC untuned", TUNE_GC="false"),
    ):
        deliveries += asyncio.run(run_target(make_target(), sizes))
    print_table(
        "1. Delivery latency (20 posts, 200 ms apart)", HEADERS, [d.row() for d in deliveries]
    )
    ratio_headers = ["target", "N", "last stream ÷ Quart", "p99 ÷ Quart", "p99 ÷ sse-starlette"]
    print_table("2. Ratios to the baselines", ratio_headers, ratios(deliveries))
    if 1000 in sizes:
        save_latencies(deliveries, 1000)
    return deliveries


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="N = 100 and 1,000 only")
    parser.add_argument("--sizes", type=int, nargs="+")
    parser.add_argument("--no-seed", action="store_true", help="reuse the seeded database")
    return parser.parse_args()


if __name__ == "__main__":
    options = arguments()
    sizes = options.sizes or ([100, 1000] if options.quick else [100, 1000, 5000])
    if not options.no_seed:
        targets.prepare_database()
        asyncio.run(targets.seed(sizes))
    main(sizes)
