"""The ``sidejpeg`` command line, with the shipped weights."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import pipeline
from engine.cli import main
from engine.commands import info as info_command
from engine.container import split_embedded
from engine.encoding import Encoded
from engine.jpeg_io import encode_jpeg
from engine.metrics import psnr
from engine.pipeline import Codec
from engine.sidecar import VERSION
from engine.strength import network_share

JSON_KEYS = {
    "adaptation",
    "adaptation_gain_db",
    "jpeg_bytes",
    "side_bytes",
    "width",
    "height",
    "bpp_jpeg",
    "bpp_side",
    "bpp_total",
    "psnr_jpeg",
    "psnr_restored",
    "quality",
    "lam",
    "metadata",
}


@pytest.fixture
def image(tmp_path: Path, sample_rgb: np.ndarray) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(sample_rgb).save(path)
    return path


def test_compress_json_then_restore(image: Path, capsys) -> None:
    assert main(["compress", str(image), "-q", "25", "--lam", "32", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == JSON_KEYS
    jpeg, side = image.with_suffix(".jpg"), Path(f"{image.with_suffix('.jpg')}.side")
    assert report["jpeg_bytes"] == jpeg.stat().st_size and report["side_bytes"] == side.stat().st_size
    assert report["bpp_total"] == pytest.approx((report["jpeg_bytes"] + report["side_bytes"]) * 8 / (128 * 96))
    assert main(["restore", str(jpeg)]) == 0
    assert "with side information" in capsys.readouterr().out
    restored = np.asarray(Image.open(image.with_name("photo.restored.png")))
    assert restored.shape == (96, 128, 3)
    # compress reports the PSNR of what restore gives (the encoder's own restored image, not a second restore)
    assert psnr(restored, np.asarray(Image.open(image))) == pytest.approx(report["psnr_restored"], abs=1e-9)
    assert report["metadata"] == []


def test_compress_text_report_and_info(image: Path, capsys) -> None:
    assert main(["compress", str(image), "-q", "30", "-o", str(image.with_name("x.jpg"))]) == 0
    out = capsys.readouterr().out
    assert "bpp" in out and "PSNR" in out
    assert main(["info", str(image.with_name("x.jpg"))]) == 0
    assert "side information" in capsys.readouterr().out
    assert main(["info", str(image.with_name("x.jpg.side"))]) == 0
    out = capsys.readouterr().out
    assert "SideJPEG sidecar" in out and f"sidecar version {VERSION}" in out and "adaptation: " in out
    assert "quantisation constraint; kept blocks show the JPEG decoded anew from its coefficients" in out
    assert "image 128x96" in out  # the size comes from x.jpg beside it
    alone = image.with_name("alone.side")
    alone.write_bytes(image.with_name("x.jpg.side").read_bytes())
    assert main(["info", str(alone)]) == 0
    assert "from its JPEG (none beside it)" in capsys.readouterr().out
    image.with_name("x.jpg").write_bytes(image.with_name("x.jpg").read_bytes()[:-2] + b"\x00\xff\xd9")
    assert main(["info", str(image.with_name("x.jpg.side"))]) == 0
    assert "not for x.jpg beside it: this sidecar was made for a different JPEG" in capsys.readouterr().out


def test_info_and_restore_say_whether_a_plain_jpeg_is_restored_or_decoded_anew(
    tmp_path: Path, sample_rgb: np.ndarray, capsys
) -> None:
    """The shipped model restores coarse JPEGs blindly and very fine ones with the share of it calibrated for
    their quality, the rest decoded anew from their coefficients; both commands say which, as the codec
    decides it."""
    cases = (
        (30, "4:2:0", "restored blindly by", "restored blind, no side information"),
        (98, "4:4:4", "decoded anew from its coefficients and moved {share:.0%}", "restored blind at {share:.0%}"),
        (100, "4:2:0", "decoded anew from its coefficients and moved {share:.0%}", "restored blind at {share:.0%}"),
    )
    codec = Codec(device="cpu")
    for quality, subsampling, told, done in cases:
        name = f"q{quality}-{subsampling.replace(':', '')}"
        jpeg = tmp_path / f"{name}.jpg"
        jpeg.write_bytes(encode_jpeg(sample_rgb[:64, :96], quality, subsampling))
        share = codec.restore(jpeg.read_bytes()).network_share
        assert (share == 1.0) == (quality == 30) and share > 0
        assert main(["info", str(jpeg)]) == 0
        assert told.format(share=share) in capsys.readouterr().out
        assert main(["restore", str(jpeg), "-o", str(tmp_path / f"{name}.png")]) == 0
        assert done.format(share=share) in capsys.readouterr().out


def test_info_and_restore_say_when_a_fine_jpeg_is_decoded_anew_alone(
    tmp_path: Path, sample_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A model calibrated with no share of its network below its floor decodes such JPEGs anew alone."""
    def without_shares(conditioning, floor, shares, decodable=True):
        return network_share(conditioning, floor, [], decodable)

    monkeypatch.setattr(info_command, "network_share", without_shares)
    monkeypatch.setattr(pipeline, "network_share", without_shares)
    jpeg = tmp_path / "fine.jpg"
    jpeg.write_bytes(encode_jpeg(sample_rgb[:64, :96], 98, "4:4:4"))
    assert main(["info", str(jpeg)]) == 0
    assert "shown decoded anew from its coefficients: finer than the mean luma step 9.25" in capsys.readouterr().out
    assert main(["restore", str(jpeg), "-o", str(tmp_path / "fine.png")]) == 0
    assert "the JPEG decoded anew from its coefficients (finer than" in capsys.readouterr().out



def test_embedded_side_information_is_found(image: Path, capsys) -> None:
    out = image.with_name("e.jpg")
    assert main(["compress", str(image), "-q", "30", "-o", str(out), "--embed"]) == 0
    assert not Path(f"{out}.side").exists()
    assert split_embedded(out.read_bytes())[1] is not None
    assert main(["restore", str(out), "-o", str(image.with_name("e.png"))]) == 0
    assert "with side information" in capsys.readouterr().out
    assert main(["restore", str(out), "--blind", "-o", str(image.with_name("b.png"))]) == 0
    assert "blind" in capsys.readouterr().out


def test_existing_output_needs_force(image: Path, capsys) -> None:
    target = image.with_name("t.jpg")
    target.write_bytes(b"keep me")
    assert main(["compress", str(image), "-q", "30", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert "--force" in err and err.count("\n") == 1
    assert target.read_bytes() == b"keep me"
    assert main(["compress", str(image), "-q", "30", "-o", str(target), "--force"]) == 0


@pytest.mark.parametrize(
    "args",
    [
        ["compress", "missing.png", "-q", "30"],
        ["compress", "{image}", "-q", "0"],
        ["compress", "{image}", "-q", "30", "--lam", "nan"],
        ["restore", "{image}"],
        ["info", "{image}"],
    ],
)
def test_bad_input_exits_2_with_one_line(image: Path, capsys, args: list[str]) -> None:
    assert main([a.replace("{image}", str(image)) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unknown_command_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["frobnicate"])
    assert caught.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_out_dir_with_one_input(image: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "new" / "folder"
    assert main(["compress", str(image), "-q", "30", "--out-dir", str(out)]) == 0
    assert f"wrote {out / 'photo.jpg'} and {out / 'photo.jpg.side'}" in capsys.readouterr().out
    assert main(["restore", str(out / "photo.jpg"), "--out-dir", str(out)]) == 0
    assert (out / "photo.png").is_file()
    assert main(["compress", str(image), "-q", "30", "--out-dir", str(out)]) == 2  # one file: as before, no skip
    assert "exists; use --force" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compress", "{image}", "{image}2", "-q", "30", "-o", "x.jpg"], "-o/--output names the output of a single"),
        (["compress", "{folder}", "-q", "30", "--side", "x.side"], "--side names the output of a single input"),
        (["restore", "{image}", "{image}2", "-o", "x.png"], "-o/--output names the output of a single input"),
    ],
)
def test_single_output_options_with_several_inputs_exit_2(image: Path, capsys, args: list[str], message: str) -> None:
    filled = [a.replace("{image}", str(image)).replace("{folder}", str(image.parent)) for a in args]
    assert main(filled) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert sorted(p.name for p in image.parent.iterdir()) == ["photo.png"]


def test_output_and_out_dir_together_exit_2(image: Path, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["compress", str(image), "-q", "30", "-o", "x.jpg", "--out-dir", "d"])
    err = capsys.readouterr().err
    assert caught.value.code == 2 and err.count("\n") == 1 and "not allowed with argument -o/--output" in err


def test_restore_and_compress_do_not_import_matplotlib_or_scipy(image: Path) -> None:
    """Only eval needs them; they take seconds to import."""
    script = (
        "import sys; from engine.cli import main; "
        f"assert main(['compress', {str(image)!r}, '-q', '30']) == 0; "
        f"assert main(['restore', {str(image.with_suffix('.jpg'))!r}]) == 0; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'scipy', 'bjontegaard'}))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "[]"


def test_restore_and_info_say_when_a_sidecar_asks_for_the_blind_image(
    tmp_path: Path, sample_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    codec = Codec(device="cpu")
    crop = np.ascontiguousarray(sample_rgb[:64, :96])
    made = codec.compress(crop, 98, 64.0, "4:2:2")
    worse = Encoded(made.symbols, np.clip(made.jpeg_decoded.astype(int) + 9, 0, 255).astype(np.uint8))
    monkeypatch.setattr(codec.encoder, "encode", lambda *args, **kwargs: worse)
    res = codec.compress(crop, 98, 64.0, "4:2:2")
    jpeg = tmp_path / "fine.jpg"
    jpeg.write_bytes(res.jpeg)
    Path(f"{jpeg}.side").write_bytes(res.sidecar)
    assert main(["info", str(jpeg)]) == 0
    assert "shown as blind decoding shows it" in capsys.readouterr().out
    assert main(["restore", str(jpeg), "-o", str(tmp_path / "fine.png")]) == 0
    assert "restored with side information, which asks for what blind decoding shows: 50%" in capsys.readouterr().out
