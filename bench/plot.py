"""Draw the delivery latency CDF at N = 1,000 to docs/bench-latency.png.

python -m bench.plot        (after python -m bench.delivery)
"""

import json

import matplotlib

matplotlib.use("Agg")  # no screen needed
import matplotlib.pyplot as plt  # noqa: E402

from bench.common import RESULTS, ROOT  # noqa: E402

OUTPUT = ROOT / "docs" / "bench-latency.png"
PLOTTED = ("QuartFeed", "Quart baseline", "sse-starlette baseline")


def main(readers: int = 1000) -> None:
    samples = json.loads((RESULTS / f"latency-{readers}.json").read_text())
    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=120)
    for name in PLOTTED:
        ordered = sorted(1000 * seconds for seconds in samples[name])
        fractions = [(index + 1) / len(ordered) for index in range(len(ordered))]
        axes.step(ordered, fractions, where="post", label=name)
    axes.set_xlabel("delivery latency (ms): receive time − POST send time")
    axes.set_ylabel("fraction of deliveries")
    axes.set_title(f"Delivery of 20 events to {readers:,} open streams")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    OUTPUT.parent.mkdir(exist_ok=True)
    figure.savefig(OUTPUT)
    print(f"Wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
