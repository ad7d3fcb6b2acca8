"""Several inputs in one command: files and folders, --out-dir, resuming, a summary, bad files among good ones.

The model is the session's random-initialised codec (``conftest.codec``), counted each time a command loads one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.commands import common, compress
from engine.config import DEFAULT_PRESET
from engine.image_io import load_image
from engine.metrics import psnr

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def loads(monkeypatch, codec) -> list[str]:
    """The presets the commands load, each answered by the random-initialised codec."""
    loaded: list[str] = []

    def load(preset: str, device: str, adapts: bool = True):
        loaded.append(preset)
        return codec

    monkeypatch.setattr(common, "Codec", load)
    return loaded


@pytest.fixture
def photos(tmp_path: Path, sample_rgb: np.ndarray) -> Path:
    """A folder of three small images in three formats, and a text file that is no input."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for shift, name in enumerate(["a.png", "b.jpg", "c.tif"]):
        Image.fromarray(np.roll(sample_rgb[:48, :64], 9 * shift, axis=1)).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    return folder


def run(capsys, *args: str) -> tuple[int, str, list[str]]:
    """Exit code, stdout and the lines on stderr."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def stamps(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_files_and_folders_to_out_dir_with_a_bad_file(photos: Path, tmp_path: Path, loads, capsys) -> None:
    (photos / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    extra = tmp_path / "d.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(extra)
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "compress", str(photos), str(extra), "-q", "40", "--out-dir", str(out))
    assert code == 2 and loads == [DEFAULT_PRESET]  # one model for every file
    assert len(err) == 1 and err[0].startswith(f"sidejpeg compress: {photos / 'bad.png'}: damaged or truncated PNG")
    assert names(out) == ["a.jpg", "a.jpg.side", "b.jpg", "b.jpg.side", "c.jpg", "c.jpg.side", "d.jpg", "d.jpg.side"]
    sources = [photos / "a.png", photos / "b.jpg", photos / "c.tif", extra]
    bytes_in, bytes_out = sum(p.stat().st_size for p in sources), sum(p.stat().st_size for p in out.iterdir())
    assert stdout.startswith(
        f"5 files: 4 done, 0 skipped (outputs exist), 1 failed; {bytes_in:,} bytes in, {bytes_out:,} bytes out; mean "
    )
    assert "bpp, mean PSNR" in stdout and stdout.count("\n") == 1


def test_a_rerun_skips_what_is_done_and_force_does_it_again(photos: Path, tmp_path: Path, loads, capsys) -> None:
    out = tmp_path / "out"
    args = ("compress", str(photos), "-q", "40", "--out-dir", str(out))
    assert run(capsys, *args)[0] == 0
    before = stamps(out)
    code, stdout, err = run(capsys, *args)
    assert code == 0 and err == [] and stamps(out) == before
    assert stdout.startswith("3 files: 0 done, 3 skipped (outputs exist), 0 failed; 0 bytes in, 0 bytes out\n")
    assert loads == [DEFAULT_PRESET]  # nothing left to do: no model loaded the second time
    code, stdout, _ = run(capsys, *args, "--force")
    assert code == 0 and stdout.startswith("3 files: 3 done, 0 skipped")
    assert all(stamps(out)[name] > before[name] for name in before)


def test_an_interrupted_run_resumes(photos: Path, tmp_path: Path, loads, capsys, monkeypatch) -> None:
    out = tmp_path / "out"

    def interrupted_at_c(source, *rest):
        if Path(source).name == "c.tif":
            raise KeyboardInterrupt
        return load_image(source, *rest)

    monkeypatch.setattr(compress, "load_image", interrupted_at_c)
    code, _, err = run(capsys, "compress", str(photos), "-q", "40", "--out-dir", str(out))
    assert code == 130 and err == ["sidejpeg compress: interrupted"]
    assert names(out) == ["a.jpg", "a.jpg.side", "b.jpg", "b.jpg.side"]  # whole files only, no temporary ones
    monkeypatch.setattr(compress, "load_image", load_image)
    code, stdout, _ = run(capsys, "compress", str(photos), "-q", "40", "--out-dir", str(out))
    assert code == 0 and stdout.startswith("3 files: 1 done, 2 skipped")
    assert "c.jpg.side" in names(out)


def test_restore_a_folder_to_out_dir(photos: Path, tmp_path: Path, codec, loads, capsys) -> None:
    jpegs, pngs = tmp_path / "jpegs", tmp_path / "pngs"
    assert run(capsys, "compress", str(photos), "-q", "40", "--out-dir", str(jpegs))[0] == 0
    code, stdout, err = run(capsys, "restore", str(jpegs), "--out-dir", str(pngs))
    assert code == 0 and err == [] and names(pngs) == ["a.png", "b.png", "c.png"]
    assert loads == [DEFAULT_PRESET, DEFAULT_PRESET]  # one per command
    restored = load_image(pngs / "a.png").rgb
    expected = codec.restore((jpegs / "a.jpg").read_bytes(), (jpegs / "a.jpg.side").read_bytes())
    assert not expected.blind and np.array_equal(restored, expected.image)
    bytes_in = sum(p.stat().st_size for p in jpegs.iterdir())
    mean_bpp = np.mean([(p.stat().st_size + Path(f"{p}.side").stat().st_size) * 8 / (64 * 48)
                        for p in sorted(jpegs.glob("*.jpg"))])
    assert stdout == (
        f"3 files: 3 done, 0 skipped (outputs exist), 0 failed; {bytes_in:,} bytes in, "
        f"{sum(p.stat().st_size for p in pngs.iterdir()):,} bytes out; mean {mean_bpp:.4f} bpp\n"
    )


def test_a_rerun_in_place_takes_no_output_for_an_input(photos: Path, loads, capsys) -> None:
    assert run(capsys, "compress", str(photos), "-q", "40")[0] == 0
    made = ["a.jpg", "a.jpg.side", "b.sidejpeg.jpg", "b.sidejpeg.jpg.side", "c.jpg", "c.jpg.side"]
    assert names(photos) == sorted(["a.png", "b.jpg", "c.tif", "notes.txt", *made])
    code, stdout, _ = run(capsys, "compress", str(photos), "-q", "40")
    assert code == 0 and stdout.startswith("3 files: 0 done, 3 skipped")
    assert len(names(photos)) == 4 + len(made)


def test_two_inputs_with_one_output_name(tmp_path: Path, sample_rgb: np.ndarray, loads, capsys) -> None:
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        Image.fromarray(sample_rgb[:32, :32]).save(tmp_path / folder / "p.png")
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "compress", str(tmp_path / "x"), str(tmp_path / "y"), "-q", "40", "--out-dir",
                            str(out))
    assert code == 2 and stdout.startswith("2 files: 1 done, 0 skipped (outputs exist), 1 failed")
    assert err == [f"sidejpeg compress: {tmp_path / 'y' / 'p.png'}: {out / 'p.jpg'} is also the output of "
                   f"{tmp_path / 'x' / 'p.png'}; use separate runs or rename one"]


def test_partial_outputs_are_not_overwritten_without_force(photos: Path, tmp_path: Path, loads, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.jpg").write_bytes(b"someone's file")
    code, _, err = run(capsys, "compress", str(photos), "-q", "40", "--out-dir", str(out))
    assert code == 2 and err == [f"sidejpeg compress: {photos / 'a.png'}: {out / 'a.jpg'} exists; use --force to "
                                 "overwrite it"]
    assert (out / "a.jpg").read_bytes() == b"someone's file" and not (out / "a.jpg.side").exists()


def test_json_report_of_a_batch(photos: Path, tmp_path: Path, loads, capsys) -> None:
    (photos / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "compress", str(photos), "-q", "40", "--out-dir", str(out), "--embed", "--json")
    report = json.loads(stdout)
    assert code == 2 and len(err) == 1 and "bad.jpg" in err[0]
    assert (report["done"], report["skipped"], report["failed"]) == (3, 0, 1)
    assert [(Path(f["input"]).name, f["status"]) for f in report["files"]] == [
        ("a.png", "done"), ("b.jpg", "done"), ("bad.jpg", "failed"), ("c.tif", "done")]
    a = report["files"][0]
    assert (a["width"], a["height"], a["quality"], a["metadata"]) == (64, 48, 40, [])
    assert a["psnr_jpeg"] == pytest.approx(psnr(load_image(out / "a.jpg").rgb, load_image(photos / "a.png").rgb))
    assert report["bytes_out"] == sum(p.stat().st_size for p in out.iterdir()) and names(out) == [
        "a.jpg", "b.jpg", "c.jpg"]
    assert report["mean_bpp"] == pytest.approx(np.mean([f["bpp_total"] for f in report["files"] if "bpp_total" in f]))


def test_a_folder_without_images_exits_2(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "restore", str(tmp_path))
    assert code == 2 and err == [f"sidejpeg restore: error: no JPEG files in {tmp_path}"]
