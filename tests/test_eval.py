"""``sidejpeg eval``: records, bpp and PSNR bookkeeping, BD figures and outputs, on tiny images."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.evaluation.bdrate import bd, upper_left_hull
from engine.evaluation.records import Point, Record, read_records
from engine.evaluation.runner import METHODS, Settings, evaluate, find_images
from engine.evaluation.summary import bd_tables, channel_bd_tables, format_table
from engine.jpeg_io import decode_jpeg
from engine.metrics import psnr, psnr_ycbcr
from tests.conftest import tiny_image

QUALITIES = (10, 20, 30, 40)
LAMBDAS = (8.0, 256.0)
KEYS = {"method", "image", "quality", "lam", "bpp_total", "bpp_side", "psnr", "setting", "psnr_ycbcr"}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    for i in range(2):
        Image.fromarray(tiny_image(i)).save(folder / f"im{i}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def run(data: Path, codec, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict]:
    settings = Settings(data, tmp_path_factory.mktemp("out") / "tiny", QUALITIES, LAMBDAS)
    return settings, evaluate(settings, find_images(data), codec)


def _by_key(settings: Settings) -> dict:
    return {(r.method, r.image, r.quality, r.lam): r for r in read_records(settings.out / "rd.json")}


def test_one_record_per_method_image_quality_lambda(run) -> None:
    settings, _ = run
    raw = json.loads((settings.out / "rd.json").read_text())
    assert all(set(item) == KEYS for item in raw)
    records = _by_key(settings)
    assert len(records) == len(raw)
    expected = {
        (m, f"im{i}.png", q, lam)
        for i in range(2)
        for q in QUALITIES
        for m in METHODS
        for lam in (LAMBDAS if m == "side" else (None,))
    }
    assert set(records) == expected


def test_side_costs_exactly_its_sidecar_more_than_jpeg_opt(run) -> None:
    settings, _ = run
    records = _by_key(settings)
    for (method, image, q, _lam), r in records.items():
        if method != "side":
            assert r.bpp_side == 0
            continue
        opt = records["jpeg-opt", image, q, None]
        assert r.bpp_total > opt.bpp_total
        assert r.bpp_total - opt.bpp_total == pytest.approx(r.bpp_side)
        assert records["blind", image, q, None].bpp_total == opt.bpp_total


def test_jpeg_opt_psnr_is_the_plain_decode_of_sidejpegs_jpeg(run, codec) -> None:
    settings, _ = run
    records = _by_key(settings)
    rgb = np.asarray(Image.open(settings.data / "im0.png").convert("RGB"))
    made = codec.compress(rgb, 20, LAMBDAS[0])
    assert records["jpeg-opt", "im0.png", 20, None].psnr == pytest.approx(psnr(decode_jpeg(made.jpeg), rgb))
    assert records["jpeg-opt", "im0.png", 20, None].bpp_total == pytest.approx(made.bpp_jpeg)
    assert records["side", "im0.png", 20, LAMBDAS[0]].bpp_total == pytest.approx(made.bpp_total)
    # the literature's JPEG differs only by its Huffman tables: same pixels, more bytes
    assert records["jpeg", "im0.png", 20, None].psnr == pytest.approx(records["jpeg-opt", "im0.png", 20, None].psnr)
    assert records["jpeg", "im0.png", 20, None].bpp_total > records["jpeg-opt", "im0.png", 20, None].bpp_total


def test_summary_and_plot_are_written(run) -> None:
    settings, summary = run
    assert json.loads((settings.out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert (settings.out / "rd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(settings.out.glob(".*tmp"))
    assert set(summary["curves"]) == {"jpeg", "jpeg-opt", "jpegli", "webp", "blind", "side@8", "side@256", "side-hull"}
    assert [p["quality"] for p in summary["curves"]["jpeg"]["points"]] == list(QUALITIES)
    assert summary["published"]["psnr"]["FBCNN"]["10"] == 27.77 and "ICCV 2021" in summary["published"]["source"]
    assert summary["bd"]["10-40"]["jpeg"]["jpeg"]["bd_rate"] == pytest.approx(0, abs=1e-9)
    assert summary["bd"]["10-40"]["jpeg"]["jpeg"]["bd_psnr"] == pytest.approx(0, abs=1e-9)
    assert set(summary["bd"]["10-40"]["side@8"]) == {"jpeg", "jpeg-opt", "blind"}
    assert summary["bd"]["10-40"]["jpeg-opt"]["jpeg"]["bd_rate"] < 0  # optimised Huffman tables save bytes
    table = format_table(summary)
    assert "side@256" in table and "FBCNN" in table and "BD-rate" in table


def test_a_run_restricted_to_another_runs_points_summarises_only_those(run) -> None:
    from engine.evaluation.summary import build_summary, restrict_to

    settings, summary = run
    records = read_records(settings.out / "rd.json")
    whole = build_summary(restrict_to(records, summary), summary["dataset"], summary["images"])
    assert whole["curves"] == summary["curves"] and whole["bd"] == summary["bd"]
    like = {"images": ["im1.png"], "qualities": [10, 30], "lambdas": [8.0], "curves": {
        "jpeg": {"method": "jpeg"}, "side@8": {"method": "side"}, "side-hull": {"method": "side-hull"}}}
    kept = restrict_to(records, like)
    assert {(r.method, r.image, r.quality, r.lam) for r in kept} == {
        (m, "im1.png", q, lam) for q in (10, 30) for m, lam in (("jpeg", None), ("side", 8.0))
    }
    with pytest.raises(ValueError, match=r"im9\.png"):
        restrict_to(records, {**like, "images": ["im1.png", "im9.png"]})


def test_runs_made_in_parts_merge_and_a_point_measured_twice_is_refused(run) -> None:
    from engine.evaluation.records import merge_records

    settings, _ = run
    records = read_records(settings.out / "rd.json")
    first = [r for r in records if r.image == "im0.png"]
    second = [r for r in records if r.image != "im0.png"]
    assert sorted(map(str, merge_records([first, second]))) == sorted(map(str, records))
    with pytest.raises(ValueError, match="more than one run"):
        merge_records([first, second, first[:1]])


def test_bd_against_itself_is_zero_and_short_curves_are_skipped() -> None:
    curve = [Point(q, None, 0.2 * i + 0.1, 0, 25 + 2 * i**0.8, 1) for i, q in enumerate(QUALITIES)]
    assert bd(curve, curve) == {"bd_rate": pytest.approx(0, abs=1e-9), "bd_psnr": pytest.approx(0, abs=1e-9)}
    skipped = bd(curve, curve[:3])
    assert skipped["bd_rate"] is None and "3 points" in skipped["note"]


def test_hull_keeps_the_upper_left_envelope() -> None:
    points = [Point(10, 1.0, r, 0, d, 1) for r, d in [(1, 30), (2, 33), (3, 34), (2.5, 32), (4, 33.5), (1.5, 29)]]
    assert [(p.bpp_total, p.psnr) for p in upper_left_hull(points)] == [(1, 30), (2, 33), (3, 34)]


def test_cli_smoke_run(data: Path, tmp_path: Path, monkeypatch, codec, capsys) -> None:
    monkeypatch.setattr("engine.commands.evaluate.Codec", lambda preset, device, adapts: codec)
    out = tmp_path / "smoke"
    args = ["eval", "--data", str(data), "--limit", "1", "--qualities", "10,20,30,40", "--lambdas", "64"]
    assert main([*args, "--out", str(out)]) == 0
    assert "side@64" in capsys.readouterr().out
    assert {r.image for r in read_records(out / "rd.json")} == {"im0.png"}


def test_anchors_only_need_no_model(data: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("engine.commands.evaluate.Codec", None)  # would fail if called
    args = ["eval", "--data", str(data), "--limit", "1", "--methods", "jpeg,jpeg-opt", "--qualities", "10,30"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert {r.method for r in read_records(tmp_path / "a" / "rd.json")} == {"jpeg", "jpeg-opt"}


@pytest.mark.parametrize(
    "extra", [["--qualities", "0,10"], ["--lambdas", "1"], ["--methods", "jpeg,avif"], ["--limit", "0"]]
)
def test_bad_arguments_exit_2(data: Path, tmp_path: Path, extra: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--data", str(data), "--out", str(tmp_path), *extra])
    assert exc.value.code == 2


def test_missing_or_empty_data_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["eval", "--data", str(tmp_path / "missing")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main(["eval", "--data", str(tmp_path)]) == 2
    assert "no images" in capsys.readouterr().err


def test_symbol_usage_counts_every_block_sent(run, codec) -> None:
    """Per lambda: every block of every image and quality counted once, shares summing to one."""
    _, summary = run
    usage = summary["symbol_usage"]
    assert set(usage) == {"8", "256"}
    blocks_per_image = (48 // 16) * (64 // 16)
    for entry in usage.values():
        assert entry["blocks"] == 2 * len(QUALITIES) * blocks_per_image
        assert sum(entry["shares"]) == pytest.approx(1, abs=1e-3) and len(entry["shares"]) == codec.config.symbols
        assert entry["symbols_on_1pct_of_blocks"] == sum(s >= 0.01 for s in entry["shares"])


def test_channel_psnr_separates_luma_from_chroma() -> None:
    rgb = np.random.default_rng(0).integers(0, 200, (16, 24, 3), dtype=np.uint8)
    assert psnr_ycbcr(rgb, rgb) == (math.inf, math.inf, math.inf)
    y, cb, cr = psnr_ycbcr(rgb + 3, rgb)
    assert y == pytest.approx(10 * math.log10(255**2 / 9)) and cb == cr == math.inf


def test_channel_bd_tables_use_each_channels_psnr() -> None:
    records = [
        Record(method, "a.png", q, lam, bpp, 0.0, db + shift, psnr_ycbcr=(db + 1 + shift, db + 9 + shift, db + 10))
        for q, bpp, db in ((10, 0.3, 30.0), (20, 0.5, 32.5), (30, 0.7, 34.0), (40, 0.9, 35.0))
        for method, lam, shift in (("blind", None, 0.0), ("side", 64.0, 0.5))
    ]
    tables = channel_bd_tables(records)
    luma = bd_tables([dataclasses.replace(r, psnr=r.psnr_ycbcr[0]) for r in records])
    assert tables["Y"] == luma and tables["Y"]["10-40"]["side-hull"]["blind"]["bd_rate"] < 0
    assert channel_bd_tables([dataclasses.replace(r, psnr_ycbcr=None) for r in records]) == {}
