"""How much of its network a blind JPEG gets, by how fine its quantiser is: a model's calibration
(``engine.training.calibrate``), stored with its weights.

From the model's floor (``engine.weights.BLIND_MIN_STEP_KEY``) on, the network's restoration is shown as it
is. A finer JPEG is shown as its decode anew from its coefficients (``engine.constraint.Constraint.decode``)
moved towards the restoration by a share of at most ``MAX_SHARE``, calibrated per mean luma step
(``engine.weights.BLIND_SHARES_KEY``); share 0 is the decode anew alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.conditioning import Conditioning

MAX_SHARE = 0.5
"""The most of the network a JPEG finer than the floor gets. At half each, the mix's squared error is the
mean of the two images' minus a quarter of their squared difference: it is no worse than the decode anew
unless the network's correction is more wrong than right, which is the hedge the floor needs. Held-out
images overstate the network's safety at these qualities (a floor they allowed lost 0.03 dB on a Kodak
image at jpegli q90), so the calibration never takes more however well they fare."""

Shares = Sequence[tuple[float, float]]
"""(mean luma step, share) of each step the calibration measured finer than the floor."""


def network_share(conditioning: Conditioning, floor: float, shares: Shares) -> float:
    """The network's share of the blind image of a JPEG of this ``conditioning``: 1 from the ``floor`` on;
    finer, the share calibrated at its step, or between two measured steps the lesser of theirs (the floor
    counting as 1); 0 finer than every measured step."""
    if not conditioning.luma_finer_than(floor):
        return 1.0
    at = [share for step, share in shares if conditioning.luma_code_is(step)]
    if at:
        return min(at)
    finer = [(step, share) for step, share in shares if not conditioning.luma_finer_than(step)]
    coarser = [(step, share) for step, share in shares if conditioning.luma_finer_than(step)]
    if not finer:
        return 0.0
    return min(max(finer)[1], min(coarser)[1] if coarser else 1.0)
