"""``SideJPEGNet.prepare_for_inference``: the same network, only faster (what the fused graph's self-check was)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.conditioning import FULL_COND
from engine.config import get_preset
from engine.inference import Inference
from engine.models import layers
from engine.models.sidejpeg import SideJPEGNet
from engine.resources import weights_path
from engine.weights import load_model, model_id

TOLERANCE = 1e-5
"""Largest difference the prepared network may show (0-1 pixel scale, and logits): float rounding only."""


def _inputs(symbols: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Original, JPEG, conditioning and a symbol map of a small image whose size is not a multiple of 32."""
    generator = torch.Generator().manual_seed(seed)
    original, jpeg = (torch.rand(1, 3, 48, 80, generator=generator) for _ in range(2))
    cond = torch.rand(1, FULL_COND, generator=generator)
    return original, jpeg, cond, torch.randint(0, symbols, (1, 3, 5), generator=generator)


def _outputs(net: SideJPEGNet, original: torch.Tensor, jpeg: torch.Tensor, cond: torch.Tensor,
             symbols: torch.Tensor) -> dict[str, torch.Tensor]:
    """What the codec computes with a network: both restores, the extractor's logits, the encoder's errors."""
    with torch.inference_mode():
        restored, features = net.restore_with_features(jpeg, cond, symbols)
        return {
            "restored": restored, "features": features, "blind": net.restore(jpeg, cond, None),
            "logits": net.extractor(original, jpeg, cond), "errors": net.encoder_pass(original, jpeg, cond).errors,
        }


def _prepared_convolutions(net: SideJPEGNet) -> list[bool]:
    return [module.prepared is not None for module in net.modules() if isinstance(module, layers.Conv)]


@pytest.fixture(params=["fast", "paper", "unet"])
def shipped(request: pytest.FixtureRequest) -> SideJPEGNet:
    """Each shipped model, and a small U-Net trunk with random weights (``tests.test_unet``)."""
    if request.param == "unet":
        from tests.test_unet import TINY, _live

        return _live(SideJPEGNet(TINY)).eval()
    return load_model(weights_path(request.param)).eval()


def test_prepared_network_computes_what_the_plain_one_does(shipped: SideJPEGNet) -> None:
    inputs = _inputs(shipped.config.symbols)
    plain = _outputs(shipped, *inputs)
    shipped.prepare_for_inference()
    assert all(_prepared_convolutions(shipped)) == layers.fusion_available()
    prepared = _outputs(shipped, *inputs)
    for name, want in plain.items():
        scale = 255.0**2 if name == "errors" else 1.0  # squared errors on the 0-255 scale, summed per block
        torch.testing.assert_close(prepared[name], want, rtol=TOLERANCE, atol=TOLERANCE * scale, msg=name)


def test_preparation_is_idempotent_and_keeps_the_weights() -> None:
    net = SideJPEGNet(get_preset("fast")).eval()
    state = {name: tensor.clone() for name, tensor in net.state_dict().items()}
    identity = model_id(net)
    inputs = _inputs(net.config.symbols, seed=1)
    once = _outputs(net.prepare_for_inference(), *inputs)
    twice = _outputs(net.prepare_for_inference(), *inputs)
    for name, want in once.items():
        assert torch.equal(twice[name], want), name
    assert model_id(net) == identity
    assert net.state_dict().keys() == state.keys()
    assert all(torch.equal(net.state_dict()[name], tensor) for name, tensor in state.items())


def test_training_mode_is_untouched_by_a_preparation() -> None:
    """``train()`` drops the preparation: the training output of a network never prepared (with its weights
    channels-last, which the preparation leaves), and gradients."""
    torch.manual_seed(2)
    fresh = SideJPEGNet(get_preset("fast"))
    torch.nn.init.normal_(fresh.restorer.tail.weight, std=0.01)  # zero at first: nothing would reach the trunk
    net = SideJPEGNet(get_preset("fast"))
    net.load_state_dict(fresh.state_dict())
    net.prepare_for_inference().train()
    fresh.to(memory_format=torch.channels_last)
    assert not any(_prepared_convolutions(net))
    original, jpeg, cond, _ = _inputs(net.config.symbols, seed=2)
    torch.manual_seed(3)
    want = fresh(original, jpeg, cond)
    torch.manual_seed(3)
    got = net(original, jpeg, cond)
    assert torch.equal(got.restored, want.restored) and torch.equal(got.bits, want.bits)
    (got.restored.mean() + got.bits.mean()).backward()
    for module in (net.extractor.down[0], net.restorer.blocks[0].modulation, net.restorer.blocks[0].body[2]):
        assert module.weight.grad is not None and module.weight.grad.abs().sum() > 0


def test_gradients_in_evaluation_mode_take_the_plain_path() -> None:
    """A prepared network in eval mode that is asked for gradients (say, a fine-tune's probe) still gives them."""
    net = SideJPEGNet(get_preset("fast")).prepare_for_inference()
    _, jpeg, cond, symbols = _inputs(net.config.symbols, seed=3)
    net.restorer.tail.weight.data.normal_(std=0.01)
    net.restore(jpeg, cond, symbols).square().mean().backward()
    assert net.restorer.head.weight.grad.abs().sum() > 0


def test_loading_weights_into_a_prepared_network_uses_them() -> None:
    """Loading drops the preparation (it would hold the old weights): the result is the new weights' own."""
    torch.manual_seed(4)
    other = SideJPEGNet(get_preset("fast")).eval().to(memory_format=torch.channels_last)
    torch.nn.init.normal_(other.restorer.tail.weight, std=0.01)
    net = SideJPEGNet(get_preset("fast")).prepare_for_inference()
    net.load_state_dict(other.state_dict())
    assert not any(_prepared_convolutions(net))
    inputs = _inputs(net.config.symbols, seed=4)
    for name, want in _outputs(other, *inputs).items():
        assert torch.equal(_outputs(net, *inputs)[name], want), name


def test_without_onednn_the_plain_ops_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Builds of torch without the fused convolutions (or CUDA) prepare nothing and compute the same."""
    monkeypatch.setattr(layers, "fusion_available", lambda: False)
    net = SideJPEGNet(get_preset("fast")).eval().to(memory_format=torch.channels_last)
    inputs = _inputs(net.config.symbols, seed=5)
    want = _outputs(net, *inputs)
    net.prepare_for_inference()
    assert not any(_prepared_convolutions(net))
    for name, got in _outputs(net, *inputs).items():
        assert torch.equal(got, want[name]), name


class _Counting:
    """A cancel event that is never set and counts how often it was asked."""

    def __init__(self) -> None:
        self.checked = 0

    def is_set(self) -> bool:
        self.checked += 1
        return False


def test_cancel_is_checked_once_per_convolution_however_many_inferences_share_the_network() -> None:
    net = SideJPEGNet(get_preset("fast"))
    rgb = np.zeros((32, 32, 3), np.uint8)

    def checks(inference: Inference) -> int:
        event = _Counting()
        inference.per_block(rgb, rgb, lambda _tile, x, y: net.extract(x, y, torch.zeros(1, FULL_COND)), None, event)
        return event.checked

    first = checks(Inference(net, torch.device("cpu")))
    convolutions = sum(isinstance(module, torch.nn.Conv2d) for module in net.extractor.modules())
    assert first >= convolutions
    assert checks(Inference(net, torch.device("cpu"))) == first
