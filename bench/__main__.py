"""`make bench`: seed a fresh MySQL database, then run every piece in turn.

python -m bench [--quick]
"""

import argparse
import asyncio
import os
import platform
import subprocess

from bench import (
    account,
    delivery,
    fanout,
    home,
    idle,
    images,
    logins,
    plot,
    replays,
    search,
    soak,
    tabs,
    targets,
    throughput,
    writes,
)


def describe_machine() -> None:
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.split("\n")[1]
    print(f"Machine: {os.cpu_count()} cores; memory {memory.split()[1]}; {platform.platform()}")
    print(f"Python {platform.python_version()}")


def main(quick: bool) -> None:
    describe_machine()
    sizes = [100, 1000] if quick else [100, 1000, 5000]
    print("Seeding the bench database…", flush=True)
    targets.prepare_database()
    asyncio.run(targets.seed(sorted({*sizes, fanout.FOLLOWERS})))
    asyncio.run(targets.seed_home_page())
    delivery.main(sizes)
    plot.main()
    throughput.main(1 if quick else 3)
    idle.main([1000] if quick else [1000, 10000], 10 if quick else 30)
    fanout.main()
    home.main(5 if quick else 15)
    writes.main(2 if quick else 5)
    logins.main()
    images.main()
    tabs.main(3 if quick else 5)
    replays.main(storms=1 if quick else 3)
    search.main(repeats=5 if quick else 20)
    account.main(*((1000, 10_000) if quick else (account.POSTS, account.FOLLOWERS)))
    soak.main(1000, 2 if quick else 30)  # last: the longest, by far


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs")
    main(parser.parse_args().quick)
