"""Speed and memory of every step of SideJPEG, for both presets: ``python -m benchmarks.run``.

    .venv/bin/python -m benchmarks.run [--quick] [--out bench.json]

On the 768x512 sample (resources/samples/sample.png) it times JPEG encode, the encoder's choice of
the map, sidecar encode and decode, restore (with the sidecar and blind), a whole compress (the
encoder's choice and its check by the decoder's pass) and a whole view (``Codec.restore`` of JPEG +
sidecar), for the ``fast`` and ``paper`` presets (shipped weights). Presets are interleaved within
every repetition so that a noisy machine slows them alike; the median of the repetitions after a
warm-up is reported. Unless ``--quick``, it then restores a 24-megapixel image (the sample tiled to
6000x4000) in a child process and reports its wall time and peak resident memory.

Numbers are only comparable between runs on the same machine under the same load: the table
prints the load average at the start.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from engine import Codec, load_image
from engine import sidecar as sc
from engine.coding import wavefront
from engine.conditioning import Conditioning
from engine.config import BLOCK
from engine.jpeg_io import decode_jpeg, decode_with_params, encode_jpeg

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "samples" / "sample.png"
KODAK = ROOT.parent / "shared" / "data" / "test" / "kodak"
QUALITY = 30
LAM = 64.0
PSNR_QUALITY = 20
BIG_SIZE = (4000, 6000)
TARGETS = {"restore_s": 0.5, "sidecar_codec_s": 0.020, "big_peak_mib": 2048}

STAGES = (
    "jpeg_encode", "extract", "side_encode", "side_decode", "restore", "restore_blind", "preview_256", "compress",
    "view", "restore_fine",
)
"""Columns of the table, in pipeline order; ``extract`` is the encoder's choice of the map,
``preview_256`` is ``Codec.restore`` of a 256x256 box and ``restore_fine`` the blind restore of a JPEG finer
than the model restores (``FINE``: decoded anew from its coefficients, reading them included)."""
FINE = (96, "4:4:4")
"""Quality and sampling of ``restore_fine``'s JPEG."""
PREVIEW_BOX = (128, 256, 384, 512)
INNER = {"jpeg_encode": 5, "side_encode": 10, "side_decode": 10}
"""Stages that take milliseconds are run this many times per repetition."""

Stage = Callable[[], object]


class Case:
    """Everything one preset needs, prepared once: the sample's JPEG, symbols and sidecar."""

    def __init__(self, preset: str, rgb: np.ndarray) -> None:
        self.name = preset
        self.codec = codec = Codec(preset, device="cpu")
        self.rgb = rgb
        self.jpeg = encode_jpeg(rgb, QUALITY)
        self.decoded, params = decode_with_params(self.jpeg)
        self.conditioning = Conditioning.of(params, LAM)
        res = codec.compress(rgb, QUALITY, LAM)
        self.symbols, self.sidecar = res.symbols, res.sidecar
        self.payload = wavefront.encode(codec.coder, self.symbols, self.conditioning)
        self.received, self.blind = res.received(), codec.receive(self.jpeg)
        self.fine = encode_jpeg(rgb, *FINE)

    def stages(self, only: tuple[str, ...]) -> dict[str, Stage]:
        c = self.codec
        rows, cols = self.symbols.shape
        every = {
            "jpeg_encode": lambda: decode_jpeg(encode_jpeg(self.rgb, QUALITY)),
            "extract": lambda: c.encoder.choose(self.rgb, self.decoded, self.conditioning, LAM, None, None),
            "side_encode": lambda: wavefront.encode(c.coder, self.symbols, self.conditioning),
            "side_decode": lambda: wavefront.decode(c.coder, self.payload, rows, cols, self.conditioning),
            "restore": lambda: c.restore(self.received),
            "restore_blind": lambda: c.restore(self.blind),
            "preview_256": lambda: c.restore(self.received, box=PREVIEW_BOX),
            "compress": lambda: c.compress(self.rgb, QUALITY, LAM),
            "view": lambda: c.restore(self.jpeg, self.sidecar),
            "restore_fine": lambda: c.restore(self.fine),
        }
        return {name: every[name] for name in only if name in every}


Samples = dict[str, dict[str, list[tuple[float, float]]]]


def run_interleaved(cases: list[Case], only: tuple[str, ...], reps: int, warmup: int) -> Samples:
    """(wall, CPU) seconds of each stage of each case: every repetition runs all cases in turn."""
    staged = [(case, case.stages(only)) for case in cases]
    samples: Samples = {case.name: {name: [] for name in stages} for case, stages in staged}
    for rep in range(warmup + reps):
        for case, stages in staged:
            for name, fn in stages.items():
                for _ in range(INNER.get(name, 1)):
                    start, cpu = time.perf_counter(), time.process_time()
                    fn()
                    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
                    if rep >= warmup:
                        samples[case.name][name].append((elapsed, cpu))
        print(f"  repetition {rep + 1}/{warmup + reps} done", file=sys.stderr, flush=True)
    return samples


def summarise(samples: Samples) -> dict[str, dict[str, dict]]:
    """Median wall time, and median CPU time (all threads): on a machine shared with other work the
    wall time grows, while CPU time / threads bounds from below what an idle machine would take."""
    return {
        case: {
            name: {
                "median_s": statistics.median(w for w, _ in v), "min_s": min(w for w, _ in v),
                "median_cpu_s": statistics.median(c for _, c in v), "samples_s": [w for w, _ in v],
            }
            for name, v in stages.items()
        }
        for case, stages in samples.items()
    }


def big_inputs(rgb: np.ndarray, case: Case, folder: Path) -> tuple[Path, Path]:
    """A 6000x4000 JPEG (the sample tiled) and a sidecar for it (the sample's symbols tiled)."""
    height, width = BIG_SIZE
    reps = (math.ceil(height / rgb.shape[0]), math.ceil(width / rgb.shape[1]), 1)
    big = np.ascontiguousarray(np.tile(rgb, reps)[:height, :width])
    jpeg = encode_jpeg(big, QUALITY)
    conditioning = Conditioning.of(decode_with_params(jpeg)[1], LAM)
    rows, cols = -(-height // BLOCK), -(-width // BLOCK)
    small = case.symbols
    symbols = np.tile(small, (math.ceil(rows / small.shape[0]), math.ceil(cols / small.shape[1])))
    symbols = np.ascontiguousarray(symbols[:rows, :cols])
    payload = wavefront.encode(case.codec.coder, symbols, conditioning)
    jpeg_path, side_path = folder / "big.jpg", folder / "big.side"
    jpeg_path.write_bytes(jpeg)
    side_path.write_bytes(sc.pack(case.codec.model_id, sc.jpeg_digest(jpeg), QUALITY, LAM, conditioning, payload))
    return jpeg_path, side_path


def big_restore(jpeg: Path, sidecar: Path) -> dict:
    """Restore in a child process; its peak RSS comes from wait4's rusage of that child alone."""
    cmd = [sys.executable, "-m", "benchmarks.big", "--preset", "fast", "--jpeg", str(jpeg), "--sidecar", str(sidecar)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"24 MP restore failed: {err.read().decode(errors='replace')[-2000:]}")
        result = json.loads(out.read().decode().strip().splitlines()[-1])
    result["ru_maxrss_mib"] = usage.ru_maxrss / 1024
    return result


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def print_table(summary: dict[str, dict[str, dict]], key: str = "median_s", title: str = "wall") -> None:
    print(f"\n768x512 sample, q={QUALITY}, lambda={LAM}: median {title} milliseconds")
    header = f"{'preset':<12}" + "".join(f"{s:>{max(14, len(s) + 2)}}" for s in STAGES)
    print(header)
    print("-" * len(header))
    for case, stages in summary.items():
        cells = "".join(f"{fmt_ms(stages[s][key]) if s in stages else '-':>{max(14, len(s) + 2)}}" for s in STAGES)
        print(f"{case:<12}{cells}")


def print_rows(title: str, rows: list[dict], columns: list[tuple[str, int, Callable[[dict], str]]]) -> None:
    """A table of per-image rows: the image name, then each (header, width, cell) column right-aligned."""
    print(f"\n{title}")
    print(f"{'image':<12}" + "".join(f"{header:>{width}}" for header, width, _ in columns))
    for row in rows:
        print(f"{row['image']:<12}" + "".join(f"{cell(row):>{width}}" for _, width, cell in columns))


def print_comparison(before: dict[str, dict[str, dict]], after: dict[str, dict[str, dict]]) -> None:
    """Median wall milliseconds of an earlier run (``--compare``) beside this one's, for matching rows."""
    print("\nbefore -> after (median wall ms, speed-up)")
    for case, stages in after.items():
        base = before.get(case) or before.get(f"{case}/fast")
        if not base:
            continue
        cells = [
            f"{s} {base[s]['median_s'] * 1000:.1f} -> {stages[s]['median_s'] * 1000:.1f} "
            f"({base[s]['median_s'] / stages[s]['median_s']:.1f}x)"
            for s in STAGES if s in stages and s in base
        ]
        print(f"{case:<12}" + "; ".join(cells))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, two Kodak images, no 24 MP run")
    parser.add_argument("--out", type=Path, default=None, help="write all numbers to this JSON file")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions of the fast preset (default 5)")
    parser.add_argument("--skip-paper", action="store_true")
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--compare", type=Path, default=None, help="JSON of an earlier run to print beside this one")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice); on a "
                        "machine busy with other work, 1 thread shows the per-core cost without thread contention")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    reps = args.reps or (2 if args.quick else 5)

    rgb = load_image(SAMPLE).rgb
    meta = {
        "machine": platform.processor() or platform.machine(), "python": platform.python_version(),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(), "quality": QUALITY, "lam": LAM,
        "image": list(rgb.shape), "targets": TARGETS,
    }
    print(f"torch {meta['torch']}, {meta['threads']} threads, {meta['cpus']} CPUs, "
          f"load average {meta['load_average_at_start'][0]:.2f} at start")

    fast_case = Case("fast", rgb)
    summary = summarise(run_interleaved([fast_case], STAGES, reps, warmup=1))
    if not args.skip_paper:
        paper_cases = [Case("paper", rgb)]
        paper_stages = ("extract", "side_encode", "side_decode", "restore")
        summary |= summarise(run_interleaved(paper_cases, paper_stages, 1 if args.quick else 2, warmup=1))
    print_table(summary)
    print_table(summary, "median_cpu_s", "CPU (all threads)")
    if args.compare:
        print_comparison(json.loads(args.compare.read_text())["sample"], summary)

    report: dict = {"meta": meta, "sample": summary}
    fast = summary["fast"]
    side = fast["side_encode"]["median_s"] + fast["side_decode"]["median_s"]
    checks = {"restore_s": fast["restore"]["median_s"], "sidecar_codec_s": side}
    print(f"\nfast: restore {fast['restore']['median_s']:.3f} s (target {TARGETS['restore_s']} s; "
          f"CPU time of all threads {fast['restore']['median_cpu_s']:.3f} s), "
          f"sidecar encode+decode {side * 1000:.1f} ms (target {TARGETS['sidecar_codec_s'] * 1000:.0f} ms)")
    if "paper" in summary:
        checks["paper_over_fast_restore"] = summary["paper"]["restore"]["median_s"] / fast["restore"]["median_s"]
        print(f"restore paper / fast: {checks['paper_over_fast_restore']:.1f}x")

    if not (args.quick or args.skip_big):
        with tempfile.TemporaryDirectory() as folder:
            jpeg, sidecar = big_inputs(rgb, fast_case, Path(folder))
            print(f"\n{BIG_SIZE[1]}x{BIG_SIZE[0]} (24 MP) restore with sidecar, preset fast, child process")
            result = report["big"] = big_restore(jpeg, sidecar)
            print(f"fast {result['seconds']:8.1f} s   peak RSS {result['ru_maxrss_mib']:7.0f} MiB "
                  f"(target {TARGETS['big_peak_mib']} MiB; {result['rss_before_restore_kib'] / 1024:.0f} MiB "
                  f"before the restore)")
    report["checks"] = checks
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
