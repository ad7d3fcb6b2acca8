"""Safe loading (weights only from safetensors, checked against their hash; nothing is ever unpickled)
and nothing lost (every output goes to a temporary file that is renamed; no overwrite without --force)."""

from __future__ import annotations

import ast
import json
import os
import pickle
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import engine.pipeline
from engine import atomic
from engine.cli import main
from engine.errors import SideJPEGError
from engine.resources import weights_path
from engine.weights import load_model, read_tensors, save_model
from tests.conftest import random_net

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = weights_path("fast")
needs_weights = pytest.mark.skipif(not SHIPPED.exists(), reason="needs the shipped fast weights")

# ------------------------------------------------------------------------------------------ no pickles

FORBIDDEN_TEXT = re.compile(
    r"torch\.load\b|torch\.jit\.load\b|\bc?[pP]ickle\b|weights_only\s*=\s*False|allow_pickle\s*=\s*True"
    r"|\bdill\b|\bjoblib\b|\bcloudpickle\b|\bshelve\b|\bmarshal\.loads?\b"
)
FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "dill", "joblib", "cloudpickle", "shelve", "marshal"}


def source_files() -> list[Path]:
    files = [p for folder in ("engine", "gui", "scripts") for p in sorted((ROOT / folder).rglob("*.py"))]
    assert any(p.name == "weights.py" for p in files)
    return files


def test_no_source_mentions_torch_load_or_pickle() -> None:
    """A grep of engine/, gui/ and scripts/: no torch.load, pickle or weights_only=False anywhere."""
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in source_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if FORBIDDEN_TEXT.search(line)
    ]
    assert hits == []


def test_no_source_imports_an_unpickler() -> None:
    """The same by syntax tree: no import of pickle-like modules, no call of any ``*.load`` on torch."""
    found = []
    for path in source_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
                if node.module == "torch":
                    names += [f"torch.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.keyword) and node.arg in ("weights_only", "allow_pickle"):
                names = [f"{node.arg}={ast.unparse(node.value)}"]
            found += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names
                      if n in FORBIDDEN_MODULES or n in ("torch.load", "weights_only=False", "allow_pickle=True")]
    assert found == []


@needs_weights
def test_loading_and_restoring_never_unpickles(monkeypatch, tmp_path: Path, sample_rgb: np.ndarray) -> None:
    """At run time too: with every unpickler made to fail, weights load and a round trip works."""

    def refuse(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    codec = engine.pipeline.Codec("fast", "cpu")
    made = codec.compress(sample_rgb[:32, :48], 30, 16.0)
    assert codec.restore(made.jpeg, made.sidecar).image.shape == (32, 48, 3)


def test_a_pickle_named_safetensors_is_refused_and_never_run(tmp_path: Path) -> None:
    """A torch.save / pickle file passed off as weights must be refused by the safetensors parser,
    never unpickled (unpickling it would run the payload below)."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps({"weights": Payload()}))
    with pytest.raises(SideJPEGError, match="cannot read weights"):
        load_model(evil)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "saved.safetensors")
    with pytest.raises(SideJPEGError, match="cannot read weights"):
        load_model(tmp_path / "saved.safetensors")
    assert not marker.exists()


# ------------------------------------------------------------------------------------------ hash check


def safetensors_layout(data: bytes) -> tuple[int, dict]:
    """(offset where tensor data starts, header) of a safetensors file."""
    (size,) = struct.unpack_from("<Q", data)
    return 8 + size, json.loads(data[8 : 8 + size])


@pytest.fixture
def weights_file(tmp_path: Path) -> Path:
    """A copy of the shipped weights, or freshly saved random ones where they are not shipped."""
    path = tmp_path / "copy.safetensors"
    if SHIPPED.exists():
        shutil.copyfile(SHIPPED, path)
    else:
        save_model(path, random_net())
    return path


def test_intact_copy_loads(weights_file: Path) -> None:
    assert load_model(weights_file) is not None


def test_a_channels_last_model_saves_with_the_same_hash(tmp_path: Path) -> None:
    net = random_net()
    plain = save_model(tmp_path / "plain.safetensors", net)
    assert save_model(tmp_path / "cl.safetensors", net.to(memory_format=torch.channels_last)) == plain
    assert load_model(tmp_path / "cl.safetensors") is not None


@pytest.mark.parametrize("where", [0.0, 0.5, 1.0])
def test_flipped_byte_in_a_tensor_is_refused(weights_file: Path, where: float) -> None:
    data = bytearray(weights_file.read_bytes())
    start, header = safetensors_layout(bytes(data))
    tensors = sorted((v["data_offsets"], k) for k, v in header.items() if k != "__metadata__" and v["data_offsets"])
    (first, last), _ = tensors[int(where * (len(tensors) - 1))]
    data[start + (first + last) // 2] ^= 0x01
    weights_file.write_bytes(bytes(data))
    with pytest.raises(SideJPEGError, match="do not match their recorded hash"):
        load_model(weights_file)


def test_codec_refuses_corrupted_shipped_weights(weights_file: Path, monkeypatch) -> None:
    data = bytearray(weights_file.read_bytes())
    data[-1] ^= 0x80
    weights_file.write_bytes(bytes(data))
    monkeypatch.setattr(engine.pipeline, "weights_path", lambda preset: weights_file)
    with pytest.raises(SideJPEGError, match="recorded hash"):
        engine.pipeline.Codec("fast", "cpu")


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: b"",
        lambda d: d[:7],
        lambda d: d[: len(d) // 2],
        lambda d: d[:8] + d[8:40].replace(b'"', b"'", 1) + d[40:],  # header JSON broken
        lambda d: struct.pack("<Q", 2**63) + d[8:],  # header length absurd
        lambda d: d + b"\x00" * 3,
    ],
)
def test_damaged_weights_files_are_refused(weights_file: Path, damage) -> None:
    weights_file.write_bytes(damage(weights_file.read_bytes()))
    with pytest.raises(SideJPEGError) as caught:
        load_model(weights_file)
    assert "\n" not in str(caught.value)


def test_weights_without_a_recorded_hash_are_refused(weights_file: Path, tmp_path: Path) -> None:
    tensors, metadata = read_tensors(weights_file)
    from safetensors.torch import save_file

    bare = tmp_path / "bare.safetensors"
    save_file(tensors, str(bare), metadata={"config": metadata["config"]})
    with pytest.raises(SideJPEGError, match="recorded hash"):
        load_model(bare)
    no_config = tmp_path / "noconfig.safetensors"
    save_file(tensors, str(no_config), metadata={"sha256": metadata["sha256"]})
    with pytest.raises(SideJPEGError, match="no valid model config"):
        load_model(no_config)


# ------------------------------------------------------------------------------------------ nothing lost


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def failing_replace(monkeypatch, when) -> None:
    """Make ``os.replace`` raise for destinations ``when(dst)`` says; others go through."""
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if when(Path(dst)):
            raise OSError(28, "No space left on device")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def test_atomic_write_interrupted_at_the_rename_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "out.jpg"
    target.write_bytes(b"previous")
    failing_replace(monkeypatch, lambda dst: True)
    with pytest.raises(OSError):
        atomic.write_bytes(target, b"new" * 1000)
    assert target.read_bytes() == b"previous" and temp_files(tmp_path) == []


@pytest.mark.parametrize("error", [OSError(5, "Input/output error"), KeyboardInterrupt()])
def test_atomic_write_interrupted_mid_write_keeps_the_old_file(tmp_path: Path, monkeypatch, error) -> None:
    target = tmp_path / "out.jpg"
    target.write_bytes(b"previous")

    def broken_fsync(fd):
        raise error

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(type(error)):
        atomic.write_bytes(target, b"new" * 1000)
    assert target.read_bytes() == b"previous" and temp_files(tmp_path) == []


def test_saving_weights_interrupted_keeps_the_old_weights(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "w.safetensors"
    save_model(target, random_net(seed=1))
    before = target.read_bytes()
    failing_replace(monkeypatch, lambda dst: True)
    with pytest.raises(OSError):
        save_model(target, random_net(seed=2))
    assert target.read_bytes() == before and temp_files(tmp_path) == []


@pytest.fixture
def photo(tmp_path: Path, sample_rgb: np.ndarray) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(sample_rgb[:32, :48]).save(path)
    return path


def one_line_error(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@needs_weights
@pytest.mark.parametrize("failing", ["photo.jpg", "photo.jpg.side"])
def test_compress_interrupted_at_either_rename_leaves_the_previous_pair(photo: Path, capsys, monkeypatch,
                                                                        failing: str) -> None:
    jpeg, side = photo.with_name("photo.jpg"), photo.with_name("photo.jpg.side")
    jpeg.write_bytes(b"old jpeg")
    side.write_bytes(b"old side")
    failing_replace(monkeypatch, lambda dst: dst.name == failing)
    err = one_line_error(capsys, main(["compress", str(photo), "-q", "30", "--force"]))
    assert "No space left" in err
    assert jpeg.read_bytes() == b"old jpeg" and side.read_bytes() == b"old side"
    assert temp_files(photo.parent) == []


@needs_weights
@pytest.mark.parametrize("failing", ["photo.jpg", "photo.jpg.side"])
def test_compress_interrupted_leaves_no_new_file_behind(photo: Path, capsys, monkeypatch, failing: str) -> None:
    failing_replace(monkeypatch, lambda dst: dst.name == failing)
    one_line_error(capsys, main(["compress", str(photo), "-q", "30"]))
    assert sorted(p.name for p in photo.parent.iterdir()) == ["photo.png"]


@needs_weights
def test_compress_interrupted_by_the_user_mid_write(photo: Path, capsys, monkeypatch) -> None:
    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    assert main(["compress", str(photo), "-q", "30"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(p.name for p in photo.parent.iterdir()) == ["photo.png"]


@needs_weights
@pytest.mark.parametrize(
    "args",
    [
        ["-o", "{dir}/taken.jpg"],  # existing output
        ["-o", "{dir}/fresh.jpg", "--side", "{dir}/taken.jpg"],  # existing sidecar path
        ["-o", "{dir}/photo.png"],  # the input itself
        ["-o", "{dir}/fresh.jpg", "--side", "{dir}/photo.png"],
        ["-o", "{dir}/link.jpg"],  # a link to the input
    ],
)
def test_compress_never_overwrites_without_force(photo: Path, capsys, args: list[str]) -> None:
    folder = photo.parent
    (folder / "taken.jpg").write_bytes(b"keep me")
    (folder / "link.jpg").symlink_to(photo)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    err = one_line_error(capsys, main(["compress", str(photo), "-q", "30", *[a.format(dir=folder) for a in args]]))
    assert "--force" in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@needs_weights
def test_jpeg_and_sidecar_cannot_be_the_same_file(photo: Path, capsys) -> None:
    same = str(photo.with_name("x.jpg"))
    for extra in ([], ["--force"]):
        err = one_line_error(capsys, main(["compress", str(photo), "-q", "30", "-o", same, "--side", same, *extra]))
        assert "same file" in err
    assert sorted(p.name for p in photo.parent.iterdir()) == ["photo.png"]


@needs_weights
def test_compressing_a_jpeg_never_replaces_it(tmp_path: Path, capsys, sample_rgb: np.ndarray) -> None:
    source = tmp_path / "holiday.jpg"
    Image.fromarray(sample_rgb[:32, :48]).save(source, quality=95)
    before = source.read_bytes()
    assert main(["compress", str(source), "-q", "30"]) == 0
    assert source.read_bytes() == before
    assert (tmp_path / "holiday.sidejpeg.jpg").exists() and (tmp_path / "holiday.sidejpeg.jpg.side").exists()


@needs_weights
def test_restore_never_overwrites_without_force(photo: Path, capsys) -> None:
    assert main(["compress", str(photo), "-q", "30"]) == 0
    jpeg = photo.with_name("photo.jpg")
    restored = photo.with_name("photo.restored.png")
    restored.write_bytes(b"keep me")
    capsys.readouterr()
    for args in ([], ["-o", str(jpeg)], ["-o", f"{jpeg}.side"]):
        err = one_line_error(capsys, main(["restore", str(jpeg), *args]))
        assert "--force" in err
    assert restored.read_bytes() == b"keep me"
    assert main(["restore", str(jpeg), "--force"]) == 0
    with Image.open(restored) as im:
        assert im.size == (48, 32)


@needs_weights
def test_new_outputs_get_ordinary_permissions(photo: Path, capsys) -> None:
    """Temporary files are created private (0600); the renamed outputs must not stay that way."""
    old = os.umask(0o022)
    try:
        assert main(["compress", str(photo), "-q", "30"]) == 0
    finally:
        os.umask(old)
    for name in ("photo.jpg", "photo.jpg.side"):
        assert (photo.parent / name).stat().st_mode & 0o777 == 0o644
