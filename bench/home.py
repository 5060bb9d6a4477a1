"""The home page: statements per GET / for 10 posts × 5 comments × 20 likes,
and requests per second with 16 concurrent clients.

    python -m bench.home [--quick]
"""

import argparse
import asyncio
import time

import httpx

from bench import targets
from bench.common import milliseconds, percentile, print_table

CLIENTS = 16


async def statements_per_page(target: targets.Target, cookie: str) -> int:
    async with httpx.AsyncClient(base_url=target.server.url, cookies={"session": cookie}) as http:
        before = await targets.statements_run(target)
        page = await http.get("/")
        page.raise_for_status()
        assert page.text.count('class="card post') == 10, "the seeded posts are not shown"
        return await targets.statements_run(target) - before - 1


async def load(target: targets.Target, cookie: str, seconds: float) -> tuple[float, list[float]]:
    """(requests per second, durations) with CLIENTS clients asking as fast as they can."""
    durations: list[float] = []
    limits = httpx.Limits(max_connections=CLIENTS)
    deadline = time.perf_counter() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            (await http.get("/")).raise_for_status()
            durations.append(time.perf_counter() - started)

    async with httpx.AsyncClient(
        base_url=target.server.url, cookies={"session": cookie}, limits=limits
    ) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - started
    return len(durations) / elapsed, durations


async def measure(seconds: float) -> list[list]:
    target = targets.quartfeed()
    (cookie,) = await targets.session_cookies([await targets.user_id("homeowner")])
    with target.server:
        statements = await statements_per_page(target, cookie)
        rate, durations = await load(target, cookie, seconds)
    return [[statements, rate, milliseconds(percentile(durations, 0.5)),
             milliseconds(percentile(durations, 0.99))]]  # fmt: skip


def main(seconds: float = 15) -> list[list]:
    rows = asyncio.run(measure(seconds))
    headers = ["statements per GET /", "requests/s", "p50 ms", "p99 ms"]
    print_table(
        f"6. Home page (10 posts × 5 comments × 20 likes, {CLIENTS} clients)", headers, rows
    )
    print("   Statements: 1 loads the logged-in user, 3 read the page.")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 s of load instead of 15")
    main(5 if parser.parse_args().quick else 15)
