"""``sidejpeg eval`` across JPEG settings (encoder, chroma subsampling) and its safety section: the change of
PSNR that restoring brings against each setting's own plain JPEG."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import encoders
from engine.cli import build_parser, main
from engine.evaluation.anchors import DEFAULT_SETTINGS, JpegSetting, jpeg_settings
from engine.evaluation.records import DEFAULT_SETTING, Record, curve_name, merge_records, read_records
from engine.evaluation.runner import Settings, evaluate_quality
from engine.evaluation.safety import format_safety, markdown_table, safety_section
from engine.evaluation.summary import build_summary, restrict_to
from engine.jpeg_io import decode_jpeg, encode_jpeg
from engine.metrics import psnr
from tests.conftest import tiny_image

QUALITIES = (30, 100)
SETTINGS = ("pillow 4:2:0", "pillow 4:4:4", "jpegli auto")
HAS_CJPEG = shutil.which("cjpeg") is not None


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    for i in range(2):
        Image.fromarray(tiny_image(i, 32, 48)).save(folder / f"im{i}.png")
    return folder


@pytest.fixture(scope="module")
def run(data: Path, codec, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``sidejpeg eval`` with two encoders and two subsamplings: its output folder and what it printed."""
    out = tmp_path_factory.mktemp("out") / "tiny"
    args = ["eval", "--data", str(data), "--out", str(out), "--qualities", ",".join(map(str, QUALITIES))]
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):
        mp.setattr("engine.commands.evaluate.Codec", lambda preset, device, adapts: codec)
        code = main([*args, "--lambdas", "8", "--encoder", "pillow,jpegli", "--subsampling", "4:2:0,4:4:4"])
    assert code == 0
    return out, printed.getvalue()


def _parse(extra: list[str], data: Path) -> argparse.Namespace:
    return build_parser().parse_args(["eval", "--data", str(data), *extra])


def _exits_2_with_one_line(extra: list[str], data: Path, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        _parse(extra, data)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sidejpeg eval: error:")
    return err


def test_new_flags_parse_with_defaults(data: Path) -> None:
    args = _parse([], data)
    assert (args.encoder, args.subsampling) == (("pillow",), ("4:2:0",))
    args = _parse(["--encoder", "pillow,jpegli", "--subsampling", "4:4:4, 4:2:2", "--qualities", "95,100"], data)
    assert args.encoder == ("pillow", "jpegli") and args.subsampling == ("4:4:4", "4:2:2")
    assert args.qualities == (95, 100)


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--subsampling", "4:1:1"], "4:1:1"),
        (["--subsampling", ","], "subsampling"),
        (["--encoder", "mozjpeg"], "mozjpeg"),
        (["--encoder", ""], "encoder"),
        (["--qualities", "50,101"], "1-100"),
    ],
)
def test_bad_flags_exit_2_with_one_line(data: Path, capsys, extra: list[str], says: str) -> None:
    assert says in _exits_2_with_one_line(extra, data, capsys)


def test_cjpeg_without_its_tool_is_refused_clearly(data: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(encoders.shutil, "which", lambda name: None)
    err = _exits_2_with_one_line(["--encoder", "pillow,cjpeg"], data, capsys)
    assert "cjpeg is not available" in err and "apt install" in err


def test_methods_that_no_setting_measures_are_refused_before_loading_a_model(data: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("engine.commands.evaluate.Codec", None)  # would fail if called
    assert main(["eval", "--data", str(data), "--methods", "side,jpeg-opt", "--encoder", "jpegli"]) == 2
    assert "need a Pillow encoder" in capsys.readouterr().err


def test_jpegli_has_one_setting_whatever_the_subsamplings() -> None:
    got = jpeg_settings(("pillow", "jpegli"), ("4:2:0", "4:4:4"))
    assert [s.label for s in got] == list(SETTINGS)
    assert DEFAULT_SETTINGS[0].label == DEFAULT_SETTING


def test_records_of_each_setting_are_kept_apart(run) -> None:
    out, _ = run
    records = read_records(out / "rd.json")
    assert list(dict.fromkeys(r.setting for r in records)) == list(SETTINGS)
    found = {(r.setting, r.method) for r in records}
    pillow = {"jpeg", "jpeg-opt", "blind", "side"}
    expected = {(s, m) for s in SETTINGS[:2] for m in pillow} | {("jpegli auto", "jpeg"), ("jpegli auto", "blind")}
    assert found == expected | {("pillow 4:2:0", "jpegli"), ("pillow 4:2:0", "webp")}
    per_point = {(r.setting, r.method, r.image, r.quality, r.lam) for r in records}
    assert len(per_point) == len(records) == 2 * len(QUALITIES) * (4 + 4 + 2 + 2)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"] == list(SETTINGS)
    assert {"jpeg [pillow 4:4:4]", "side-hull [pillow 4:4:4]", "blind [jpegli auto]", "side-hull"} <= set(
        summary["curves"]
    )
    assert summary["curves"]["side@8 [pillow 4:4:4]"]["setting"] == "pillow 4:4:4"
    assert "side@8 [jpegli auto]" not in summary["curves"]


def test_each_setting_measures_its_own_encoders_jpeg(run, data: Path) -> None:
    out, _ = run
    records = {(r.setting, r.method, r.image, r.quality, r.lam): r for r in read_records(out / "rd.json")}
    rgb = np.asarray(Image.open(data / "im1.png").convert("RGB"))
    bpp = 8 / rgb[..., 0].size
    plain_444 = encode_jpeg(rgb, 30, "4:4:4", optimize=False)
    assert records["pillow 4:4:4", "jpeg", "im1.png", 30, None].psnr == pytest.approx(psnr(decode_jpeg(plain_444), rgb))
    assert records["pillow 4:4:4", "blind", "im1.png", 30, None].bpp_total == pytest.approx(
        len(encoders.pillow(rgb, 30, "4:4:4")) * bpp
    )
    jpegli = encoders.jpegli(rgb, 100)
    assert records["jpegli auto", "jpeg", "im1.png", 100, None].psnr == pytest.approx(psnr(decode_jpeg(jpegli), rgb))
    assert records["jpegli auto", "blind", "im1.png", 100, None].bpp_total == pytest.approx(len(jpegli) * bpp)
    side = records["pillow 4:4:4", "side", "im1.png", 30, 8.0]
    opt = records["pillow 4:4:4", "jpeg-opt", "im1.png", 30, None]
    assert side.bpp_total - opt.bpp_total == pytest.approx(side.bpp_side) and side.bpp_side > 0


def test_safety_section_matches_the_records(run) -> None:
    out, printed = run
    records = read_records(out / "rd.json")
    safety = json.loads((out / "summary.json").read_text())["safety"]
    assert list(safety) == list(SETTINGS)
    plain = {(r.setting, r.image, r.quality): r.psnr for r in records if r.method == "jpeg"}
    for r in records:
        if r.method in ("blind", "side"):
            entry = safety[r.setting][str(r.quality)][curve_name(r.method, r.lam)]
            group = [
                (o.psnr - plain[o.setting, o.image, o.quality], o.image)
                for o in records
                if (o.setting, o.method, o.quality, o.lam) == (r.setting, r.method, r.quality, r.lam)
            ]
            assert entry["images"] == 2
            assert entry["mean"] == pytest.approx(np.mean([c for c, _ in group]))
            assert (entry["worst"], entry["worst_image"]) == min(group)
    assert list(safety["jpegli auto"]["100"]) == ["blind"]
    assert "mean / worst" in printed and "jpegli auto" in printed.split("mean / worst")[-1]


def _record(method: str, image: str, value: float, setting: str = DEFAULT_SETTING, lam: float | None = None) -> Record:
    return Record(method, image, 10, lam, 1.0, 0.0, value, setting)


def test_safety_by_hand() -> None:
    other = "pillow 4:4:4"
    records = [
        *(_record("jpeg", f"im{i}.png", v) for i, v in enumerate((30.0, 31.0, 32.0))),
        *(_record("blind", f"im{i}.png", v) for i, v in enumerate((30.5, 30.0, 33.0))),
        *(_record("side", f"im{i}.png", v, lam=64.0) for i, v in enumerate((31.0, 31.25, 32.0))),
        _record("jpeg", "im0.png", 40.0, other),
        _record("blind", "im0.png", 39.0, other),
        _record("blind", "im9.png", 20.0, other),  # no plain JPEG to compare with: left out
    ]
    safety = safety_section(records)
    assert safety[DEFAULT_SETTING]["10"]["blind"] == {
        "mean": pytest.approx((0.5 - 1.0 + 1.0) / 3),
        "worst": -1.0,
        "worst_image": "im1.png",
        "images": 3,
    }
    side = safety[DEFAULT_SETTING]["10"]["side@64"]
    assert side["mean"] == pytest.approx((1.0 + 0.25 + 0.0) / 3)
    assert (side["worst"], side["worst_image"]) == (0.0, "im2.png")
    assert safety[other] == {"10": {"blind": {"mean": -1.0, "worst": -1.0, "worst_image": "im0.png", "images": 1}}}
    summary = {"dataset": "tiny", "images": ["im0.png", "im1.png", "im2.png"], "safety": safety}
    lines = format_safety(summary)
    assert lines[-2].split() == ["pillow", "4:2:0", "10", "+0.17", "/", "-1.00", "+0.42", "/", "+0.00"]
    assert lines[-1].split() == ["pillow", "4:4:4", "10", "-1.00", "/", "-1.00"]
    assert markdown_table([summary], settings=[DEFAULT_SETTING], methods=["blind"]).splitlines() == [
        "| setting | quality | method | tiny (3) |",
        "| --- | ---: | --- | ---: |",
        "| pillow 4:2:0 | 10 | blind | +0.17 (-1.00) |",
    ]


def test_markdown_table_from_records(run, data: Path, capsys) -> None:
    out, _ = run
    args = ["summarise", str(out / "rd.json"), "--safety-table", "--qualities", "100"]
    assert main([*args, "--settings", "jpegli auto,pillow 4:4:4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"| setting | quality | method | {data.name} (2) |"
    assert [line.split(" | ")[:3] for line in lines[2:]] == [
        ["| jpegli auto", "100", "blind"],
        ["| pillow 4:4:4", "100", "blind"],
        ["| pillow 4:4:4", "100", "side@8"],
    ]


def test_summarise_merges_parts_and_writes_model_results(run, data: Path, tmp_path: Path) -> None:
    out, _ = run
    assert main(["summarise", str(out / "rd.json"), "--out", str(tmp_path / "again")]) == 2, "needs --dataset"
    assert main(["summarise", str(out / "rd.json"), "--dataset", "tiny", "--out", str(tmp_path / "again")]) == 0
    assert json.loads((tmp_path / "again" / "summary.json").read_text())["safety"]
    assert main(["summarise", str(out / "rd.json"), str(out / "rd.json"), "--dataset", "x", "--out", "y"]) == 2
    results = tmp_path / "results.json"
    assert main(["summarise", str(out / "rd.json"), "--results", str(results)]) == 0
    assert set(json.loads(results.read_text())["side_vs_blind_bd_rate_q10_40"]) == {data.name}
    assert main(["summarise", str(tmp_path / "missing.json"), "--results", str(results)]) == 2


def test_old_records_without_a_setting_still_load_and_summarise(tmp_path: Path) -> None:
    old = [
        {"method": m, "image": "im0.png", "quality": q, "lam": None, "bpp_total": q / 10, "bpp_side": 0, "psnr": p}
        for q in (10, 20, 30, 40)
        for m, p in (("jpeg", 25 + q / 10), ("blind", 26 + q / 10))
    ]
    (tmp_path / "rd.json").write_text(json.dumps(old))
    records = read_records(tmp_path / "rd.json")
    assert {r.setting for r in records} == {DEFAULT_SETTING}
    summary = build_summary(records, "old", ["im0.png"])
    assert set(summary["curves"]) == {"jpeg", "blind"} and summary["bd"]["10-40"]["blind"]["jpeg"]["bd_psnr"] > 0
    assert summary["safety"][DEFAULT_SETTING]["10"]["blind"]["mean"] == pytest.approx(1.0)
    old_like = {"images": ["im0.png"], "qualities": [10], "lambdas": [], "curves": {"blind": {"method": "blind"}}}
    assert [(r.method, r.quality) for r in restrict_to(records, old_like)] == [("blind", 10)]


def test_the_same_point_in_two_settings_is_no_clash() -> None:
    a, b = _record("jpeg", "im0.png", 30.0), _record("jpeg", "im0.png", 31.0, "pillow 4:4:4")
    assert merge_records([[a], [b]]) == [a, b]
    with pytest.raises(ValueError, match=r"jpeg \[pillow 4:4:4\]"):
        merge_records([[a, b], [b]])


@pytest.mark.skipif(not HAS_CJPEG, reason="the cjpeg tool is not installed")
def test_cjpeg_setting_restores_cjpegs_file(codec) -> None:
    rgb = tiny_image(3)
    setting = JpegSetting("cjpeg", "4:2:2")
    settings = Settings(Path("."), Path("."), (50,), (8.0,), ("jpeg", "blind", "side"), (setting,))
    records = {r.method: r for r in evaluate_quality(rgb, "im.png", 50, settings, codec)}
    assert set(records) == {"jpeg", "blind"} and {r.setting for r in records.values()} == {"cjpeg 4:2:2"}
    data = encoders.cjpeg(rgb, 50, "4:2:2")
    assert records["jpeg"].psnr == pytest.approx(psnr(decode_jpeg(data), rgb))
    assert records["blind"].bpp_total == records["jpeg"].bpp_total == pytest.approx(len(data) * 8 / rgb[..., 0].size)
