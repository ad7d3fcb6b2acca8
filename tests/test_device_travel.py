"""The GPU session's travel budget: the tracked tree and the carried folders against the device's limit."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "device_travel.py"
MIB = 2**20


@pytest.fixture
def travel():
    spec = importlib.util.spec_from_file_location("device_travel", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    """A repository with 2 MiB tracked, 1 MiB untracked, 5 MiB ignored, and a 2 MiB (ignored) folder to carry."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("ignored.bin\npack/\n")
    (tmp_path / "weights.bin").write_bytes(bytes(2 * MIB))
    subprocess.run(["git", "-C", str(tmp_path), "add", "weights.bin"], check=True)
    (tmp_path / "notes.bin").write_bytes(bytes(MIB))
    (tmp_path / "ignored.bin").write_bytes(bytes(5 * MIB))
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "crops.bin").write_bytes(bytes(2 * MIB))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_left_budget_counts_tracked_files_and_folders(travel, repo: Path, capsys) -> None:
    assert travel.main(["--left", "pack", "--reserve", "3"]) == 0
    left = travel.LIMIT_MIB - travel.MARGIN_MIB - 3 - (3 + 2)
    assert float(capsys.readouterr().out) == pytest.approx(left, abs=0.05)
    assert travel.main(["--left", "pack", "--most", "4"]) == 0
    assert float(capsys.readouterr().out) == 4.0


def test_a_load_over_the_limit_is_refused(travel, repo: Path, monkeypatch, capsys) -> None:
    assert travel.main(["--check", "pack"]) == 0
    monkeypatch.setattr(travel, "LIMIT_MIB", 4.0)
    assert travel.main(["--check", "pack"]) == 2
    assert "5.0 MiB" in capsys.readouterr().err
    assert travel.main(["--left", "pack"]) == 2, "nothing is left for the pack"


PACK_ROOM_MIB = 8.0
"""The least room a GPU session's training pack needs (the fast run of session 8 trained on 12 MiB of crops)."""
CARRIED_BESIDE_MIB = 5.0
"""The GPU session's wheels (0.7 MiB) and its cross-device set of 50 JPEGs and sidecars (3.2 MiB), rounded up."""


def test_the_checkout_leaves_room_for_a_training_pack(travel, monkeypatch) -> None:
    """Weights, checkpoints and records grow with every session; what a GPU session carries must still fit."""
    monkeypatch.chdir(SCRIPT.parents[1])
    left = travel.LIMIT_MIB - travel.MARGIN_MIB - CARRIED_BESIDE_MIB - travel.tree_bytes() / MIB
    assert left >= PACK_ROOM_MIB, f"the tree leaves {left:.1f} MiB for a training pack"
