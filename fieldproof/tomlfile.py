"""Reading a TOML file a user gave us, with one-line errors that say which file and why."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fieldproof.errors import TomlFileError
from fieldproof.userfiles import read_user_text, shown

# Every TOML file fieldproof reads (target, seed, settings, baseline) is a few KB; a baseline
# accepting thousands of findings stays well below this.
MAX_TOML_BYTES = 4 * 1024 * 1024


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The file's table; `what` names it in errors ("seed file", "target file", …)."""
    text = read_user_text(path, what, MAX_TOML_BYTES, TomlFileError, give="give the .toml file")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TomlFileError(f"{what} {path} is not valid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise TomlFileError(f"{what} {path} nests arrays or tables too deeply to be read; flatten it") from None


def table_entries(raw: list[Any], table: str, known: set[str], where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """The entries of an array of tables (`[[table]]`), each checked to be a table with no
    unknown key; yields (where, entry), `where` naming it for the caller's own messages."""
    for index, entry in enumerate(raw, start=1):
        here = f"{where}[[{table}]] entry {index}"
        if not isinstance(entry, dict):
            raise TomlFileError(f"{here} must be a table")
        unknown = sorted(set(entry) - known)
        if unknown:
            raise TomlFileError(f"{here}: unknown key {shown(unknown[0])}; known: {', '.join(sorted(known))}")
        yield here, entry
