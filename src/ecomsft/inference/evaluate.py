"""Scoring a finished run on another labelled file, labels matched by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..config import DataConfig
from ..data.examples import load_examples
from ..data.labels import LabelSet
from ..data.pairs import load_pairs
from ..errors import EcomsftError
from ..evaluation.classification import full_report
from ..evaluation.ranking import pointwise_report, ranking_report
from ..models.heads import Grading
from .predictor import Predictor, model_folder
from ..run_folder import require_task
from .ranker import Ranker


def evaluate(
    run: str | Path,
    data: str,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    label_delimiter: str | None = None,
    encoding: str | None = None,
    batch_size: int = 64,
) -> dict:
    from transformers import AutoConfig

    task = require_task(run, "classification", "relevance", "retrieval", "extraction", "generation")
    if task in ("relevance", "retrieval"):
        return evaluate_ranking(run, data, text_column=text_column, text_pair_column=text_pair_column,
                                label_column=label_column, encoding=encoding, batch_size=batch_size)
    if task == "extraction":
        return evaluate_extraction(run, data, encoding=encoding, batch_size=batch_size)
    if task == "generation":
        return evaluate_generation(run, data, encoding=encoding, batch_size=batch_size)
    # Data and labels are checked against the run's label set before the model is loaded.
    labels = LabelSet.from_model_config(AutoConfig.from_pretrained(model_folder(run)))
    examples = load_examples(
        data,
        text_column=text_column,
        text_pair_column=text_pair_column,
        label_column=label_column,
        multi_label=labels.multi_label,
        label_delimiter=label_delimiter,
        encoding=encoding,
    )
    frame = examples.frame
    gold = np.asarray(labels.encode(frame["label"].tolist(), examples.source))
    predictor = Predictor(run, batch_size=batch_size)
    pairs = frame["text_pair"].tolist() if "text_pair" in frame else None
    probs = predictor.predict_proba(frame["text"].tolist(), pairs)
    report = full_report(gold, probs, predictor.labels.names, predictor.labels.multi_label, predictor.threshold)
    report["rows"] = len(frame)
    report["dropped_empty"] = examples.dropped_empty
    return report


def evaluate_ranking(run: str | Path, data: str, *, text_column: str | None = None, text_pair_column: str | None = None,
                     label_column: str | None = None, encoding: str | None = None, batch_size: int = 64) -> dict:
    """A relevance or retrieval run's ranking metrics on another graded (query, product) file, judged
    with the grading it was trained with."""
    ranker = Ranker(run, batch_size=batch_size)
    if ranker.kind == "cross-encoder":
        grading = ranker.head.grading
    else:
        saved = json.loads((Path(ranker.encoder_folder) / "ecomsft.json").read_text(encoding="utf-8"))["grading"]
        if saved is None:
            raise EcomsftError("this retrieval run was trained without grades; there is nothing to judge ranks by",
                               where=str(run))
        grading = Grading.from_dict(saved)
    pairs = load_pairs(data, DataConfig(train=data, text_column=text_column, text_pair_column=text_pair_column,
                                        label_column=label_column, encoding=encoding), grading.gains)
    frame = pairs.frame
    scores = ranker.score(frame["text"].tolist(), frame["text_pair"].tolist())
    values = grading.values(frame["label"])
    ks = (ranker.metrics or {}).get("ks") or [5, 10]
    report, _ = ranking_report(frame["text"], grading.gain(values), grading.relevant(values), scores, ks)
    if ranker.kind == "cross-encoder" and not grading.named and ranker.head.kind == "regression":
        report.update(pointwise_report(values, scores))
    report["rows"] = len(frame)
    report["dropped_empty"] = pairs.dropped_empty
    return report


def evaluate_extraction(run: str | Path, data: str, *, encoding: str | None = None, batch_size: int = 64) -> dict:
    """An extraction run's entity metrics on another tagged file (CoNLL or character spans)."""
    from ..data.tagging import as_text, read_tagged
    from ..evaluation.entities import entity_report, error_analysis
    from .extractor import Extractor

    extractor = Extractor(run, batch_size=batch_size)
    titles = [as_text(item.tokens, item.spans) for item in read_tagged(data, encoding=encoding).items]
    unknown = sorted({s.label for _, spans, _ in titles for s in spans} - set(extractor.labels))
    if unknown:
        raise EcomsftError(f"entity types the run was not trained on: {', '.join(unknown)} (it knows "
                           f"{', '.join(extractor.labels)})", where=data)
    found = extractor.extract([text for text, _, _ in titles])
    gold = [[s.as_tuple() for s in spans] for _, spans, _ in titles]
    guess = [[(e["start"], e["end"], e["label"]) for e in entities] for entities in found]
    report = entity_report(gold, guess, extractor.labels)
    report.update({"errors": error_analysis(gold, guess), "rows": len(titles)})
    return report


def evaluate_generation(run: str | Path, data: str, *, encoding: str | None = None, batch_size: int = 8) -> dict:
    """A generation run's metrics on another file of prompts and answers (prompt/completion,
    messages or Alpaca columns, as in training), judged as the run judged its test split."""
    from types import SimpleNamespace

    from ..data.conversations import COLUMNS, answer_of, prompt_of, read_conversations
    from ..evaluation.generation import generation_report
    from ..run_folder import run_config
    from .generator import Generator

    trained = (run_config(run) or {}).get("task", {})  # the columns the run was trained on; the system turn: Generator's
    options = SimpleNamespace(format="auto", system=None, **{key: trained.get(key, name) for key, name in COLUMNS.items()})
    read = read_conversations(data, options, encoding)
    generator = Generator(run, batch_size=min(batch_size, 16))
    answers = generator.generate([prompt_of(turns) for turns in read.items])
    references = [answer_of(turns) for turns in read.items]
    report, _ = generation_report(references, [a["text"] for a in answers], generator.completion_kind, generator.labels)
    report.update({"stopped_by_eos": float(np.mean([a["stopped"] for a in answers])),
                   "prompts_cut": int(sum(a["prompt_cut"] for a in answers)), "rows": len(answers)})
    return report
