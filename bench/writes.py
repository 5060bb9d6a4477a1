"""Writes: many people posting at once. 1, 8 and 32 posters, each its own
account with no followers, each posting again as soon as its `POST /post` is
answered. QuartFeed in one process (memory:// bus) and in two (Hypercorn
workers, redis:// bus), beside the bare baseline (bench/baselines/
bare_writes.py): the same statements through aiomysql, with no framework, no
HTTP and no lock, the floor for this stack.

    python -m bench.writes [--quick]
"""

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from bench import targets
from bench.baselines import bare_writes
from bench.common import (
    CpuMeter,
    Load,
    Server,
    closed_loop,
    milliseconds,
    percentile,
    prepare_client,
    print_table,
)

POSTERS = [1, 8, 32]
HEADERS = [
    "target", "posters", "processes", "bus", "posts/s", "p50 ms", "p99 ms", "% of bare",
    "app CPU ms/post", "MySQL CPU ms/post",
]  # fmt: skip


@dataclass
class Setup:
    """One way of serving the posters, and what was measured for each count."""

    name: str
    processes: int
    bus: str  # the BROKER_URL's scheme, for the table
    # {posters: (the load, the CPU seconds spent)}
    measured: dict[int, tuple[Load, dict[str, float]]] = field(default_factory=dict)


async def measure(
    clients: list[Callable[[], Awaitable]], seconds: float, server: Server | None
) -> tuple[Load, dict[str, float]]:
    """The closed loop, after one request per client to open every connection
    (HTTP and database) first; with the CPU spent during the loop alone."""
    await asyncio.gather(*(client() for client in clients))
    meter = CpuMeter(server)
    meter.start()
    load = await closed_loop(clients, seconds)
    meter.stop()
    return load, meter.spent


async def measure_bare(user_ids: list[int], seconds: float) -> Setup:
    session_ids = await targets.start_sessions(user_ids)
    posters = [bare_writes.Poster(*pair) for pair in zip(user_ids, session_ids, strict=True)]
    setup = Setup("bare aiomysql", 1, "none")
    pool = await bare_writes.create_pool(targets.DATABASE_URL)
    try:
        for count in POSTERS:
            clients = bare_writes.posting_clients(pool, posters[:count])
            setup.measured[count] = await measure(clients, seconds, server=None)
    finally:
        pool.close()
        await pool.wait_closed()
    return setup


def http_client(server: Server, posters: int) -> httpx.AsyncClient:
    # One connection per poster, kept alive, as each person's browser keeps one.
    limits = httpx.Limits(max_connections=posters)
    return httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30)


def http_posters(http: httpx.AsyncClient, cookies: list[str]) -> list[Callable[[], Awaitable]]:
    """One client per logged-in poster, as the home page's script posts."""

    def poster(cookie: str) -> Callable[[], Awaitable]:
        headers = targets.logged_in_headers(cookie)

        async def post() -> None:
            response = await http.post("/post", json={"post": "bench"}, headers=headers)
            response.raise_for_status()

        return post

    return [poster(cookie) for cookie in cookies]


async def measure_quartfeed(
    user_ids: list[int], seconds: float, processes: int, broker_url: str
) -> Setup:
    cookies = await targets.session_cookies(user_ids)
    setup = Setup("QuartFeed", processes, broker_url.split(":")[0])
    with targets.quartfeed_server(processes, broker_url) as server:
        async with http_client(server, max(POSTERS)) as http:
            for count in POSTERS:
                clients = http_posters(http, cookies[:count])
                setup.measured[count] = await measure(clients, seconds, server)
    return setup


def rows(setups: list[Setup], bare: Setup) -> list[list]:
    """One row per setup and poster count, the counts side by side."""
    table = []
    for count in POSTERS:
        floor = bare.measured[count][0].rate
        for setup in [bare, *setups]:
            load, spent = setup.measured[count]
            posts = len(load.durations)
            app_cpu = spent["client" if setup is bare else "server"]
            table.append([
                setup.name, count, setup.processes, setup.bus, load.rate,
                milliseconds(percentile(load.durations, 0.5)),
                milliseconds(percentile(load.durations, 0.99)),
                100 * load.rate / floor,
                milliseconds(app_cpu / posts),
                milliseconds(spent["database"] / posts) if "database" in spent else None,
            ])  # fmt: skip
    return table


def main(seconds: float = 5) -> list[list]:
    prepare_client()
    user_ids = asyncio.run(targets.seed_posters(max(POSTERS)))
    bare = asyncio.run(measure_bare(user_ids, seconds))
    setups = [
        asyncio.run(measure_quartfeed(user_ids, seconds, 1, "memory://")),
        asyncio.run(measure_quartfeed(user_ids, seconds, 2, targets.REDIS_URL)),
    ]
    table = rows(setups, bare)
    print_table(f"8. Writes: posters with no followers, {seconds:g} s each", HEADERS, table)
    print("   App CPU: QuartFeed's server processes, or the bare baseline's own process.")
    print("   QuartFeed's rows also share the cores with the HTTP load client.")
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 s per row instead of 5")
    quick = parser.parse_args().quick
    targets.prepare_database(fresh=False)  # alone, it may run before `python -m bench`
    main(2 if quick else 5)
