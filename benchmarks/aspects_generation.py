"""The generation row of the aspects task: Gemma 3 270M (LoRA SFT) writes each review's opinion
quadruples as JSON, judged with the aspects task's own metrics on the aspects task's own split.

The split is the one ``ecomsft train --task aspects`` makes of ``ecommerce_absa_zh`` (seed 42,
2,048 / 258 / 258 reviews), so the row stands beside the encoder's and the CRF baseline's in
docs/tasks/aspects.md. Each review becomes a prompt and a completion such as
``[["香味","淡淡的","气味","正面"],["_","好闻","气味","正面"]]`` (aspect, opinion, category,
polarity; ``_`` where implicit; ``[]`` for a review without an opinion). A generated term is put
back on the review at its first occurrence (the opinion at the occurrence nearest its aspect); a
term the review does not contain keeps no offsets and so never matches; an answer that is not
JSON counts as no opinion.

    .venv/bin/python benchmarks/aspects_generation.py [--epochs 1] [--lora-layers 9] [--valid 40]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from ecomsft.config import build_config
from ecomsft.data.aspects import IMPLICIT, Quad
from ecomsft.evaluation.aspects import aspect_report
from ecomsft.evaluation.generation import parse_json
from ecomsft.runner import run
from ecomsft.tasks import get_task

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecommerce_absa_zh"
PROMPT = "找出这条评论的观点四元组（属性词，观点词，类别，情感），以 JSON 回答，隐含的词写 _。\n评论：{text}"
NOWHERE = (-1, -1)  # a generated term the review does not contain: never matches a gold span


def completion(text: str, quads: list[Quad]) -> str:
    term = lambda span: text[span[0]:span[1]] if span else IMPLICIT  # noqa: E731
    return json.dumps([[term(q.aspect), term(q.opinion), q.category, q.polarity] for q in quads],
                      ensure_ascii=False, separators=(",", ":"))


def placed(text: str, generated: str) -> tuple[list[Quad], bool]:
    """The quadruples of one generated answer with character offsets; False when it is not JSON."""
    value = parse_json(generated)
    if not isinstance(value, list):
        return [], False
    quads = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 4 and all(isinstance(v, str) for v in item)):
            continue
        aspect_term, opinion_term, category, polarity = item
        aspect = _first(text, aspect_term, None)
        opinion = _first(text, opinion_term, aspect)
        quads.append(Quad(aspect, opinion, category, polarity))
    return quads, True


def _first(text: str, term: str, near: tuple[int, int] | None) -> tuple[int, int] | None:
    if term in ("", IMPLICIT):
        return None
    starts, at = [], text.find(term)
    while at >= 0:
        starts.append(at)
        at = text.find(term, at + 1)
    if not starts:
        return NOWHERE
    start = min(starts, key=lambda s: abs(s - near[0])) if near and near != NOWHERE else starts[0]
    return start, start + len(term)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--lora-layers", type=int, default=9, help="LoRA in the upper N layers (Gemma 3 270M has 18)")
    parser.add_argument("--valid", type=int, default=40, help="validation reviews the run generates for (its loss uses them too)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--data", default=str(DATA), help="the ecommerce_absa_zh folder (reviews.csv, labels.csv)")
    parser.add_argument("--output", default="runs/aspects-generation")
    args = parser.parse_args()
    data = Path(args.data)
    if not (data / "reviews.csv").is_file():
        sys.exit(f"skipped: {data} is absent (the shared data sets are not part of a clone)")

    # The aspects task's own split: the same reviews its encoder row and baseline are judged on.
    task = get_task("aspects")(build_config(None, {"task.type": "aspects", "data.train": str(data / "reviews.csv"),
                                                   "task.labels": str(data / "labels.csv")}))
    task.load_data()
    items = {**task.items, "valid": task.items["valid"][:args.valid]}
    folder = Path(args.output)
    folder.mkdir(parents=True, exist_ok=True)
    for name, reviews in items.items():
        pd.DataFrame({"prompt": [PROMPT.format(text=r.text) for r in reviews],
                      "completion": [completion(r.text, r.quads) for r in reviews]}).to_json(
            folder / f"{name}.jsonl", orient="records", lines=True, force_ascii=False)

    started = time.perf_counter()
    result = run(build_config(None, {
        "task.type": "generation", "data.train": str(folder / "train.jsonl"), "data.valid": str(folder / "valid.jsonl"),
        "data.test": str(folder / "test.jsonl"), "model.name": args.model, "model.max_length": args.max_length,
        "training.lora_r": args.lora_r, "training.lora_layers": args.lora_layers or None, "training.lora_alpha": 2 * args.lora_r or 16,
        "training.lora_dropout": 0.05 if args.lora_r else 0.0, "training.epochs": args.epochs, "training.lr": args.lr,
        "training.batch_size": args.batch_size, "training.warmup_ratio": 0.05, "training.weight_decay": 0.0,
        "training.progress_bar": False, "task.max_new_tokens": args.max_new_tokens, "task.eval_samples": None,
        "output": str(folder / "run"), "overwrite": True}))
    seconds = time.perf_counter() - started

    generated = pd.read_csv(result.run_dir / "predictions.csv", keep_default_na=False)
    test = items["test"]
    # predictions.csv is sorted by score and holds each prompt as the model read it (cut from the
    # left where longer than model.max_length): each test review's answer is the one whose prompt ends its prompt.
    answers = []
    for review in test:
        full = PROMPT.format(text=review.text)
        found = [g for p, g in zip(generated["prompt"], generated["generation"]) if full.endswith(p)]
        if len(found) != 1:
            sys.exit(f"{len(found)} answers in the run's predictions.csv for the test review {review.text!r}")
        answers.append(found[0])
    parsed = [placed(r.text, a) for r, a in zip(test, answers)]
    report = aspect_report([r.quads for r in test], [quads for quads, _ in parsed], True)
    m = result.metrics
    print(json.dumps({
        "model": args.model, "epochs": args.epochs, "lora_layers": args.lora_layers, "sizes": m["data"]["sizes"],
        "empty_answers": sum(a == "" for a in answers), "unparseable": sum(not ok for _, ok in parsed),
        "terms_not_in_review": sum(q.aspect == NOWHERE or q.opinion == NOWHERE for quads, _ in parsed for q in quads),
        **{key: round(report[key], 4) for key in ("quadruple_f1", "pair_f1_micro", "pair_f1_macro", "negative_recall",
                                                  "aspect_f1", "opinion_f1")},
        "train_seconds": round(m["timings"]["train_seconds"]), "whole_run_seconds": round(seconds),
        "steps": m["training"]["steps"], "prompts_cut": m["training"].get("prompts_cut"), "stopped_by_eos": m["test"].get("stopped_by_eos"),
    }, ensure_ascii=False, indent=1), flush=True)


if __name__ == "__main__":
    main()
