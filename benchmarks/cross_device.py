"""Sidecars written on one device decode exactly on another: ``python -m benchmarks.cross_device {write,check}``.

The entropy coder's probabilities come from integer arithmetic (``engine.coding.integer_context``), so a
sidecar must decode to exactly the descriptors and adaptation weights its encoder chose, whatever device
or machine wrote it and whatever reads it. ``write`` compresses images on one device and keeps, beside
each JPEG and sidecar, what the encoder chose and the restored image it checked; ``check`` decodes them on
another (another device, or another machine) and compares: descriptors and weights must be equal, and the
restored pixels may differ only by the float rounding of the two devices. Settings cycle over qualities,
subsamplings and lambdas, so the set covers what users send.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np

from engine import Codec, psnr
from engine.atomic import write_bytes
from engine.training.data import load_rgb

QUALITIES = (10, 20, 30, 40, 50, 75, 90, 95)
SUBSAMPLINGS = ("4:2:0", "4:2:2", "4:4:4")
LAMBDAS = (2.0, 64.0, 256.0, 1024.0)
MANIFEST = "manifest.json"


def setting(index: int) -> tuple[int, str, float]:
    """(quality, subsampling, lambda) of the ``index``-th image: each cycle has a different length, so the
    combinations vary."""
    return QUALITIES[index % len(QUALITIES)], SUBSAMPLINGS[index % len(SUBSAMPLINGS)], LAMBDAS[index % len(LAMBDAS)]


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def write(images: list[Path], out: Path, codec: Codec) -> None:
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for index, path in enumerate(images):
        quality, subsampling, lam = setting(index)
        rgb = load_rgb(path)
        rgb = rgb[: rgb.shape[0] // 16 * 16, : rgb.shape[1] // 16 * 16]
        result = codec.compress(rgb, quality, lam, subsampling)
        stem = f"{index:03d}"
        write_bytes(out / f"{stem}.jpg", result.jpeg)
        write_bytes(out / f"{stem}.sidecar", result.sidecar)
        weights = result.adaptation.tensor(codec.encoder.basis_size)
        chosen = {"symbols": result.symbols, "restored": result.restored}
        if weights is not None:
            chosen["weights"] = weights.numpy()
        write_bytes(out / f"{stem}.npz", _npz(**chosen))
        entries.append({
            "stem": stem, "image": path.name, "quality": quality, "subsampling": subsampling, "lam": lam,
            "sidecar_bytes": len(result.sidecar), "adapted": weights is not None,
            "psnr_jpeg": psnr(rgb, result.jpeg_decoded), "psnr_restored": psnr(rgb, result.restored),
        })
    manifest = {"device": codec.device, "model_id": codec.model_id.hex(), "images": entries}
    write_bytes(out / MANIFEST, json.dumps(manifest, indent=1).encode())
    print(f"wrote {len(entries)} JPEGs and sidecars on {codec.device} to {out}")


def check(folder: Path, images: Path, codec: Codec) -> dict:
    manifest = json.loads((folder / MANIFEST).read_text())
    if manifest["model_id"] != codec.model_id.hex():
        raise SystemExit(f"{folder} was written with model {manifest['model_id']}, not the loaded one")
    rows = []
    for entry in manifest["images"]:
        stem = entry["stem"]
        got = codec.receive((folder / f"{stem}.jpg").read_bytes(), (folder / f"{stem}.sidecar").read_bytes())
        with np.load(folder / f"{stem}.npz", allow_pickle=False) as chosen:
            symbols, restored = chosen["symbols"], chosen["restored"]
            weights = chosen.get("weights")
        decoded_weights = got.adaptation.tensor(codec.encoder.basis_size)
        ours = codec.restore(got).image
        original = load_rgb(images / entry["image"])[: ours.shape[0], : ours.shape[1]]
        rows.append({
            "stem": stem,
            "symbols_equal": bool(np.array_equal(got.symbols, symbols)),
            "weights_equal": (decoded_weights is None) == (weights is None)
            and (weights is None or bool(np.array_equal(decoded_weights.numpy(), weights))),
            "max_pixel_difference": int(np.abs(ours.astype(np.int16) - restored.astype(np.int16)).max()),
            "psnr_difference": psnr(original, ours) - entry["psnr_restored"],
            "gain_over_jpeg": psnr(original, ours) - entry["psnr_jpeg"],
        })
    summary = {
        "written_on": manifest["device"],
        "read_on": codec.device,
        "images": len(rows),
        "adapted": sum(e["adapted"] for e in manifest["images"]),
        "symbols_equal": sum(r["symbols_equal"] for r in rows),
        "weights_equal": sum(r["weights_equal"] for r in rows),
        "max_pixel_difference": max(r["max_pixel_difference"] for r in rows),
        "largest_psnr_difference_db": max(abs(r["psnr_difference"]) for r in rows),
        "worst_gain_over_jpeg_db": min(r["gain_over_jpeg"] for r in rows),
        "rows": rows,
    }
    brief = {k: v for k, v in summary.items() if k != "rows"}
    print(json.dumps(brief))
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("write", "check"))
    parser.add_argument("folder", type=Path, help="where write puts the set, or where check reads it")
    parser.add_argument("--images", type=Path, default=Path("runs/pack"), help="the originals (PNG)")
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, help="check: write the comparison to this JSON file")
    args = parser.parse_args(argv)
    codec = Codec(args.preset, args.device)
    if args.action == "write":
        write(sorted(args.images.glob("*.png"))[: args.count], args.folder, codec)
        return
    summary = check(args.folder, args.images, codec)
    if args.out:
        write_bytes(args.out, json.dumps(summary, indent=1).encode())


if __name__ == "__main__":
    main()
