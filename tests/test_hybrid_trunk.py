"""The hybrid trunk: an EDSR stack grown a U-Net context stage, which starts as the trained stack it grows from."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.conditioning import FULL_COND
from engine.config import FAST, FAST_CONTEXT, ModelConfig
from engine.inference import TILE_MARGIN, tile_margin
from engine.models.sidejpeg import SideJPEGNet
from engine.models.unet import HybridRestorer
from engine.training.checkpoint import load_model_state

EDSR = ModelConfig(
    name="tiny-edsr", symbols=17, keep_jpeg=True, trunk_blocks=4, trunk_features=8, trunk_scale=2,
    extractor_features=4, context_features=8, mapping_features=8, modulation_features=8, corrections=8,
)
HYBRID = dataclasses.replace(EDSR, name="tiny-hybrid", trunk="hybrid", unet_features=(8, 12), unet_blocks=(0, 1, 1))


def _trained_edsr() -> SideJPEGNet:
    """An EDSR net whose zero-initialised tail is random, standing in for trained weights."""
    torch.manual_seed(0)
    net = SideJPEGNet(EDSR)
    torch.nn.init.normal_(net.restorer.tail.weight, std=0.1)
    return net.eval()


def _grown(edsr: SideJPEGNet) -> SideJPEGNet:
    hybrid = SideJPEGNet(HYBRID)
    load_model_state(hybrid, edsr.state_dict())
    return hybrid.eval()


def test_a_trained_edsr_model_loads_into_its_hybrid_and_restores_exactly_as_before() -> None:
    edsr = _trained_edsr()
    hybrid = _grown(edsr)
    assert isinstance(hybrid.restorer, HybridRestorer)
    y, cond = torch.rand(1, 3, 48, 64), torch.rand(1, FULL_COND)
    symbols = torch.randint(0, EDSR.symbols, (1, 3, 4))
    with torch.inference_mode():
        assert torch.equal(edsr.restore(y, cond, None), hybrid.restore(y, cond, None))
        assert torch.equal(edsr.restore(y, cond, symbols), hybrid.restore(y, cond, symbols))


def test_only_the_context_stage_may_be_missing_from_the_weights() -> None:
    weights = _trained_edsr().state_dict()
    del weights["restorer.blocks.0.body.0.weight"]
    with pytest.raises(ValueError, match=r"restorer\.blocks\.0\.body\.0\.weight"):
        load_model_state(SideJPEGNet(HYBRID), weights)


def test_the_context_stage_sees_farther_than_the_stack() -> None:
    """Once its way up is trained, a pixel far outside the stack's receptive field moves the output."""
    edsr = _trained_edsr()
    hybrid = _grown(edsr)
    torch.nn.init.normal_(hybrid.restorer.context.up[0].weight, std=0.1)
    y, cond = torch.rand(1, 3, 64, 64), torch.rand(1, FULL_COND)
    far = y.clone()
    far[:, :, -8:, -8:] = 1 - far[:, :, -8:, -8:]  # 48 pixels from the corner we look at; the stack reaches ~24
    with torch.inference_mode():
        assert torch.equal(edsr.restore(y, cond, None)[..., :8, :8], edsr.restore(far, cond, None)[..., :8, :8])
        assert not torch.equal(hybrid.restore(y, cond, None)[..., :8, :8], hybrid.restore(far, cond, None)[..., :8, :8])


def test_training_reaches_the_context_stage_from_its_zero_start() -> None:
    hybrid = _grown(_trained_edsr()).train()
    y, cond = torch.rand(2, 3, 32, 32), torch.rand(2, FULL_COND)
    hybrid.restore(y, cond, None).square().mean().backward()
    assert hybrid.restorer.context.up[0].weight.grad.abs().sum() > 0


def test_a_hybrid_needs_its_stack_at_the_top_level() -> None:
    with pytest.raises(ValueError, match="must start with 0"):
        HybridRestorer(dataclasses.replace(HYBRID, unet_blocks=(1, 1, 1)))
    with pytest.raises(ValueError, match="must start with 0"):
        HybridRestorer(dataclasses.replace(HYBRID, unet_features=(), unet_blocks=()))


def test_the_preset_is_fast_grown_and_described_so() -> None:
    assert dataclasses.replace(FAST_CONTEXT, name="fast", trunk="edsr", unet_features=(), unet_blocks=()) == FAST
    assert FAST_CONTEXT.trunk_summary == (
        "8 conditional residual blocks × 48 channels at 1/2 resolution, a U-Net context stage of 32/64/128 "
        "channels below them after block 4"
    )


def test_tiles_of_a_hybrid_see_as_far_as_its_coarsest_level() -> None:
    assert tile_margin(FAST_CONTEXT) == 8 * 2 * 8 > TILE_MARGIN
    assert tile_margin(FAST) == TILE_MARGIN
