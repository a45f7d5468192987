"""Head+tail truncation (model.head_share): a long text keeps its start and its end."""

import random

import pandas as pd

from ecomsft.models.truncation import encode_texts

from .conftest import FILLER, NEGATIVE, POSITIVE, tiny_overrides


def test_a_long_text_keeps_its_head_and_tail_around_the_special_tokens(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    words = [FILLER[i % len(FILLER)] for i in range(30)]
    text, short = " ".join(words), "good product"
    out = encode_texts(tokenizer, [text, short], max_length=10, head_share=0.25)
    tokens = tokenizer.convert_ids_to_tokens(out["input_ids"][0])
    assert tokens == ["[CLS]", *words[:2], *words[-6:], "[SEP]"]  # 8 of the budget: 2 from the start, 6 from the end
    assert all(len(values[0]) == 10 for values in out.values())  # attention mask and token types cut alike
    assert tokenizer.convert_ids_to_tokens(out["input_ids"][1]) == ["[CLS]", "good", "product", "[SEP]"]
    head_only = encode_texts(tokenizer, [text], max_length=10)
    assert head_only["input_ids"] == tokenizer([text], truncation=True, max_length=10)["input_ids"]
    pairs = encode_texts(tokenizer, [text], [short], max_length=10, head_share=0.25)  # pairs: the tokenizer's cut
    assert pairs["input_ids"] == tokenizer([text], [short], truncation=True, max_length=10)["input_ids"]


def late_verdicts(n: int, seed: int = 0) -> pd.DataFrame:
    """Long reviews whose only sentiment words are the last three."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "positive" if i % 2 == 0 else "negative"
        words = [rng.choice(FILLER) for _ in range(40)] + rng.choices(POSITIVE if label == "positive" else NEGATIVE, k=3)
        rows.append((" ".join(words), label))
    return pd.DataFrame(rows, columns=["review", "label"])


def test_head_and_tail_read_a_verdict_that_a_head_cut_loses_in_training_and_prediction(tiny_model_dir, tmp_path):
    from transformers import AutoConfig

    from ecomsft.config import build_config
    from ecomsft.readers.classification.reader import Predictor
    from ecomsft.runner import run

    data = tmp_path / "late.csv"
    late_verdicts(240).to_csv(data, index=False)
    accuracy = {}
    for share in (1.0, 0.25):
        output = tmp_path / f"run-{share}"
        result = run(build_config(None, tiny_overrides(tiny_model_dir, data, output, **{
            "model.max_length": 12, "model.head_share": share, "training.epochs": 8, "training.lr": 3e-3, "baseline": False})))
        accuracy[share] = result.test["accuracy"]
        assert AutoConfig.from_pretrained(output / "model").ecomsft_head_share == share
    assert accuracy[1.0] <= 0.7 and accuracy[0.25] >= 0.9, accuracy  # the head alone never sees the verdict
    predictor = Predictor(tmp_path / "run-0.25")
    texts = late_verdicts(20, seed=1)
    predicted = [row["label"] for row in predictor.predict(texts["review"].tolist())]
    assert sum(p == g for p, g in zip(predicted, texts["label"])) >= 18


def test_a_run_reports_accuracy_by_review_length_beside_tfidf(tiny_run):
    table = tiny_run.metrics["by_length"]
    assert table["buckets"] == ["under 40", "40-80", "80-160", "160 or more"]
    assert sum(table["rows"]) == tiny_run.metrics["data"]["sizes"]["test"]
    for name in ("model", "tfidf_lr"):
        shown = [value for value, n in zip(table[name], table["rows"]) if n]
        assert shown and all(0.0 <= value <= 1.0 for value in shown)
        assert all(value is None for value, n in zip(table[name], table["rows"]) if not n)
    assert "tfidf-lr" in (tiny_run.run_dir / "report.html").read_text(encoding="utf-8")
