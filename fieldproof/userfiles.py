"""Reading a file a user named (a target file, a contract document, a seed file…): a regular
file, of a bounded size, in UTF-8, or one line saying which of these it is not.

A path can name anything: /dev/zero, a FIFO that blocks whoever opens it until a writer
comes, a terminal, a 10 GB log. The kind is checked before the file is opened for reading
(opening a device can do something), and again on what was opened (the path may have been
swapped between); no more than the bound is ever read.
"""

from __future__ import annotations

import errno
import os
import reprlib
import stat
from pathlib import Path

from fieldproof.errors import FieldproofError

_SHOWN = reprlib.Repr()
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlevel = 60, 60, 2

_KINDS = {stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFIFO: "a FIFO (named pipe)",
          stat.S_IFSOCK: "a socket"}
# A contract document's bound: many times the vendor's whole Demand API document, and far below
# what would hold up a session.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


def read_user_text(path: Path, what: str, max_bytes: int, error: type[FieldproofError], give: str = "") -> str:
    """The UTF-8 text of the file at `path` (`what` names it in messages: "target file").

    Raises `error`, in one line ending with `give` (what file to give instead), when it does
    not exist, is a directory or another thing than a regular file, cannot be read, is larger
    than `max_bytes` or is not UTF-8.
    """
    hint = f"; {give}" if give else ""
    try:
        _validate_kind(path, os.stat(path).st_mode, what, error)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)  # a FIFO swapped in does not block
        with os.fdopen(fd, "rb") as file:
            _validate_kind(path, os.fstat(fd).st_mode, what, error)
            data = file.read(max_bytes + 1)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist{hint}") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory{hint or '; give the file itself'}") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read: {exc.strerror or exc}{hint}") from None
    if len(data) > max_bytes:
        raise error(f"{what} {path} is larger than {max_bytes} bytes, more than any {what} needs; give the right file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} cannot be read as text: byte {exc.start} is not UTF-8; save it as UTF-8") from None


def _validate_kind(path: Path, mode: int, what: str, error: type[FieldproofError]) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "a special file")
        raise error(f"{what} {path} is {kind}, not a regular file; give the path of the file itself")


def shown(value: object) -> str:
    """A value from a user's file as a message shows it: its repr, cut short and on one line
    however long or deeply nested it is."""
    return _SHOWN.repr(value)
