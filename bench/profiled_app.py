"""QuartFeed with a pyinstrument profiler that `python -m bench.profile`
switches on and off by signals, so that the profile covers the load and
nothing else: not the imports, the start-up or the shutdown.

    SIGUSR1  start sampling
    SIGUSR2  stop, and write the profile to $PROFILE_OUTPUT (.txt and .html)

Served by `hypercorn --workers 0 "bench.profiled_app:create_app()"`: with no
worker processes, the process that gets the signals is the one that serves.
"""

import os
import signal
from pathlib import Path

from pyinstrument import Profiler
from quart import Quart

from application import create_app as create_quartfeed


def write_profile(profiler: Profiler, output: Path) -> None:
    profiler.stop()
    # Text: the app's own code, the libraries under it folded into one line
    # each. HTML: every frame, to unfold in a browser.
    text = profiler.output_text(unicode=True)
    output.with_suffix(".html").write_text(profiler.output_html())
    # Written whole, then renamed: whoever waits for the file never reads half of it.
    partial = output.with_suffix(".partial")
    partial.write_text(text)
    partial.replace(output)


def create_app() -> Quart:
    app = create_quartfeed()
    # "disabled": each sample is the whole stack of the event loop's thread,
    # whichever task is running, so the time lands where the CPU went.
    profiler = Profiler(async_mode="disabled")
    output = Path(os.environ["PROFILE_OUTPUT"])
    signal.signal(signal.SIGUSR1, lambda *_: profiler.start())
    signal.signal(signal.SIGUSR2, lambda *_: write_profile(profiler, output))
    return app
