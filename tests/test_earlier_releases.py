"""Earlier releases of a preset's weights: the sidecars made with them still decode, with the model that made them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import (
    DEFAULT_PRESET,
    Codec,
    CompressResult,
    SideJPEGError,
    earlier_releases,
    installed_models,
    measured_side_vs_blind,
    preset_of,
    read_sidecar_header,
)
from engine import resources as res
from engine.cli import main
from engine.side_files import sidecar_path

RELEASES = earlier_releases()


@pytest.fixture(scope="module")
def release() -> str:
    assert RELEASES, "the shipped resources keep at least one earlier release"
    return RELEASES[0]


@pytest.fixture(scope="module")
def made_with(sample_rgb: np.ndarray) -> Callable[[str], CompressResult]:
    """The sample compressed by a model, once per model for the module."""
    return functools.cache(lambda model: Codec(model, "cpu").compress(sample_rgb, 20, 64.0))


@pytest.fixture(scope="module")
def made(release: str, made_with) -> CompressResult:
    return made_with(release)


def test_each_earlier_release_is_named_for_its_preset_and_its_own_id() -> None:
    for model_id, name in installed_models().items():
        if name in RELEASES:
            preset, _, short = name.partition("@")
            assert model_id.startswith(short) and res.preset_name(name) == preset
            assert Codec(name, "cpu").model_id.hex() == model_id
    assert set(RELEASES) <= set(installed_models().values())


def test_a_sidecar_of_an_earlier_release_names_it_and_the_current_model_refuses_it(release: str, made) -> None:
    current = Codec(res.preset_name(release), "cpu")
    assert current.model_id != Codec(release, "cpu").model_id
    with pytest.raises(SideJPEGError, match=f"matches the installed model '{release}'"):
        current.restore(made.jpeg, made.sidecar)
    assert preset_of(read_sidecar_header(made.sidecar).model_id) == release


def test_each_earlier_release_keeps_what_it_was_measured_to_buy(release: str) -> None:
    measured = measured_side_vs_blind(release)
    assert measured is not None and set(measured) == {"kodak", "live1"}
    assert measured != measured_side_vs_blind(res.preset_name(release))


def test_the_release_restores_its_sidecar_exactly_as_its_encoder_predicted(release: str, made) -> None:
    restored = Codec(release, "cpu").restore(made.jpeg, made.sidecar)
    assert not restored.blind and np.array_equal(restored.image, made.restored)


@pytest.mark.parametrize("model", [*RELEASES[:1], "fast"])
def test_the_command_line_restores_with_the_model_that_made_the_sidecar(
    model: str, made_with, tmp_path: Path, capsys
) -> None:
    """An earlier release of a preset, and a preset that is no longer the default (``fast``), both decode their
    sidecars: the command line picks the model by the sidecar's id, whatever the default."""
    assert model != DEFAULT_PRESET
    made = made_with(model)
    jpeg = tmp_path / "old.jpg"
    jpeg.write_bytes(made.jpeg)
    sidecar_path(jpeg).write_bytes(made.sidecar)
    out = tmp_path / "old.png"
    assert main(["restore", str(jpeg), "-o", str(out)]) == 0
    assert "with side information" in capsys.readouterr().out
    assert np.array_equal(np.asarray(Image.open(out)), made.restored)
    assert main(["info", str(jpeg)]) == 0
    assert f"(preset: {model})" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["fast@../../x", "fast@3A4F0353", "fast@3a4f", "@3a4f0353", "fast@3a4f0353@1"])
def test_a_malformed_model_name_is_an_unknown_preset(name: str) -> None:
    with pytest.raises(SideJPEGError, match="unknown preset"):
        Codec(name, "cpu")


@pytest.mark.parametrize("preset", ["fast", "fast-context", "fast_2"])
def test_a_preset_name_may_hold_hyphens_and_underscores(preset: str) -> None:
    assert res.preset_name(preset) == preset
    assert res.preset_name(f"{preset}@3a4f0353") == preset


def test_a_release_whose_name_belies_its_weights_is_not_installed(tmp_path: Path, monkeypatch, release: str) -> None:
    """A file in ``earlier/`` named for one preset but holding another's weights is skipped."""
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "paper@3a4f0353.safetensors").symlink_to(res.weights_path(release))
    (earlier / f"{release}.safetensors").symlink_to(res.weights_path(release))
    monkeypatch.setattr(res, "MODELS", tmp_path)
    monkeypatch.setattr(res, "EARLIER", earlier)
    assert list(installed_models().values()) == [release]
    assert res.earlier_releases() == [release]
