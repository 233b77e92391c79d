"""The contract suites `fieldproof run` executes (pytest modules, shipped in the package)."""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent


def names() -> list[str]:
    """The suites by name: `test_<name>.py` in this folder, as `--suites` takes them."""
    return sorted(path.stem.removeprefix("test_") for path in FOLDER.glob("test_*.py"))
