"""Reading a TOML file a user gave us, with one-line errors that say which file and why."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


class TomlFileError(ValueError):
    """The file is missing, unreadable or not TOML; the message names it."""


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The file's table; `what` names it in errors ("seed file", "target file", …)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TomlFileError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise TomlFileError(f"{what} {path} is a directory; give the .toml file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TomlFileError(f"{what} {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TomlFileError(f"{what} {path} is not valid TOML: {exc}") from None
