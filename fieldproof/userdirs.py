"""The user's own folders for what outlives a session (XDG base directories)."""

from __future__ import annotations

import os
from pathlib import Path


def fieldproof_folder(variable: str, under_home: str) -> Path | None:
    """`$<variable>/fieldproof`, else `~/<under_home>/fieldproof`; None for a user without a
    home directory (and without the variable), where the caller decides what serves instead."""
    base = os.environ.get(variable)
    if not base:
        try:
            base = str(Path.home() / under_home)
        except RuntimeError:
            return None
    return Path(base) / "fieldproof"
