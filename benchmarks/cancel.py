"""How soon a cancelled restore and compress of a 12-megapixel image stop (the sample tiled to 4000x3000).

    .venv/bin/python -m benchmarks.cancel
"""

from __future__ import annotations

import threading
import time

import numpy as np

from engine import SAMPLE_IMAGE, Cancelled, Codec, encode_jpeg, load_image

DELAYS_S = (3.0, 7.0)


class _Event(threading.Event):
    """A cancel event that remembers when it was set."""

    at = 0.0

    def set(self) -> None:
        self.at = time.monotonic()
        super().set()


def main() -> None:
    rgb = load_image(SAMPLE_IMAGE).rgb
    big = np.ascontiguousarray(np.tile(rgb, (6, 6, 1))[:3000, :4000])
    codec = Codec("fast", "cpu")
    jpeg = encode_jpeg(big, 30)
    calls = {
        "restore": lambda event: codec.restore(jpeg, cancel=event),
        "compress": lambda event: codec.compress(big, 30, 64.0, cancel=event),
    }
    for name, call in calls.items():
        for delay in DELAYS_S:
            event = _Event()
            threading.Timer(delay, event.set).start()
            try:
                call(event)
                print(f"{name}: finished before the cancel at {delay:g} s")
            except Cancelled:
                print(f"{name} cancelled {delay:g} s in: stopped {time.monotonic() - event.at:.3f} s after the cancel")


if __name__ == "__main__":
    main()
