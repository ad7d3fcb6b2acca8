"""How the anti-collapse aids and lambda evolve over the end-to-end stage.

``progress`` runs from 0 at the start of the end-to-end stage to 1 at its end. Early on the
quantizer is soft and noisy and lambda is zero, so descriptors carry information and the
restorer learns to read them; a usage bonus keeps all symbols alive. Later the forward pass
becomes hard, the noise fades, lambda ramps to its sampled value and the bonus is phased out.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    soft_mix: float
    noise: float
    sigma: float
    lambda_scale: float
    usage_bonus: float


def phase(progress: float, soft_until: float = 0.3, lambda_from: float = 0.15, bonus: float = 2.0) -> Phase:
    p = min(max(progress, 0.0), 1.0)
    return Phase(
        soft_mix=max(0.0, 1.0 - p / soft_until),
        noise=max(0.0, 1.0 - p / 0.8),
        sigma=1.0 + 3.0 * p,
        lambda_scale=min(1.0, max(0.0, (p - lambda_from) / lambda_from)),
        usage_bonus=bonus * max(0.0, 1.0 - p / 0.6),
    )
