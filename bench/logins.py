"""Blocking work: delivery p99 at N = 1,000 while 20 logins per second run
(each hashes a password), against the same without logins.

    python -m bench.logins
"""

import asyncio

import httpx

from bench import targets
from bench.common import milliseconds, percentile, prepare_client, print_table
from bench.delivery import deliver
from tests.helpers import CSRF_META

READERS = 1000
LOGINS_PER_SECOND = 20


async def log_in_once(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        token = CSRF_META.search((await http.get("/login")).text).group(1)
        credentials = {"username": "loginuser", "password": targets.LOGIN_PASSWORD}
        response = await http.post("/login", data={**credentials, "csrf_token": token})
        assert response.status_code == 302, "the bench login failed"


def logins(server_url: str):
    """A side load for `deliver`: LOGINS_PER_SECOND logins, until cancelled."""

    async def keep_logging_in(_http: httpx.AsyncClient) -> None:
        running = set()
        while True:
            task = asyncio.create_task(log_in_once(server_url))
            running.add(task)
            task.add_done_callback(running.discard)
            await asyncio.sleep(1 / LOGINS_PER_SECOND)

    return keep_logging_in


async def measure() -> list[list]:
    target = targets.quartfeed()
    rows = []
    with target.server:
        for label, side_load in (("no logins", None), ("20 logins/s", logins(target.server.url))):
            run = await deliver(target, READERS, side_load=side_load)
            rows.append([label, milliseconds(percentile(run.latencies, 0.5)),
                         milliseconds(percentile(run.latencies, 0.99)), run.missing])  # fmt: skip
    rows.append(["ratio", rows[1][1] / rows[0][1], rows[1][2] / rows[0][2], ""])
    return rows


def main() -> list[list]:
    prepare_client()
    rows = asyncio.run(measure())
    headers = ["while", "p50 ms", "p99 ms", "missing"]
    print_table(f"7. Blocking work: delivery to {READERS:,} streams", headers, rows)
    return rows


if __name__ == "__main__":
    main()
