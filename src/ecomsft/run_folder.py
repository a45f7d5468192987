"""Folders and files that ecomsft writes (runs, pretrained models, comparisons, indexes, scored
files), and the rules that guard every deletion and every replacement:

- A folder ecomsft writes carries a marker file, ``.ecomsft``, that lists every file ecomsft wrote
  in it with its size. Replacing such a folder (``--overwrite``) deletes exactly those files; a
  folder holding any other file, or a listed file whose size changed (a user's own weights saved
  under ecomsft's name), is refused before any work, with those files named. A folder without a
  valid marker is never ecomsft's, whatever names it holds: names any ML project writes
  (``metrics.json``, ``model/``) are no proof.
- A work folder ``<output>.partial`` is emptied only of the files its marker lists (they are listed
  at each checkpoint and when a run is interrupted), and only under its lock: a second command
  writing the same output is refused while the first runs. An interrupted run's checkpoints are
  kept unless ``--overwrite`` is given.
- An output path that is a symbolic link is refused: a replacement must never land elsewhere.
- A file output (scored rows, metrics, augmented data) never replaces its own input, and replaces an
  existing file only with ``--overwrite``. Every file is written through ``files.atomic_writer``.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path

from .distributed import is_main_process
from .errors import EcomsftError
from .files import write_text_atomic

MARKER = ".ecomsft"
LOCK = ".ecomsft.lock"  # an empty file, flock-ed by the command writing the folder
PARTIAL = "partial"  # the marker's kind for a work folder


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
            elif _read_marker(here / name) is not None:
                dirs.remove(name)
                nested.append(here / name)
        files += [(here / name).relative_to(folder).as_posix() for name in names]
    return sorted(files), nested


def _read_marker(folder: Path) -> dict | None:
    """The marker's content when it is ecomsft's (a JSON object with its kind and list of files),
    else None: a missing, unreadable or hand-made marker proves nothing."""
    marker = Path(folder) / MARKER
    if not marker.is_file() or marker.is_symlink():
        return None
    try:
        value = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("kind"), str):
        return None
    listed = value.get("files")
    if isinstance(listed, list) and all(isinstance(name, str) for name in listed):
        value["files"] = dict.fromkeys(listed)  # before sizes were recorded: names alone
    elif not (isinstance(listed, dict) and all(isinstance(size, int) for size in listed.values())):
        return None
    return value


def _size(path: Path) -> int | None:
    """The size of a regular file (not followed through a link), else None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def mark(folder: Path, kind: str, files: list[str] | dict[str, int | None] | None = None) -> None:
    """Mark ``folder`` (created by ecomsft) as ecomsft's own, listing the files it wrote there with
    their sizes (by default every file it holds now; a dict keeps the sizes it gives)."""
    from . import __version__

    folder.mkdir(parents=True, exist_ok=True)
    if files is None:
        files = _walk(folder)[0]
    sizes = {}
    for name in sorted(files):
        known = files.get(name) if isinstance(files, dict) else None
        size = known if known is not None else _size(folder / name)
        if name not in (MARKER, LOCK) and size is not None:
            sizes[name] = size
    write_text_atomic(folder / MARKER, json.dumps({"kind": kind, "ecomsft": __version__, "files": sizes},
                                                  ensure_ascii=False) + "\n")


def record(path: str | Path) -> None:
    """Add a file just written inside an ecomsft folder (an ONNX export, a re-made report) to the
    list of the nearest marked folder above it, so that replacing that folder may delete it. The
    other files keep the sizes recorded when ecomsft wrote them."""
    path = Path(path).absolute()
    for folder in path.parents:
        marker = _read_marker(folder)
        if marker is None:
            continue
        listed = dict(marker["files"])
        listed[path.relative_to(folder).as_posix()] = None  # measured now: ecomsft just wrote it
        mark(folder, marker["kind"], listed)
        return


def is_ours(folder: Path) -> bool:
    return _read_marker(Path(folder)) is not None


def foreign_files(folder: Path) -> list[str]:
    """The files under ``folder`` that ecomsft did not write, or that changed since (their size is
    not the one recorded), as relative paths; everything when the folder has no valid marker."""
    folder = Path(folder)
    marker = _read_marker(folder)
    if marker is None:  # nothing is ecomsft's but the lock of a command at work in it
        return sorted(e.name + ("/" if e.is_dir() and not e.is_symlink() else "") for e in folder.iterdir()
                      if not (e.name == LOCK and _size(e) == 0))
    listed = marker["files"]
    files, nested = _walk(folder)
    foreign = []
    for name in files:
        size = _size(folder / name)
        if name == MARKER or (name == LOCK and size == 0):
            continue
        if name not in listed or size is None or listed[name] is not None and listed[name] != size:
            foreign.append(name)
    for inner in nested:
        prefix = inner.relative_to(folder).as_posix()
        foreign += [f"{prefix}/{name}" for name in foreign_files(inner)]
    return sorted(foreign)


def _foreign_message(folder: Path, foreign: list[str], ending: str) -> EcomsftError:
    shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
    return EcomsftError(f"output folder holds files that ecomsft did not write or that changed since ({shown}); they "
                        f"are never deleted, --overwrite or not: {ending}", where=str(folder))


def remove_own(folder: Path, ending: str = "move them or choose another --output", keep: str | None = None) -> None:
    """Delete exactly the files ecomsft wrote in ``folder`` (then the folders left empty); refuse,
    deleting nothing, when anything else is there (the message ends with ``ending``). ``keep``
    names a file to leave in place (the lock of the command that is emptying its work folder)."""
    foreign = foreign_files(folder)
    if foreign:
        raise _foreign_message(folder, foreign, ending)
    files, nested = _walk(folder)
    for inner in nested:
        remove_own(inner)
    for name in files:
        if name != keep:
            (folder / name).unlink()
    for root, _, _ in sorted(os.walk(folder, followlinks=False), key=lambda item: -len(Path(item[0]).parts)):
        try:
            Path(root).rmdir()
        except OSError:  # not empty: a file appeared meanwhile, and stays
            pass


def lock(folder: Path) -> int:
    """Take ``folder``'s lock (``.ecomsft.lock``, flock-ed: released when the process ends, however
    it ends) and return its descriptor; one line when another command holds it."""
    import fcntl

    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise EcomsftError("another ecomsft command is writing this output now (its folder is locked); wait for it to "
                           "end, or choose another --output", where=str(folder)) from None
    return fd


def unlock(folder: Path, fd: int | None) -> None:
    """Remove the lock file and release the lock (the file first: no one may lock a folder being let go)."""
    if fd is None:
        return
    if _size(folder / LOCK) == 0:
        (folder / LOCK).unlink(missing_ok=True)
    os.close(fd)


@contextmanager
def locked(folder: Path):
    """``folder`` (an existing folder of ecomsft's) locked for the block."""
    fd = lock(folder)
    try:
        yield folder
    finally:
        unlock(folder, fd)


def remove_run(folder: Path) -> None:
    """Delete a finished run folder (``ecomsft remove``): exactly the files ecomsft wrote in it,
    under its lock; refused, deleting nothing, when it holds anything else or is not a finished run."""
    if folder.is_symlink() or not is_finished_run(folder):
        raise EcomsftError("not a finished run folder; nothing is deleted", where=str(folder))
    with locked(folder):  # no other command reads or writes it meanwhile; the lock file goes last
        remove_own(folder, "nothing is deleted: move them out first, or delete the folder yourself", keep=LOCK)
    try:
        folder.rmdir()
    except OSError:  # a file appeared meanwhile, and stays
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


def output_path(output: str | Path) -> Path:
    """``--output`` as a folder ecomsft can build beside itself, or one line: an empty name, ``.``,
    ``..`` or ``/`` name no folder of their own."""
    if not str(output).strip():
        raise EcomsftError("--output is empty; name the folder to write, e.g. --output runs/reviews")
    path = Path(output)
    if path.name in ("", ".", "..") or path.absolute() == Path(path.absolute().anchor):
        raise EcomsftError("--output must name a new folder (not ., .. nor the root), e.g. --output runs/reviews",
                           where=str(output))
    return path


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
    path = Path(run).absolute()
    if path.name and path.with_name(path.name + ".partial").exists():
        raise EcomsftError("this run did not finish (see its .partial folder; train again with --resume)", where=str(path))
    raise EcomsftError("not a run folder nor a model folder (no model/config.json)", where=str(path))


class RunFolder:
    """A run's folder: built in ``<output>.partial/`` and given its name only when everything is
    written, so that a folder named like a run is always a finished one. An interrupted run keeps
    its ``.partial`` folder with checkpoints, which ``resume`` continues. The work folder is locked
    while a command writes it. With several processes, the first checks, clears and writes; the
    others only compute."""

    def __init__(self, output: str | Path):
        self.output = output_path(output)
        self.partial = self.output.with_name(self.output.name + ".partial")
        self.checkpoints = self.partial / "checkpoints"
        self.created = False
        self._lock: int | None = None

    def prepare(self, overwrite: bool, resume: bool) -> "RunFolder":
        """Refuse to replace anything that is not ours (or ours, without ``overwrite``); with
        ``resume`` the interrupted run's checkpoints must be there, and without it they are kept
        unless ``overwrite``. The work folder is created (or emptied of ecomsft's files), locked and
        marked now, so that an output that cannot be written is refused before any work."""
        if not is_main_process():
            return self
        check_replaceable(self.output, overwrite)
        check_symlink(self.partial)
        partial = self.partial
        if partial.exists() and not partial.is_dir():
            raise EcomsftError("a file of that name is in the way of the work folder; move it", where=str(partial))
        if not partial.exists():
            if resume:
                raise EcomsftError("nothing to resume: no interrupted run here", where=str(partial))
            try:
                partial.mkdir(parents=True)
            except OSError as err:
                raise EcomsftError(f"cannot write the output folder here ({err.strerror or type(err).__name__})",
                                   where=str(self.output)) from None
            self._lock = lock(partial)
            self.created = True
        else:
            if _read_marker(partial) is None and any(partial.iterdir()):
                raise EcomsftError("a folder of that name that ecomsft did not write (it has no valid .ecomsft marker) "
                                   "is in the way; nothing in it is deleted: move it", where=str(partial))
            self._lock = lock(partial)
            try:
                if resume:
                    if not self.checkpoints.is_dir():
                        raise EcomsftError("nothing to resume: no interrupted run here", where=str(partial))
                    return self
                if self.checkpoints.is_dir() and not overwrite:
                    raise EcomsftError("an interrupted run's checkpoints are here: pass --resume to continue it, or "
                                       "--overwrite to start again (they are deleted then)", where=str(partial))
                remove_own(partial, "move them, continue the interrupted run with --resume, or delete the folder yourself",
                       keep=LOCK)
            except EcomsftError:
                unlock(partial, self._lock)  # refused: the folder is left as it was found
                self._lock = None
                raise
            self.created = True  # what is left (its lock keeps the folder) is this command's own
        mark(partial, PARTIAL, files=[])
        return self

    def keep(self) -> None:
        """List what the work folder holds now (at a checkpoint, on an interruption), so that a later
        ``--overwrite`` may delete exactly that."""
        if self._lock is not None and self.partial.is_dir():  # only a work folder this command holds
            mark(self.partial, PARTIAL)

    def release(self) -> None:
        """Let the work folder go (this command stops writing it)."""
        if self._lock is not None:
            unlock(self.partial, self._lock)
            self._lock = None

    @contextmanager
    def removed_on_failure(self):
        """The set-up: if it fails, the ``.partial`` folder it created is removed (nothing half-written stays)."""
        try:
            yield self
        except BaseException:
            if self.created and self.partial.exists():
                shutil.rmtree(self.partial, ignore_errors=True)
                self.release()
            raise

    def write(self, name: str, text: str) -> None:
        write_text_atomic(self.partial / name, text)

    def finish(self, kind: str) -> Path:
        """Remove the checkpoints, mark the folder ours and give it its name; the lock goes last."""
        shutil.rmtree(self.checkpoints, ignore_errors=True)
        finish(self.partial, self.output, kind)
        unlock(self.output, self._lock)
        self._lock = None
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
