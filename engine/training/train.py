"""The training loop: blind stage, then end to end with rate, lambda conditioning and anti-collapse aids."""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

from engine.config import BLOCK, ModelConfig, get_preset
from engine.errors import SideJPEGError
from engine.models.sidejpeg import SideJPEGNet
from engine.training.calibrate import CROP as CALIBRATION_CROP
from engine.training.calibrate import calibration, calibration_images
from engine.training.checkpoint import load_checkpoint, load_model_state, save_checkpoint, shipped_weights
from engine.training.data import CropSampler, batches, default_workers, split
from engine.training.schedule import phase
from engine.training.selection import selection_loss
from engine.training.stopping import StopRequests
from engine.training.validate import Measurements, measure, summary
from engine.weights import read_tensors, save_model


@dataclass
class TrainConfig:
    preset: str = "fast"
    data: str = "../shared/data/train"
    out: str = "runs/fast"
    steps: int = 8000
    blind_steps: int = 1500
    blind_every: int = 4
    batch: int = 8
    crop: int = 128
    lr: float = 3e-4
    seed: int = 0
    checkpoint_minutes: float = 5.0
    val_every: int = 500
    bf16: bool = False
    channels_last: bool = False
    selection_steps: int = 0
    """Steps of the block-level selection stage after the end-to-end stage (models with corrections)."""
    selection_lr: float = 1e-3
    selection_trunk: bool = False
    """Train the trunk in the selection stage too (by the picked blocks' errors), with a blind step every
    ``blind_every`` steps so that blind restoration keeps its quality."""
    init: str = ""
    """Weights (safetensors) a fresh run starts from instead of random ones: fine-tuning."""
    warmup_steps: int = 0
    """Linear learning-rate warm-up at the start of each stage: Adam's first steps move every weight by
    about the learning rate, which throws a trained model off before its moments settle."""
    workers: int = -1
    """Processes that cut and compress the crops while the step runs; -1: none on a CPU, up to 8 on a GPU."""
    compile: bool = False
    """Run the network's training forward through ``torch.compile`` (``benchmarks/train_step.py`` says
    where it pays)."""
    ema: float = 0.0
    """Decay of an exponential moving average of the weights, updated after every step; validation, the run's
    ``model.safetensors`` and the export use it. 0: none, the weights of the last step."""
    new_lr_scale: float = 1.0
    """Learning rate of the parameters the ``init`` weights lack (a stage grown on a trained model), as a multiple
    of the schedule's: a new part starts from zero and needs large steps, while the trained weights around it
    drift off their optimum at anything above the rate they finished at."""
    stop_after: float = 0.0
    """Minutes after which this invocation writes a checkpoint and returns, wherever the schedule is (``--resume``
    goes on); 0: run to the end. SIGTERM and SIGINT stop it the same way (``engine.training.stopping``)."""


def _entropy_bits(p: torch.Tensor, dim: int) -> torch.Tensor:
    return -(p * torch.log2(p.clamp_min(1e-12))).sum(dim=dim)


def usage_information_bits(logits: torch.Tensor) -> torch.Tensor:
    """Mutual information between blocks and symbols, H(mean p) - mean H(p), in bits.

    High only when every block picks its symbol confidently *and* all symbols are used; a
    plain marginal-entropy bonus is also maximised by uniform, uninformative descriptors.
    """
    p = torch.softmax(logits.float(), dim=1)
    return _entropy_bits(p.mean(dim=(0, 2, 3)), 0) - _entropy_bits(p, 1).mean()


def perplexity(symbols: torch.Tensor, count: int) -> torch.Tensor:
    """2^H of the empirical symbol histogram: how many symbols are effectively in use."""
    hist = torch.bincount(symbols.flatten(), minlength=count).float()
    p = hist / hist.sum()
    return 2 ** -torch.special.xlogy(p, p).div(math.log(2)).sum()


def psnr_from_mse255(mse: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(255.0**2 / mse.clamp_min(1e-8))


class TrainingPasses(torch.nn.Module):
    """The network's training passes, a step's and the selection stage's, as one module's forward: DDP
    synchronises the gradients of what runs through its wrapper's forward only, and a backward that bypassed it
    once left its reducer broken for the next step that did not (distributed selection stage)."""

    def __init__(self, net: SideJPEGNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, kind: str, *args, **kwargs):
        if kind == "selection":
            return selection_loss(self.net, *args, **kwargs)
        return self.net(*args, **kwargs)


class Trainer:
    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
        if self.distributed:
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        self.device = torch.device(
            f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
        )
        torch.backends.cudnn.benchmark = self.device.type == "cuda"  # fixed crop size: pick the fastest kernels once
        torch.manual_seed(cfg.seed + self.rank)
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.net = SideJPEGNet(get_preset(cfg.preset)).to(self.device)
        if cfg.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        init = read_tensors(cfg.init)[0] if cfg.init else None
        groups = self._parameter_groups(None if init is None else set(init))
        self.optimizer = torch.optim.Adam(groups, lr=cfg.lr, fused=self.device.type == "cuda")
        self.step = 0
        self.history: list[dict] = []
        resuming = (self.out / "last.json").exists()
        if init is not None and not resuming:
            load_model_state(self.net, {k: v.to(self.device) for k, v in init.items()})
        self.average = AveragedModel(self.net, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema)) if cfg.ema else None
        """The weights' moving average (``ema``), started from the weights it first sees."""
        self.moments_from = 0
        """Step at which Adam's moments started: a resume from a slim checkpoint starts them afresh, and warms
        up again as a stage does."""
        if resuming:
            state = load_checkpoint(self.out, self.net, self.optimizer, self.average)
            self.step, self.history = state["step"], state.get("history", [])
            self.moments_from = state.get("moments_from", 0) if self.optimizer.state else self.step
        # No buffer broadcast: the only buffers are the masked convolutions' constant masks, the same on every
        # rank, and gloo refuses to broadcast them in place once channels_last has given them overlapping strides.
        passes = TrainingPasses(self.net)
        self.model = (
            DistributedDataParallel(passes, find_unused_parameters=True, broadcast_buffers=False)
            if self.distributed
            else passes
        )
        if cfg.compile:
            self.model = torch.compile(self.model)
        train_paths, self.val_paths = split(Path(cfg.data))
        seed = cfg.seed + 7 * self.rank + self.step
        workers = default_workers(self.device) if cfg.workers < 0 else cfg.workers
        sampler = CropSampler(train_paths, cfg.crop, seed)
        self.batches = batches(sampler, cfg.batch, seed, workers, pin=self.device.type == "cuda")
        self.step_flops: dict[str, float] = {}
        """Floating-point operations of a step of each kind (forward and backward), measured once."""
        self.flops_done = 0.0
        self.stop_poll = 1 if self.device.type == "cpu" else 10
        """Steps between checks for a stop request: the processes' agreement on it is a host-device round trip
        on a GPU, while a CPU step is long enough that torchrun's agent would kill a run that took 10."""

    def _parameter_groups(self, held: set[str] | None) -> list[dict]:
        """The trained parameters, and those the ``init`` weights (named ``held``; None: no ``init``) lack at
        ``new_lr_scale`` times their rate."""
        groups: dict[bool, list[torch.nn.Parameter]] = {False: [], True: []}
        for name, param in self.net.named_parameters():
            groups[held is not None and name not in held].append(param)
        return [{"params": groups[False], "scale": 1.0}] + (
            [{"params": groups[True], "scale": self.cfg.new_lr_scale}] if groups[True] else []
        )

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        if self.cfg.bf16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @property
    def total_steps(self) -> int:
        return self.cfg.steps + (self.cfg.selection_steps if self.net.selects_blocks else 0)

    def learning_rate(self) -> float:
        """Constant, then a cosine decay over the last 30 % of the steps; the selection stage has its own
        cosine decay from ``selection_lr``. Each stage, and a resume with fresh moments, starts with
        ``warmup_steps`` of linear warm-up."""
        cfg = self.cfg
        if self.step >= cfg.steps:
            t = (self.step - cfg.steps) / max(1, cfg.selection_steps)
            peak = cfg.selection_lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))
            return peak * self._warmup(self.step - cfg.steps)
        start = 0.7 * cfg.steps
        warm = self._warmup(self.step if self.step < cfg.blind_steps else self.step - cfg.blind_steps)
        if self.step < start:
            return cfg.lr * warm
        t = min(1.0, (self.step - start) / (cfg.steps - start))
        return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t))) * warm

    def _warmup(self, steps_into_stage: int) -> float:
        since = min(steps_into_stage, self.step - self.moments_from)
        return min(1.0, (since + 1) / self.cfg.warmup_steps) if self.cfg.warmup_steps else 1.0

    def progress(self) -> float:
        span = max(1, self.cfg.steps - self.cfg.blind_steps)
        return (self.step - self.cfg.blind_steps) / span

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(original, jpeg, cond, lambdas) of the next training batch on the device, one lambda per sample."""
        batch = next(self.batches)
        original, jpeg, cond, lams = (
            t.to(self.device, non_blocking=True) for t in (batch.original, batch.jpeg, batch.cond, batch.lambdas)
        )
        if self.cfg.channels_last:
            original, jpeg = (t.contiguous(memory_format=torch.channels_last) for t in (original, jpeg))
        return original, jpeg, cond, lams

    def _apply(self, loss: torch.Tensor) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate() * group["scale"]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 5.0)
        self.optimizer.step()
        if self.average is not None:
            self.average.update_parameters(self.net)

    @property
    def shipped(self) -> SideJPEGNet:
        """The weights a run validates and writes as its model: the moving average when there is one."""
        if self.average is None or not self.average.n_averaged:
            return self.net
        return self.average.module

    def selection_step(self) -> dict[str, torch.Tensor]:
        """One step of the block-level selection stage (the trunk and mapping stay fixed unless
        ``selection_trunk``)."""
        original, jpeg, cond, lams = self._batch()
        trunk = self.cfg.selection_trunk
        self._count("selection", lambda: selection_loss(self.net, original, jpeg, cond, lams, trunk))
        with self.autocast():
            loss, stats, chosen = self.model("selection", original, jpeg, cond, lams, trunk)
        self._apply(loss)
        stats.update(loss=loss.detach(), perplexity=perplexity(chosen, self.net.config.symbols))
        return stats

    def train_step(self) -> dict[str, torch.Tensor]:
        """One step; what to log about it as 0-d tensors on the device, read only when reported (no
        host-device round trip per step)."""
        cfg = self.cfg
        blind = self.step < cfg.blind_steps or self.step % cfg.blind_every == 0
        if self.step >= cfg.steps and not (cfg.selection_trunk and blind):
            return self.selection_step()
        ph = phase(self.progress())
        q = self.net.quantizer
        q.soft_mix, q.noise, q.sigma = ph.soft_mix, ph.noise, ph.sigma
        original, jpeg, cond, lams = self._batch()
        self._count("blind" if blind else "end_to_end", lambda: self.net(original, jpeg, cond, blind=blind))
        with self.autocast():
            out = self.model("step", original, jpeg, cond, blind=blind)
        mse = ((out.restored.float() - original) ** 2).mean(dim=(1, 2, 3)) * 255.0**2
        loss = mse.mean()
        stats = {"mse": mse.detach().mean()}
        jpeg_mse = ((jpeg - original) ** 2).mean(dim=(1, 2, 3)) * 255.0**2
        stats["gain_db"] = (psnr_from_mse255(mse.detach()) - psnr_from_mse255(jpeg_mse)).mean()
        if not blind:
            pixels = original.shape[2] * original.shape[3]
            bpp = out.bits.sum(dim=(1, 2)) / pixels
            lam_t = lams * ph.lambda_scale
            usage = usage_information_bits(out.logits)
            ctx_bits = self._context_only_bits(out, cond)
            loss = loss + (lam_t * bpp).mean() - ph.usage_bonus * usage + ctx_bits
            stats.update(
                side_bits_per_block=out.bits.detach().mean(),
                perplexity=perplexity(out.symbols, self.net.config.symbols),
                usage_bits=usage.detach(),
            )
        self._apply(loss)
        stats["loss"] = loss.detach()
        return stats

    def _count(self, kind: str, forward: Callable[[], object]) -> None:
        """Add a step's floating-point operations to ``flops_done``: its forward pass counted once per kind of
        step, times 3 (the backward pass costs about twice the forward)."""
        if kind not in self.step_flops:
            devices = [self.device] if self.device.type == "cuda" else []
            counter = FlopCounterMode(display=False)
            with torch.random.fork_rng(devices=devices), torch.no_grad(), self.autocast(), counter:
                forward()
            self.step_flops[kind] = 3.0 * counter.get_total_flops()
        self.flops_done += self.step_flops[kind]

    def _context_only_bits(self, out, cond: torch.Tensor) -> torch.Tensor:
        """Rate of the detached hard symbols: trains the context model even while lambda is 0."""
        from engine.models.context_model import bits_per_block

        hard = torch.nn.functional.one_hot(out.symbols, self.net.config.symbols).permute(0, 3, 1, 2).float()
        return bits_per_block(self.net.context(hard, cond), hard).mean() * 0.01

    def save(self) -> None:
        if self.rank != 0:
            return
        state = {
            "step": self.step,
            "config": asdict(self.cfg),
            "model_config": self.net.config.to_dict(),
            "history": self.history,
            "moments_from": self.moments_from,
        }
        save_checkpoint(self.out, self.net, self.optimizer, state, self.average)

    def advance(self) -> dict[str, torch.Tensor]:
        """One step of the run, the step count moved past it: what a run and the step-time probe both do."""
        stats = self.train_step()
        self.step += 1
        return stats

    def run(self) -> None:
        cfg = self.cfg
        bar = tqdm(
            total=self.total_steps, initial=self.step, disable=self.rank != 0, mininterval=10, dynamic_ncols=True
        )
        last_save = last_report = time.monotonic()
        running: dict[str, list[torch.Tensor]] = {}
        with StopRequests(cfg.stop_after) as stop:
            while self.step < self.total_steps:
                stats = self.advance()
                bar.update(1)
                for k, v in stats.items():
                    running.setdefault(k, []).append(v)
                if self.step % 50 == 0 and self.rank == 0:
                    self._report(running, bar, time.monotonic() - last_report)
                    last_report = time.monotonic()
                if self.step % cfg.val_every == 0 or self.step == self.total_steps:
                    self._validate()
                stopping = self.step % self.stop_poll == 0 and self._agreed(stop.requested())
                due = time.monotonic() - last_save > cfg.checkpoint_minutes * 60 or self.step == self.total_steps
                if due or stopping:
                    self.save()
                    last_save = time.monotonic()
                if stopping:
                    if self.rank == 0:
                        bar.write(f"stopped at step {self.step} ({stop.reason()}); --resume continues from there")
                    break
        bar.close()
        if self.rank == 0:
            save_model(self.out / "model.safetensors", self.shipped, {"steps": self.step, "train": asdict(cfg)})
        if self.distributed:
            dist.destroy_process_group()

    def _report(self, running: dict[str, list[torch.Tensor]], bar: tqdm, seconds: float) -> None:
        """Log the means of the last steps' statistics, the speed over ``seconds``, and empty ``running``."""
        means = torch.stack([torch.stack(v).float().mean() for v in running.values()]).tolist()
        report = {k: round(m, 4) for k, m in zip(running, means, strict=True)}
        running.clear()
        report["samples_per_s"] = round(50 * self.cfg.batch * self.world / seconds, 1)  # --batch is per process
        report["tflops"] = float(f"{self.flops_done * self.world / seconds / 1e12:.3g}")
        self.flops_done = 0.0
        bar.set_postfix(
            loss=report.get("loss"),
            gain_db=report.get("gain_db"),
            sel_db=report.get("selection_gain_db"),
            bits=report.get("side_bits_per_block"),
            ppl=report.get("perplexity"),
        )
        phased = asdict(phase(self.progress()))
        self.history.append({"step": self.step, "time": time.time(), **report, "phase": phased})
        print(json.dumps(self.history[-1]), flush=True)

    def _validate(self) -> None:
        """Validate the shipped weights, each process on its share of the held-out images; rank 0 pools the
        shares and logs the summary."""
        mine = measure(self.shipped, self.val_paths[self.rank :: self.world], self.device)
        self.net.train()
        parts = [mine]
        if self.distributed:
            parts = [None] * self.world if self.rank == 0 else None
            dist.gather_object(mine, parts, dst=0)
        if self.rank == 0:
            result = summary(Measurements.pooled(parts), self.net.config.symbols)
            self.history.append({"step": self.step, "val": result})
            print(json.dumps({"step": self.step, "val": result}), flush=True)

    def _agreed(self, stop: bool) -> bool:
        """Whether any process was asked to stop: they all stop after the same step, or the others would wait
        for it at the next gradient exchange forever."""
        if not self.distributed:
            return stop
        flag = torch.tensor([float(stop)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


def train(cfg: TrainConfig) -> None:
    if cfg.crop % BLOCK:
        raise ValueError(f"--crop must be a multiple of {BLOCK}")
    Trainer(cfg).run()


def export_weights(
    run: Path, target: Path, calibration_crop: int = CALIBRATION_CROP, data: Path | None = None, floor: float = 0.0
) -> str:
    """Write the weights of a run's latest checkpoint as a shippable model file, calibrated for blind
    restoration on the calibration images of ``data``, by default the run's own training folder
    (``engine.training.calibrate``; a run trained on a pack of small crops calibrates on the full images), its
    threshold at least ``floor``."""
    if not (run / "last.json").exists():
        raise SideJPEGError(f"{run} holds no checkpoint")
    state = json.loads((run / "last.json").read_text())
    net = SideJPEGNet(ModelConfig.from_dict(state["model_config"]))
    net.load_state_dict(shipped_weights(read_tensors(run / "last.safetensors")[0]))
    images = calibration_images(data or Path(state["config"]["data"]))
    calibrated = calibration(net, images, torch.device("cpu"), calibration_crop, floor)
    info = {"steps": state["step"], "train": state["config"], **calibrated}
    return save_model(target, net, info)
