"""Median time of a whole view (``Codec.restore`` of JPEG + sidecar) and of a blind restore of the sample, for
the code tree in the current directory; run it in two checkouts in turn to compare them fairly.

    cd ../before && python -m benchmarks.view_ab; cd ../after && python -m benchmarks.view_ab
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import engine
from engine import SAMPLE_IMAGE, Codec, load_image

REPS = 5


def _median_s(call: Callable[[], object]) -> float:
    call()
    times = []
    for _ in range(REPS):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    rgb = load_image(SAMPLE_IMAGE).rgb
    codec = Codec("fast", "cpu")
    made = codec.compress(rgb, 30, 64.0)
    view = _median_s(lambda: codec.restore(made.jpeg, made.sidecar))
    blind = _median_s(lambda: codec.restore(made.jpeg))
    print(f"{engine.__file__}: view {view * 1000:.0f} ms, blind {blind * 1000:.0f} ms")


if __name__ == "__main__":
    main()
