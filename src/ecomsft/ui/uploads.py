"""Files a user uploads through the interface: kept under ``<root>/.ecomsft-ui/uploads/<id>/``, each
written there by ecomsft alone (an upload never replaces a file of the user's), and read back with
the same reader as the CLI (``data.reading``: the encoding sniffed, the format from the extension)."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..data.examples import guess_column, load_table
from ..errors import EcomsftError
from ..files import write_text_atomic
from .jobs import UI_FOLDER

FORMATS = (".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet", ".xlsx", ".xls")
PREVIEW_ROWS = 8
PREVIEW_FILE = ".preview.json"  # an upload's own name never starts with a dot (safe_name)
SCORED = "scored-"  # the scored copy of a file uploaded to a run's page


def uploads_folder(root: Path) -> Path:
    return Path(root) / UI_FOLDER / "uploads"


def safe_name(name: str) -> str:
    """The file's own name without any folder, in characters every file system takes."""
    base = Path(name.replace("\\", "/")).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    if suffix not in FORMATS:
        raise EcomsftError(f"not a table file ({suffix or 'no extension'}); upload one of {', '.join(FORMATS)}",
                           where=base or "upload")
    stem = re.sub(r"[^\w.-]+", "_", stem).strip("._") or "data"
    if stem.startswith(SCORED):
        stem = "data-" + stem
    return stem[:80] + suffix


def save_upload(root: Path, name: str, source, limit: int) -> Path:
    """Copy the file object ``source`` to a new upload folder; refused (nothing kept) when over
    ``limit`` bytes."""
    target = uploads_folder(root) / uuid.uuid4().hex[:12] / safe_name(name)
    target.parent.mkdir(parents=True)
    written = 0
    try:
        with open(target, "wb") as out:
            while chunk := source.read(1 << 20):
                written += len(chunk)
                if written > limit:
                    raise EcomsftError(f"the file is over the upload limit of {limit // (1 << 20)} MB "
                                       "(ecomsft ui --max-upload-mb)", where=name)
                out.write(chunk)
        if not written:
            raise EcomsftError("the file is empty", where=name)
    except BaseException:
        shutil.rmtree(target.parent, ignore_errors=True)
        raise
    return target


def upload_path(root: Path, upload_id: str) -> Path:
    """The uploaded file of ``upload_id`` (``LookupError`` when there is none)."""
    folder = uploads_folder(root) / upload_id
    files = sorted(folder.iterdir()) if upload_id.isalnum() and folder.is_dir() else []
    files = [f for f in files if f.is_file() and not f.is_symlink() and not f.name.startswith(SCORED)
             and f.name != PREVIEW_FILE]
    if not files:
        raise LookupError(upload_id)
    return files[0]


def all_uploads(root: Path) -> list[Path]:
    """Every uploaded file, newest first (what a setting that names a second file may take: an
    aspects run's labels, a validation or test file)."""
    folder = uploads_folder(root)
    found = []
    for inner in (folder.iterdir() if folder.is_dir() else []):
        try:
            found.append(upload_path(root, inner.name))
        except LookupError:
            continue
    return sorted(found, key=lambda path: path.stat().st_mtime, reverse=True)


@dataclass
class Preview:
    columns: list[str]
    rows: list[list[str]]
    total: int
    encoding: str | None
    guesses: dict[str, str | None]
    auto: dict | None  # model.name auto's choice on the guessed text column: {column, model, reason}


def guess_columns(columns: list[str], task: str) -> dict[str, str | None]:
    """The columns the CLI would take for ``task`` when none is named (the task spec's guesses, each
    column taken once)."""
    from ..tasks import task_spec

    found: dict[str, str | None] = {"text_column": None, "text_pair_column": None, "label_column": None}
    for key, guesses in task_spec(task).column_guesses().items():
        found[key] = guess_column(columns, guesses, {c for c in found.values() if c})
    return found


def preview(path: Path, task: str = "classification") -> Preview:
    """The first rows, the encoding that read them, and the columns guessed as the CLI guesses them.
    The file is read once, at upload (``.preview.json`` beside it keeps what the page shows)."""
    kept = path.parent / PREVIEW_FILE
    try:
        seen = json.loads(kept.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        table = load_table(str(path))
        frame = table.frame
        columns = [str(c) for c in frame.columns]
        seen = {"columns": columns, "total": len(frame), "encoding": table.encoding,
                "rows": [["" if v is None else str(v)[:200] for v in row]
                         for row in frame.head(PREVIEW_ROWS).itertuples(index=False)], "auto": None}
        text = guess_columns(columns, "classification")["text_column"]
        if text is not None:
            from ..models.resolve import choose_bundled

            model, reason = choose_bundled(frame[text].dropna().astype(str).tolist())
            seen["auto"] = {"column": text, "model": model, "reason": reason}
        write_text_atomic(kept, json.dumps(seen, ensure_ascii=False))
    return Preview(seen["columns"], seen["rows"], seen["total"], seen["encoding"], guess_columns(seen["columns"], task),
                   seen.get("auto"))
