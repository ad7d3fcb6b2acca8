"""The app defaults to blind decoding when measurements say side information does not pay."""

from __future__ import annotations

from engine import DEFAULT_PRESET, GPU_PRESET
from gui import state


def test_default_follows_the_measured_verdict(monkeypatch) -> None:
    monkeypatch.setattr(state, "measured_side_vs_blind", lambda preset: {"kodak": 0.8})
    assert state.default_settings(["fast"], ["cpu"]).use_sidecar is False
    monkeypatch.setattr(state, "measured_side_vs_blind", lambda preset: {"kodak": -3.0, "live1": -1.0})
    assert state.default_settings(["fast"], ["cpu"]).use_sidecar is True
    monkeypatch.setattr(state, "measured_side_vs_blind", lambda preset: None)
    assert state.default_settings(["fast"], ["cpu"]).use_sidecar is True


def test_default_model_on_a_cpu_and_with_cuda(monkeypatch) -> None:
    monkeypatch.setattr(state, "measured_side_vs_blind", lambda preset: None)
    assert state.default_settings(["paper", "fast", DEFAULT_PRESET], ["cpu"]).preset == DEFAULT_PRESET
    with_cuda = state.default_settings(["paper", "fast", DEFAULT_PRESET], ["cpu", "cuda"])
    assert (with_cuda.preset, with_cuda.device) == (GPU_PRESET, "cuda")
    assert state.default_settings([DEFAULT_PRESET], ["cpu", "cuda"]).preset == DEFAULT_PRESET
    assert state.default_settings(["paper"], ["cpu"]).preset == "paper"


def test_shipped_measurement_is_read() -> None:
    from engine import measured_side_vs_blind

    for preset in ("fast-context", "fast", "paper"):
        measured = measured_side_vs_blind(preset)
        assert measured is not None and set(measured) == {"kodak", "live1"}
        assert all(v < 0 for v in measured.values())  # every shipped model's side information pays
