"""File > Export: the result the restored view shows, as JPEG + sidecar, one JPEG with the side information embedded,
or a PNG, after asking where (and before replacing any file the save dialog did not confirm)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from engine import SIDECAR_SUFFIX, SideJPEGError, sidecar_path
from gui import files
from gui.captions import export_title
from gui.state import DocumentState


class Dialogs(Protocol):
    """The window's dialogs (tests replace them)."""

    def ask_save_path(self, title: str, suggested: Path, name_filter: str) -> Path | None: ...

    def confirm(self, title: str, message: str) -> bool: ...

    def show_error(self, title: str, message: str) -> None: ...


class Exports:
    """Each export returns whether it wrote its files."""

    def __init__(self, document: DocumentState, dialogs: Dialogs, report: Callable[[str], None]) -> None:
        """``report``: shows what was written."""
        self.document, self.dialogs, self.report = document, dialogs, report

    def pair(self) -> bool:
        """``photo.jpg`` plus ``photo.jpg.side``."""
        out = self.document.restored
        path = self._save_target("Export JPEG + sidecar", (".jpg", ".jpeg"), files.JPEG_FILTER)
        if path is None or not self._may_overwrite(sidecar_path(path)):
            return False
        meta = files.added_metadata(self.document.source)
        return self._write(f"{path.name} + {path.name}{SIDECAR_SUFFIX}",
                           lambda: files.export_pair(path, out.jpeg, out.sidecar, meta))

    def embedded(self) -> bool:
        """One JPEG that carries its side information."""
        out = self.document.restored
        path = self._save_target("Export JPEG with embedded side info", (".jpg", ".jpeg"), files.JPEG_FILTER)
        meta = files.added_metadata(self.document.source)
        return path is not None and self._write(
            path.name, lambda: files.export_embedded(path, out.jpeg, out.sidecar, meta)
        )

    def png(self) -> bool:
        out = self.document.restored
        path = self._save_target("Export restored PNG", (".png",), files.PNG_FILTER)
        meta = self.document.source.metadata
        return path is not None and self._write(path.name, lambda: files.export_png(path, out.restored, meta))

    def _save_target(self, title: str, suffixes: tuple[str, ...], name_filter: str) -> Path | None:
        """Ask where to save; the dialog confirms overwriting its own choice, we confirm any other name."""
        doc = self.document
        suggested = files.suggested_path(doc.source, doc.restored, suffixes[0])
        chosen = self.dialogs.ask_save_path(export_title(doc, title), suggested, name_filter)
        if chosen is None:
            return None
        path = files.with_suffix(chosen, suffixes)
        return path if path == chosen or self._may_overwrite(path) else None

    def _may_overwrite(self, path: Path) -> bool:
        return not path.exists() or self.dialogs.confirm("Replace file?", f"{path.name} already exists. Replace it?")

    def _write(self, what: str, write: Callable[[], object]) -> bool:
        try:
            write()
        except (OSError, SideJPEGError) as exc:
            self.dialogs.show_error("Export failed", f"{what}: {exc}")
            return False
        self.report(f"Exported {what}")
        return True
