"""Median time of a whole view (``Codec.restore`` of JPEG + sidecar) and of a blind restore of the sample, for
the code tree in the current directory, as wall time and as CPU time of all threads (steadier on a busy machine);
run it in two checkouts in turn to compare them fairly.

    cd ../before && python -m benchmarks.view_ab; cd ../after && python -m benchmarks.view_ab
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import engine
from engine import SAMPLE_IMAGE, Codec, load_image

REPS = 5


def _median_ms(call: Callable[[], object]) -> str:
    """Median wall and CPU milliseconds of ``call`` after a warm-up."""
    call()
    wall, cpu = [], []
    for _ in range(REPS):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return f"{statistics.median(wall) * 1000:.0f} ms (cpu {statistics.median(cpu) * 1000:.0f} ms)"


def main() -> None:
    rgb = load_image(SAMPLE_IMAGE).rgb
    codec = Codec("fast", "cpu")
    made = codec.compress(rgb, 30, 64.0)
    view = _median_ms(lambda: codec.restore(made.jpeg, made.sidecar))
    blind = _median_ms(lambda: codec.restore(made.jpeg))
    print(f"{engine.__file__}: view {view}, blind {blind}")


if __name__ == "__main__":
    main()
