"""One rule for where a JPEG's side information is found (CLI, app and batch mode use it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import SideJPEGError, embed_sidecar, encode_jpeg, find_side_information, side_files, sidecar_path
from tests.conftest import tiny_image


def test_a_sidecar_beside_the_jpeg_wins_over_an_embedded_one(tmp_path: Path) -> None:
    jpeg = encode_jpeg(tiny_image(0), 50)
    path = tmp_path / "photo.jpg"
    path.write_bytes(embed_sidecar(jpeg, b"inside"))
    found = find_side_information(path, path.read_bytes())
    assert (found.jpeg, found.sidecar, found.where, found.file_bytes) == (jpeg, b"inside", "embedded", 0)
    sidecar_path(path).write_bytes(b"beside")
    found = find_side_information(path, path.read_bytes())
    assert (found.jpeg, found.sidecar, found.where, found.file_bytes) == (jpeg, b"beside", "photo.jpg.side", 6)


def test_no_side_information_is_blind_and_a_huge_file_is_refused(tmp_path: Path, monkeypatch) -> None:
    jpeg = encode_jpeg(tiny_image(0), 50)
    path = tmp_path / "photo.jpg"
    found = find_side_information(path, jpeg)
    assert (found.jpeg, found.sidecar, found.where) == (jpeg, None, None)
    monkeypatch.setattr(side_files, "MAX_SIDECAR_BYTES", 3)
    sidecar_path(path).write_bytes(b"four")
    with pytest.raises(SideJPEGError, match="too large"):
        find_side_information(path, jpeg)
