"""Files fieldproof writes for the user (the reports, a baseline): each written whole or not at
all, and never through a symlink; the reports folder checked before a session sends anything.

A file is written to a temporary file in the same folder, then renamed onto its name: a reader
(or a session killed mid-write) never sees half a file, and the rename replaces whatever was at
the name (a symlink included) without following it, so no file elsewhere can be overwritten by
planting a link in the reports folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from pathlib import Path
from typing import Any, TextIO

from fieldproof.errors import UsageError

MIN_FREE_BYTES = 10 * 1024 * 1024  # room for every report of a big session, with a margin
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC  # O_EXCL: never opened through a symlink


def _temporary(folder: Path, name: str) -> tuple[int, Path]:
    """A new file in `folder` that nothing else can have opened: (its descriptor, its path).
    Its mode is the user's usual one (0o666 less the umask), as a plain write would give."""
    for _ in range(10):
        path = folder / f".{name}.{secrets.token_hex(8)}.tmp"
        try:
            return os.open(path, _CREATE, 0o666), path
        except FileExistsError:  # a name already taken (something planted it): draw another
            continue
    raise FileExistsError(errno.EEXIST, f"no free temporary name beside {name}", str(folder))


def write_file(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all, replacing what is there (a file or a symlink,
    never followed). OSError if it cannot be written (then nothing at `path` changed)."""
    data = text.encode()
    fd, temporary = _temporary(path.parent, path.name)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def validate_reports_folder(folder: Path, flag: str = "--reports") -> None:
    """The reports folder exists (or is made), is a folder, takes a new file and has room for the
    reports: UsageError, one line naming `flag` and the fix, otherwise. Called before the first
    request, so that a session never ends with reports it cannot write."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{flag} {folder} is not a folder; give a folder (it is made if missing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot make the {flag} folder {folder}: {exc.strerror}; choose another {flag}") from None
    try:
        fd, temporary = _temporary(folder, "write-check")
        os.close(fd)
        temporary.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write in the {flag} folder {folder}: {exc.strerror}; "
                         f"make it writable or choose another {flag}") from None
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise UsageError(f"the {flag} folder {folder} has {free // 1024} KiB free, less than the {MIN_FREE_BYTES // 2**20} MiB "
                         f"the reports may need; free some space or choose another {flag}")


class TolerantOutput:
    """A text stream whose reader may leave (`fieldproof run | head`): once the pipe is broken,
    what is still written goes nowhere, and the command goes on (a session still puts the
    target back, writes its reports and exits with its verdict) instead of dying of the error."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._gone()

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._stream.close()

    def _gone(self) -> None:
        self.reader_gone = True
        # what the stream still buffers cannot be written either: its descriptor now leads to
        # /dev/null, so that no later flush (the interpreter's at exit among them) fails on it
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, …: the stream's own
        return getattr(self._stream, name)
