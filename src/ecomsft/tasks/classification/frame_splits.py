"""Classification data that fits in memory: pandas frames, split, checked, encoded.

The other reader, ``arrow_splits.ArrowSplits`` (data larger than memory), offers the same methods,
so that a classification run does not care which one it holds.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ...data.augment import augment_frame
from ...data.examples import Examples, char_budget, load_examples
from ...data.labels import LabelSet
from ...data.quality import drop_duplicates, duplicate_report, overlap
from ...data.splitting import stratified_split
from ...errors import EcomsftError
from . import model

log = logging.getLogger("ecomsft")


def read_splits(cfg) -> tuple[dict[str, pd.DataFrame], dict]:
    data = cfg.data
    read = dict(
        text_column=data.text_column,
        text_pair_column=data.text_pair_column,
        label_column=data.label_column,
        multi_label=cfg.task.multi_label,
        label_delimiter=data.label_delimiter,
        empty_text=data.empty_text,
        encoding=data.encoding,
        max_chars=char_budget(cfg.model.max_length),
    )
    train: Examples = load_examples(data.train, **read)
    info: dict = {"train_source": train.source, "encoding": train.encoding, "dropped_empty": train.dropped_empty,
                  "cut_texts": train.cut_texts}
    for note in train.notes:
        log.warning(note)
    info["duplicates"] = duplicate_report(train.frame)
    frame = train.frame
    if data.deduplicate:
        frame = drop_duplicates(frame, data.drop_conflicts)
        info["dropped_duplicates"] = len(train.frame) - len(frame)
    if data.max_samples and len(frame) > data.max_samples:
        frame, _, _ = stratified_split(frame, 0.0, 1 - data.max_samples / len(frame), cfg.training.seed)
    given = {name: getattr(data, name) for name in ("valid", "test") if getattr(data, name)}
    splits = {}
    if given:
        splits["train"] = frame
        for name, source in given.items():
            examples = load_examples(source, **read)
            for note in examples.notes:
                log.warning(note)
            splits[name] = examples.frame
        if "valid" not in splits:
            splits["train"], splits["valid"], _ = stratified_split(frame, data.valid_ratio, 0.0, cfg.training.seed)
        if "test" not in splits:
            splits["train"], _, splits["test"] = stratified_split(splits["train"], 0.0, data.test_ratio, cfg.training.seed)
    else:
        splits["train"], splits["valid"], splits["test"] = stratified_split(
            frame, data.valid_ratio, data.test_ratio, cfg.training.seed
        )
    if cfg.augment.copies:
        before = len(splits["train"])
        splits["train"] = augment_frame(splits["train"], cfg.augment.rates(), cfg.augment.copies, cfg.training.seed)
        info["augmented_rows"] = len(splits["train"]) - before
    info["sizes"] = {name: len(part) for name, part in splits.items()}
    info["overlap_with_train"] = {name: overlap(splits["train"], splits[name]) for name in ("valid", "test")}
    return splits, info


def predictions_frame(frame: pd.DataFrame, probs: np.ndarray, labels: LabelSet, threshold: float) -> pd.DataFrame:
    """predictions.csv's rows: text (and pair), gold, predicted, one probability per class."""
    out = pd.DataFrame({"text": frame["text"].to_numpy()})
    if "text_pair" in frame:
        out["text_pair"] = frame["text_pair"].to_numpy()
    if labels.multi_label:
        out["gold"] = ["|".join(v) for v in frame["label"]]
        out["predicted"] = ["|".join(n for n, p in zip(labels.names, row) if p >= threshold) for row in probs]
    else:
        out["gold"] = frame["label"].to_numpy()
        out["predicted"] = [labels.names[i] for i in probs.argmax(axis=1)]
    for i, name in enumerate(labels.names):
        out[f"prob_{name}"] = np.round(probs[:, i], 6)
    return out


class FrameSplits:
    """train/valid/test frames (columns text, optional text_pair, label) and their label set."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.frames, self.info = read_splits(cfg)
        self.labels = LabelSet.from_labels(self.frames["train"]["label"], cfg.task.multi_label)
        if not len(self.labels):
            raise EcomsftError("no training rows are left after dropping empty texts and conflicting duplicates (one "
                               "text with different labels); see: ecomsft data inspect", where=cfg.data.train)
        if len(self.labels) < 2:
            raise EcomsftError(
                f"the training data has a single class ({', '.join(self.labels.names) or 'none'}); a classifier needs two or more",
                where=cfg.data.train,
            )
        for name in ("valid", "test"):
            if not getattr(cfg.data, name, None) and not cfg.task.multi_label:  # a share of the training file
                unseen = set(self.frames[name]["label"]) - set(self.labels.names)
                if unseen:
                    raise EcomsftError(
                        f"{len(unseen)} label(s) of the {name} share never occur in training ('{sorted(unseen)[0]}', ...): "
                        "labels with one or two rows cannot be split into training, validation and test; give each "
                        "label at least 3 rows (merge or drop rare ones), or pass --valid and --test files",
                        where=cfg.data.train)
            self.labels.encode(self.frames[name]["label"].tolist(), self._source(name))

    def _source(self, name: str) -> str:
        return getattr(self.cfg.data, name, None) or self.cfg.data.train

    def sizes(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self.frames.items()}

    def vocab_texts(self) -> list[str]:
        return self.frames["train"]["text"].tolist()

    def encode(self, tokenizer) -> dict:
        return {name: model.encode(tokenizer, frame, self.labels, self.cfg.model.max_length, self._source(name),
                                            cache=self.cfg.data.cache_tokenized, head_share=self.cfg.model.head_share)
                for name, frame in self.frames.items()}

    def gold(self, name: str) -> np.ndarray:
        return model.gold_array(self.frames[name]["label"], self.labels)

    def baseline_inputs(self) -> tuple[dict[str, tuple[list[str], np.ndarray, np.ndarray | None]], dict | None]:
        """What the tfidf-lr baseline reads: per split (train, valid, test) its texts, label ids and
        the row positions they are (None: every row, in order); and the sample sizes when sampled
        (never here)."""
        return {name: (frame["text"].tolist(), self.gold(name), None) for name, frame in self.frames.items()}, None

    def write_predictions(self, path: Path, probs: np.ndarray, threshold: float, lexical=None) -> None:
        """predictions.csv; with ``lexical`` (a ``LexicalModel`` whose blend was chosen), the blend's."""
        frame = self.frames["test"]
        if lexical is not None:
            probs = lexical.blended(probs, frame["text"].tolist())
        predictions_frame(frame, probs, self.labels, threshold).to_csv(path, index=False)
