"""Median time of a whole view (``Codec.restore`` of JPEG + sidecar) and of a blind restore of the sample, for
the code tree in the current directory, as wall time and as CPU time of all threads (steadier on a busy machine);
run it in two checkouts in turn to compare them fairly.

    cd ../before && python -m benchmarks.view_ab; cd ../after && python -m benchmarks.view_ab

``--compress`` times ``Codec.compress`` of the sample instead (the encoder: extractor, trunk and candidates, RDO,
the decoder's check and the adaptation), ``--reps`` sets the calls after the warm-up (default 5), ``--preset``
the model (default: the tree's default preset). It runs in trees as old as session 3's (``fffdc35``), whose
``engine`` names neither the sample nor a default preset yet (``fast`` then).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import engine
from engine import Codec, load_image

SAMPLE = getattr(engine, "SAMPLE_IMAGE", "resources/samples/sample.png")
DEFAULT = getattr(engine, "DEFAULT_PRESET", "fast")


def _median_ms(call: Callable[[], object], reps: int) -> str:
    """Median wall and CPU milliseconds of ``call`` after a warm-up."""
    call()
    wall, cpu = [], []
    for _ in range(reps):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return f"{statistics.median(wall) * 1000:.0f} ms (cpu {statistics.median(cpu) * 1000:.0f} ms)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compress", action="store_true", help="time compress instead of the view")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--preset", default=DEFAULT)
    args = parser.parse_args()
    rgb = load_image(SAMPLE).rgb
    codec = Codec(args.preset, "cpu")
    if args.compress:
        print(f"{engine.__file__}: compress {_median_ms(lambda: codec.compress(rgb, 30, 64.0), args.reps)}")
        return
    made = codec.compress(rgb, 30, 64.0)
    view = _median_ms(lambda: codec.restore(made.jpeg, made.sidecar), args.reps)
    blind = _median_ms(lambda: codec.restore(made.jpeg), args.reps)
    print(f"{engine.__file__} {args.preset}: view {view}, blind {blind}")


if __name__ == "__main__":
    main()
