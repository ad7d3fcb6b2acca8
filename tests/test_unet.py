"""The U-Net trunk plugs in where the EDSR trunk does, and the existing presets and weights are untouched."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from engine.conditioning import FULL_COND, JPEG_COND
from engine.config import ModelConfig, get_preset
from engine.models.adaptation import basis_size
from engine.models.restorer import Restorer
from engine.models.sidejpeg import SideJPEGNet
from engine.models.unet import UNetRestorer, restorer_for
from engine.resources import weights_path
from engine.weights import load_model_info, read_tensors, save_model

TINY = ModelConfig(
    name="tiny-unet", symbols=17, keep_jpeg=True, trunk="unet", trunk_blocks=0, trunk_features=8, trunk_scale=2,
    unet_features=(12, 16), unet_blocks=(1, 1, 2), extractor_features=4, context_features=8, mapping_features=8,
    modulation_features=8, corrections=8,
)


def _live(net: SideJPEGNet) -> SideJPEGNet:
    """A fresh net whose zero-initialised parts (tail, header gains) are random, so every input shows."""
    torch.manual_seed(0)
    for name, param in net.named_parameters():
        if "tail" in name or "gain" in name:
            torch.nn.init.normal_(param, std=0.1)
    return net.eval()


@pytest.mark.parametrize(("scale", "height", "width"), [(1, 37, 53), (2, 38, 54), (2, 16, 16)])
def test_any_size_is_padded_to_the_deepest_stride_and_cropped_back(scale: int, height: int, width: int) -> None:
    net = _live(SideJPEGNet(dataclasses.replace(TINY, trunk_scale=scale)))
    y, cond = torch.rand(1, 3, height, width), torch.rand(1, FULL_COND)
    with torch.inference_mode():
        restored, h = net.restore_with_features(y, cond, None)
    assert restored.shape == y.shape
    assert h.shape == (1, TINY.trunk_features, height // scale, width // scale)


def test_header_and_descriptors_condition_the_output() -> None:
    net = _live(SideJPEGNet(TINY))
    y, cond = torch.rand(1, 3, 32, 48), torch.rand(1, FULL_COND)
    other_header = cond.clone()
    other_header[:, :JPEG_COND] = torch.rand(1, JPEG_COND)
    symbols = torch.zeros(1, 2, 3, dtype=torch.long)
    with torch.inference_mode():
        base = net.restore(y, cond, symbols)
        assert not torch.allclose(base, net.restore(y, other_header, symbols))
        assert not torch.allclose(base, net.restore(y, cond, symbols + 5))
        assert not torch.allclose(base, net.restore(y, cond, None))


def test_every_level_reads_the_header_and_the_artifact_features() -> None:
    """Not only the head: each stage's gain follows the header, each block's modulation the descriptors."""
    unet = _live(SideJPEGNet(TINY)).restorer.unet
    stages = [*unet.encoder, unet.bottleneck, *unet.decoder]
    h = torch.rand(1, TINY.trunk_features, 16, 16)
    artifact = torch.rand(1, TINY.modulation_features, 16, 16)
    header = torch.rand(1, JPEG_COND)
    with torch.inference_mode():
        base = unet(h, header, artifact)
        for stage in stages:
            torch.nn.init.normal_(stage.gain.linear.weight, std=0.5)
            torch.nn.init.normal_(stage.blocks[0].modulation.weight, std=0.5)
            assert not torch.allclose(base, unet(h, header, artifact)), stage
            base = unet(h, header, artifact)


def test_selection_head_and_adaptation_read_the_unet_features() -> None:
    net = _live(SideJPEGNet(TINY))
    x, y, cond = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48), torch.rand(1, FULL_COND)
    with torch.inference_mode():
        encoded = net.encoder_pass(x, y, cond)
        weights = torch.randn(basis_size(TINY.trunk_features), 3) * 0.01
        adapted = net.restore(y, cond, encoded.first, weights)
    assert encoded.errors.shape == (1, TINY.symbols, 2, 3)
    assert adapted.shape == y.shape
    assert not torch.allclose(adapted, net.restore(y, cond, encoded.first))


def test_a_unet_model_round_trips_through_its_weights_file(tmp_path) -> None:
    config = ModelConfig.from_dict(json.loads(json.dumps(TINY.to_dict())))
    assert config == TINY
    net = _live(SideJPEGNet(TINY))
    save_model(tmp_path / "tiny.safetensors", net)
    loaded, _ = load_model_info(tmp_path / "tiny.safetensors")
    y, cond = torch.rand(1, 3, 32, 32), torch.rand(1, FULL_COND)
    with torch.inference_mode():
        assert torch.equal(net.restore(y, cond, None), loaded.eval().restore(y, cond, None))


@pytest.mark.parametrize("preset", ["fast", "paper"])
def test_existing_presets_and_weights_keep_the_edsr_trunk(preset: str) -> None:
    config = get_preset(preset)
    assert config.trunk == "edsr" and type(restorer_for(config)) is Restorer
    stored = json.loads(read_tensors(weights_path(preset))[1]["config"])
    assert stored.get("trunk", "edsr") == "edsr" and ModelConfig.from_dict(stored) == config
    net, _ = load_model_info(weights_path(preset))
    assert not any("unet" in name for name in net.state_dict())


def test_bad_unet_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="trunk_blocks"):
        UNetRestorer(dataclasses.replace(TINY, trunk_blocks=4))
    with pytest.raises(ValueError, match="one count per level"):
        UNetRestorer(dataclasses.replace(TINY, unet_blocks=(1, 1)))
    with pytest.raises(ValueError, match="edsr, unet"):
        restorer_for(dataclasses.replace(TINY, trunk="resnet"))


def test_a_unet_trunk_is_described_as_one() -> None:
    assert TINY.trunk_summary == (
        "U-Net of conditional residual blocks, 8/12/16 channels and 1/1/2 blocks per level from 1/2 resolution down"
    )
    fast = get_preset("fast")
    assert fast.trunk_summary == "8 conditional residual blocks × 48 channels at 1/2 resolution"


def test_tiles_of_a_unet_see_as_far_as_its_coarsest_level_and_no_less_than_the_edsr_margin() -> None:
    from engine.config import FAST, UNET
    from engine.inference import TILE_MARGIN, Inference, tile_margin

    assert tile_margin(FAST) == TILE_MARGIN
    assert tile_margin(UNET) == 8 * 2 * 4 > TILE_MARGIN  # eight pixels at 1/4 of a trunk at 1/2 resolution
    assert tile_margin(TINY) == 8 * 2 * 4
    assert tile_margin(dataclasses.replace(TINY, trunk_scale=1, unet_features=(12,), unet_blocks=(1, 1))) == TILE_MARGIN
    assert Inference(SideJPEGNet(TINY), torch.device("cpu")).margin == tile_margin(TINY)


def test_a_whole_unet_restore_and_a_tiled_one_agree_across_the_tile_seam() -> None:
    """Two tiles side by side, each with the U-Net's margin of context, give what one pass over the image gives,
    to within the rounding of the pixels."""
    import numpy as np

    from engine.conditioning import Conditioning
    from engine.inference import TILE_SIDE, Inference
    from engine.jpeg_io import decode_with_params, encode_jpeg

    net = _live(SideJPEGNet(TINY))
    rng = np.random.default_rng(0)
    width = TILE_SIDE * TINY.trunk_scale + 96
    rgb = np.clip(rng.normal(128, 40, (48, width, 3)).cumsum(axis=1) / 8 % 256, 0, 255).astype(np.uint8)
    decoded, params = decode_with_params(encode_jpeg(rgb, 20, "4:2:0"))
    inference = Inference(net, torch.device("cpu"))
    cond = Conditioning.of(params, 64.0)
    tiled = inference.restore(decoded, cond, None, (0, 0, 48, width), None, None).astype(np.int16)
    with torch.inference_mode():
        whole = inference.net.restore(inference.tensor(decoded), inference.cond(cond), None)
    whole = (whole[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.int16).numpy()
    assert np.abs(tiled - whole).max() <= 1


def test_a_unet_model_compresses_with_its_prediction_and_adaptation_and_decodes_to_the_same_image() -> None:
    """The encoder's statistics per trunk cell and its prediction follow the U-Net's own feature resolution."""
    import numpy as np

    from engine.pipeline import Codec

    codec = Codec(net=_live(SideJPEGNet(TINY)), device="cpu")
    rgb = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    shown: list[np.ndarray] = []
    made = codec.compress(rgb, 20, 0.0, preview=shown.append)
    assert len(shown) == 1 and shown[0].shape == rgb.shape
    assert np.array_equal(codec.restore(made.jpeg, made.sidecar).image, made.restored)
