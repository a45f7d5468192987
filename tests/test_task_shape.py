"""One shape for every task: per-task config sections, the registry and the generic runner,
throughput of resumed runs, and the thin command line's shared options."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecomsft.config import build_config
from ecomsft.errors import EcomsftError
from ecomsft.inference.base import Inference
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


def test_a_task_registered_in_a_test_runs_end_to_end(tiny_model_dir, tmp_path, monkeypatch):
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
    # metrics.json names the task as config.yaml does; what older runs wrote still reads.
    from ecomsft.metrics_file import RunMetrics

    older = RunMetrics.model_validate({**metrics, "task": "multi_label_classification"})
    assert older.task == "classification" and older.multi_label
    assert RunMetrics.model_validate({**metrics, "task": "masked_lm_pretraining"}).task == "pretraining"
    assert "type: toy_length" in (folder / "config.yaml").read_text()
    _the_toy_run_is_served_predicted_evaluated_and_reported(folder, tmp_path, monkeypatch)


class LengthReader(Inference):
    """The toy task's reader, in its after-training package registered from outside too: the run's
    model read back, one label per text."""

    tasks = ("toy_length",)
    use = 'POST /v1/length with {"texts": [...]}'
    route, serves = "/v1/length", 'this run tells lengths: POST /v1/length with {"texts": [...]}'

    def __init__(self, run, batch_size=64):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.require(run)
        self.run_dir = Path(run)
        self.tokenizer = AutoTokenizer.from_pretrained(Path(run) / "model")
        self.model = AutoModelForSequenceClassification.from_pretrained(Path(run) / "model").eval()

    def predict_batch(self, texts):
        import torch

        with torch.no_grad():
            logits = self.model(**self.tokenizer(texts, padding=True, return_tensors="pt")).logits
        return np.array(["long", "short"])[logits.argmax(1).numpy()]

    def answer(self, texts):
        return [{"length": str(label)} for label in self.predict_batch(texts)]

    def describe(self):
        return {"task": "toy_length", "labels": ["long", "short"]}

    @classmethod
    def evaluate_file(cls, run, data, **options):
        frame = pd.read_csv(data)
        return {"accuracy": float((cls(run).predict_batch(frame["text"].tolist()) == frame["label"]).mean()), "rows": len(frame)}

    @classmethod
    def predict_file(cls, run, input, output, **options):
        frame = pd.read_csv(input)
        frame["length"] = cls(run).predict_batch(frame["text"].tolist())
        frame.to_csv(output, index=False)
        return len(frame)


def _length_router(server):
    from fastapi import APIRouter

    routes = APIRouter()

    @routes.post("/v1/length", dependencies=server.guarded)
    async def length(body: dict) -> dict:
        return {"lengths": (await server.scored(body["texts"])).tolist()}

    return routes


def _toy_package(monkeypatch, name: str, **modules) -> str:
    """An after-training package made in memory (a plugin would ship it as files): one module per
    part, each holding the given attributes."""
    import sys
    import types

    monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    for part, attributes in modules.items():
        module = types.ModuleType(f"{name}.{part}")
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, f"{name}.{part}", module)
    return name


def _the_toy_run_is_served_predicted_evaluated_and_reported(run_dir, tmp_path, monkeypatch):
    """A task added from outside works after training through its after-training package alone:
    served (its route, /v1/info, the shared probes), predict (texts and --input), evaluate, its report
    sections and terminal summary, with no file of ecomsft touched."""
    from fastapi.testclient import TestClient

    from ecomsft import api, register_after_training
    from ecomsft.inference import registry
    from ecomsft.inference.server import ServeSettings, create_app
    from ecomsft.report import terminal

    monkeypatch.setattr(registry, "AFTER_TRAINING", dict(registry.AFTER_TRAINING))
    summaries = []
    register_after_training("toy_length", _toy_package(
        monkeypatch, "toy_length_after", reader={"READER": LengthReader}, routes={"router": _length_router},
        report={"head": lambda run, metrics: ["<h2>Toy lengths</h2>"], "details": lambda run, metrics: ["<p>toy details</p>"]},
        terminal={"summary": lambda run_dir, metrics: summaries.append(metrics.task),
                  "answers": lambda texts, results, as_json: summaries.append(results)}))
    with TestClient(create_app(ServeSettings(run=str(run_dir)))) as client:
        answer = client.post("/v1/length", json={"texts": ["short", "a much longer text " * 4]})
        assert answer.status_code == 200 and len(answer.json()["lengths"]) == 2
        assert set(answer.json()["lengths"]) <= {"long", "short"}
        info = client.get("/v1/info").json()
        assert info["task"] == "toy_length" and info["labels"] == ["long", "short"] and info["limits"]["max_texts"] == 64
        assert client.get("/ready").json() == {"ready": True}
        assert "this run tells lengths" in client.post("/v1/predict", json={"texts": ["x"]}).json()["error"]
    pd.DataFrame({"text": ["short", "a much longer text " * 4], "label": ["short", "long"]}).to_csv(tmp_path / "l.csv", index=False)
    assert api.predict_file(run_dir, tmp_path / "l.csv", tmp_path / "out.csv") == 2
    assert "length" in pd.read_csv(tmp_path / "out.csv").columns
    report = api.evaluate(run_dir, str(tmp_path / "l.csv"))
    assert report["rows"] == 2 and 0.0 <= report["accuracy"] <= 1.0
    page = api.report(run_dir).read_text(encoding="utf-8")
    assert "Learning curves" in page and "Toy lengths" in page and "toy details" in page
    answers = api.predict(run_dir, ["short", "a much longer text " * 4])
    assert [set(a) for a in answers] == [{"length"}] * 2
    with pytest.raises(EcomsftError, match="this run has no onnx backend"):
        api.predict(run_dir, ["x"], backend="onnx")
    with pytest.raises(EcomsftError, match="toy_length runs do not export to ONNX; use: POST /v1/length"):
        api.export(run_dir)
    terminal.run_summary(type("Result", (), {"run_dir": run_dir, "metrics": json.loads((run_dir / "metrics.json").read_text())}))
    terminal.answers(run_dir, ["x"], answers[:1])
    assert summaries == ["toy_length", answers[:1]]

    # The package without routes: the shared routes only; without report and terminal: the figures.
    register_after_training("toy_length", _toy_package(monkeypatch, "toy_length_reader_only", reader={"READER": LengthReader}))
    with TestClient(create_app(ServeSettings(run=str(run_dir)))) as client:
        assert client.get("/health").json() == {"status": "ok"} and client.get("/v1/info").json()["task"] == "toy_length"
        assert client.post("/v1/length", json={"texts": ["x"]}).status_code == 404
    page = api.report(run_dir).read_text(encoding="utf-8")
    assert "Toy lengths" not in page and "toy_length" in page
    with terminal.console.capture() as captured:
        terminal.run_summary(type("Result", (), {"run_dir": run_dir, "metrics": json.loads((run_dir / "metrics.json").read_text())}))
    assert "(toy_length)" in captured.get() and "accuracy" in captured.get() and "use it: POST /v1/length" in captured.get()


def test_no_branch_on_a_task_name_outside_the_tasks_and_the_registries():
    """After training, code looks a run's task up (the after-training registry) instead of comparing
    task names; only the tasks' own packages (training and after-training) name them."""
    import re

    import ecomsft

    names = "|".join(("classification", "relevance", "retrieval", "pretraining", "extraction", "generation"))
    branch = re.compile(rf'(==|!=)\s*"({names})"|\bin\s*[(\[{{][^)\]}}]*"({names})"')
    root = Path(ecomsft.__file__).parent
    found = [f"{path.relative_to(root)}:{n}: {line.strip()}" for path in root.rglob("*.py") if not {"tasks", "readers"} & set(path.parts)
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if branch.search(line)]
    assert not found, "\n".join(found)


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
