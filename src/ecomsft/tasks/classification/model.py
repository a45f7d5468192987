"""The classifier's model pieces: build it, encode a table into a dataset, and the Trainer's metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...data.labels import LabelSet
from ...evaluation.classification import scalar_metrics
from ...models.heads import probabilities
from ...models.truncation import encode_texts


def build_model(model_path: str, labels: LabelSet):
    from transformers import AutoModelForSequenceClassification

    model, info = AutoModelForSequenceClassification.from_pretrained(
        model_path,
        output_loading_info=True,
        num_labels=len(labels),
        id2label=labels.id2label,
        label2id=labels.label2id,
        problem_type="multi_label_classification" if labels.multi_label else "single_label_classification",
        ignore_mismatched_sizes=True,
        trust_remote_code=False,
    )
    # What the checkpoint lacked starts random (the classifier; BERT's pooler for a sentence encoder such
    # as e5, which never trained one): training.head_lr applies to all of it.
    model.ecomsft_new_parameters = frozenset(info["missing_keys"]) | {key for key, *_ in info["mismatched_keys"]}
    return model


def tokenize(tokenizer, frame: pd.DataFrame, max_length: int, head_share: float = 1.0,
             batch_size: int = 1000) -> dict[str, list]:
    texts = frame["text"].tolist()
    pairs = frame["text_pair"].tolist() if "text_pair" in frame else None
    encoded: dict[str, list] = {key: [] for key in tokenizer(["x"]).keys()}  # the keys even for no rows
    for start in range(0, len(texts), batch_size):
        chunk = encode_texts(tokenizer, texts[start:start + batch_size],
                             pairs[start:start + batch_size] if pairs is not None else None,
                             max_length=max_length, head_share=head_share)
        for key, value in chunk.items():
            encoded.setdefault(key, []).extend(value)
    return encoded


def encode(tokenizer, frame: pd.DataFrame, labels: LabelSet | None, max_length: int, source: str = "data",
           cache: bool = False, head_share: float = 1.0):
    """A ``datasets.Dataset`` of token ids (unpadded: the collator pads each batch), lengths, label ids.

    With ``cache``, the token ids come from (or go to) the on-disk cache of ``data/token_cache.py``.
    """
    from datasets import Dataset

    from ...data import token_cache

    def build() -> Dataset:
        encoded = tokenize(tokenizer, frame, max_length, head_share)
        encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
        return Dataset.from_dict(encoded)

    if cache and len(frame):
        pairs = frame["text_pair"].tolist() if "text_pair" in frame else None
        dataset = token_cache.cached(token_cache.cache_key(tokenizer, max_length, frame["text"].tolist(), pairs, head_share), build)
    else:
        dataset = build()
    if labels is not None and "label" in frame:
        dataset = dataset.add_column("labels", labels.encode(frame["label"].tolist(), source))
    return dataset


def gold_array(frame_labels, labels: LabelSet) -> np.ndarray:
    return np.asarray(labels.encode(list(frame_labels)))


def metrics_function(labels: LabelSet, threshold: float = 0.5):
    """The Trainer's ``compute_metrics``: logits and label ids in, flat named metrics out."""

    def compute(eval_prediction) -> dict[str, float]:
        logits = eval_prediction.predictions
        if isinstance(logits, tuple):
            logits = logits[0]
        probs = probabilities(np.asarray(logits, dtype=np.float64), labels.multi_label)
        return scalar_metrics(np.asarray(eval_prediction.label_ids), probs, labels.multi_label, threshold)

    return compute
