"""The whole SideJPEG network: extractor, quantizer, context model, mapping and restorer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from engine.conditioning import JPEG_COND
from engine.config import ModelConfig
from engine.models.context_model import ContextModel, bits_per_block
from engine.models.corrections import block_errors, jpeg_errors, never_worse
from engine.models.extractor import DescriptorExtractor
from engine.models.layers import Conv
from engine.models.mapping import ArtifactFeatureMapping
from engine.models.quantizer import SoftHardQuantizer
from engine.models.unet import restorer_for


@dataclass
class TrainOutput:
    restored: torch.Tensor
    bits: torch.Tensor | None
    """Bits of each block (B, H/16, W/16); None for blind samples."""
    logits: torch.Tensor | None
    symbols: torch.Tensor | None


@dataclass
class EncoderPass:
    """What the encoder of a block-selecting model computes before it chooses the symbols."""

    first: torch.Tensor
    """The extractor's map (B, H/16, W/16), which conditions the trunk in this pass."""
    errors: torch.Tensor
    """Squared error of every symbol for every block (``engine.models.corrections.block_errors``, then the
    JPEG's own for the keep symbol)."""
    features: torch.Tensor
    """The trunk's features in this pass."""
    base: torch.Tensor
    """The restored image before the block corrections, in this pass."""


class SideJPEGNet(nn.Module):
    """End-to-end trainable model; the codec uses its parts separately (encode / decode)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.extractor = DescriptorExtractor(config)
        self.quantizer = SoftHardQuantizer()
        self.context = ContextModel(config)
        self.mapping = ArtifactFeatureMapping(config)
        self.restorer = restorer_for(config)

    def prepare_for_inference(self) -> SideJPEGNet:
        """Evaluation mode, channels-last weights and every convolution prepared (``engine.models.layers.Conv``).

        Idempotent. The parameters keep their values, so the state dict (and the weights' identity) do not change;
        ``train()`` drops the preparation, and weights changed in place need a new one.
        """
        self.eval().to(memory_format=torch.channels_last)
        for module in self.modules():
            if isinstance(module, Conv):
                module.prepare()
        return self

    def forward(
        self, original: torch.Tensor, jpeg: torch.Tensor, cond: torch.Tensor, blind: bool = False
    ) -> TrainOutput:
        """Training pass: the rate comes from the context model, the distortion from the restorer."""
        jpeg_cond = cond[:, :JPEG_COND]
        if blind:
            return TrainOutput(self.restorer(jpeg, jpeg_cond, None), None, None, None)
        logits = self.extractor(original, jpeg, cond)
        descriptors, symbols = self.quantizer(logits)
        bits = bits_per_block(self.context(descriptors, cond), descriptors)
        restored = self.restorer(jpeg, jpeg_cond, self.mapping(descriptors, cond))
        return TrainOutput(restored, bits, logits, symbols)

    def extract(self, original: torch.Tensor, jpeg: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Symbol map (B, H/16, W/16) of an image; the encoder side."""
        return self.extractor(original, jpeg, cond).argmax(dim=1)

    @property
    def selects_blocks(self) -> bool:
        """Whether the decoder has block-level selection, so that the encoder chooses symbols by RDO."""
        return self.restorer.corrections is not None

    def artifact_features(self, symbols: torch.Tensor, cond: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The mapped features of a symbol map that modulate the conditional residual blocks."""
        one_hot = F.one_hot(symbols.long(), self.config.symbols).permute(0, 3, 1, 2).to(dtype)
        return self.mapping(one_hot, cond)

    def restore(
        self, jpeg: torch.Tensor, cond: torch.Tensor, symbols: torch.Tensor | None,
        adaptation: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Restored image from the JPEG and, unless blind, the decoded symbol map and the image's adaptation
        weights (if it has them)."""
        return self.restore_with_features(jpeg, cond, symbols, adaptation)[0]

    def restore_with_features(
        self, jpeg: torch.Tensor, cond: torch.Tensor, symbols: torch.Tensor | None,
        adaptation: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``restore`` and the trunk features it came from (what the encoder fits the adaptation to)."""
        artifact = None if symbols is None else self.artifact_features(symbols, cond, jpeg.dtype)
        return self.restorer.restore_with_features(jpeg, cond[:, :JPEG_COND], artifact, symbols, adaptation)

    def base(
        self, jpeg: torch.Tensor, cond: torch.Tensor, symbols: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Trunk features for a symbol map, and the restored image before the block corrections."""
        h = self.restorer.trunk(jpeg, cond[:, :JPEG_COND], self.artifact_features(symbols, cond, jpeg.dtype))
        return h, self.restorer.to_image(jpeg, self.restorer.tail(h))

    def encoder_pass(self, original: torch.Tensor, jpeg: torch.Tensor, cond: torch.Tensor) -> EncoderPass:
        """Encoder side of block-level selection: the extractor's symbol map and the squared error that
        each symbol would give each block.

        The trunk sees the extractor's map; the final map differs from it only where the encoder
        finds a better choice, and the trunk's response to that change is small.
        """
        first = self.extract(original, jpeg, cond)
        h, restored = self.base(jpeg, cond, first)
        return EncoderPass(first, self.block_errors(h, restored, jpeg, original), h, restored)

    def block_errors(
        self, h: torch.Tensor, restored: torch.Tensor, jpeg: torch.Tensor, original: torch.Tensor
    ) -> torch.Tensor:
        """Squared error (B, symbols, H/16, W/16) that every symbol would give every block."""
        corr = self.restorer.corrections
        errors = block_errors(corr.candidates(h), corr.symbols, corr.scale, restored, original)
        if self.config.keep_jpeg:
            errors = torch.cat([errors, jpeg_errors(jpeg, original)], dim=1)
        return errors

    def allowed_errors(self, errors: torch.Tensor) -> torch.Tensor:
        """``block_errors`` as the encoder chooses from them: with the keep symbol, every choice worse than the
        JPEG is made impossible (``engine.models.corrections.never_worse``)."""
        keep = self.config.keep_symbol
        return errors if keep is None else never_worse(errors, keep)
