"""Idle cost: memory per open stream, CPU and SQL statements while nothing
happens. QuartFeed against the Quart baseline.

    python -m bench.idle [--quick]
"""

import argparse
import asyncio

from bench import targets
from bench.client import close_all, open_streams
from bench.common import prepare_client, print_table
from bench.targets import statements_run

SETTLE_S = 3


async def idle_cost(target: targets.Target, readers: int, idle_s: float) -> list:
    server = target.server
    # Warm up first, so that one-time allocations don't count per stream.
    close_all(await open_streams(server.port, target.stream_path, await target.cookies(10)))
    rss_before = server.rss_kib()
    streams = await open_streams(server.port, target.stream_path, await target.cookies(readers))
    await asyncio.sleep(SETTLE_S)  # let the server finish setting the streams up
    rss_open = server.rss_kib()
    cpu_start, statements_start = server.cpu_seconds(), await statements_run(target)
    await asyncio.sleep(idle_s)  # the measurement: nothing happens, on purpose
    cpu_spent = server.cpu_seconds() - cpu_start
    statements_end = await statements_run(target)
    close_all(streams)
    statements = "n/a" if statements_start is None else statements_end - statements_start - 1
    return [
        target.name,
        readers,
        (rss_open - rss_before) / readers,
        cpu_spent,
        100 * cpu_spent / idle_s,
        statements,
    ]


async def measure(target: targets.Target, sizes: list[int], idle_s: float) -> list[list]:
    with target.server:
        return [await idle_cost(target, size, idle_s) for size in sizes]


def main(sizes: list[int], idle_s: float) -> list[list]:
    prepare_client()
    runs = [
        (targets.quartfeed(), sizes),
        (targets.quart(), sizes),
        # QuartFeed's idle CPU is its heartbeat: the same at twice the interval.
        (targets.quartfeed(label="SSE_HEARTBEAT_S=30", SSE_HEARTBEAT_S="30"), sizes[-1:]),
    ]
    rows = []
    for target, target_sizes in runs:
        rows += asyncio.run(measure(target, target_sizes, idle_s))
    headers = ["target", "streams", "KiB per stream", "CPU s", "% of a core", "SQL statements"]
    print_table(f"4. Idle cost ({idle_s:.0f} s idle)", headers, rows)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 streams, 10 s idle")
    quick = parser.parse_args().quick
    main([1000] if quick else [1000, 10000], 10 if quick else 30)
