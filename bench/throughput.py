"""Throughput: 1,000 open streams, the post rate raised step by step until
deliveries fall behind. Prints deliveries per second for QuartFeed and the
Quart baseline.

    python -m bench.throughput [--quick]
"""

import argparse
import asyncio

from bench import targets
from bench.common import milliseconds, prepare_client, print_table
from bench.delivery import deliver

READERS = 1000
RATES = [5, 10, 20, 40, 80]  # posts per second
BEHIND_S = 1.0  # an event still arriving this long after it was sent: fallen behind


async def ramp(target: targets.Target, seconds: float) -> list[list]:
    rows = []
    with target.server:
        for rate in RATES:
            run = await deliver(target, READERS, posts=int(rate * seconds), interval=1 / rate)
            behind = run.missing > 0 or max(run.last_stream) > BEHIND_S
            rows.append([
                target.name, rate, run.per_second, milliseconds(max(run.last_stream)),
                "fell behind" if behind else "kept up",
            ])  # fmt: skip
            if behind:
                break
    return rows


def main(seconds: float = 3) -> list[list]:
    prepare_client()
    rows = []
    for make_target in (targets.quartfeed, targets.quart):
        rows += asyncio.run(ramp(make_target(), seconds))
    headers = ["target", "posts/s", "deliveries/s", "worst last stream ms", "verdict"]
    print_table(f"3. Throughput ({READERS:,} streams)", headers, rows)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 s per step instead of 3")
    main(1 if parser.parse_args().quick else 3)
