"""Tokenized splits cached on disk, so that the next run on the same texts and tokenizer skips
tokenization and reads memory-mapped Arrow files instead.

Written here because ``datasets`` caches ``.map`` results only for datasets loaded from files, and
keys them on the dataset's fingerprint and the function's pickle; our splits are built in memory
from pandas, so the key is made explicitly from what the token ids depend on: the tokenizer (its
whole serialised state, vocabulary extension included), the truncation length and the texts.

The cache lives in ``$ECOMSFT_CACHE/tokenized`` (default ``~/.cache/ecomsft/tokenized``); it is
safe to delete at any time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("ecomsft")


def ecomsft_cache() -> Path:
    """``$ECOMSFT_CACHE``, default ``~/.cache/ecomsft``: every cache of ecomsft lives below it."""
    return Path(os.environ.get("ECOMSFT_CACHE") or Path.home() / ".cache" / "ecomsft")


def cache_root() -> Path:
    return ecomsft_cache() / "tokenized"


def tokenizer_fingerprint(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        # The serialised Rust tokenizer, less the truncation and padding it was last called with.
        state = json.loads(backend.to_str())
        state.pop("truncation", None)
        state.pop("padding", None)
        state = json.dumps(state, sort_keys=True)
    else:
        state = json.dumps(sorted(tokenizer.get_vocab().items()))
    extra = json.dumps([type(tokenizer).__name__, tokenizer.padding_side, tokenizer.truncation_side])
    return hashlib.sha256((state + extra).encode("utf-8")).hexdigest()


def cache_key(tokenizer, max_length: int, texts: list[str], pairs: list[str] | None = None,
              head_share: float = 1.0) -> str:
    digest = hashlib.sha256()
    digest.update(f"{tokenizer_fingerprint(tokenizer)}|{max_length}|{len(texts)}|{pairs is not None}".encode())
    if head_share < 1.0:
        digest.update(f"|head {head_share!r}".encode())
    digest.update("\x00".join(texts).encode("utf-8", "surrogatepass"))
    if pairs is not None:
        digest.update(b"\x01" + "\x00".join(map(str, pairs)).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def cached(key: str, build: Callable[[], "datasets.Dataset"]):  # noqa: F821
    """The dataset saved under ``key``, or ``build()`` saved there (atomically) and reloaded."""
    from datasets import load_from_disk

    folder = cache_root() / key
    if (folder / "dataset_info.json").is_file():
        try:
            dataset = load_from_disk(str(folder))
            log.info("tokenized data read from the cache (%s)", folder)
            return dataset
        except Exception as err:  # a damaged cache entry is rebuilt, never fatal
            log.warning("tokenization cache entry %s is unreadable (%s); rebuilding it", folder, err)
            shutil.rmtree(folder, ignore_errors=True)
    dataset = build()
    tmp = folder.with_name(f".{key}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        with datasets_progress_bars(False):  # a save of a few seconds is not long work
            dataset.save_to_disk(str(tmp))
        tmp.rename(folder)
    except OSError as err:  # disk full, read-only home, or another run won the race: work uncached
        shutil.rmtree(tmp, ignore_errors=True)
        if not (folder / "dataset_info.json").is_file():
            log.warning("tokenization cache not written (%s); continuing without it", err)
            return dataset
    return load_from_disk(str(folder))


@contextmanager
def datasets_progress_bars(enabled: bool):
    """datasets' own progress bars (conversion, checking, tokenizing, saving), on or off for a block."""
    from datasets.utils import logging as ds_logging

    before = ds_logging.is_progress_bar_enabled()
    (ds_logging.enable_progress_bar if enabled else ds_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (ds_logging.enable_progress_bar if before else ds_logging.disable_progress_bar)()
