"""How much of its network a blind JPEG gets, by how fine its quantiser is: a model's calibration
(``engine.training.calibrate``), stored with its weights.

A JPEG finer than the model's floor (``engine.weights.BLIND_MIN_STEP_KEY``) is shown as its decode anew from
its coefficients (``engine.constraint.Constraint.decode``) moved towards the network's restoration by a share
of at most ``MAX_SHARE``; from the floor on, by a share between that and all of it. Both are calibrated per mean
luma step and chroma sampling (``engine.weights.BLIND_SHARES_KEY``); share 0 is the decode anew alone, 1 the
restoration as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.conditioning import Conditioning
from engine.weights import BLIND_SHARES_KEY

MAX_SHARE = 0.5
"""The most of the network a JPEG finer than the floor gets. At half each, the mix's squared error is the
mean of the two images' minus a quarter of their squared difference: it is no worse than the decode anew
unless the network's correction is more wrong than right, which is the hedge the floor needs. Held-out
images overstate the network's safety at these qualities (a floor they allowed lost 0.03 dB on a Kodak
image at jpegli q90), so the calibration never takes more however well they fare."""

Shares = Sequence[tuple[float, str, float]]
"""(mean luma step, chroma sampling, share) of each step and sampling the calibration measured."""


def shares_of(info: dict) -> list[tuple[float, str, float]]:
    """The shares a model's info carries (none for models calibrated before them)."""
    return [(float(step), str(sampling), float(share)) for step, sampling, share in info.get(BLIND_SHARES_KEY, [])]


def network_share(conditioning: Conditioning, floor: float, shares: Shares, decodable: bool = True) -> float:
    """The network's share of the blind image of a JPEG of this ``conditioning``: the share calibrated at its
    step for its chroma sampling (for a sampling not calibrated, the least of any at that step); between two
    measured steps on its side of the ``floor`` the lesser of theirs. Finer than the floor, 0 finer than every
    measured step and the floor counting as 1; from the floor on, 1 coarser than every measured step and the
    finest measured step's share between it and the floor (all of it for models calibrated before shares from
    the floor on). A JPEG not ``decodable`` anew (no quantisation constraint) cannot be mixed: all of the
    network from the floor on, none finer."""
    coarse = not conditioning.luma_finer_than(floor)
    if not decodable:
        return float(coarse)
    shares = [
        (step, share) for step, share in _for_sampling(shares, conditioning.subsampling)
        if (step >= floor) == coarse
    ]
    at = [share for step, share in shares if conditioning.luma_code_is(step)]
    if at:
        return min(at)
    finer = [(step, share) for step, share in shares if not conditioning.luma_finer_than(step)]
    coarser = [(step, share) for step, share in shares if conditioning.luma_finer_than(step)]
    if not (coarser if coarse else finer):
        return float(coarse)
    around = ([max(finer)[1]] if finer else []) + ([min(coarser)[1]] if coarser else [])
    return min(around)


def _for_sampling(shares: Shares, sampling: str) -> list[tuple[float, float]]:
    """(step, share) for JPEGs of this chroma ``sampling``."""
    own = [(step, share) for step, of, share in shares if of == sampling]
    if own:
        return own
    steps = {step for step, _, _ in shares}
    return [(step, min(share for at, _, share in shares if at == step)) for step in steps]
