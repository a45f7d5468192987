"""Classification data larger than memory: memory-mapped Arrow files, never a pandas frame.

``datasets.load_dataset`` converts each file to Arrow once, in chunks (cached under
``$ECOMSFT_CACHE/datasets`` and keyed on the file's path, size and time), and later reads map it
from disk. What must be decided about every row is made from small arrays kept in memory: one
pass over the text and label columns gives each row a 64-bit hash of its text, an empty flag and a
label code, and from those come the duplicate report, deduplication, the stratified split (the
same ``stratified_split`` as for small files, run on the codes) and the overlap check. Each split
is then tokenized by ``Dataset.map`` in ``num_proc`` processes into its own contiguous Arrow file,
under a fingerprint made of the data, the split, the tokenizer and the length limit, so that the
next run on the same data and tokenizer reads it back instead of tokenizing again.

Written here rather than taken from ``datasets`` because its own pieces read whole columns into
Python lists (``unique``/``class_encode_column`` then ``train_test_split(stratify_by_column=)``
need a ClassLabel column, which means rewriting the whole file once more, and cannot deduplicate).
"""

from __future__ import annotations

import hashlib
import logging
import os
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ...data.builtin import is_builtin
from ...data.examples import (
    LABEL_COLUMN_GUESSES,
    TEXT_COLUMN_GUESSES,
    char_budget,
    cut_texts,
    is_missing,
    label_name,
    pick_column,
)
from ...data.labels import LabelSet
from ...data.reading import TEXT_FORMATS, RowPlaces, sniff_file_encoding
from ...data.splitting import stratified_split
from ...data.token_cache import (
    datasets_progress_bars,
    ecomsft_cache,
    tokenizer_fingerprint,
)
from ...distributed import world_size
from ...errors import EcomsftError
from ...files import regular_file
from ...models.truncation import encode_texts
from .frame_splits import predictions_frame

log = logging.getLogger("ecomsft")

# data.memory_mapped "auto": files from this size on are read as Arrow (pandas would need several
# times their size in memory).
AUTO_BYTES = 256 << 20
ARROW_FORMATS = {**{s: "csv" for s in TEXT_FORMATS}, ".jsonl": "json", ".ndjson": "json", ".json": "json",
                 ".parquet": "parquet", ".pq": "parquet"}
SAMPLE_ROWS = 100_000  # texts for the vocabulary check and for the TF-IDF baseline
SCAN_BATCH = 10_000


def wants_memory_mapped(cfg) -> bool:
    """Whether a run reads its data as memory-mapped Arrow (``data.memory_mapped``; auto: big files)."""
    setting = cfg.data.memory_mapped
    if setting != "auto":
        return bool(setting)
    paths = [p for p in (cfg.data.train, cfg.data.valid, cfg.data.test) if p and not is_builtin(p)]
    return any(Path(p).is_file() and Path(p).stat().st_size >= AUTO_BYTES for p in paths)


def default_num_proc() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def cache_dir() -> str:
    return str(ecomsft_cache() / "datasets")


@contextmanager
def _quiet_datasets():
    """datasets logs a failed file read at error level before raising; the raised error is reported
    by ecomsft in one line, so its log line would say the same thing twice."""
    from datasets.utils import logging as ds_logging

    before = ds_logging.get_verbosity()
    ds_logging.set_verbosity(logging.CRITICAL)
    try:
        yield
    finally:
        ds_logging.set_verbosity(before)


@dataclass
class ArrowFile(RowPlaces):
    """One data file as a memory-mapped ``datasets.Dataset`` and the columns that matter in it."""

    dataset: object
    source: str
    first_line: int | None
    text_column: str
    pair_column: str | None
    label_column: str


def open_arrow(path: str, *, encoding: str | None = None, text_column: str | None = None,
               text_pair_column: str | None = None, label_column: str | None = None) -> ArrowFile:
    """Load ``path`` as a memory-mapped Arrow dataset (converted once, cached) and pick its columns."""
    from datasets import Features, Value, load_dataset
    from datasets.exceptions import DatasetGenerationError

    source = str(path)
    file = Path(path)
    if is_builtin(source):
        raise EcomsftError("built-in data sets are small; data.memory_mapped is for files", where=source)
    if file.is_dir():
        raise EcomsftError("is a folder, expected a data file", where=source)
    regular_file(file)
    suffix = file.suffix.lower()
    if suffix not in ARROW_FORMATS:
        raise EcomsftError(f"data.memory_mapped reads {', '.join(sorted(ARROW_FORMATS))} files, not '{suffix}'", where=source)
    kind = ARROW_FORMATS[suffix]
    options: dict = {}
    first_line: int | None = None
    if kind == "csv":
        encoding = encoding or sniff_file_encoding(file)
        with open(file, encoding=encoding, newline="") as handle:
            header = pd.read_csv(handle, sep=TEXT_FORMATS[suffix], nrows=0, dtype=str).columns
        # Every column read as text, as the small-file reader does: a label "1" stays "1", not 1.0.
        options = dict(sep=TEXT_FORMATS[suffix], encoding=encoding, keep_default_na=False, na_values=[],
                       features=Features({str(c): Value("string") for c in header}))
        first_line = 1
    elif kind == "json":
        first_line = 0
    try:
        with _quiet_datasets():
            dataset = load_dataset(kind, data_files=str(file.resolve()), split="train", cache_dir=cache_dir(), **options)
    except DatasetGenerationError as err:
        cause = err.__cause__ or err
        message = str(cause).strip().split("\n")[0]
        hint = "; pass --set data.encoding=NAME" if isinstance(cause, UnicodeDecodeError) else ""
        raise EcomsftError(f"cannot read the file ({type(cause).__name__}: {message}){hint}", where=source) from None
    except (ValueError, UnicodeDecodeError) as err:
        raise EcomsftError(f"cannot read the file ({type(err).__name__}: {err})", where=source) from None
    if len(dataset) == 0:
        raise EcomsftError("the file holds no rows", where=source)
    columns = list(dataset.column_names)
    text = pick_column(columns, source, text_column, TEXT_COLUMN_GUESSES, "text", "--text-column")
    pair = pick_column(columns, source, text_pair_column, (), "text pair", "--text-pair-column") if text_pair_column else None
    label = pick_column(columns, source, label_column, LABEL_COLUMN_GUESSES, "label", "--label-column")
    return ArrowFile(dataset, source, first_line, text, pair, label)


def _text(value) -> str:
    return "" if is_missing(value) else str(value)


@dataclass
class Scan:
    """Per row of one file: text hash, empty flag, label code into ``names`` (-1: missing label)."""

    hashes: np.ndarray
    empty: np.ndarray
    codes: np.ndarray
    names: list[str]


_MISSING, _LIST = "", "\x00"  # label marks of a row without a label, and of a list of labels


def _marks(batch: dict, text_col: str, pair_col: str | None, label_col: str) -> dict:
    """Per row: a 64-bit hash of the stripped text (and pair), whether it is empty, the label's name."""
    keys = [_text(v).strip() for v in batch[text_col]]
    empty = [not k for k in keys]
    if pair_col:
        pairs = [_text(v).strip() for v in batch[pair_col]]
        empty = [e or not p for e, p in zip(empty, pairs)]
        keys = [k + "\x1f" + p for k, p in zip(keys, pairs)]
    hashes = [int.from_bytes(hashlib.blake2b(k.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little", signed=True)
              for k in keys]
    labels = [_MISSING if is_missing(v) else _LIST if isinstance(v, (list, dict)) else label_name(v) for v in batch[label_col]]
    return {"hash": hashes, "empty": empty, "label": labels}


def scan(file: ArrowFile, num_proc: int = 1) -> Scan:
    """One pass over the text and label columns by ``Dataset.map`` in ``num_proc`` processes, cached
    like tokenization; this process then reads only the small columns it wrote (a hash, a flag and a
    label name per row), never the texts, so the file's pages stay out of its memory."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from datasets import Features, Value

    columns = (file.text_column, file.pair_column, file.label_column)
    fingerprint = hashlib.sha256(repr((file.dataset._fingerprint, "marks-1", columns)).encode()).hexdigest()[:32]
    processes = max(1, min(num_proc, len(file.dataset) // 50_000))
    marks = file.dataset.map(_marks, batched=True, batch_size=SCAN_BATCH, fn_kwargs=dict(zip(("text_col", "pair_col", "label_col"), columns)),
                             num_proc=processes if processes > 1 else None, remove_columns=file.dataset.column_names,
                             features=Features({"hash": Value("int64"), "empty": Value("bool"), "label": Value("string")}),
                             new_fingerprint=fingerprint, desc=f"checking {Path(file.source).name}")
    table = marks.data.table if hasattr(marks.data, "table") else marks.data
    labels = table.column("label")
    names = pc.unique(labels).to_pylist()
    codes = pc.index_in(labels, value_set=pa.array(names, type=pa.string())).to_numpy().astype(np.int32)
    for mark, message in ((_LIST, "a list of labels in a single-label task; memory-mapped data is single-label"),
                          (_MISSING, "empty label ({n} row(s) in all); fill or remove them")):
        if mark in names:
            rows = np.flatnonzero(codes == names.index(mark))
            raise EcomsftError(message.format(n=len(rows)), where=file.where(int(rows[0]), file.label_column))
    return Scan(table.column("hash").to_numpy(), table.column("empty").to_numpy(zero_copy_only=False), codes, names)


def duplicates(hashes: np.ndarray, codes: np.ndarray, drop_conflicts: bool) -> tuple[np.ndarray, dict]:
    """(rows to keep: the first of each same-text-same-label group, less conflicting texts when
    ``drop_conflicts``; the report of ``quality.duplicate_report``), from hashes and codes only."""
    n = len(hashes)
    order = np.lexsort((codes, hashes))  # stable: the first row of each group is its earliest
    h, c = hashes[order], codes[order]
    new_text = np.ones(n, dtype=bool)
    new_text[1:] = h[1:] != h[:-1]
    new_pair = new_text.copy()
    new_pair[1:] |= c[1:] != c[:-1]
    rows_per_text = np.diff(np.append(np.flatnonzero(new_text), n))
    pairs_per_text = np.add.reduceat(new_pair, np.flatnonzero(new_text)) if n else np.array([], dtype=int)
    conflicting = pairs_per_text > 1
    report = {"rows": n, "duplicate_texts": int(n - new_text.sum()), "exact_duplicates": int(n - new_pair.sum()),
              "conflicting_texts": int(conflicting.sum())}
    keep_sorted = new_pair.copy()
    if drop_conflicts:
        keep_sorted &= ~np.repeat(conflicting, rows_per_text)
    keep = np.zeros(n, dtype=bool)
    keep[order[keep_sorted]] = True
    return keep, report


def overlap(train_hashes: np.ndarray, other_hashes: np.ndarray) -> int:
    return int(np.isin(other_hashes, train_hashes).sum()) if len(other_hashes) else 0


def tokenized(file: ArrowFile, rows: np.ndarray, name: str, tokenizer, max_length: int, head_share: float,
              label_ids: dict[str, int],
              keep_text: bool, num_proc: int) -> object:
    """Rows ``rows`` of ``file`` tokenized into a contiguous Arrow file of their own (reused when
    the same data, rows, tokenizer and length limit come again)."""
    from datasets import Features, Sequence, Value

    text_col, pair_col, label_col = file.text_column, file.pair_column, file.label_column
    digest = hashlib.sha256()
    for part in (file.dataset._fingerprint, name, tokenizer_fingerprint(tokenizer), max_length, head_share, text_col,
                 pair_col, label_col, sorted(label_ids.items()), keep_text):
        digest.update(repr(part).encode("utf-8"))
    digest.update(np.ascontiguousarray(rows, dtype=np.int64).tobytes())
    fingerprint = digest.hexdigest()[:32]

    def encode(batch: dict) -> dict:
        texts = cut_texts([_text(v) for v in batch[text_col]], char_budget(max_length))
        pairs = cut_texts([_text(v) for v in batch[pair_col]], char_budget(max_length)) if pair_col else None
        ids = encode_texts(tokenizer, texts, pairs, max_length=max_length, head_share=head_share)
        out = {"input_ids": ids["input_ids"], "attention_mask": ids["attention_mask"],
               "length": [len(x) for x in ids["input_ids"]],
               "labels": [label_ids[label_name(v)] for v in batch[label_col]]}
        if pair_col:
            out["token_type_ids"] = ids["token_type_ids"]
        if keep_text:
            out["text"] = texts
            if pair_col:
                out["text_pair"] = pairs
        return out

    features = {"input_ids": Sequence(Value("int32")), "attention_mask": Sequence(Value("int8")),
                "length": Value("int32"), "labels": Value("int64")}
    if pair_col:
        features["token_type_ids"] = Sequence(Value("int8"))
    if keep_text:
        features["text"] = Value("string")
        if pair_col:
            features["text_pair"] = Value("string")
    part = file.dataset.select(rows)
    processes = max(1, min(num_proc, len(rows) // 10_000))  # a process per 10k rows at most: forking costs too
    folder = Path(file.dataset.cache_files[0]["filename"]).parent
    before = {p.name for p in folder.glob(f"cache-{fingerprint}*.arrow")}
    result = part.map(encode, batched=True, batch_size=1000, num_proc=processes if processes > 1 else None,
                      remove_columns=part.column_names, features=Features(features), new_fingerprint=fingerprint,
                      desc=f"tokenizing {name}")
    if before and {Path(f["filename"]).name for f in result.cache_files} <= before:
        log.info("tokenized %s split read from the cache (%s)", name, folder)
    return result


@dataclass
class ArrowSplits:
    """Train/valid/test as row indices into memory-mapped files, with the methods of
    ``frame_splits.FrameSplits``; see the module's docstring."""

    cfg: object
    files: dict[str, ArrowFile]  # split -> the file its rows come from
    rows: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]  # label ids (of ``labels``) of each split's rows
    labels: LabelSet
    info: dict
    encoded: dict = field(default_factory=dict)
    progress: bool = True

    def sizes(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.rows.items()}

    def _sample(self, name: str, n: int, block: int = 100) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(texts, label ids, positions in the split) of about ``n`` rows of a split: random blocks of ``block`` neighbouring rows,
        so that the read touches few pages of the file (random single rows would touch most of them).
        Once tokenized, the test split's texts come from its own small file, which kept them."""
        positions = np.arange(len(self.rows[name]))
        if len(positions) > n:
            block = max(1, min(block, n))
            rng = np.random.default_rng(self.cfg.training.seed)
            starts = np.sort(rng.choice(len(positions) // block, max(1, n // block), replace=False)) * block
            positions = (starts[:, None] + np.arange(block)).ravel()
        if name in self.encoded and "text" in self.encoded[name].column_names:
            texts = self.encoded[name].select(positions)["text"]
        else:
            file = self.files[name]
            texts = [_text(v) for v in file.dataset.select(self.rows[name][positions])[file.text_column]]
        return list(texts), self.codes[name][positions], positions

    def vocab_texts(self) -> list[str]:
        """A sample of the training texts: enough to find the pieces the vocabulary lacks."""
        return self._sample("train", SAMPLE_ROWS)[0]

    def encode(self, tokenizer) -> dict:
        label_ids = self.labels.label2id
        num_proc = self.cfg.data.num_proc or default_num_proc()
        with main_process_first(), datasets_progress_bars(self.progress):
            self.encoded = {name: tokenized(self.files[name], rows, name, tokenizer, self.cfg.model.max_length,
                                           self.cfg.model.head_share, label_ids, name == "test", num_proc)
                            for name, rows in self.rows.items()}
        return self.encoded

    def gold(self, name: str) -> np.ndarray:
        return self.codes[name]

    def baseline_inputs(self) -> tuple[dict[str, tuple[list[str], np.ndarray, np.ndarray | None]], dict]:
        """The TF-IDF baseline's data: random samples of each split (it holds its matrices in memory)."""
        samples = {name: self._sample(name, SAMPLE_ROWS) for name in ("train", "valid", "test") if len(self.rows[name])}
        return samples, {f"{name}_rows": len(sample[0]) for name, sample in samples.items()}

    def write_predictions(self, path: Path, probs: np.ndarray, threshold: float, lexical=None, chunk: int = 50_000) -> None:
        """predictions.csv written a chunk at a time from the tokenized test file (which kept the texts);
        with ``lexical`` (a ``LexicalModel`` whose blend was chosen), the blend's."""

        test = self.encoded["test"]
        names = np.array(self.labels.names, dtype=object)
        columns = ["text", "text_pair"] if "text_pair" in test.column_names else ["text"]
        for start in range(0, len(test), chunk):
            part = test.select_columns(columns)[start:start + chunk]
            frame = pd.DataFrame(part)
            frame["label"] = names[self.codes["test"][start:start + chunk]]
            part_probs = probs[start:start + chunk]
            if lexical is not None:
                part_probs = lexical.blended(part_probs, frame["text"].tolist())
            predictions_frame(frame, part_probs, self.labels, threshold).to_csv(
                path, index=False, mode="w" if start == 0 else "a", header=start == 0)


def _non_empty(file: ArrowFile, found: Scan, empty_text: str) -> np.ndarray:
    """Rows with text; empty ones are dropped with a warning, or an error under ``data.empty_text: fail``."""
    dropped = int(found.empty.sum())
    if dropped:
        first = int(np.argmax(found.empty))
        if empty_text == "fail":
            raise EcomsftError(f"empty or whitespace-only text ({dropped} row(s) in all; set data.empty_text: drop to skip them)",
                               where=file.where(first, file.text_column))
        log.warning("%s: dropped %d row(s) with empty text (first at %s)", file.source, dropped, file.where(first))
    return np.flatnonzero(~found.empty)


def read_arrow_splits(cfg, progress: bool = True) -> ArrowSplits:
    """The splits of a memory-mapped run, checked as the small-file path checks them."""
    with datasets_progress_bars(progress):
        splits = _read_arrow_splits(cfg)
    splits.progress = progress
    return splits


def _read_arrow_splits(cfg) -> ArrowSplits:

    data = cfg.data
    if cfg.task.multi_label:
        raise EcomsftError("data.memory_mapped is for single-label classification; set data.memory_mapped: false")
    if cfg.augment.copies:
        raise EcomsftError("augmentation is for small training sets; set augment.copies: 0 or data.memory_mapped: false")
    read = dict(encoding=data.encoding, text_column=data.text_column, text_pair_column=data.text_pair_column,
                label_column=data.label_column)
    train_file = open_arrow(data.train, **read)
    num_proc = data.num_proc or default_num_proc()
    train_scan = scan(train_file, num_proc)
    info: dict = {"train_source": train_file.source, "memory_mapped": True, "dropped_empty": int(train_scan.empty.sum())}
    kept = _non_empty(train_file, train_scan, data.empty_text)
    dup_keep, info["duplicates"] = duplicates(train_scan.hashes[kept], train_scan.codes[kept], data.drop_conflicts)
    if data.deduplicate:
        info["dropped_duplicates"] = int((~dup_keep).sum())
        kept = kept[dup_keep]
    # The rows as a frame of codes, indexed by row number: the small-file splitter applies as is.
    frame = pd.DataFrame({"label": train_scan.codes[kept]}, index=kept)
    if data.max_samples and len(frame) > data.max_samples:
        frame, _, _ = stratified_split(frame, 0.0, 1 - data.max_samples / len(frame), cfg.training.seed)
    parts: dict[str, pd.DataFrame] = {}
    given = {name: getattr(data, name) for name in ("valid", "test") if getattr(data, name)}
    if not given:
        parts["train"], parts["valid"], parts["test"] = stratified_split(frame, data.valid_ratio, data.test_ratio, cfg.training.seed)
    else:
        parts["train"] = frame
        if "valid" not in given:
            parts["train"], parts["valid"], _ = stratified_split(frame, data.valid_ratio, 0.0, cfg.training.seed)
        if "test" not in given:
            parts["train"], _, parts["test"] = stratified_split(parts["train"], 0.0, data.test_ratio, cfg.training.seed)

    train_codes = parts["train"]["label"].to_numpy()
    labels = LabelSet(train_scan.names[c] for c in np.unique(train_codes))
    if len(labels) < 2:
        raise EcomsftError(f"the training data has a single class ({', '.join(labels.names)}); a classifier needs two or more",
                           where=train_file.source)
    to_id = np.array([labels.index.get(name, -1) for name in train_scan.names], dtype=np.int64)
    files = {"train": train_file}
    rows = {"train": np.sort(parts["train"].index.to_numpy())}
    codes = {"train": to_id[train_scan.codes[rows["train"]]]}
    hashes = {"train": train_scan.hashes[rows["train"]]}
    for name in ("valid", "test"):
        if name in given:
            other = open_arrow(given[name], **read)
            other_scan = scan(other, num_proc)
            rows[name] = _non_empty(other, other_scan, data.empty_text)
            mapped = np.array([labels.index.get(n, -1) for n in other_scan.names], dtype=np.int64)[other_scan.codes[rows[name]]]
            unknown = np.flatnonzero(mapped < 0)
            if len(unknown):
                raw = other_scan.names[other_scan.codes[rows[name][unknown[0]]]]
                raise EcomsftError(f"label {raw!r} not among the training labels ({', '.join(labels.names)})",
                                   where=other.where(int(rows[name][unknown[0]]), other.label_column))
            files[name], codes[name], hashes[name] = other, mapped, other_scan.hashes[rows[name]]
        else:
            files[name] = train_file
            rows[name] = np.sort(parts[name].index.to_numpy())
            codes[name] = to_id[train_scan.codes[rows[name]]]
            hashes[name] = train_scan.hashes[rows[name]]
    info["sizes"] = {name: len(r) for name, r in rows.items()}
    info["overlap_with_train"] = {name: overlap(hashes["train"], hashes[name]) for name in ("valid", "test")}
    return ArrowSplits(cfg, files, rows, codes, labels, info)


def main_process_first():
    """With several processes, rank 0 converts and tokenizes first and the others then read its cache."""

    if world_size() == 1:
        return nullcontext()
    from accelerate import PartialState

    return PartialState().main_process_first()
