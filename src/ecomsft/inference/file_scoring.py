"""Scoring a file of any size, for every reader (``score_file``): read in chunks, score, append, so
memory stays bounded. (The server's micro-batching of concurrent requests is ``microbatch.py``.)

The output keeps the input columns and adds the reader's own (a classifier's ``predicted`` and
``prob_<label>`` per class, ranks, entities, generations). It is written to ``.<name>.partial`` beside the output and renamed at the end; a small state file records
the finished chunks, so ``resume=True`` after an interruption skips them instead of rescoring.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
import pandas as pd

from ..data.examples import is_missing, table_column
from ..data.reading import TEXT_FORMATS, Table, read_table, sniff_file_encoding
from ..errors import EcomsftError
from ..files import open_work_file, refuse_special, regular_file, write_text_atomic

log = logging.getLogger("ecomsft")

APPENDABLE = {".csv", ".tsv", ".jsonl"}
WRITERS = APPENDABLE | {".parquet"}


def count_rows(path: Path) -> int | None:
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if suffix in TEXT_FORMATS or suffix in {".jsonl", ".ndjson"}:
        lines = 0
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                lines += block.count(b"\n")
        return max(0, lines - (1 if suffix in TEXT_FORMATS else 0))
    return None


def iter_chunks(path: Path, chunk_rows: int, suffix: str | None = None) -> Iterator[Table]:
    """Tables of at most ``chunk_rows`` rows, each knowing the file line of its first row
    (``suffix``: the format, when the name does not say it)."""
    source, suffix = str(path), (suffix or path.suffix).lower()
    regular_file(path)
    done = 0
    if suffix in TEXT_FORMATS:
        encoding = sniff_file_encoding(path)
        try:
            # The encoding is sniffed from the first megabyte; a byte further on that does not fit it
            # is replaced (U+FFFD) and counted, not a crash hours into scoring.
            reader = pd.read_csv(path, sep=TEXT_FORMATS[suffix], dtype=str, keep_default_na=False,
                                 na_values=[], encoding=encoding, encoding_errors="replace", chunksize=chunk_rows)
            for frame in reader:
                _count_replaced(frame, source, 1 + done, encoding)
                yield Table(frame.reset_index(drop=True), source, encoding, 1 + done)
                done += len(frame)
        except pd.errors.EmptyDataError:
            raise EcomsftError("the file is empty", where=source) from None
        except pd.errors.ParserError as err:
            raise EcomsftError(f"malformed row ({str(err).split('. ', 1)[-1].strip()})", where=source) from None
    elif suffix in {".jsonl", ".ndjson"}:
        encoding = sniff_file_encoding(path)
        records, first = [], 0
        with open(path, encoding=encoding, errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise EcomsftError(f"not valid JSON ({err.msg})", where=f"{source}:{number}") from None
                if len(records) == chunk_rows:
                    yield _counted(Table(pd.DataFrame.from_records(records), source, encoding, first))
                    records, first = [], number
        if records:
            yield _counted(Table(pd.DataFrame.from_records(records), source, encoding, first))
    elif suffix in {".parquet", ".pq"}:
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            yield Table(batch.to_pandas(), source, None, None)
    else:
        yield read_table(path)


def _count_replaced(frame: pd.DataFrame, source: str, first_line: int, encoding: str | None) -> None:
    """Warn, with the first line, when a chunk holds characters replaced for undecodable bytes."""
    hit = frame.apply(lambda column: column.astype(str).str.contains("\ufffd", regex=False)).any(axis=1)
    if hit.any():
        line = first_line + int(hit.to_numpy().nonzero()[0][0]) + (1 if first_line else 0)
        log.warning("%s: %d row(s) from line %d held bytes that are not valid %s; they were replaced with U+FFFD",
                    source, int(hit.sum()), line, encoding)


def _counted(table: Table) -> Table:
    _count_replaced(table.frame, table.source, table.first_line or 0, table.encoding)
    return table


def encode_rows(frame: pd.DataFrame, suffix: str, header: bool) -> bytes:
    if suffix == ".jsonl":
        text = frame.to_json(orient="records", lines=True, force_ascii=False)
        text = text if text.endswith("\n") else text + "\n"
    else:
        text = frame.to_csv(index=False, header=header, sep="\t" if suffix == ".tsv" else ",")
    return text.encode("utf-8")


def column_texts(table: Table, found: dict[str, str], wanted: str | None, guesses: tuple[str, ...], role: str,
                 flag: str) -> list[str]:
    """A chunk's texts of the ``role`` column (looked up on the first chunk and kept in ``found``),
    a missing cell as ''."""
    if role not in found:
        found[role] = table_column(table, wanted, guesses, role, flag)
    return ["" if is_missing(v) else str(v) for v in table.frame[found[role]]]


def score_file(score, input: str | Path, output: str | Path, *, chunk_rows: int = 10_000, resume: bool = False,
               progress: bool = False, finish=None) -> int:
    """``score(table) -> frame`` over ``input`` a chunk at a time into ``output``: written to a
    ``.partial`` file beside it, resumable after an interruption (csv, tsv, jsonl outputs), renamed
    when whole. ``finish(partial, suffix)``, when given, rewrites the whole partial file last (a
    pass that needs every row, such as ranks within a query). Returns the rows written."""
    input, output = Path(input), Path(output)
    suffix = output.suffix.lower()
    if suffix not in WRITERS:
        raise EcomsftError(f"unsupported output type '{suffix}' (supported: {', '.join(sorted(WRITERS))})", where=str(output))
    if not output.parent.is_dir():
        raise EcomsftError("output folder does not exist", where=str(output.parent))
    regular_file(input)
    partial = output.with_name(f".{output.name}.partial")
    state_file = output.with_name(f".{output.name}.state.json")
    for work in (partial, state_file):
        refuse_special(work, "work file")
    stat = input.stat()
    identity = {"input": str(input.resolve()), "size": stat.st_size, "mtime": stat.st_mtime, "chunk_rows": chunk_rows}
    state = {"chunks": 0, "rows": 0, "bytes": 0, "columns": None}
    if resume:
        if suffix not in APPENDABLE:
            raise EcomsftError(f"--resume needs a csv, tsv or jsonl output, not {suffix}", where=str(output))
        if state_file.is_file() and partial.is_file():
            try:
                saved = json.loads(state_file.read_text(encoding="utf-8"))
                done = {key: int(saved["done"][key]) for key in ("chunks", "rows", "bytes")}
                done["columns"] = saved["done"].get("columns")
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                raise EcomsftError("the resume state of the interrupted run is unreadable; run without --resume "
                                   "to score from the start", where=str(state_file)) from None
            if saved.get("identity") != identity:
                raise EcomsftError("the interrupted run scored another input or chunk size; run without --resume", where=str(output))
            state = done
    total = count_rows(input)
    bar = _progress_bar(total, progress)
    try:
        if suffix in APPENDABLE:
            written = _write_appending(score, input, partial, state_file, identity, state, suffix, chunk_rows, bar)
        else:
            written = _write_parquet(score, input, partial, chunk_rows, bar)
    finally:
        if bar is not None:
            bar.stop()
    if finish is not None:
        finish(partial, suffix)
    os.replace(partial, output)
    state_file.unlink(missing_ok=True)
    return written


def aligned(frame: pd.DataFrame, columns: list[str] | None, table: Table) -> pd.DataFrame:
    """A chunk's frame in the columns the first chunk fixed (a missing key is an empty cell), so
    that the columns of a csv, tsv or parquet output never shift between chunks; a key first seen
    after the first chunk is an error that names where."""
    if columns is None:
        return frame
    extra = [column for column in frame.columns if column not in columns]
    if extra:
        where = f"{table.source}:{table.first_line}" if table.first_line else table.source
        raise EcomsftError(f"key '{extra[0]}' first appears in this chunk, after the first {len(columns)} columns were "
                           "written; give every record the same keys, or write a .jsonl output", where=where)
    return frame.reindex(columns=columns)


def _progress_bar(total, enabled):
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]} rows/s"), TimeRemainingColumn(), transient=False)
    bar.task_id = bar.add_task("scoring", total=total, rate="—")
    bar.start()
    return bar


def _advance(bar, rows: int, started: float, done: int) -> None:
    if bar is not None:
        import time

        rate = done / max(time.perf_counter() - started, 1e-9)
        bar.update(bar.task_id, advance=rows, rate=f"{rate:,.0f}")


def _write_appending(score, input, partial, state_file, identity, state, suffix, chunk_rows, bar) -> int:
    import time

    started, scored = time.perf_counter(), 0
    with open_work_file(partial, fresh=not state["chunks"]) as handle:
        handle.seek(state["bytes"])
        handle.truncate()
        for index, table in enumerate(iter_chunks(input, chunk_rows)):
            if index < state["chunks"]:
                _advance(bar, len(table.frame), started, 0)
                continue
            frame = score(table)
            if suffix != ".jsonl":  # JSON lines carry their own keys
                frame = aligned(frame, state["columns"], table)
            handle.write(encode_rows(frame, suffix, header=index == 0))
            handle.flush()
            os.fsync(handle.fileno())
            state = {"chunks": index + 1, "rows": state["rows"] + len(frame), "bytes": handle.tell(),
                     "columns": state["columns"] or [str(c) for c in frame.columns]}
            write_text_atomic(state_file, json.dumps({"identity": identity, "done": state}))
            scored += len(table.frame)  # the bar counts input rows (an aspects run writes a row per opinion)
            _advance(bar, len(table.frame), started, scored)
    return state["rows"]


def _write_parquet(score, input, partial, chunk_rows, bar) -> int:
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq

    writer, rows, read, started, columns = None, 0, 0, time.perf_counter(), None
    try:
        for table in iter_chunks(input, chunk_rows):
            frame = aligned(score(table), columns, table)
            columns = [str(c) for c in frame.columns]
            arrow = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                sink = open_work_file(partial, fresh=True)
                writer = pq.ParquetWriter(sink, arrow.schema)
            writer.write_table(arrow.cast(writer.schema))
            rows += arrow.num_rows
            read += len(table.frame)
            _advance(bar, len(table.frame), started, read)
    finally:
        if writer is not None:
            writer.close()
            sink.close()
    return rows
