"""Folders and files that ecomsft writes (runs, pretrained models, comparisons, indexes, scored
files), and the rules that guard every deletion and every replacement:

- A folder ecomsft writes carries a marker file, ``.ecomsft``, that lists every file ecomsft wrote
  in it. Replacing such a folder (``--overwrite``) deletes exactly those files; a folder holding
  any other file is refused before any work, with the foreign files named. A folder written before
  the marker listed its files is judged by the names ecomsft writes at its top level.
- A work folder ``<output>.partial`` is deleted only when it carries ecomsft's marker.
- An output path that is a symbolic link is refused: a replacement must never land elsewhere.
- A file output (scored rows, metrics, augmented data) never replaces its own input, and replaces an
  existing file only with ``--overwrite``.
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
PARTIAL = "partial"  # the marker's kind for a work folder
# Folders written before the marker: a run or pretrained model, an index, a comparison.
_LEGACY_SIGNS = (("metrics.json", "model"), ("index.json", "embeddings.npy"), ("leaderboard.csv", "report.html"))
# What those folders held at their top level (a folder before the marker listed its files).
_LEGACY_FILES = {MARKER, "metrics.json", "config.yaml", "training_log.json", "predictions.csv", "report.html",
                 "index.json", "embeddings.npy", "products.parquet", "leaderboard.csv", "leaderboard.png", "model.pkl"}
_LEGACY_FOLDERS = {"model", "tensorboard"}


def _walk(folder: Path) -> tuple[list[str], list[Path]]:
    """Every file under ``folder`` (a link is a file: never followed) as a relative POSIX path, and
    the folders inside that hold a marker of their own (judged by their own list, not walked)."""
    files, nested = [], []
    for root, dirs, names in os.walk(folder, followlinks=False):
        here = Path(root)
        for name in list(dirs):
            if (here / name).is_symlink():
                dirs.remove(name)
                names.append(name)
            elif (here / name / MARKER).is_file():
                dirs.remove(name)
                nested.append(here / name)
        files += [(here / name).relative_to(folder).as_posix() for name in names]
    return sorted(files), nested


def _read_marker(folder: Path) -> dict | None:
    marker = folder / MARKER
    if not marker.is_file() or marker.is_symlink():
        return None
    try:
        value = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def mark(folder: Path, kind: str, files: list[str] | None = None) -> None:
    """Mark ``folder`` (created by ecomsft) as ecomsft's own, listing the files it wrote there
    (by default every file it holds now)."""
    from . import __version__

    folder.mkdir(parents=True, exist_ok=True)
    files = [f for f in (_walk(folder)[0] if files is None else files) if f != MARKER]
    write_text_atomic(folder / MARKER, json.dumps({"kind": kind, "ecomsft": __version__, "files": sorted(set(files))},
                                                  ensure_ascii=False) + "\n")


def record(path: str | Path) -> None:
    """Add a file just written inside an ecomsft folder (an ONNX export, a re-made report) to the
    list of the nearest marked folder above it, so that replacing that folder may delete it."""
    path = Path(path).absolute()
    for folder in path.parents:
        marker = _read_marker(folder)
        if marker is None:
            continue
        if isinstance(marker.get("files"), list):
            mark(folder, marker.get("kind") or "run", [*marker["files"], path.relative_to(folder).as_posix()])
        return


def is_ours(folder: Path) -> bool:
    folder = Path(folder)
    if (folder / MARKER).is_file():
        return True
    return any(all((folder / name).exists() for name in sign) for sign in _LEGACY_SIGNS)


def foreign_files(folder: Path) -> list[str]:
    """The files under ``folder`` that ecomsft did not write, as relative paths."""
    folder = Path(folder)
    if not is_ours(folder):
        return sorted(e.name + ("/" if e.is_dir() and not e.is_symlink() else "") for e in folder.iterdir())
    files, nested = _walk(folder)
    listed = (_read_marker(folder) or {}).get("files")
    if isinstance(listed, list):
        foreign = [name for name in files if name not in {*listed, MARKER}]
    else:
        foreign = [name for name in files if not _legacy_own(folder, name)]
    for inner in nested:
        prefix = inner.relative_to(folder).as_posix()
        foreign += [f"{prefix}/{name}" for name in foreign_files(inner)]
    return sorted(foreign)


def _legacy_own(folder: Path, name: str) -> bool:
    """Whether ecomsft wrote ``name`` in a folder from before the marker listed its files: a file
    it writes at the top, anything in its model folder, or the same inside a run of a comparison."""
    first, _, rest = name.partition("/")
    if not rest:
        return first in _LEGACY_FILES and not (folder / first).is_symlink()
    if first in _LEGACY_FOLDERS:
        return True
    return is_ours(folder / first) and _legacy_own(folder / first, rest)


def _foreign_message(folder: Path, foreign: list[str], ending: str) -> EcomsftError:
    shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
    return EcomsftError(f"output folder holds files that ecomsft did not write ({shown}); they are never deleted, "
                        f"--overwrite or not: {ending}", where=str(folder))


def remove_own(folder: Path, ending: str = "move them or choose another --output") -> None:
    """Delete exactly the files ecomsft wrote in ``folder`` (then the folders left empty); refuse,
    deleting nothing, when anything else is there (the message ends with ``ending``)."""
    foreign = foreign_files(folder)
    if foreign:
        raise _foreign_message(folder, foreign, ending)
    files, nested = _walk(folder)
    for inner in nested:
        remove_own(inner)
    for name in files:
        (folder / name).unlink()
    for root, _, _ in sorted(os.walk(folder, followlinks=False), key=lambda item: -len(Path(item[0]).parts)):
        try:
            Path(root).rmdir()
        except OSError:  # not empty: a file appeared meanwhile, and stays
            pass


def check_symlink(path: Path, flag: str = "--output") -> None:
    if Path(path).is_symlink():
        raise EcomsftError(f"{flag} is a symbolic link (to {os.readlink(path)}); give the folder or file itself",
                           where=str(path))


def check_replaceable(folder: Path, overwrite: bool) -> None:
    """Refuse, in one line, unless ``folder`` is absent, empty, or (with ``overwrite``) holds only
    what ecomsft wrote."""
    folder = Path(folder)
    check_symlink(folder)
    if not folder.exists() or (folder.is_dir() and not any(folder.iterdir())):
        return  # nothing to lose
    if not folder.is_dir():
        raise EcomsftError("output is a file that ecomsft did not write; it is never replaced, --overwrite or not: "
                           "choose another --output", where=str(folder))
    foreign = foreign_files(folder)
    if foreign:
        raise _foreign_message(folder, foreign, "move them or choose another --output")
    if not overwrite:
        raise EcomsftError("output folder already holds a finished run; pass --overwrite or another --output",
                           where=str(folder))


def clear_partial(partial: Path) -> None:
    """Remove an earlier work folder ``<output>.partial`` of ours (an interrupted run's)."""
    check_symlink(partial)
    if not partial.exists():
        return
    if partial.is_dir() and not any(partial.iterdir()):
        partial.rmdir()
        return
    if partial.is_dir() and _read_marker(partial) is not None:
        shutil.rmtree(partial)
        return
    raise EcomsftError("a folder of that name that ecomsft did not write (it has no .ecomsft marker) is in the way; move it",
                       where=str(partial))


def finish(partial: Path, output: Path, kind: str) -> None:
    """Mark the finished work folder and give it its name, replacing an earlier folder of ours."""
    mark(partial, kind)
    if output.is_symlink() or output.exists() and not output.is_dir():
        raise EcomsftError(f"output appeared meanwhile and is not an ecomsft folder; the result is kept in {partial}",
                           where=str(output))
    if output.exists():  # files that appeared while we worked are never ours to delete
        remove_own(output, f"the result is kept in {partial}")
    try:
        os.replace(partial, output)
    except OSError:
        raise EcomsftError(f"output folder is not empty (files appeared meanwhile); the result is kept in {partial}",
                           where=str(output)) from None


def kind_of(folder: Path) -> str | None:
    """What ecomsft wrote in ``folder`` (run, pretrain, comparison, index), or None if not ours."""
    folder = Path(folder)
    marker = _read_marker(folder)
    if marker is not None:
        return marker.get("kind") or "run"
    if (folder / "metrics.json").is_file() and (folder / "model").is_dir():
        return "run"
    if (folder / "index.json").is_file():
        return "index"
    if (folder / "leaderboard.csv").is_file():
        return "comparison"
    return None


def run_config(run: str | Path) -> dict | None:
    """The run folder's config.yaml as written by the runner, or None (a bare model folder, or a
    file that does not read as a mapping)."""
    config_file = Path(run) / "config.yaml"
    if not config_file.is_file():
        return None
    import yaml

    try:
        saved = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None
    return saved if isinstance(saved, dict) else None


def task_of(run: str | Path) -> str:
    """The task of a run folder: its config.yaml's task.type, written by the runner, the one record
    of a run's task. A bare model folder (or a run folder without config.yaml) is read by what the
    saved model says of itself."""
    path = Path(run)
    section = (run_config(path) or {}).get("task")
    if isinstance(section, dict) and isinstance(section.get("type"), str) and section["type"]:
        return section["type"]
    folder = model_of(path) or path
    if (folder / "ecomsft.json").is_file():
        return "retrieval"
    config = {}
    if (folder / "config.json").is_file():
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            config = {}
    if isinstance(config.get("ecomsft_task"), str):
        return config["ecomsft_task"]
    if any(str(name).endswith("ForMaskedLM") for name in config.get("architectures") or []):
        return "pretraining"
    return "classification"


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
        ``resume`` the interrupted run's checkpoints must be there. The work folder is created and
        marked now, so that an output that cannot be written is refused before any work."""
        if not is_main_process():
            return self
        check_replaceable(self.output, overwrite)
        check_symlink(self.partial)
        if resume:
            if not self.checkpoints.is_dir():
                raise EcomsftError("nothing to resume: no interrupted run here", where=str(self.partial))
            return self
        clear_partial(self.partial)
        try:
            mark(self.partial, PARTIAL, files=[])
        except OSError as err:
            raise EcomsftError(f"cannot write the output folder here ({err.strerror or type(err).__name__})",
                               where=str(self.output)) from None
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


def check_output_file(output: str | Path, overwrite: bool, inputs: tuple = ()) -> None:
    """Before any work: a file output must not be one of the ``inputs`` (compared by resolved
    path), must not replace an existing file without ``overwrite`` nor a folder or a link ever, and
    its folder must exist."""
    output = Path(output)
    check_symlink(output)
    for source in inputs:
        if source is not None and Path(source).exists() and output.resolve() == Path(source).resolve():
            raise EcomsftError("the output is the input file; write to another --output", where=str(output))
    if output.is_dir():
        raise EcomsftError("the output is a folder; give a file name", where=str(output))
    if output.exists() and not overwrite:
        raise EcomsftError("the output file already exists; pass --overwrite to replace it, or another --output",
                           where=str(output))
    if not output.parent.is_dir():
        raise EcomsftError("output folder does not exist", where=str(output.parent))
    if not os.access(output.parent, os.W_OK):  # a read-only mount says so here, before any work
        raise EcomsftError("cannot write in this folder (read-only or no permission)", where=str(output.parent))


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
