"""One shape for every task: per-task config sections, the registry and the generic runner,
throughput of resumed runs, and the thin command line's shared options."""

import json

import numpy as np
import pandas as pd
import pytest

from ecomsft.config import build_config
from ecomsft.errors import EcomsftError
from ecomsft.runner import run
from ecomsft.tasks import base, get_task, register

from .conftest import failed_in_one_line, make_reviews, run_cli, tiny_overrides

# For each task: a key of another task's section, and a shared key it does not use.
REFUSED = {
    "classification": ("task.ks", "data.catalog"),
    "relevance": ("task.multi_label", "training.class_weight"),
    "retrieval": ("task.pairwise_weight", "training.lora_r"),
    "pretraining": ("task.threshold", "data.label_column"),
}
VALUES = {"task.ks": [3], "data.catalog": "p.csv", "task.multi_label": True, "training.class_weight": "balanced",
          "task.pairwise_weight": 1.0, "training.lora_r": 8, "task.threshold": 0.4, "data.label_column": "stars"}


@pytest.mark.parametrize("task", sorted(REFUSED))
def test_a_key_the_task_does_not_use_is_refused_naming_key_and_task(task):
    for key in REFUSED[task]:
        with pytest.raises(EcomsftError, match=rf"config key '{key}' is not used by task '{task}'"):
            build_config(None, {"data.train": "x.csv", "task.type": task, key: VALUES[key]})


def test_a_shared_key_at_its_default_is_accepted_and_the_task_defaults_apply():
    cfg = build_config(None, {"data.train": ["a.csv", "b.csv"], "task.type": "pretraining", "training.class_weight": "none"})
    assert cfg.training.epochs == 1.0 and cfg.training.lr == 1e-4 and cfg.data.valid_ratio == 0.05
    assert cfg.task.mlm_probability == 0.15
    with pytest.raises(EcomsftError, match="takes one training file"):
        build_config(None, {"data.train": ["a.csv", "b.csv"]})
    with pytest.raises(EcomsftError, match="unknown task 'ner'"):
        build_config(None, {"data.train": "a.csv", "task.type": "ner"})


def test_set_null_sets_null(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  train: x.csv\n  text_column: review\ntraining:\n  max_seconds: 60\n")
    cfg = build_config(path, {"training.max_seconds": None, "data.text_column": None})
    assert cfg.training.max_seconds is None and cfg.data.text_column is None
    code, out, err = run_cli("config", "show", path, "--set", "training.max_seconds=null", "--set", "task.type=relevance")
    assert code == 0, err
    assert "max_seconds: null" in out and "type: relevance" in out and "ks:" in out


def test_config_show_refuses_in_one_line(tmp_path):
    code, out, err = run_cli("config", "show", "--data", "x.csv", "--task", "retrieval", "--set", "training.lora_r=4")
    assert failed_in_one_line(code, err) and err.count("error:") == 1 and "Traceback" not in err
    assert "config key 'training.lora_r' is not used by task 'retrieval'" in err


class CountingTask(base.Task):
    """A toy task, registered from outside: predicts a text's length bucket (short or long) with a
    linear head on the mean of the tiny BERT's word embeddings."""

    name = "toy_length"

    def load_data(self):
        texts = [("short " * (1 + i % 3)) if i % 2 else ("a much longer text " * 4) for i in range(64)]
        self.frame = pd.DataFrame({"text": texts, "label": [i % 2 for i in range(64)]})
        return {"sizes": {"train": 48, "valid": 8, "test": 8}}

    def build_model(self, model_path):
        from transformers import AutoTokenizer, BertForSequenceClassification

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        return BertForSequenceClassification.from_pretrained(model_path, num_labels=2)

    def language_models(self, model):
        return [(self.tokenizer, model)]

    def vocabulary_texts(self):
        return self.frame["text"].tolist()

    def build_trainer(self, model, workdir, embedding_lr):
        from datasets import Dataset

        from ecomsft.training.trainer import build_trainer

        encoded = self.tokenizer(self.frame["text"].tolist(), truncation=True, max_length=self.cfg.model.max_length)
        data = Dataset.from_dict({**encoded, "length": [len(x) for x in encoded["input_ids"]], "labels": self.frame["label"]})
        self.splits = {"train": data.select(range(48)), "valid": data.select(range(48, 56)), "test": data.select(range(56, 64))}
        return build_trainer(model, self.tokenizer, self.splits["train"], self.splits["valid"], self.cfg.training,
                             str(workdir / "checkpoints"), None, embedding_lr, metric_for_best_model="loss")

    def evaluate(self, trainer):
        from ecomsft.training.trainer import predict_logits

        logits = predict_logits(trainer, self.splits["test"])
        accuracy = float((logits.argmax(1) == np.asarray(self.splits["test"]["labels"])).mean())
        return base.Evaluation(test={"accuracy": accuracy}, fields={"labels": ["long", "short"]},
                               predictions=pd.DataFrame({"predicted": logits.argmax(1)}))

    def save(self, trainer, model_dir):
        trainer.save_model(str(model_dir))
        self.tokenizer.save_pretrained(str(model_dir))


def test_a_task_registered_in_a_test_runs_end_to_end(tiny_model_dir, tmp_path):
    register(CountingTask)
    assert get_task("toy_length") is CountingTask
    values = tiny_overrides(tiny_model_dir, "unused.csv", tmp_path / "toy", **{"task.type": "toy_length",
                                                                              "training.max_steps": 4})
    result = run(build_config(None, values))
    folder = result.run_dir
    for name in ("model", "config.yaml", "training_log.json", "predictions.csv", "metrics.json", "report.html", ".ecomsft"):
        assert (folder / name).exists(), name
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["task"] == "toy_length" and metrics["training"]["steps"] == 4
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0 and metrics["timings"]["trained_steps"] == 4
    assert "type: toy_length" in (folder / "config.yaml").read_text()


def test_compare_takes_the_data_flags_of_train(tiny_model_dir, tmp_path):
    data = tmp_path / "reviews.csv"
    frame = make_reviews(120).rename(columns={"text": "review", "label": "verdict"})
    frame["text"] = "decoy"  # a column the guesser would pick
    frame.to_csv(data, index=False)
    code, out, err = run_cli("compare", "--data", data, "--text-column", "review", "--label-column", "verdict",
                             "--models", "tfidf-lr", "--output", tmp_path / "cmp", "--max-length", "32")
    assert code == 0, err
    board = pd.read_csv(tmp_path / "cmp" / "leaderboard.csv")
    assert board.loc[0, "status"] == "ok" and board.loc[0, "accuracy"] > 0.8


def test_nproc_refuses_a_batch_that_does_not_divide(tmp_path, reviews_csv):
    code, out, err = run_cli("train", "--data", reviews_csv, "--batch-size", "15", "--nproc", "2",
                             "--output", tmp_path / "o")
    assert failed_in_one_line(code, err) and err.count("error:") == 1 and "does not divide by --nproc 2" in err and "Traceback" not in err
