"""The layering the README promises, as import-linter contracts (pyproject.toml, [tool.importlinter])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold() -> None:
    """The engine imports neither Qt nor the app; the app uses only the engine package's public names; the app's
    state and jobs import no Qt, directly or through another module; the networks know nothing of the codec or its
    training."""
    tool = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(tool), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("KEPT") == 4
