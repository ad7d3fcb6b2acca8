"""The installable package: what the wheel carries, that an installed copy finds its weights and sample
image without the checkout, and the desktop launcher files. (.ci/run also compresses and restores with
the installed wheel.)"""

from __future__ import annotations

import configparser
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

from engine import earlier_releases

ROOT = Path(__file__).resolve().parent.parent
COPY_IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "runs", "build", "dist", "*.egg-info", "__pycache__", ".*cache", ".hypothesis", ".benchmarks"
)
SHIPPED = {
    "resources/__init__.py",
    "resources/models/README.md",
    "resources/models/fast.safetensors",
    "resources/models/fast.results.json",
    "resources/models/fast-context.safetensors",
    "resources/models/fast-context.results.json",
    "resources/models/paper.safetensors",
    "resources/models/paper.results.json",
    *(f"resources/models/earlier/{name}.{kind}" for name in earlier_releases()
      for kind in ("safetensors", "results.json")),
    "resources/samples/README.md",
    "resources/samples/sample.png",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the checkout (a build writes build/ and egg-info beside the sources)."""
    work = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, work / "src", ignore=COPY_IGNORE)
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    subprocess.run([*pip, "-w", str(work / "dist"), str(work / "src")], check=True, capture_output=True)
    (built,) = (work / "dist").glob("sidejpeg-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; it sees this venv's dependencies but not the checkout."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--clear", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    Path(purelib, "sidejpeg-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True)
    return venv


def run_installed(venv: Path, code: str, **env: str) -> str:
    """stdout of ``code`` run by the installed copy, from a folder outside the checkout."""
    environ = {k: v for k, v in os.environ.items() if k not in ("SIDEJPEG_RESOURCES", "PYTHONPATH")} | env
    done = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=venv, env=environ, check=True,
                          capture_output=True, text=True)
    return done.stdout


def test_the_wheel_carries_weights_and_sample_but_not_checkpoints(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in files if n.endswith(".dist-info/entry_points.txt"))
    assert files >= SHIPPED
    assert {"engine/cli.py", "engine/metadata.py", "engine/batch.py", "gui/app.py"} <= files
    assert not [n for n in files if n.startswith(("resources/checkpoints", "tests/", "runs/", "eval/"))]
    assert "sidejpeg = engine.cli:main" in entry_points and "sidejpeg-gui = gui.app:main" in entry_points


def test_an_installed_copy_finds_its_resources_without_the_checkout(installed: Path) -> None:
    code = (
        "import engine, engine.resources as r; "
        "print(engine.__file__); print(r.SAMPLE_IMAGE); print(r.weights_path(engine.DEFAULT_PRESET)); "
        "print(sorted(r.installed_models().values())); "
        "print(r.measured_side_vs_blind(engine.DEFAULT_PRESET) is not None)"
    )
    module, sample, weights, presets, measured = run_installed(installed, code).splitlines()
    for path in (module, sample, weights):
        assert Path(path).is_relative_to(installed) and Path(path).is_file()
    assert presets == str(sorted(["fast", "fast-context", "paper", *earlier_releases()])) and measured == "True"


def test_sidejpeg_resources_points_elsewhere(installed: Path, tmp_path: Path) -> None:
    code = "import engine.resources as r; print(r.MODELS)"
    assert run_installed(installed, code, SIDEJPEG_RESOURCES=str(tmp_path)).strip() == str(tmp_path / "models")


def test_the_installed_command_runs(installed: Path) -> None:
    done = subprocess.run([str(installed / "bin" / "sidejpeg"), "compress", "--help"], cwd=installed,
                          capture_output=True, text=True, check=True)
    assert "--out-dir" in done.stdout and "--strip-metadata" in done.stdout


def desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path)
    return dict(parser["Desktop Entry"])


def test_desktop_entry_and_icon() -> None:
    entry = desktop_entry(ROOT / "resources/desktop/sidejpeg.desktop")
    assert entry["Type"] == "Application" and entry["Name"] == "SideJPEG" and entry["Icon"] == "sidejpeg"
    assert entry["Exec"] == "sidejpeg-gui %f" and entry["Terminal"] == "false"
    assert {"image/jpeg", "image/png"} <= set(entry["MimeType"].strip(";").split(";"))
    assert "Graphics" in entry["Categories"].split(";")
    svg = ElementTree.parse(ROOT / "resources/desktop/sidejpeg.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and svg.get("viewBox") == "0 0 128 128"


def make(target: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``make target`` in the checkout, with its venv taken as set up."""
    return subprocess.run(["make", "-s", "-C", str(ROOT), "-o", ".venv/.installed", target], env=env,
                          capture_output=True, text=True)


@pytest.mark.skipif(shutil.which("make") is None or platform.system() != "Linux", reason="needs make on Linux")
def test_make_desktop_installs_a_launcher_for_this_venv(tmp_path: Path) -> None:
    assert make("desktop", os.environ | {"HOME": str(tmp_path)}).returncode == 0
    entry = desktop_entry(tmp_path / ".local/share/applications/sidejpeg.desktop")
    assert entry["Exec"] == f'"{ROOT}/.venv/bin/sidejpeg-gui" %f'
    assert entry["TryExec"] == f"{ROOT}/.venv/bin/sidejpeg-gui"
    icon = tmp_path / ".local/share/icons/hicolor/scalable/apps/sidejpeg.svg"
    assert icon.read_bytes() == (ROOT / "resources/desktop/sidejpeg.svg").read_bytes()


@pytest.mark.skipif(shutil.which("make") is None or platform.system() != "Linux", reason="needs make on Linux")
def test_make_app_names_missing_qt_libraries(tmp_path: Path) -> None:
    pytest.importorskip("PySide6")
    fake_ldd = tmp_path / "ldd"
    fake_ldd.write_text(
        "#!/bin/sh\necho '\tlibxcb-cursor.so.0 => not found'\necho '\tlibxkbcommon-x11.so.0 => not found'\n"
        "echo '\tlibxcb.so.1 => /lib/libxcb.so.1'\n"
    )
    fake_ldd.chmod(0o755)
    with_fake_ldd = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    with_fake_ldd["PATH"] = f"{tmp_path}:{os.environ['PATH']}"
    missing = make("qt-libs", with_fake_ldd | {"DISPLAY": ":0"})
    assert missing.returncode != 0
    assert "missing libxcb-cursor.so.0 libxkbcommon-x11.so.0" in missing.stdout
    assert "sudo apt install libxcb-cursor0 libxkbcommon-x11-0\n" in missing.stdout
    quiet = make("qt-libs", with_fake_ldd)  # no X11 display: nothing to check
    assert quiet.returncode == 0 and quiet.stdout == ""
