"""Each component of the method behaves as the paper describes."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from engine.conditioning import FULL_COND, JPEG_COND
from engine.config import BLOCK, PRESETS, get_preset
from engine.models.context_model import ContextModel
from engine.models.layers import causal_mask
from engine.models.mapping import ArtifactFeatureMapping
from engine.models.quantizer import SoftHardQuantizer
from engine.models.sidejpeg import SideJPEGNet


def test_paper_preset_matches_the_paper() -> None:
    paper = get_preset("paper")
    assert (paper.trunk_blocks, paper.trunk_features, paper.candidates, paper.trunk_scale) == (16, 64, 16, 1)
    assert paper.keep_jpeg and paper.symbols == 17, "C = 16 corrections, plus the keep symbol"
    assert BLOCK == 16
    assert "fast" in PRESETS


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(KeyError, match="paper"):
        get_preset("nope")


def test_quantizer_is_hard_forward() -> None:
    q = SoftHardQuantizer().train()
    logits = torch.randn(2, 16, 3, 4)
    value, symbols = q(logits)
    assert torch.equal(symbols, logits.argmax(1))
    one_hot = torch.nn.functional.one_hot(symbols, 16).permute(0, 3, 1, 2).float()
    assert torch.allclose(value, one_hot, atol=1e-6)


def test_gradients_reach_the_extractor_through_the_hard_quantizer() -> None:
    torch.manual_seed(0)
    net = SideJPEGNet(get_preset("fast")).train()
    torch.nn.init.normal_(net.restorer.tail.weight, std=0.01)
    x = torch.rand(2, 3, 64, 64)
    y = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    out = net(x, y, torch.rand(2, FULL_COND))
    ((out.restored - x) ** 2).mean().backward()
    grad = net.extractor.head[-1].weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_causal_mask_excludes_centre_and_future() -> None:
    mask = causal_mask(5)
    assert mask.sum() == 12
    assert mask[2, 2] == 0 and mask[2, 3:].sum() == 0 and mask[3:].sum() == 0


def test_context_model_ignores_blocks_not_yet_coded() -> None:
    torch.manual_seed(0)
    model = ContextModel(get_preset("fast")).eval()
    symbols = torch.randint(0, 17, (1, 8, 9))
    cond = torch.rand(1, FULL_COND)

    def logits(sym: torch.Tensor) -> torch.Tensor:
        one_hot = torch.nn.functional.one_hot(sym, 17).permute(0, 3, 1, 2).float()
        return model(one_hot, cond)[0, :, 4, 4]

    base = logits(symbols)
    for r, c in [(4, 4), (4, 5), (4, 8), (5, 0), (5, 4), (7, 8)]:
        changed = symbols.clone()
        changed[0, r, c] = (changed[0, r, c] + 1) % 17
        assert torch.equal(logits(changed), base), (r, c)
    changed = symbols.clone()
    changed[0, 3, 6] = (changed[0, 3, 6] + 1) % 17
    assert not torch.equal(logits(changed), base)


@pytest.mark.parametrize("preset", ["fast", "paper"])
def test_mapping_reaches_the_trunk_resolution(preset: str) -> None:
    config = get_preset(preset)
    mapping = ArtifactFeatureMapping(config)
    out = mapping(torch.zeros(1, 17, 3, 5), torch.zeros(1, FULL_COND))
    scale = BLOCK // config.trunk_scale
    assert out.shape == (1, config.modulation_features, 3 * scale, 5 * scale)


def test_descriptors_change_the_restored_image() -> None:
    torch.manual_seed(0)
    net = SideJPEGNet(get_preset("fast")).eval()
    torch.nn.init.normal_(net.restorer.tail.weight, std=0.01)
    y, cond = torch.rand(1, 3, 32, 32), torch.rand(1, FULL_COND)
    with torch.inference_mode():
        a = net.restore(y, cond, torch.zeros(1, 2, 2, dtype=torch.long))
        b = net.restore(y, cond, torch.full((1, 2, 2), 5, dtype=torch.long))
        blind = net.restore(y, cond, None)
    assert not torch.allclose(a, b)
    assert not torch.allclose(a, blind)


def test_each_block_receives_the_correction_its_symbol_picks() -> None:
    """Block-level selection: the restored block with symbol k is the base plus candidate k, nothing else."""
    from engine.models.corrections import block_errors

    net = SideJPEGNet(get_preset("fast")).eval()
    corrections = net.restorer.corrections
    torch.nn.init.normal_(corrections.out.weight, std=0.05)
    y, x, cond = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48), torch.rand(1, FULL_COND)
    symbols = torch.tensor([[[3, 0, 15], [7, 7, 1]]])
    with torch.inference_mode():
        h = net.restorer.trunk(y, cond[:, :JPEG_COND], net.artifact_features(symbols, cond, y.dtype))
        candidates = corrections.candidates(h)
        picked = corrections.select(h, symbols)
        grouped = candidates.reshape(1, 16, 12, 16, 24)
        for r in range(2):
            for c in range(3):
                rows, cols = slice(8 * r, 8 * r + 8), slice(8 * c, 8 * c + 8)
                want = grouped[0, int(symbols[0, r, c]), :, rows, cols]
                torch.testing.assert_close(picked[0, :, rows, cols], want, rtol=1e-6, atol=1e-6)
        restored = net.restorer.to_image(y, net.restorer.tail(h))
        errors = block_errors(candidates, 16, 2, restored, x)
        out = net.restore(y, cond, symbols)
    assert errors.shape == (1, 16, 2, 3)
    direct = ((out.clamp(0, 1) - x) * 255).pow(2)
    for r in range(2):
        for c in range(3):
            block = direct[0, :, 16 * r : 16 * r + 16, 16 * c : 16 * c + 16].sum()
            assert torch.isclose(block, errors[0, int(symbols[0, r, c]), r, c], rtol=1e-4)


@pytest.mark.parametrize("scale", [1, 2])
@pytest.mark.parametrize("channels_last", [False, True])
def test_block_errors_are_each_candidates_squared_error_per_block(scale: int, channels_last: bool) -> None:
    """Every candidate's error per block, over several bands of rows, whatever the memory layout."""
    from engine.models.corrections import ERROR_ROWS, block_errors

    gen = torch.Generator().manual_seed(scale)
    height, width, count = 2 * ERROR_ROWS * scale + 16, 48, 5
    layout = torch.channels_last if channels_last else torch.contiguous_format
    candidates = (torch.randn(1, count * 3 * scale**2, height // scale, width // scale, generator=gen) * 0.3)
    restored, original = torch.rand(1, 3, height, width, generator=gen), torch.rand(1, 3, height, width, generator=gen)
    errors = block_errors(
        candidates.contiguous(memory_format=layout), count, scale,
        restored.contiguous(memory_format=layout), original,
    )
    assert errors.shape == (1, count, height // 16, width // 16)
    for k in range(count):
        residual = candidates[:, k * 3 * scale**2 : (k + 1) * 3 * scale**2]
        residual = F.pixel_shuffle(residual, scale) if scale > 1 else residual
        direct = (((restored + residual).clamp(0, 1) - original) * 255).square().sum(1, keepdim=True)
        want = F.avg_pool2d(direct, 16)[:, 0] * 256
        torch.testing.assert_close(errors[:, k], want, rtol=1e-5, atol=1e-2)


def test_blind_restore_ignores_the_selection_head() -> None:
    net = SideJPEGNet(get_preset("fast")).eval()
    y, cond = torch.rand(1, 3, 32, 32), torch.rand(1, FULL_COND)
    with torch.inference_mode():
        before = net.restore(y, cond, None)
        torch.nn.init.normal_(net.restorer.corrections.out.weight, std=1.0)
        assert torch.equal(before, net.restore(y, cond, None))
