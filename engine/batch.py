"""Many inputs in one command: files and folders in, outputs that make a rerun resume, a summary at the end."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from engine.errors import SideJPEGError


@dataclass(frozen=True)
class Job:
    source: Path
    outputs: tuple[Path, ...]


@dataclass(frozen=True)
class Done:
    """What one file took and gave."""

    bytes_in: int
    bytes_out: int
    bpp: float
    """Bits per pixel of the compressed form: JPEG plus side information."""
    psnr: float | None = None
    """PSNR in dB of the restored image against the original, where the original is known."""
    report: dict = field(default_factory=dict)
    """The command's own report of the file (its --json object)."""


@dataclass(frozen=True)
class Outcome:
    job: Job
    status: str
    """done, skipped (its outputs exist) or failed."""
    done: Done | None = None
    error: str = ""


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """2 (bad input) if any file failed."""
        return 2 if self.count("failed") else 0

    def totals(self) -> dict:
        done = [o.done for o in self.outcomes if o.done is not None]
        psnrs = [d.psnr for d in done if d.psnr is not None]
        return {
            **{status: self.count(status) for status in ("done", "skipped", "failed")},
            "bytes_in": sum(d.bytes_in for d in done),
            "bytes_out": sum(d.bytes_out for d in done),
            "mean_bpp": statistics.fmean(d.bpp for d in done) if done else None,
            "mean_psnr": statistics.fmean(psnrs) if psnrs else None,
        }

    def text(self) -> str:
        t = self.totals()
        line = (
            f"{len(self.outcomes)} files: {t['done']} done, {t['skipped']} skipped (outputs exist), "
            f"{t['failed']} failed; {t['bytes_in']:,} bytes in, {t['bytes_out']:,} bytes out"
        )
        if t["mean_bpp"] is not None:
            line += f"; mean {t['mean_bpp']:.4f} bpp"
        if t["mean_psnr"] is not None:
            line += f", mean PSNR {t['mean_psnr']:.2f} dB (restored)"
        return line

    def as_json(self) -> dict:
        files = [
            {"input": str(o.job.source), "status": o.status, **({"error": o.error} if o.error else {}),
             **(o.done.report if o.done else {})}
            for o in self.outcomes
        ]
        return {**self.totals(), "files": files}


def plan(
    names: Sequence[str], suffixes: Collection[str], outputs_of: Callable[[Path], tuple[Path, ...]], what: str
) -> list[Job]:
    """A job per named file, and per file with one of ``suffixes`` directly inside a named folder.

    A file named twice is done once; a folder's file that another job writes (an earlier run's output,
    such as photo.jpg beside photo.png) is not an input. ``what`` names the files in the error for none.
    """
    sources: dict[Path, Path] = {}
    listed: set[Path] = set()
    for name in names:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
            listed.update(p.resolve() for p in found)
        else:
            found = [path]
        for p in found:
            sources.setdefault(p.resolve(), p)
    jobs = {key: Job(p, outputs_of(p)) for key, p in sources.items()}
    written = {out.resolve() for job in jobs.values() for out in job.outputs}
    kept = [job for key, job in jobs.items() if key not in listed or key not in written]
    if not kept:
        raise SideJPEGError(f"no {what} in {', '.join(names)}")
    return kept


def run_jobs(jobs: Sequence[Job], work: Callable[[Job], Done], force: bool, command: str) -> Summary:
    """Do every job, with a progress bar on stderr.

    A job whose outputs all exist is skipped unless ``force``, so an interrupted run resumes. A job that
    fails with SideJPEGError, or would write what an earlier job of this run wrote, is named on stderr
    in one line and the others go on.
    """
    summary = Summary()
    writers: dict[Path, Path] = {}
    bar = tqdm(jobs, desc=f"sidejpeg {command}", unit="file", file=sys.stderr, disable=None, leave=False)
    for job in bar:
        bar.set_postfix_str(job.source.name)  # the file being worked on, shown at once
        try:
            _claim(writers, job)
            if not force and all(out.exists() for out in job.outputs):
                summary.outcomes.append(Outcome(job, "skipped"))
                continue
            summary.outcomes.append(Outcome(job, "done", done=work(job)))
        except SideJPEGError as exc:
            error = _about(job.source, str(exc))
            tqdm.write(f"sidejpeg {command}: {job.source}: {error}", file=sys.stderr)
            summary.outcomes.append(Outcome(job, "failed", error=error))
    return summary


def _claim(writers: dict[Path, Path], job: Job) -> None:
    """Record the job as the writer of its outputs; refuse outputs an earlier job writes."""
    for out in job.outputs:
        earlier = writers.setdefault(out.resolve(), job.source)
        if earlier != job.source:
            raise SideJPEGError(f"{out} is also the output of {earlier}; use separate runs or rename one")


def _about(source: Path, message: str) -> str:
    """``message`` without the file name it may start with (the line names the file already)."""
    for prefix in (f"{source}: ", f"{source.name}: "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message
