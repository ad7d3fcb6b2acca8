"""File > Batch: compress or restore every image of a folder with the command line's batch mode (engine's
``plan_batch`` and ``run_batch``: same outputs, files whose outputs exist skipped, a bad file named and the rest
done), here with progress and Cancel for a worker thread (no Qt here)."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine import (
    BatchDone,
    BatchJob,
    BatchSummary,
    Cancelled,
    SideJPEGError,
    find_side_information,
    insert_metadata,
    load_image,
    plan_batch,
    preset_of,
    psnr,
    read_limited,
    read_metadata,
    read_sidecar_header,
    run_batch,
    sidecar_path,
    write_files,
)
from gui.captions import file_size
from gui.files import OPEN_SUFFIXES, export_png
from gui.jobs import CodecCache, JobContext
from gui.state import Settings

JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")
"""The files of a folder that a batch restore takes (as the command line's)."""
CANCELLED = "cancelled: not written"


class Mode(enum.Enum):
    COMPRESS = "compress"
    RESTORE = "restore"


@dataclass(frozen=True)
class BatchRequest:
    mode: Mode
    folder: Path
    out_dir: Path | None
    """None: the outputs go beside each input."""
    settings: Settings
    """Compress: quality, lambda, subsampling and model; restore: the model for JPEGs without side information,
    and blind when ``use_sidecar`` is off."""
    force: bool = False
    """Do files whose outputs exist again (and replace those outputs)."""


@dataclass(frozen=True)
class BatchReport:
    summary: BatchSummary
    planned: int

    @property
    def cancelled(self) -> int:
        """Files not done because of Cancel (the one being worked on included)."""
        finished = sum(o.error != CANCELLED for o in self.summary.outcomes)
        return self.planned - finished

    @property
    def failures(self) -> list[str]:
        """``NAME: why`` for each file that failed (not those Cancel stopped)."""
        failed = [o for o in self.summary.outcomes if o.status == "failed" and o.error != CANCELLED]
        return [f"{o.job.source.name}: {o.error}" for o in failed]

    def text(self) -> str:
        """The command line's summary, in words for the dialog."""
        totals = self.summary.totals()
        lines = [
            f"{self.planned} files: {totals['done']} done, {totals['skipped']} skipped (outputs exist), "
            f"{len(self.failures)} failed" + (f", {self.cancelled} not done (cancelled)" if self.cancelled else ""),
            f"{file_size(totals['bytes_in'])} in, {file_size(totals['bytes_out'])} out",
        ]
        if totals["mean_bpp"] is not None:
            lines.append(f"mean {totals['mean_bpp']:.3f} bpp")
        if totals["mean_psnr"] is not None:
            lines.append(f"mean PSNR {totals['mean_psnr']:.2f} dB (restored, against the original)")
        return "\n".join(lines + self.failures)


def compress_outputs(source: Path, out_dir: Path | None) -> tuple[Path, Path]:
    """STEM.jpg and STEM.jpg.side, beside the source or in ``out_dir`` (STEM.sidejpeg.jpg where STEM.jpg is the
    source itself), as the command line names them."""
    jpeg = (out_dir or source.parent) / f"{source.stem}.jpg"
    if jpeg.resolve() == source.resolve():
        jpeg = jpeg.with_name(f"{source.stem}.sidejpeg.jpg")
    return jpeg, sidecar_path(jpeg)


def restore_output(source: Path, out_dir: Path | None) -> Path:
    """STEM.png in ``out_dir``, else STEM.restored.png beside the JPEG."""
    return out_dir / f"{source.stem}.png" if out_dir else source.with_name(f"{source.stem}.restored.png")


class _UntilCancelled:
    """The jobs, ending early once Cancel is pressed (so the batch stops with a summary of what it did)."""

    def __init__(self, jobs: Sequence[BatchJob], ctx: JobContext) -> None:
        self.jobs, self.ctx = jobs, ctx

    def __len__(self) -> int:
        return len(self.jobs)

    def __iter__(self) -> Iterator[BatchJob]:
        for i, job in enumerate(self.jobs):
            if self.ctx.cancel.is_set():
                return
            self.ctx.partial(job.source.name)
            yield job
            self.ctx.progress(i + 1, len(self.jobs))


def run_request(codecs: CodecCache, request: BatchRequest, ctx: JobContext) -> BatchReport:
    """Do the batch; bad files are failures in the report, never exceptions (a folder without any is one)."""
    settings = request.settings

    def compress(job: BatchJob) -> BatchDone:
        loaded = load_image(job.source)
        res = codecs.get(settings.preset, settings.device).compress(
            loaded.rgb, settings.quality, settings.lam, settings.subsampling, cancel=ctx.cancel
        )
        jpeg = insert_metadata(res.jpeg, loaded.metadata)
        write_files(list(zip(job.outputs, (jpeg, res.sidecar), strict=True)))
        size_in = job.source.stat().st_size
        return BatchDone(size_in, len(jpeg) + len(res.sidecar), res.bpp_total, psnr(loaded.rgb, res.restored))

    def restore(job: BatchJob) -> BatchDone:
        data = read_limited(job.source)
        found = find_side_information(job.source, data)
        sidecar = found.sidecar if settings.use_sidecar else None
        preset = settings.preset
        if sidecar is not None:
            preset = preset_of(read_sidecar_header(sidecar).model_id) or preset
        res = codecs.get(preset, settings.device).restore(found.jpeg, sidecar, cancel=ctx.cancel)
        export_png(job.outputs[0], res.image, read_metadata(found.jpeg))
        size_in = len(data) + (found.file_bytes if settings.use_sidecar else 0)
        height, width = res.image.shape[:2]
        return BatchDone(size_in, job.outputs[0].stat().st_size, size_in * 8 / (width * height))

    def work(job: BatchJob) -> BatchDone:
        try:
            return (compress if request.mode is Mode.COMPRESS else restore)(job)
        except Cancelled:
            raise SideJPEGError(CANCELLED) from None
        except OSError as exc:
            raise SideJPEGError(f"cannot write: {exc.strerror or exc}") from None

    if request.mode is Mode.COMPRESS:
        suffixes, what, outputs = OPEN_SUFFIXES, "images", lambda p: compress_outputs(p, request.out_dir)
    else:
        suffixes, what, outputs = JPEG_SUFFIXES, "JPEG files", lambda p: (restore_output(p, request.out_dir),)
    jobs = plan_batch([str(request.folder)], suffixes, outputs, what)
    summary = run_batch(_UntilCancelled(jobs, ctx), work, request.force, request.mode.value)
    return BatchReport(summary, len(jobs))
