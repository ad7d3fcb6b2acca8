"""``benchmarks.luma_head``: the luma-only candidates' errors per block and their winner-take-all training."""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.luma_head import Item, LumaHead, luma_errors, reduction
from engine.config import BLOCK

FEATURES = 4
SIZE = 2 * BLOCK


def _images(shift: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """An original and a 'selected' image off from it by ``shift`` in every channel (Y alone moves)."""
    g = torch.Generator().manual_seed(seed)
    original = torch.rand(1, 3, SIZE, SIZE, generator=g) * 0.6 + 0.2
    return original, original - shift


def _constant_head(values: list[float]) -> LumaHead:
    """A head whose corrections are the constants ``values``, whatever the features."""
    head = LumaHead(FEATURES, len(values), 1)
    nn.init.zeros_(head.out.weight)
    with torch.no_grad():
        head.out.bias.copy_(torch.tensor(values))
    return head


def test_none_is_the_selected_images_error_and_kept_blocks_count_nothing():
    original, selected = _images(0.05)
    movable = torch.ones(1, 2, 2, dtype=torch.bool)
    movable[0, 1, 0] = False
    errors = luma_errors(_constant_head([0.0, 0.01]), torch.zeros(1, FEATURES, SIZE, SIZE), selected, original,
                         movable)
    assert errors.shape == (1, 3, 2, 2)
    expected = (0.05 * 255) ** 2 * BLOCK * BLOCK * 3
    torch.testing.assert_close(errors[0, 0, 0, 0], torch.tensor(expected), rtol=1e-4, atol=0)
    assert torch.all(errors[0, :, 1, 0] == 0)
    torch.testing.assert_close(errors[0, 0], errors[0, 1])  # a zero correction is none


def test_the_correction_that_undoes_a_luma_shift_leaves_no_error():
    original, selected = _images(0.05)
    errors = luma_errors(_constant_head([-0.05, 0.05]), torch.zeros(1, FEATURES, SIZE, SIZE), selected, original,
                         torch.ones(1, 2, 2, dtype=torch.bool))
    assert torch.all(errors[0, 2] < 1e-6 * errors[0, 0])
    assert torch.all(errors[0, 1] > errors[0, 0])


def test_training_finds_the_shift_each_block_needs():
    torch.manual_seed(0)
    items = []
    for seed, shift in enumerate((0.04, -0.04, 0.04, -0.04)):
        original, selected = _images(shift, seed)
        features = torch.full((1, FEATURES, SIZE, SIZE), float(shift > 0))  # the features tell the two apart
        items.append(Item(features, selected, original, torch.ones(1, 2, 2, dtype=torch.bool)))
    head = LumaHead(FEATURES, 2, 1, hidden=8)
    before = reduction(head, items)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(150):
        reduction(head, items, optimizer)
    after = reduction(head, items)
    assert before < 5.0
    assert after > 90.0
