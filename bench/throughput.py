"""Throughput: 1,000 open streams, the post rate raised step by step until
deliveries fall behind. Prints deliveries per second for QuartFeed and the
Quart baseline, and where the machine's CPU went at each step: the server,
the database server and the load client share the same cores.

    python -m bench.throughput [--quick]
"""

import argparse
import asyncio

from bench import targets
from bench.common import CpuMeter, milliseconds, prepare_client, print_table
from bench.delivery import deliver

READERS = 1000
RATES = [5, 10, 20, 25, 30, 35, 40, 50, 60, 70, 80, 100]  # posts per second
BEHIND_S = 1.0  # an event still arriving this long after it was sent: fallen behind
HEADERS = [
    "target", "posts/s", "deliveries/s", "worst last stream ms", "verdict",
    "server CPU %", "MySQL CPU %", "client CPU %", "server µs per delivery",
]  # fmt: skip


def percent_of_a_core(meter: CpuMeter, name: str) -> float | None:
    if name not in meter.spent:
        return None
    return 100 * meter.spent[name] / meter.spent["wall"]


async def ramp(target: targets.Target, seconds: float) -> list[list]:
    rows = []
    with target.server:
        for rate in RATES:
            meter = CpuMeter(target.server)
            run = await deliver(target, READERS, int(rate * seconds), 1 / rate, meter=meter)
            behind = run.missing > 0 or max(run.last_stream) > BEHIND_S
            delivered = len(run.latencies)
            rows.append([
                target.name, rate, run.per_second, milliseconds(max(run.last_stream)),
                "fell behind" if behind else "kept up",
                percent_of_a_core(meter, "server"), percent_of_a_core(meter, "database"),
                percent_of_a_core(meter, "client"),
                1e6 * meter.spent["server"] / delivered if delivered else None,
            ])  # fmt: skip
            if behind:
                break
    return rows


def sustained(rows: list[list], name: str) -> float:
    """The most deliveries/s a target managed at a rate it kept up with."""
    return max((row[2] for row in rows if row[0] == name and row[4] == "kept up"), default=0.0)


def main(seconds: float = 3) -> list[list]:
    prepare_client()
    rows = []
    for make_target in (
        targets.quartfeed,
        targets.quart,
        # A second worker can only help if a core is left idle.
        lambda: targets.quartfeed(workers=2, broker_url=targets.REDIS_URL),
    ):
        rows += asyncio.run(ramp(make_target(), seconds))
    print_table(f"3. Throughput ({READERS:,} streams)", HEADERS, rows)
    ours, baseline = sustained(rows, "QuartFeed"), sustained(rows, "Quart baseline")
    if baseline:
        share = ours / baseline
        print(f"QuartFeed sustains {ours:,.0f} deliveries/s, {share:.0%} of the baseline's")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 s per step instead of 3")
    main(1 if parser.parse_args().quick else 3)
