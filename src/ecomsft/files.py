"""The one way ecomsft writes a file: whole or not at all, never through a link, never onto a
device, and never into a temporary file that someone else placed.

A file is written into a temporary file that is *created* (``O_EXCL``, a random name, mode 0600
then the umask's mode) beside its target, then renamed over the target in one step. A link or a
non-regular file (a device, a pipe, a folder) at the target is refused before anything is written:
the rename would replace a link itself, but a user who points a link at a file means that file,
and ecomsft never writes there. Reading refuses devices too (``regular_file``): a link to
``/dev/zero`` named ``reviews.csv`` would otherwise be read forever.
"""

from __future__ import annotations

import functools
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import EcomsftError


def refuse_special(path: str | Path, what: str = "output") -> None:
    """One line unless ``path`` is absent or a regular file (a link, a device, a pipe, a folder are
    refused: a write must land in this very file and nowhere else)."""
    path = Path(path)
    if path.is_symlink():
        raise EcomsftError(f"the {what} is a symbolic link (to {os.readlink(path)}); ecomsft never writes through a "
                           "link: give the file itself", where=str(path))
    if path.exists() and not path.is_file():
        kind = "folder" if path.is_dir() else "device or other special file"
        raise EcomsftError(f"the {what} is a {kind}, not a regular file; give a file name", where=str(path))


def regular_file(path: str | Path, what: str = "file") -> Path:
    """``path`` when it is a regular file (a link to one is fine for reading); one line otherwise:
    a device such as /dev/zero would be read without end."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        raise EcomsftError(f"{what} not found", where=str(path)) from None
    if stat.S_ISDIR(mode):
        raise EcomsftError(f"the {what} is a folder; give a file", where=str(path))
    if not stat.S_ISREG(mode):
        raise EcomsftError(f"the {what} is a device or other special file, not a regular file", where=str(path))
    return path


@functools.cache
def _umask_mode() -> int:
    """The mode a plain ``open`` would give a new file; read once (os.umask can only be read by
    setting it, process-wide)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def temporary_beside(path: str | Path):
    """A new, empty temporary file beside ``path`` (created exclusively, random name), yielded as
    ``(handle, temporary path)``; renamed over ``path`` when the block ends without an error,
    removed otherwise. Libraries that write by name (ONNX, quantization) may reopen the temporary
    path: it is ecomsft's own fresh file in the target's folder."""
    path = Path(path)
    refuse_special(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temporary = Path(name)
    try:
        os.fchmod(fd, _umask_mode())
        with os.fdopen(fd, "wb") as handle:
            yield handle, temporary
            handle.flush()
            os.fsync(handle.fileno())
        refuse_special(path)  # a link placed meanwhile is refused too
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_writer(path: str | Path):
    """A binary handle whose bytes become ``path`` whole when the block ends (see ``temporary_beside``)."""
    with temporary_beside(path) as (handle, _):
        yield handle


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``path`` whole or not at all, so a crash never leaves half a file (resume state,
    metrics) for the next command to trust."""
    with atomic_writer(path) as handle:
        handle.write(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def open_work_file(path: str | Path, fresh: bool):
    """A work file that lives across runs (the ``.partial`` of a resumable batch scoring), opened
    ``r+b`` without following a link; ``fresh`` empties it (creating it if absent). A link or a
    special file of that name is refused."""
    path = Path(path)
    refuse_special(path, "work file")
    flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | (os.O_CREAT | os.O_TRUNC if fresh else 0)
    fd = os.open(path, flags, 0o666)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise EcomsftError("the work file is not a regular file", where=str(path))
    return os.fdopen(fd, "r+b")
