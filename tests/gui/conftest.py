"""GUI test fixtures: offscreen Qt, settings in a temp folder, small images, one shared codec cache."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported

from pathlib import Path

import numpy as np
import pytest
from gui_helpers import open_and_wait
from PIL import Image
from PySide6.QtCore import QSettings

from engine import DEFAULT_PRESET, Codec, load_image
from gui.app import SAMPLE_IMAGE
from gui.jobs import CodecCache
from gui.main_window import MainWindow
from gui.workers import garbage_collected_on_gui_thread


@pytest.fixture(scope="session")
def codecs() -> CodecCache:
    return CodecCache()


@pytest.fixture(scope="session")
def default_codec(codecs: CodecCache) -> Codec:
    """The shipped default model, the one the window uses on a CPU."""
    return codecs.get(DEFAULT_PRESET, "cpu")


@pytest.fixture(scope="session")
def crop() -> np.ndarray:
    """A 128x96 crop of the bundled sample (face and lettering: visible JPEG artifacts)."""
    return np.ascontiguousarray(load_image(SAMPLE_IMAGE).rgb[200:296, 300:428])


@pytest.fixture
def crop_png(tmp_path: Path, crop: np.ndarray) -> Path:
    path = tmp_path / "crop.png"
    Image.fromarray(crop).save(path)
    return path


@pytest.fixture(autouse=True)
def isolated_settings(qapp, tmp_path: Path) -> None:
    """Recent files and other QSettings go to a temp folder, never the user's."""
    qapp.setOrganizationName("SideJPEG-tests")
    qapp.setApplicationName("SideJPEG-tests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))


@pytest.fixture(scope="module", autouse=True)
def gui_thread_garbage(qapp):
    """Garbage collected on the GUI thread only, as the app does (``gui.app.main``): the windows closed by
    earlier tests are not destroyed inside a later test's worker thread."""
    with garbage_collected_on_gui_thread():
        yield


@pytest.fixture
def errors() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def window(qtbot, codecs: CodecCache, crop_png: Path, errors: list, monkeypatch) -> MainWindow:
    """The main window on the 128x96 crop with everything computed; error dialogs and questions are recorded,
    not shown (questions are answered no)."""
    monkeypatch.setattr("gui.state.side_pays", lambda preset: None)  # tests exercise the sidecar path
    win = MainWindow(codecs)
    qtbot.addWidget(win)
    monkeypatch.setattr(win, "show_error", lambda title, message: errors.append((title, message)))
    monkeypatch.setattr(win, "confirm", lambda title, message: errors.append((title, message)) and False)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    open_and_wait(qtbot, win, crop_png)
    return win
