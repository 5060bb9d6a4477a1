"""The home page: statements per GET / for 10 posts × 5 comments × 20 likes,
then requests per second, latency and the server's CPU per GET / with 16
concurrent clients.

    python -m bench.home [--quick]
"""

import argparse
import asyncio

import httpx

from bench import targets
from bench.common import CpuMeter, Load, Server, closed_loop, milliseconds, percentile, print_table

CLIENTS = 16


async def statements_per_page(target: targets.Target, cookie: str) -> int:
    async with httpx.AsyncClient(base_url=target.server.url, cookies={"session": cookie}) as http:
        before = await targets.statements_run(target)
        page = await http.get("/")
        page.raise_for_status()
        assert page.text.count('class="card post') == 10, "the seeded posts are not shown"
        return await targets.statements_run(target) - before - 1


async def load(server: Server, cookie: str, seconds: float) -> tuple[Load, dict[str, float]]:
    """CLIENTS clients asking for the page as fast as they are answered, and
    the CPU the server spent answering them."""
    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(
        base_url=server.url, cookies={"session": cookie}, limits=limits
    ) as http:

        async def client() -> None:
            (await http.get("/")).raise_for_status()

        meter = CpuMeter(server)
        meter.start()
        page_loads = await closed_loop([client] * CLIENTS, seconds)
        meter.stop()
    return page_loads, meter.spent


async def measure(seconds: float) -> list[list]:
    target = targets.quartfeed()
    (cookie,) = await targets.session_cookies([await targets.user_id("homeowner")])
    with target.server:
        statements = await statements_per_page(target, cookie)
        page_loads, spent = await load(target.server, cookie, seconds)
    durations = page_loads.durations
    return [[statements, page_loads.rate, milliseconds(percentile(durations, 0.5)),
             milliseconds(percentile(durations, 0.99)),
             milliseconds(spent["server"] / len(durations))]]  # fmt: skip


def main(seconds: float = 15) -> list[list]:
    rows = asyncio.run(measure(seconds))
    headers = ["statements per GET /", "requests/s", "p50 ms", "p99 ms", "server CPU ms per GET /"]
    print_table(
        f"6. Home page (10 posts × 5 comments × 20 likes, {CLIENTS} clients)", headers, rows
    )
    print("   Statements: 1 loads the logged-in user, 3 read the page.")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 s of load instead of 15")
    main(5 if parser.parse_args().quick else 15)
