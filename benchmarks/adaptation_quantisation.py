"""Nearest rounding against rate-distortion optimised quantisation of the adaptation weights, on held-out
training images: ``python -m benchmarks.adaptation_quantisation``.

For each held-out image (512x512 centre crop), quality and lambda it compresses with ``fast`` and takes the
statistics the encoder fitted the adaptation to, then chooses the weights both ways
(``engine.coding.adaptation.choose`` with ``refine`` off and on) and prints, as percentages of the restored
image's squared error before adaptation, what each changes in squared error and in the encoder's cost
(squared error + 3 lambda bits), and the bits each sends. The test sets are never looked at.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from engine import Codec
from engine.coding import adaptation as adapt
from engine.config import rd_multiplier
from engine.training.data import VALIDATION_STEMS, load_rgb
from engine.training.validate import centre_crop


@contextmanager
def _captured(into: list[adapt.Statistics]) -> Iterator[None]:
    """Record the statistics every ``adapt.choose`` call of the encoder receives."""
    choose = adapt.choose

    def recording(stats: adapt.Statistics, multiplier: float, refine: bool = True) -> adapt.Adaptation:
        into.append(stats)
        return choose(stats, multiplier, refine)

    adapt.choose = recording
    try:
        yield
    finally:
        adapt.choose = choose


def _row(stats: adapt.Statistics, multiplier: float, before_sse: float, refine: bool) -> str:
    chosen = adapt.choose(stats, multiplier, refine)
    change = 255.0**2 * adapt._sse_change(stats, chosen.weights(stats.gram.shape[0]))
    bits = adapt.stream_bits(chosen)
    cost = change + multiplier * bits
    return f"{100 * change / before_sse:+7.2f} {100 * cost / before_sse:+7.2f} {bits:5d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/train", help="the training folder (held-out images)")
    parser.add_argument("--qualities", default="10,30")
    parser.add_argument("--lambdas", default="64,256,1024")
    args = parser.parse_args()
    codec, plain = Codec("fast", "cpu"), Codec("fast", "cpu", adapts=False)
    print("image           q  lambda | rounded: SSE %  cost %  bits | refined: SSE %  cost %  bits")
    for stem in VALIDATION_STEMS:
        rgb = centre_crop(load_rgb(next(Path(args.data).glob(f"{stem}.*"))), 512)
        for quality in (int(q) for q in args.qualities.split(",")):
            for lam in (float(v) for v in args.lambdas.split(",")):
                seen: list[adapt.Statistics] = []
                with _captured(seen):
                    codec.compress(rgb, quality, lam)
                if not seen:
                    continue  # the decoder check changed the map: no adaptation was fitted
                unadapted = plain.compress(rgb, quality, lam).restored.astype(np.float64)
                before_sse = float(np.sum(np.square(unadapted - rgb)))
                multiplier = rd_multiplier(lam)
                print(
                    f"{stem:14s} {quality:3d} {lam:7g} |         {_row(seen[0], multiplier, before_sse, False)} |"
                    f"         {_row(seen[0], multiplier, before_sse, True)}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
