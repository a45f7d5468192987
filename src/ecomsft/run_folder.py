"""Folders that ecomsft writes (runs, pretrained models, comparisons, indexes), and the rule that
guards every deletion: only a folder that ecomsft itself wrote may be replaced.

Every such folder carries a marker file, ``.ecomsft``; folders written before the marker existed
are recognised by the files that only ecomsft writes together. Anything else is refused with one
line, ``--overwrite`` or not: a typo in ``--output`` must never delete a user's work.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from .distributed import is_main_process
from .errors import EcomsftError

MARKER = ".ecomsft"
# Folders written before the marker: a run or pretrained model, an index, a comparison.
_LEGACY_SIGNS = (("metrics.json", "model"), ("index.json", "embeddings.npy"), ("leaderboard.csv", "report.html"))


def mark(folder: Path, kind: str) -> None:
    """Mark ``folder`` (created by ecomsft) as ecomsft's own."""
    from . import __version__

    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(json.dumps({"kind": kind, "ecomsft": __version__}) + "\n", encoding="utf-8")


def is_ours(folder: Path) -> bool:
    if (folder / MARKER).is_file():
        return True
    return any(all((folder / name).exists() for name in sign) for sign in _LEGACY_SIGNS)


def check_replaceable(folder: Path, overwrite: bool) -> None:
    """Refuse, in one line, unless ``folder`` is absent or (with ``overwrite``) ecomsft's own."""
    if not folder.exists() or (folder.is_dir() and not any(folder.iterdir())):
        return  # nothing to lose
    if not folder.is_dir() or not is_ours(folder):
        what = "a file" if not folder.is_dir() else "files that ecomsft did not write"
        raise EcomsftError(f"output folder holds {what}; it is never replaced, --overwrite or not: "
                           "choose another --output", where=str(folder))
    if not overwrite:
        raise EcomsftError("output folder already holds a finished run; pass --overwrite or another --output",
                           where=str(folder))


def clear_partial(partial: Path) -> None:
    """Remove an earlier work folder ``<output>.partial`` of ours (an interrupted run's)."""
    if not partial.exists():
        return
    if partial.is_dir() and not any(partial.iterdir()) or is_ours(partial) or (partial / "checkpoints").is_dir():
        shutil.rmtree(partial)
        return
    raise EcomsftError("a folder of that name that ecomsft did not write is in the way; move it", where=str(partial))


def finish(partial: Path, output: Path, kind: str) -> None:
    """Mark the finished work folder and give it its name, replacing an earlier folder of ours."""
    mark(partial, kind)
    if output.exists():
        if not is_ours(output):  # appeared while we worked: never ours to delete
            raise EcomsftError(f"output folder appeared meanwhile and is not an ecomsft run; the result is kept in {partial}",
                               where=str(output))
        shutil.rmtree(output)
    os.replace(partial, output)


def kind_of(folder: Path) -> str | None:
    """What ecomsft wrote in ``folder`` (run, pretrain, comparison, index), or None if not ours."""
    folder = Path(folder)
    marker = folder / MARKER
    if marker.is_file():
        try:
            return json.loads(marker.read_text(encoding="utf-8")).get("kind") or "run"
        except (OSError, ValueError):
            return "run"
    if (folder / "metrics.json").is_file() and (folder / "model").is_dir():
        return "run"
    if (folder / "index.json").is_file():
        return "index"
    if (folder / "leaderboard.csv").is_file():
        return "comparison"
    return None


def is_finished_run(folder: Path) -> bool:
    """A finished training run of any task: its model and metrics.json."""
    folder = Path(folder)
    return (folder / "metrics.json").is_file() and (folder / "model").is_dir()


def model_of(run: str | Path) -> Path | None:
    """The model folder of a run folder, or the folder itself when it is a model folder; None if neither."""
    path = Path(run)
    folder = path / "model" if (path / "model").is_dir() else path
    return folder if any((folder / name).is_file() for name in ("config.json", "modules.json")) else None


def trained_model(run: str | Path) -> Path:
    """``model_of``, or one line saying why there is none (an interrupted run, or not a run at all)."""
    folder = model_of(run)
    if folder is not None:
        return folder
    path = Path(run)
    if path.with_name(path.name + ".partial").exists():
        raise EcomsftError("this run did not finish (see its .partial folder; train again with --resume)", where=str(path))
    raise EcomsftError("not a run folder nor a model folder (no model/config.json)", where=str(path))


class RunFolder:
    """A run's folder: built in ``<output>.partial/`` and given its name only when everything is
    written, so that a folder named like a run is always a finished one. An interrupted run keeps
    its ``.partial`` folder with checkpoints, which ``resume`` continues. With several processes,
    the first checks, clears and writes; the others only compute."""

    def __init__(self, output: str | Path):
        self.output = Path(output)
        self.partial = self.output.with_name(self.output.name + ".partial")
        self.checkpoints = self.partial / "checkpoints"
        self.created = False

    def prepare(self, overwrite: bool, resume: bool) -> "RunFolder":
        """Refuse to replace anything that is not ours (or ours, without ``overwrite``); with
        ``resume`` the interrupted run's checkpoints must be there."""
        if not is_main_process():
            return self
        check_replaceable(self.output, overwrite)
        if resume:
            if not self.checkpoints.is_dir():
                raise EcomsftError("nothing to resume: no interrupted run here", where=str(self.partial))
        else:
            clear_partial(self.partial)
            self.created = True
        return self

    @contextmanager
    def removed_on_failure(self):
        """The set-up: if it fails, the ``.partial`` folder it created is removed (nothing half-written stays)."""
        try:
            yield self
        except BaseException:
            if self.created and self.partial.exists():
                shutil.rmtree(self.partial, ignore_errors=True)
            raise

    def write(self, name: str, text: str) -> None:
        write_text_atomic(self.partial / name, text)

    def finish(self, kind: str) -> Path:
        """Remove the checkpoints, mark the folder ours and give it its name."""
        shutil.rmtree(self.checkpoints, ignore_errors=True)
        finish(self.partial, self.output, kind)
        return self.output


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, then one rename, so a crash
    never leaves half a file (resume state, metrics) for the next command to trust."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """``write_text_atomic`` for bytes."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
