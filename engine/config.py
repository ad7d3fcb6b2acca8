"""Model presets: architectures are data, not copies of code."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TypeVar

Lambdas = TypeVar("Lambdas")
"""A float or a tensor of lambdas."""

BLOCK = 16
"""Side length in pixels of the image block that one artifact descriptor covers."""

LAMBDA_MIN = 2.0
LAMBDA_MAX = 2048.0
"""Range of the rate-distortion trade-off lambda (see ``docs/lambda.md``).

The training loss is ``D + lambda * R`` with D the MSE on the 0-255 scale and R the side
information in bits per pixel; larger lambda means fewer side bits.
"""


def rd_multiplier(lam: Lambdas) -> Lambdas:
    """Squared error (0-255 scale, summed over a block's values) that one side bit is worth at ``lam``.

    Per block the loss ``MSE + lambda * bpp`` is ``(SSE / 3 + lambda * bits) / pixels`` for RGB,
    so an encoder minimising ``SSE + 3 lambda * bits`` block by block minimises that loss.
    """
    return 3.0 * lam


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of one SideJPEG model."""

    name: str
    symbols: int = 16
    trunk_blocks: int = 16
    trunk_features: int = 64
    trunk_scale: int = 1
    extractor_features: int = 32
    context_features: int = 64
    mapping_features: int = 32
    modulation_features: int = 32
    res_scale: float = 1.0
    corrections: int = 0
    """Hidden features of the block-level selection head (``engine.models.corrections``); 0 = none."""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        return cls(**data)


PRESETS: dict[str, ModelConfig] = {}


def register(config: ModelConfig) -> ModelConfig:
    """Add a preset to the registry under its name."""
    PRESETS[config.name] = config
    return config


PAPER = register(ModelConfig(name="paper", corrections=64))
"""EDSR-baseline* trunk (16 blocks, 64 channels, full resolution), C = 16, 16x16 blocks."""

FAST = register(
    ModelConfig(
        name="fast",
        trunk_blocks=8,
        trunk_features=48,
        trunk_scale=2,
        extractor_features=24,
        context_features=48,
        mapping_features=32,
        corrections=48,
    )
)
"""Default preset: the whole method, with a trunk at half resolution after pixel-unshuffle."""

DEFAULT_PRESET = "fast"
GPU_PRESET = "paper"
"""The preset the app starts with when CUDA is there: its full-resolution trunk restores better and a GPU
makes it interactive."""


def get_preset(name: str) -> ModelConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; available: {', '.join(sorted(PRESETS))}") from None
