"""Model presets: architectures are data, not copies of code."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

BLOCK = 16
"""Side length in pixels of the image block that one artifact descriptor covers."""

LAMBDA_MIN = 2.0
LAMBDA_MAX = 2048.0
"""Range of the rate-distortion trade-off lambda (see ``docs/lambda.md``).

The training loss is ``D + lambda * R`` with D the MSE on the 0-255 scale and R the side
information in bits per pixel; larger lambda means fewer side bits.
"""


def rd_multiplier(lam):  # a float or a tensor of lambdas
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
    """Size of the descriptor alphabet, one symbol coded per 16x16 block (the keep symbol included)."""
    trunk: str = "edsr"
    """Kind of restoration trunk: ``edsr`` (the paper's single-scale stack), ``unet`` or ``hybrid`` (an ``edsr``
    stack with a U-Net context stage in its middle; both ``engine.models.unet``)."""
    trunk_blocks: int = 16
    trunk_features: int = 64
    """Channels of the trunk's features at its own resolution (a U-Net's top level)."""
    trunk_scale: int = 1
    unet_features: tuple[int, ...] = ()
    """Channels of a U-Net's lower levels, each at half the resolution of the one above."""
    unet_blocks: tuple[int, ...] = ()
    """Conditional residual blocks of a U-Net's levels, top first: on each side of a level, once at the bottom (a
    ``hybrid`` trunk's top count is 0: its ``edsr`` stack works at that level)."""
    extractor_features: int = 32
    context_features: int = 64
    mapping_features: int = 32
    modulation_features: int = 32
    res_scale: float = 1.0
    corrections: int = 0
    """Hidden features of the block-level selection head (``engine.models.corrections``); 0 = none."""
    keep_jpeg: bool = False
    """The last symbol means "keep the JPEG for this block" (its own pixels in the network, shown decoded
    anew by the decoder): the encoder can always choose it, so a restored image is never worse than its JPEG
    (``docs/block-selection.md``)."""

    @property
    def trunk_summary(self) -> str:
        """The restoration trunk in words, e.g. for an About box."""
        resolution = "full" if self.trunk_scale == 1 else f"1/{self.trunk_scale}"
        if self.trunk == "unet":
            widths = "/".join(str(w) for w in (self.trunk_features, *self.unet_features))
            blocks = "/".join(str(b) for b in self.unet_blocks)
            return (
                f"U-Net of conditional residual blocks, {widths} channels and {blocks} blocks per level "
                f"from {resolution} resolution down"
            )
        blocks = f"{self.trunk_blocks} conditional residual blocks × {self.trunk_features} channels"
        if self.trunk == "hybrid":
            widths = "/".join(str(w) for w in self.unet_features)
            return (
                f"{blocks} at {resolution} resolution, a U-Net context stage of {widths} channels below them "
                f"after block {self.context_after}"
            )
        return f"{blocks} at {resolution} resolution"

    @property
    def context_after(self) -> int:
        """Residual blocks of a ``hybrid`` trunk's stack before its context stage: the first half."""
        return self.trunk_blocks // 2

    @property
    def candidates(self) -> int:
        """Correction candidates of the block-level selection head: every symbol but the keep symbol."""
        return self.symbols - 1 if self.keep_jpeg else self.symbols

    @property
    def keep_symbol(self) -> int | None:
        """The symbol that keeps a block's JPEG pixels (None: the model has none)."""
        return self.symbols - 1 if self.keep_jpeg else None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


PRESETS: dict[str, ModelConfig] = {}


def register(config: ModelConfig) -> ModelConfig:
    """Add a preset to the registry under its name."""
    PRESETS[config.name] = config
    return config


PAPER = register(ModelConfig(name="paper", symbols=17, corrections=64, keep_jpeg=True))
"""EDSR-baseline* trunk (16 blocks, 64 channels, full resolution), C = 16 corrections plus the keep symbol,
16x16 blocks."""

FAST = register(
    ModelConfig(
        name="fast",
        symbols=17,
        keep_jpeg=True,
        trunk_blocks=8,
        trunk_features=48,
        trunk_scale=2,
        extractor_features=24,
        context_features=48,
        mapping_features=32,
        corrections=48,
    )
)
"""The whole method, with a trunk at half resolution after pixel-unshuffle; the default before ``fast-context``."""

UNET = register(
    replace(
        FAST, name="unet", trunk="unet", trunk_blocks=0, trunk_features=32, unet_features=(64, 128),
        unet_blocks=(2, 2, 4),
    )
)
"""``fast`` with a U-Net trunk of 32/64/128 channels at 1/2, 1/4 and 1/8 resolution: a larger receptive field
for 69 % of ``fast``'s FLOPs (``benchmarks/trunks.py``)."""

FAST_CONTEXT = register(
    replace(FAST, name="fast-context", trunk="hybrid", unet_features=(32, 64, 128), unet_blocks=(0, 1, 1, 1))
)
"""``fast`` with a U-Net context stage at 1/4, 1/8 and 1/16 resolution in the middle of its stack: the receptive
field strong artifacts need, for 7 % more FLOPs. Trained from scratch it is the best trade ``benchmarks/trunks.py``
measured; grown on ``fast``'s weights (the stage is the identity at initialisation) it did not pay within a CPU
session (``benchmarks/README.md``). The default preset since session 30: its own run from scratch restores better
than ``fast`` on average at q1-85 with every encoder measured and at q90 with Pillow, blind and with a sidecar
(``resources/models/README.md``)."""

DEFAULT_PRESET = "fast-context"
GPU_PRESET = DEFAULT_PRESET
"""The preset the app starts with when CUDA is there. ``paper`` was, for its full-resolution trunk; against
``fast-context`` it is no better (first 8 Kodak / LIVE1 images, ``paper`` minus ``fast-context``: blind q10
-0.13 / -0.00 dB, q30 +0.01 / +0.07; side@64 q10 -0.05 / +0.00, q30 +0.03 / +0.09; ``eval/paper-*-s30``) for
about 15x the work, and its weights have not passed the never-worse checks that ``fast-context``'s have, so a
GPU starts with the default too; ``paper`` stays a choice."""


def get_preset(name: str) -> ModelConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; available: {', '.join(sorted(PRESETS))}") from None
