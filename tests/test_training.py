"""Training runs, checkpoints, resumes, exports, and works distributed (gloo, 2 processes)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.cli import main
from engine.strength import MAX_SHARE
from engine.training.calibrate import NOISE_SIGMAS, QUALITIES, SETTINGS, SHARES
from engine.training.data import random_jpeg
from engine.training.schedule import phase
from engine.training.stopping import StopRequests
from engine.training.train import TrainConfig, Trainer
from engine.training.validate import Measurements, measure, summary
from engine.weights import load_model, load_model_info, read_tensors

TINY = ["--steps", "4", "--blind-steps", "2", "--batch", "2", "--crop", "32", "--val-every", "1000"]


@pytest.fixture
def data(tmp_path: Path, sample_rgb: np.ndarray) -> Path:
    folder = tmp_path / "train"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.roll(sample_rgb, 17 * i, axis=1)).save(folder / f"img{i}.png")
    return folder


def test_train_resume_and_export(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), *TINY]) == 0
    state = json.loads((run / "last.json").read_text())
    assert state["step"] == 4 and state["model_config"]["name"] == "fast"
    assert any("val" in h for h in state["history"])
    assert main(["train", "--data", str(data), "--out", str(run), *TINY]) == 2
    longer = [*TINY[2:], "--steps", "6"]
    assert main(["train", "--data", str(data), "--out", str(run), "--resume", *longer]) == 0
    assert json.loads((run / "last.json").read_text())["step"] == 6
    target = tmp_path / "model.safetensors"
    assert main(["train", "--out", str(run), "--export", str(target)]) == 0
    net, info = load_model_info(target)
    assert net.config.name == "fast" and info["steps"] == 6
    calibration = info["blind_calibration"]
    assert calibration["images"] == ["img0"], "the held-out image, which is also the first training image here"
    assert len(calibration["points"]) == len(QUALITIES) * len(SETTINGS) * len(NOISE_SIGMAS)
    assert {p["noise"] for p in calibration["points"]} == set(NOISE_SIGMAS)
    assert info["blind_min_step"] > 0
    shares = info["blind_shares"]
    points = calibration["points"]
    measured = {(p["luma_step"], p["subsampling"]) for p in points}
    assert {(step, sampling) for step, sampling, _ in shares} == measured, "one for each step and sampling"
    assert [step for step, _, _ in shares] == sorted((step for step, _, _ in shares), reverse=True)
    assert all(share in SHARES for _, _, share in shares)
    floor = info["blind_min_step"]
    assert all(share <= MAX_SHARE if step < floor else share >= MAX_SHARE for step, _, share in shares)
    assert all(len(p["shared_db"]) == len(SHARES) for p in calibration["points"])


def test_an_export_calibrates_on_the_held_out_images_of_another_folder(
    data: Path, tmp_path: Path, sample_rgb: np.ndarray
) -> None:
    """A run trained on a pack of small crops is calibrated on full images (--data): its held-out images and
    every seventh training image."""
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), *TINY]) == 0
    full = tmp_path / "full"
    full.mkdir()
    for name in ("photo", "wiki_037"):
        Image.fromarray(sample_rgb).save(full / f"{name}.png")
    target = tmp_path / "model.safetensors"
    export = ["train", "--out", str(run), "--export", str(target), "--calibration-crop", "64"]
    assert main([*export, "--data", str(tmp_path / "missing")]) == 2 and not target.exists()
    elsewhere = ["train", "--out", str(run), "--export", str(tmp_path / "missing" / "model.safetensors")]
    assert main(elsewhere) == 2, "a folder that does not exist is refused before the calibration, not after"
    assert main([*export, "--data", str(full), "--blind-floor", "-1"]) == 2 and not target.exists()
    assert main([*export, "--data", str(full), "--blind-floor", "1e9"]) == 0
    info = load_model_info(target)[1]
    assert info["blind_calibration"]["images"] == ["photo", "wiki_037"]
    assert info["blind_min_step"] >= 1e9 and info["blind_calibration"]["floor"] == 1e9


def test_training_jpegs_cover_what_users_have(sample_rgb: np.ndarray) -> None:
    """Every subsampling and grayscale, libjpeg-turbo, jpegli and custom tables, qualities 1-100; a grayscale
    JPEG's target is the patch's gray."""
    rng = np.random.default_rng(0)
    patch = np.ascontiguousarray(sample_rgb[:64, :64])
    seen, qualities = set(), []
    for _ in range(300):
        target, decoded, params = random_jpeg(patch, rng)
        assert target.shape == decoded.shape == patch.shape
        seen.add(params.subsampling)
        qualities.append(params.luma_step)
        if params.grayscale:
            assert (target[..., 0] == target[..., 1]).all() and (decoded[..., 0] == decoded[..., 2]).all()
        else:
            assert np.array_equal(target, patch)
    assert seen == {"4:2:0", "4:2:2", "4:4:4", "gray"}
    assert min(qualities) <= 1.5 and max(qualities) >= 100, "from about q100 to q1"


def test_a_share_of_the_training_originals_are_noisy_photographs() -> None:
    """Sensor noise or film grain as photographs carry it, in NOISE_SHARE of the originals, at a standard
    deviation within NOISE_SIGMA; the rest are left as they are."""
    from engine.training.data import NOISE_SHARE, NOISE_SIGMA, maybe_noisy, with_noise

    rng = np.random.default_rng(0)
    flat = np.full((64, 64, 3), 128, np.uint8)
    draws = [maybe_noisy(flat, rng) for _ in range(600)]
    noisy = [d.astype(float).std() for d in draws if d is not flat]
    assert abs(len(noisy) / len(draws) - NOISE_SHARE) < 0.06
    rounding = 1 / np.sqrt(12)
    assert all(NOISE_SIGMA[0] - 0.1 < s < NOISE_SIGMA[1] + rounding + 0.2 for s in noisy)
    assert max(noisy) - min(noisy) > 0.6 * (NOISE_SIGMA[1] - NOISE_SIGMA[0]), "sigmas spread over the range"
    again = with_noise(flat, 3.0, np.random.default_rng(7))
    assert np.array_equal(again, with_noise(flat, 3.0, np.random.default_rng(7))) and again.dtype == np.uint8
    assert with_noise(flat, 0.0, rng) is flat


def test_bad_crop_and_missing_data_are_refused(tmp_path: Path) -> None:
    assert main(["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2


def test_schedule_anneals_towards_the_hard_rate_constrained_regime() -> None:
    start, end = phase(0.0), phase(1.0)
    assert start.soft_mix == 1.0 and start.lambda_scale == 0.0 and start.usage_bonus > 0
    assert end.soft_mix == 0.0 and end.noise == 0.0 and end.lambda_scale == 1.0 and end.usage_bonus == 0.0
    assert end.sigma > start.sigma


def test_distributed_training_with_gloo(data: Path, tmp_path: Path) -> None:
    """Channels-last too, as CPU campaigns run: gloo once refused to broadcast the layout's buffers. Through the
    selection stage, trunk trained, to a blind step after selection steps: the selection loss once bypassed DDP,
    and the next step through it failed ("gradient which is undefined, but still allreduced")."""
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29517",
        "-m",
        "engine",
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        *TINY,
        "--channels-last",
        "--selection-steps",
        "6",
        "--selection-trunk",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((run / "last.json").read_text())["step"] == 10



def test_terminating_torchrun_stops_both_processes_after_one_step_with_a_checkpoint(
    data: Path, tmp_path: Path
) -> None:
    """What ends a CPU campaign (``pkill -TERM`` of torchrun's agent, which passes it on): no hang in the
    gradient exchange, and the last step's checkpoint, not the last periodic one. Validation runs distributed
    on the way, the second process with no held-out image of its own."""
    run = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29518", "-m", "engine",
        "train", "--data", str(data), "--out", str(run), "--steps", "100000", "--blind-steps", "100000",
        "--batch", "2", "--crop", "32", "--val-every", "50", "--checkpoint-minutes", "100",
    ]
    agent = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE, text=True)
    try:
        lines = iter(agent.stdout.readline, "")
        validated = next(json.loads(line) for line in lines if line.startswith('{"step": 50, "val"'))
        agent.send_signal(signal.SIGTERM)
        agent.communicate(timeout=60)
    finally:
        agent.kill()
    assert len(validated["val"]["gain_blind_db_per_point"]) == 6
    step = json.loads((run / "last.json").read_text())["step"]
    assert 50 <= step < 100000, "stopped after the signal, not at the end"
    assert load_model_info(run / "model.safetensors")[1]["steps"] == step


def test_stop_after_checkpoints_and_a_resume_finishes_with_the_runs_settings(
    data: Path, tmp_path: Path, capsys
) -> None:
    run = tmp_path / "run"
    first = ["train", "--data", str(data), "--out", str(run), *TINY, "--lr", "1e-4", "--channels-last"]
    assert main([*first, "--stop-after", "0.0001"]) == 0
    assert json.loads((run / "last.json").read_text())["step"] == 1, "stopped after its first step"
    assert main(["train", "--out", str(run), "--resume"]) == 0
    state = json.loads((run / "last.json").read_text())
    assert state["step"] == 4, "the run's own schedule, and this invocation's stop (none)"
    kept = {"data": str(data), "steps": 4, "blind_steps": 2, "batch": 2, "crop": 32, "lr": 1e-4, "channels_last": True}
    assert {k: state["config"][k] for k in kept} == kept
    assert main(["train", "--out", str(run), "--resume", "--steps", "5", "--no-channels-last"]) == 0
    assert "given here: steps 5, channels_last False" in capsys.readouterr().out
    state = json.loads((run / "last.json").read_text())
    assert (state["step"], state["config"]["channels_last"], state["config"]["lr"]) == (5, False, 1e-4)
    for minutes in ("-1", "inf", "nan"):
        assert main(["train", "--data", str(data), "--out", str(tmp_path / "bad"), *TINY, "--stop-after", minutes]) == 2


def test_sigterm_stops_a_run_after_the_step_at_hand(data: Path, tmp_path: Path, monkeypatch) -> None:
    cfg = TrainConfig(data=str(data), out=str(tmp_path / "run"), steps=50, blind_steps=50, batch=2, crop=32)
    trainer = Trainer(cfg)
    advance = trainer.advance

    def terminated_at_the_second_step() -> dict[str, torch.Tensor]:
        if trainer.step == 1:
            signal.raise_signal(signal.SIGTERM)
        return advance()

    monkeypatch.setattr(trainer, "advance", terminated_at_the_second_step)
    before = signal.getsignal(signal.SIGTERM)
    trainer.run()
    assert trainer.step == 2
    assert json.loads((tmp_path / "run" / "last.json").read_text())["step"] == 2
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.fixture
def sigint_as(request: pytest.FixtureRequest) -> Iterator[None]:
    """SIGINT's handler set for one test: a shell starts background jobs (``cmd &``) with SIGINT ignored."""
    before = signal.signal(signal.SIGINT, request.param)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("sigint_as", [signal.default_int_handler], indirect=True)
def test_a_second_ctrl_c_interrupts_at_once(sigint_as: None) -> None:
    with StopRequests() as stop:
        assert not stop.requested()
        signal.raise_signal(signal.SIGINT)
        assert stop.requested() and stop.reason() == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("sigint_as", [signal.SIG_IGN], indirect=True)
def test_an_ignored_ctrl_c_stays_ignored(sigint_as: None) -> None:
    with StopRequests() as stop:
        signal.raise_signal(signal.SIGINT)
        assert not stop.requested()
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_validation_pooled_from_shares_is_validation_of_the_whole(data: Path) -> None:
    from engine.config import FAST
    from engine.models.sidejpeg import SideJPEGNet

    torch.manual_seed(0)
    net = SideJPEGNet(FAST)
    paths = sorted(data.iterdir())[:2]
    whole = measure(net, paths, torch.device("cpu"))
    shares = Measurements.pooled([measure(net, paths[i::2], torch.device("cpu")) for i in range(2)])
    assert summary(shares, FAST.symbols) == summary(whole, FAST.symbols)
    assert summary(Measurements.pooled([shares, Measurements()]), FAST.symbols) == summary(whole, FAST.symbols)

def test_selection_stage_trains_the_head_with_the_trunk_fixed(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "sel"
    assert main(["train", "--data", str(data), "--out", str(run), *TINY]) == 0
    before = load_model(run / "model.safetensors")
    assert main(["train", "--data", str(data), "--out", str(run), "--resume", *TINY, "--selection-steps", "3"]) == 0
    assert json.loads((run / "last.json").read_text())["step"] == 7
    after = load_model(run / "model.safetensors")
    assert after.selects_blocks
    old, new = before.state_dict(), after.state_dict()
    fixed = [k for k in old if k.startswith(("restorer.head", "restorer.blocks", "restorer.tail", "mapping."))]
    trained = [k for k in old if k.startswith(("restorer.corrections.", "context.", "extractor."))]
    assert all(old[k].equal(new[k]) for k in fixed)
    assert all(not old[k].equal(new[k]) for k in trained if k.endswith("weight"))


def test_selection_stage_trains_the_trunk_too_when_asked(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "sel"
    assert main(["train", "--data", str(data), "--out", str(run), *TINY]) == 0
    before = load_model(run / "model.safetensors")
    resumed = ["--resume", *TINY, "--selection-steps", "3", "--selection-trunk"]
    assert main(["train", "--data", str(data), "--out", str(run), *resumed]) == 0
    state = json.loads((run / "last.json").read_text())
    assert state["step"] == 7 and state["config"]["selection_trunk"]
    old, new = before.state_dict(), load_model(run / "model.safetensors").state_dict()
    trunk = [k for k in old if k.startswith("restorer.blocks") and k.endswith("weight")]
    assert trunk and all(not old[k].equal(new[k]) for k in trunk)


def test_a_model_grows_its_selection_head_from_an_older_checkpoint() -> None:
    import torch

    from engine.config import get_preset
    from engine.models.sidejpeg import SideJPEGNet
    from engine.training.checkpoint import load_model_state

    net = SideJPEGNet(get_preset("fast"))
    older = {k: v for k, v in net.state_dict().items() if not k.startswith("restorer.corrections.")}
    load_model_state(SideJPEGNet(get_preset("fast")), older)
    broken = {k: v for k, v in older.items() if not k.startswith("restorer.tail.")}
    with pytest.raises(ValueError, match=r"restorer\.tail"):
        load_model_state(SideJPEGNet(get_preset("fast")), broken)
    assert torch.is_tensor(older["restorer.head.weight"])


def test_validation_images_are_held_out_whatever_their_format(tmp_path: Path, sample_rgb: np.ndarray) -> None:
    from engine.training.data import VALIDATION_STEMS, split

    Image.fromarray(sample_rgb).save(tmp_path / f"{VALIDATION_STEMS[0]}.jpg", quality=97)
    Image.fromarray(sample_rgb).save(tmp_path / "photo.webp", lossless=True)
    train, val = split(tmp_path)
    assert [p.name for p in val] == [f"{VALIDATION_STEMS[0]}.jpg"]
    assert [p.name for p in train] == ["photo.webp"]


def test_a_continuation_lengthens_the_selection_stage_to_fill_the_budget() -> None:
    from engine.training.budget import RESERVE, extended_to
    from engine.training.train import TrainConfig

    cfg = TrainConfig(steps=100, blind_steps=60, selection_steps=50)
    longer = extended_to(cfg, 10, {"blind": 0.05, "end_to_end": 0.08, "selection": 0.1}, done=150)
    assert (longer.steps, longer.blind_steps) == (100, 60)
    assert (longer.steps + longer.selection_steps - 150) * 0.1 == pytest.approx(600 * (1 - RESERVE), rel=0.01)


def test_stages_are_sized_to_fill_the_budget() -> None:
    from engine.training.budget import RESERVE, STAGE_SHARES, sized_to
    from engine.training.train import TrainConfig

    seconds = {"blind": 0.05, "end_to_end": 0.08, "selection": 0.1}
    cfg = sized_to(TrainConfig(), 10, seconds)
    end_to_end = cfg.steps - cfg.blind_steps
    spent = cfg.blind_steps * 0.05 + end_to_end * 0.08 + cfg.selection_steps * 0.1
    assert spent == pytest.approx(600 * (1 - RESERVE), rel=0.01)
    assert cfg.blind_steps * 0.05 == pytest.approx(600 * (1 - RESERVE) * STAGE_SHARES["blind"], rel=0.01)
    without_head = sized_to(TrainConfig(), 10, {"blind": 0.05, "end_to_end": 0.08})
    assert without_head.selection_steps == 0 and without_head.steps - without_head.blind_steps > end_to_end


def test_the_step_time_probe_times_each_stage_with_its_own_steps(data: Path, monkeypatch) -> None:
    """The probe advances the step as a run does: with the trunk trained in the selection stage, three of
    every four steps there are selection steps (a probe that stayed on one step timed only blind ones, and
    sized a CPU run 1.6x longer than its budget)."""
    from engine.training.budget import PROBE_STEPS, PROBE_WARMUP, measure_step_seconds
    from engine.training.train import TrainConfig, Trainer

    kinds: list[str] = []
    plain, selection = Trainer.train_step, Trainer.selection_step
    monkeypatch.setattr(Trainer, "train_step", lambda self: kinds.append("step") or plain(self))
    monkeypatch.setattr(Trainer, "selection_step", lambda self: kinds.append("selection") or selection(self))
    cfg = TrainConfig(data=str(data), batch=2, crop=32, selection_trunk=True)
    assert set(measure_step_seconds(cfg)) == {"blind", "end_to_end", "selection"}
    probed = PROBE_WARMUP + PROBE_STEPS
    assert kinds.count("step") == 3 * probed
    assert probed * 2 // 3 <= kinds.count("selection") < probed, "about 3 in 4 of the selection stage's steps"


def test_a_budgeted_run_measures_its_step_times_and_finishes(data: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "budget"
    tiny = ["--batch", "2", "--crop", "32", "--val-every", "1000"]
    assert main(["train", "--data", str(data), "--out", str(run), *tiny, "--minutes", "0.05"]) == 0
    printed = capsys.readouterr().out
    assert "step times: blind" in printed and "selection" in printed
    state = json.loads((run / "last.json").read_text())
    cfg = state["config"]
    assert state["step"] == cfg["steps"] + cfg["selection_steps"] and cfg["blind_steps"] < cfg["steps"]
    assert main(["train", "--data", str(data), "--out", str(run), "--resume", *tiny, "--minutes", "0.05"]) == 0
    continued = json.loads((run / "last.json").read_text())
    again = continued["config"]
    assert {k: again[k] for k in ("steps", "blind_steps")} == {k: cfg[k] for k in ("steps", "blind_steps")}
    assert again["selection_steps"] > cfg["selection_steps"], "the selection stage is lengthened by the budget"
    assert continued["step"] == again["steps"] + again["selection_steps"] > state["step"]


def test_a_budget_is_refused_when_it_cannot_be_sized(data: Path, tmp_path: Path, monkeypatch) -> None:
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "zero"), "--minutes", "0"]) == 2
    early = tmp_path / "early"
    assert main(["train", "--data", str(data), "--out", str(early), *TINY]) == 0
    state = json.loads((early / "last.json").read_text())
    state["config"]["steps"] = 100
    (early / "last.json").write_text(json.dumps(state))
    assert main(["train", "--data", str(data), "--out", str(early), "--resume", "--minutes", "1"]) == 2, (
        "a budget only continues a run that has reached its selection stage"
    )
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "ddp"), "--minutes", "5"]) == 2


def test_a_pack_is_a_small_training_folder_that_holds_out_the_same_images_and_calibrates_on_them(
    tmp_path: Path, sample_rgb: np.ndarray
) -> None:
    from engine.training.calibrate import CROP, calibration_images
    from engine.training.data import VALIDATION_STEMS, split
    from engine.training.validate import centre_crop

    source = tmp_path / "train"
    source.mkdir()
    Image.fromarray(sample_rgb).save(source / f"{VALIDATION_STEMS[0]}.png")
    for i in range(3):
        Image.fromarray(np.roll(sample_rgb, 31 * i, axis=0)).save(source / f"img{i}.png")
    pack = tmp_path / "pack"
    assert main(["pack", "--data", str(source), "--out", str(pack), "--mib", "0.6", "--side", "64"]) == 0
    train, held_out = split(pack)
    size = sum(p.stat().st_size for p in pack.iterdir() if p.suffix == ".png")
    assert size <= 0.6 * 2**20 and len(train) > 10
    manifest = json.loads((pack / "pack.json").read_text())
    assert manifest["training_crops"] == len(train) and manifest["bytes"] == size
    assert [p.stem for p in held_out] == [VALIDATION_STEMS[0]]
    kept = np.asarray(Image.open(held_out[0]))
    np.testing.assert_array_equal(kept, centre_crop(sample_rgb, CROP))
    assert all(np.asarray(Image.open(p)).shape == (64, 64, 3) for p in train)
    assert calibration_images(pack) == held_out, "not on a seventh of its small random crops"
    assert [p.stem for p in calibration_images(source)] == [VALIDATION_STEMS[0], "img0"]
    assert main(["pack", "--data", str(source), "--out", str(pack)]) == 2, "refuses a folder that is not empty"
    assert main(["pack", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "p2")]) == 2


def test_batches_made_in_worker_processes_differ_per_worker_and_repeat_per_seed(data: Path) -> None:
    from engine.training.data import CropSampler, batches, list_images

    def first(workers: int, count: int) -> list[np.ndarray]:
        stream = batches(CropSampler(list_images(data), 32, seed=5), 2, seed=5, workers=workers, pin=False)
        return [next(stream).original.numpy() for _ in range(count)]

    two = first(2, 4)
    assert not np.array_equal(two[0], two[1]), "each worker draws its own crops"
    np.testing.assert_array_equal(np.stack(two), np.stack(first(2, 4)))
    batch = next(batches(CropSampler(list_images(data), 32, seed=1), 3, seed=1, workers=0, pin=False))
    assert batch.original.shape == batch.jpeg.shape == (3, 3, 32, 32)
    assert batch.cond.shape[0] == 3 and batch.lambdas.shape == (3,)


def test_training_reports_its_throughput(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["--steps", "50", "--blind-steps", "25", "--batch", "2", "--crop", "32", "--val-every", "1000"]
    assert main(["train", "--data", str(data), "--out", str(run), "--workers", "1", *args]) == 0
    report = next(h for h in json.loads((run / "last.json").read_text())["history"] if "samples_per_s" in h)
    assert report["samples_per_s"] > 0 and report["tflops"] > 0
    assert all(isinstance(report[k], float) for k in ("mse", "gain_db", "loss"))


def test_a_step_leaves_its_statistics_on_the_device_until_they_are_reported(data: Path, tmp_path: Path) -> None:
    """No host-device round trip per step: what a step logs stays a 0-d tensor until the 50-step report."""
    import torch

    from engine.training.train import TrainConfig, Trainer

    cfg = TrainConfig(data=str(data), out=str(tmp_path / "run"), steps=3, blind_steps=1, selection_steps=1, batch=2,
                      crop=32, workers=0)
    trainer = Trainer(cfg)
    for step in range(4):  # blind, end to end (blind every 4th), end to end, selection
        trainer.step = step if step < 3 else cfg.steps
        stats = trainer.train_step()
        assert stats and all(isinstance(v, torch.Tensor) and v.ndim == 0 for v in stats.values()), stats


def test_a_run_keeps_a_moving_average_of_its_weights_and_ships_it(data: Path, tmp_path: Path) -> None:
    """With --ema the checkpoint holds the average beside the last step's weights; a resume carries it on, and
    the run's model and the export are the average."""
    run = tmp_path / "run"
    ema = [*TINY, "--ema", "0.5"]
    assert main(["train", "--data", str(data), "--out", str(run), *ema]) == 0
    tensors, _ = read_tensors(run / "last.safetensors")
    assert int(tensors["ema.n_averaged"]) == 4
    name = "restorer.tail.weight"
    last, average = tensors[f"model.{name}"], tensors[f"ema.module.{name}"]
    assert not last.equal(average), "the average lags the last step"
    assert load_model(run / "model.safetensors").state_dict()[name].equal(average)

    trainer = Trainer(TrainConfig(data=str(data), out=str(run), steps=5, blind_steps=2, batch=2, crop=32, ema=0.5))
    assert trainer.shipped.state_dict()[name].equal(average), "a resume starts from the saved average"
    weights = {k: v.clone() for k, v in trainer.net.state_dict().items()}
    trainer.advance()
    moved = trainer.net.state_dict()[name]
    assert not moved.equal(weights[name])
    assert torch.allclose(trainer.shipped.state_dict()[name], 0.5 * average + 0.5 * moved)

    target = tmp_path / "model.safetensors"
    assert main(["train", "--out", str(run), "--export", str(target), "--calibration-crop", "64"]) == 0
    assert load_model(target).state_dict()[name].equal(average)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "bad"), *TINY, "--ema", "1"]) == 2


def test_a_run_without_an_average_resumed_with_one_starts_it_from_its_weights(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), *TINY]) == 0
    before = read_tensors(run / "last.safetensors")[0]
    assert not any(k.startswith("ema.") for k in before)
    trainer = Trainer(TrainConfig(data=str(data), out=str(run), steps=5, blind_steps=2, batch=2, crop=32, ema=0.9))
    assert trainer.shipped is trainer.net, "nothing averaged yet: the weights themselves"
    trainer.advance()
    name = "restorer.tail.weight"
    assert trainer.shipped.state_dict()[name].equal(trainer.net.state_dict()[name]), "the first step is copied"


def test_a_grown_stage_learns_at_its_own_rate_and_the_trained_weights_at_the_schedules(
    data: Path, tmp_path: Path
) -> None:
    from engine.config import FAST
    from engine.models.sidejpeg import SideJPEGNet
    from engine.weights import save_tensors

    init = tmp_path / "fast.safetensors"
    save_tensors(init, SideJPEGNet(FAST).state_dict(), {})
    cfg = TrainConfig(
        preset="fast-context", data=str(data), out=str(tmp_path / "run"), steps=0, blind_steps=0, selection_steps=3,
        selection_trunk=True, batch=2, crop=32, init=str(init), new_lr_scale=30.0,
    )
    trainer = Trainer(cfg)
    names = {id(p): n for n, p in trainer.net.named_parameters()}
    trained, grown = trainer.optimizer.param_groups
    assert {names[id(p)].split(".")[1] for p in grown["params"]} == {"context"}
    assert not any(".context." in names[id(p)] for p in trained["params"])
    trainer.advance()
    assert grown["lr"] == pytest.approx(30.0 * trained["lr"]) and trained["lr"] > 0
    trainer.save()
    resumed = Trainer(cfg)
    assert [len(g["params"]) for g in resumed.optimizer.param_groups] == [len(trained["params"]), len(grown["params"])]
    assert len(Trainer(TrainConfig(data=str(data), out=str(tmp_path / "plain"))).optimizer.param_groups) == 1
    for scale in ("0", "-1", "inf", "nan"):
        bad = ["train", "--data", str(data), "--out", str(tmp_path / "bad"), *TINY, "--new-lr-scale", scale]
        assert main(bad) == 2


def _run_folder_from(slim: Path, run: Path) -> Path:
    """A run folder holding the slim checkpoint ``slim``.* as its last one, as a campaign resumes it."""
    run.mkdir()
    for suffix in (".json", ".safetensors"):
        (run / f"last{suffix}").write_bytes(slim.with_name(slim.name + suffix).read_bytes())
    return run


def test_a_slim_checkpoint_keeps_the_weights_and_resumes_with_fresh_moments(data: Path, tmp_path: Path) -> None:
    from engine.training.checkpoint import save_slim

    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), *TINY, "--ema", "0.9"]) == 0
    full = read_tensors(run / "last.safetensors")[0]
    assert any(k.startswith("optim.") for k in full) and any(k.startswith("ema.") for k in full)
    save_slim(run, tmp_path / "kept" / "run-last")
    slim = read_tensors(tmp_path / "kept" / "run-last.safetensors")[0]
    assert set(slim) == {k for k in full if k.startswith(("model.", "rng."))}
    assert all(slim[k].equal(full[k]) for k in slim)
    state = json.loads((tmp_path / "kept" / "run-last.json").read_text())
    assert state == json.loads((run / "last.json").read_text())

    resumed = _run_folder_from(tmp_path / "kept" / "run-last", tmp_path / "resumed")
    cfg = TrainConfig(data=str(data), out=str(resumed), steps=9, blind_steps=2, batch=2, crop=32, ema=0.9)
    trainer = Trainer(dataclasses.replace(cfg, warmup_steps=4))
    assert trainer.step == 4 and not trainer.optimizer.state, "Adam's moments start afresh"
    assert trainer.net.state_dict()["restorer.tail.weight"].equal(full["model.restorer.tail.weight"])
    assert trainer.learning_rate() == pytest.approx(cfg.lr / 4), "and warm up again, as a new stage's do"
    trainer.advance()
    assert trainer.step == 5 and trainer.optimizer.state
    assert trainer.learning_rate() == pytest.approx(cfg.lr / 2)
    trainer.save()
    again = Trainer(dataclasses.replace(cfg, warmup_steps=4))
    assert again.optimizer.state and again.learning_rate() == pytest.approx(cfg.lr / 2), "moments kept: no restart"
    assert Trainer(cfg).learning_rate() == pytest.approx(cfg.lr), "no warm-up asked, none"


def test_the_committed_campaign_checkpoint_resumes_in_todays_model(data: Path, tmp_path: Path) -> None:
    """The slim checkpoint the CPU campaign commits (resources/checkpoints) still fits its preset's network."""
    campaign = "fast-context"
    kept = Path(__file__).parents[1] / "resources" / "checkpoints" / f"{campaign}-last"
    state = json.loads(kept.with_name(kept.name + ".json").read_text())
    run = _run_folder_from(kept, tmp_path / "run")
    cfg = {**state["config"], "data": str(data), "out": str(run), "batch": 1, "crop": 32, "workers": 0}
    trainer = Trainer(TrainConfig(**cfg))
    assert trainer.step == state["step"] and trainer.net.config.name == campaign
    trainer.advance()
    assert trainer.step == state["step"] + 1
