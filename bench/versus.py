"""This checkout against another commit, side by side in one run: the
server's CPU per `POST /post` and per `GET /`, and posts per second with 32
concurrent posters, each on one process with the memory:// bus, beside the
bare write baseline (bench/baselines/bare_writes.py).

    python -m bench.versus COMMIT [--rounds 3] [--seconds 5]

COMMIT is exported with `git archive` into a temporary directory and served
from there, against the same database, migrated by this checkout (an older
commit's code runs on a newer schema). The two take turns, round after
round, so that whatever else the machine does falls on both alike; the table
gives each round's figures and the median of the rounds.
"""

import argparse
import asyncio
import statistics
import subprocess
import tarfile
import tempfile
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

from bench import home, targets, writes
from bench.common import ROOT, Load, milliseconds, prepare_client, print_table

POSTERS = 32
HEADERS = [
    "code", "round", "posts/s (32 posters)", "CPU ms/post", "pages/s", "CPU ms/page",
    "% of bare posts/s",
]  # fmt: skip


@contextmanager
def exported(commit: str):
    """The files of `commit`, in a temporary directory."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tempfile.TemporaryDirectory(prefix="quartfeed-") as directory:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(directory, filter="data")
        yield Path(directory)


def per_request(load: Load, spent: dict[str, float]) -> tuple[float, float]:
    """(requests per second, the server's CPU milliseconds per request)."""
    return load.rate, milliseconds(spent["server"] / len(load.durations))


async def one_round(code: Path, cookies: list[str], home_cookie: str, seconds: float) -> tuple:
    """Posts, then home pages, on a server running `code`."""
    with targets.quartfeed_server(workers=1, code=code) as server:
        async with writes.http_client(server, POSTERS) as http:
            posters = writes.http_posters(http, cookies)
            posting = per_request(*await writes.measure(posters, seconds, server))
        reading = per_request(*await home.load(server, home_cookie, seconds))
    return posting, reading


async def bare_rate(user_ids: list[int], seconds: float) -> float:
    """Posts per second of the bare baseline with POSTERS posters."""
    setup = await writes.measure_bare(user_ids, seconds)
    return setup.measured[POSTERS][0].rate


async def measure(commit: str, rounds: int, seconds: float) -> list[list]:
    user_ids = await targets.seed_posters(POSTERS)
    cookies = await targets.session_cookies(user_ids)
    await targets.ensure_home_page()
    (home_cookie,) = await targets.session_cookies([await targets.user_id("homeowner")])
    bare = await bare_rate(user_ids, seconds)
    figures: dict[str, list[tuple]] = {commit: [], "this checkout": []}
    with exported(commit) as other:
        for _ in range(rounds):
            for name, code in ((commit, other), ("this checkout", ROOT)):
                figures[name].append(await one_round(code, cookies, home_cookie, seconds))
    table = []
    for name, results in figures.items():
        for number, ((posts, post_cpu), (pages, page_cpu)) in enumerate(results, 1):
            table.append([name, number, posts, post_cpu, pages, page_cpu, 100 * posts / bare])
        figures_only = [row[2:] for row in table[-rounds:]]
        medians = [statistics.median(column) for column in zip(*figures_only, strict=True)]
        table.append([name, "median", *medians])
    return table


def main(commit: str, rounds: int = 3, seconds: float = 5) -> list[list]:
    prepare_client()
    table = asyncio.run(measure(commit, rounds, seconds))
    title = f"CPU per request: {commit} and this checkout, {rounds} rounds of {seconds:g} s"
    print_table(title, HEADERS, table)
    print("   One process each (memory:// bus); the bare baseline ran once, before them.")
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("commit", help="the commit to compare with, e.g. HEAD~3")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5, help="of each load, in each round")
    arguments = parser.parse_args()
    targets.prepare_database(fresh=False)  # alone, it may run before `python -m bench`
    main(arguments.commit, arguments.rounds, arguments.seconds)
