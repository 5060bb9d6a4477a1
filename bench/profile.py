"""A CPU profile of QuartFeed under load: where the time of a write or of the
home page goes, to compare before and after a change.

    python -m bench.profile writes [--seconds 10] [--posters 8]
    python -m bench.profile home [--seconds 10]

"writes" is bench.writes' load (posters with no followers, each posting as
soon as its last post is answered), "home" is bench.home's (16 clients asking
for GET /). The server is one process with the memory:// bus, sampled by
pyinstrument from the moment the load starts to the moment it ends
(bench/profiled_app.py). The profile is written to
bench/results/profile-<load>.txt, and .html to browse it; the server's CPU
per request is printed, measured as bench.writes and bench.home measure it
(here with the profiler's own cost in it).
"""

import argparse
import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import home, targets, writes
from bench.common import RESULTS, Load, Server, milliseconds, wait_for_file

WRITE_TIMEOUT_S = 60  # rendering a long profile takes a few seconds


@contextmanager
def profiling(server: Server) -> Iterator[None]:
    """Sample the server while the block runs."""
    server.process.send_signal(signal.SIGUSR1)
    yield
    server.process.send_signal(signal.SIGUSR2)


def cpu_per_request(request: str, load: Load, server_cpu_s: float) -> str:
    return (
        f"{len(load.durations):,} × {request} at {load.rate:.1f}/s; "
        f"server CPU {milliseconds(server_cpu_s / len(load.durations)):.2f} ms per request"
    )


async def profile_writes(server: Server, seconds: float, posters: int) -> str:
    cookies = await targets.session_cookies(await targets.seed_posters(posters))
    async with writes.http_client(server, posters) as http:
        clients = writes.http_posters(http, cookies)
        with profiling(server):
            load, spent = await writes.measure(clients, seconds, server)
    return cpu_per_request("POST /post", load, spent["server"])


async def profile_home(server: Server, seconds: float) -> str:
    await targets.ensure_home_page()
    (cookie,) = await targets.session_cookies([await targets.user_id("homeowner")])
    with profiling(server):
        load, spent = await home.load(server, cookie, seconds)
    return cpu_per_request("GET /", load, spent["server"])


def main(load: str, seconds: float, posters: int) -> Path:
    targets.prepare_database(fresh=False)
    RESULTS.mkdir(exist_ok=True)
    output = RESULTS / f"profile-{load}.txt"
    output.unlink(missing_ok=True)  # an earlier run's profile must not pass for this one's
    server = targets.quartfeed_server(
        workers=0,  # the server in the process that hypercorn runs in: see profiled_app
        app="bench.profiled_app:create_app()",
        PROFILE_OUTPUT=str(output),
    )
    with server:
        if load == "writes":
            summary = asyncio.run(profile_writes(server, seconds, posters))
        else:
            summary = asyncio.run(profile_home(server, seconds))
        wait_for_file(output, WRITE_TIMEOUT_S)  # stopping the server sooner would lose it
    print(summary)
    print(f"Profile: {output} (and {output.with_suffix('.html').name})")
    return output


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("load", choices=["writes", "home"])
    parser.add_argument("--seconds", type=float, default=10, help="how long the load lasts")
    parser.add_argument("--posters", type=int, default=8, help="concurrent posters (writes)")
    arguments = parser.parse_args()
    main(arguments.load, arguments.seconds, arguments.posters)
