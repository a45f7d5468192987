"""Loading a finished run (or a bare model folder) and predicting with it in batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...data.examples import char_budget, cut_texts, examples_from_table, load_examples
from ...data.labels import LabelSet
from ...data.reading import Table
from ...errors import EcomsftError
from ...inference.base import ExportableInference
from ...inference.file_scoring import score_file
from ...inference.onnx_export import model_config, model_folder, onnx_forward, resolve_backend
from ...models.heads import probabilities
from ...models.lexical import LexicalModel
from ...models.tokenizer_file import load_tokenizer
from ...models.truncation import encode_texts


class Predictor(ExportableInference):
    """Batched prediction with a fine-tuned classifier.

    Inputs are sorted by length so that each batch pads to little, and results come back in the
    order given.
    """

    tasks = ("classification",)
    use = 'ecomsft predict RUN "text" (or --input FILE --output FILE)'
    route = "/v1/predict"
    onnx_graph = ("AutoModelForSequenceClassification", ("input_ids", "attention_mask", "token_type_ids"), {0: "batch"})
    serves = 'this run is a classifier: POST /v1/predict with {"texts": [...]}'

    def __init__(self, run: str | Path, batch_size: int = 64, device: str | None = None, backend: str = "torch",
                 calibrated: bool = False, blend: bool = True):
        self.model_dir = model_folder(run)
        self.require(run)
        self.run_dir = self.model_dir.parent if self.model_dir.name == "model" else None
        self.backend = backend = resolve_backend(self.model_dir, backend)
        if backend == "torch":
            from transformers import AutoConfig, AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, trust_remote_code=False)
            config = AutoConfig.from_pretrained(self.model_dir, trust_remote_code=False)
        else:  # ONNX Runtime: neither torch nor transformers is imported (models/tokenizer_file.py)
            self.tokenizer = load_tokenizer(self.model_dir)
            config = model_config(self.model_dir)
        self.labels = LabelSet.from_model_config(config)
        self.threshold = float(getattr(config, "ecomsft_threshold", 0.5) or 0.5)
        self.max_length = int(getattr(config, "ecomsft_max_length", 0) or 128)
        self.head_share = float(getattr(config, "ecomsft_head_share", None) or 1.0)  # as in training
        # Temperature scaling fitted on the validation split at training time (single-label runs).
        self.temperature = float(getattr(config, "ecomsft_temperature", None) or 1.0) if calibrated else 1.0
        self.batch_size = batch_size
        # The run's tfidf-lr, mixed in by the weight training chose on validation (models/lexical.py);
        # None: a run that chose no blend, one from before blends, or ``blend=False`` (--no-blend).
        self.lexical = LexicalModel.load(self.model_dir) if blend else None
        if self.lexical is not None and not self.lexical.blend:
            self.lexical = None
        elif blend and self.lexical is None and (self.metrics.get("blend") or {}).get("used"):
            raise EcomsftError("the run chose a blend with its tfidf-lr, but its model/lexical.json is missing; "
                               "pass --no-blend to use the fine-tuned model alone", where=str(self.model_dir))
        if self.lexical is not None and "threshold" in self.lexical.blend:
            self.threshold = float(self.lexical.blend["threshold"])
        if backend == "torch":
            self._forward = self._torch_forward(device)
        else:
            self._forward = onnx_forward(self.model_dir, backend == "onnx-int8")

    def _torch_forward(self, device):
        import torch
        from transformers import AutoModelForSequenceClassification

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = AutoModelForSequenceClassification.from_pretrained(self.model_dir, use_safetensors=True, trust_remote_code=False)
        self.model.to(self.device).eval()

        def forward(batch) -> np.ndarray:
            with torch.inference_mode():
                tensors = {k: torch.as_tensor(v, device=self.device) for k, v in batch.items()}
                return self.model(**tensors).logits.float().cpu().numpy()

        return forward

    def predict_proba(self, texts: list[str], text_pairs: list[str] | None = None, progress=None) -> np.ndarray:
        """Class probabilities, one row per text, columns in ``self.labels.names`` order."""
        limit = char_budget(self.max_length)
        texts = cut_texts([str(t) for t in texts], limit)
        text_pairs = cut_texts([str(t) for t in text_pairs], limit) if text_pairs else None
        if not texts:
            return np.zeros((0, len(self.labels)))
        order = np.argsort([len(t) + (len(text_pairs[i]) if text_pairs else 0) for i, t in enumerate(texts)], kind="stable")
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        for start in range(0, len(texts), self.batch_size):
            idx = order[start:start + self.batch_size]
            batch = self.tokenizer.pad(encode_texts(
                self.tokenizer, [texts[i] for i in idx], [text_pairs[i] for i in idx] if text_pairs else None,
                max_length=self.max_length, head_share=self.head_share), return_tensors="np")
            logits = np.asarray(self._forward(dict(batch)), dtype=np.float64)
            if not self.labels.multi_label:
                logits = logits / self.temperature
            out[idx] = probabilities(logits, self.labels.multi_label)
            if progress is not None:
                progress(len(idx))
        return out if self.lexical is None else self.lexical.blended(out, texts)

    def decide(self, probs: np.ndarray) -> list:
        if self.labels.multi_label:
            return [[n for n, p in zip(self.labels.names, row) if p >= self.threshold] for row in probs]
        return [self.labels.names[i] for i in probs.argmax(axis=1)]

    def predict(self, texts: list[str], text_pairs: list[str] | None = None) -> list[dict]:
        """``[{"label": ..., "probabilities": {name: p}}]`` in input order."""
        probs = self.predict_proba(texts, text_pairs)
        return [
            {"label": label, "probabilities": dict(zip(self.labels.names, map(float, row)))}
            for label, row in zip(self.decide(probs), probs)
        ]


    # the registry's surface -------------------------------------------------------------------
    def predict_batch(self, texts: list[str]) -> np.ndarray:
        return self.predict_proba(texts)

    def answer(self, texts: list[str]) -> list[dict]:
        return self.predict(texts)

    def describe(self) -> dict:
        return {"task": "multi_label_classification" if self.labels.multi_label else "classification",
                "labels": self.labels.names, "blend": self.blend_info()}

    def blend_info(self) -> dict:
        """Whether predictions mix in the run's tfidf-lr, and by which weight of the fine-tuned model."""
        if self.lexical is None:
            return {"used": False}
        return {"used": True, "weight": float(self.lexical.blend["weight"]), "with": "tfidf-lr"}

    @classmethod
    def load(cls, run: str | Path, *, batch_size: int = 64, backend: str = "torch", blend: bool = True,
             calibrated: bool = False, **options) -> "Predictor":
        return cls(run, batch_size=batch_size, backend=backend, blend=blend, calibrated=calibrated)

    @classmethod
    def check_run(cls, run: str | Path, backend: str = "torch", blend: bool = True) -> None:
        folder = model_folder(run)
        if blend:  # a damaged tfidf-lr file: one line before the server starts
            LexicalModel.load(folder)

    @classmethod
    def evaluate_file(cls, run: str | Path, data: str, *, text_column: str | None = None,
                      text_pair_column: str | None = None, label_column: str | None = None,
                      label_delimiter: str | None = None, encoding: str | None = None, batch_size: int = 64,
                      blend: bool = True) -> dict:
        """Classification metrics on another labelled file, labels matched by name (checked against
        the run's label set before the model is loaded)."""
        from transformers import AutoConfig

        from ...models.resolve import loading

        with loading(str(run)):
            labels = LabelSet.from_model_config(AutoConfig.from_pretrained(model_folder(run), trust_remote_code=False))
        examples = load_examples(data, text_column=text_column, text_pair_column=text_pair_column,
                                 label_column=label_column, multi_label=labels.multi_label,
                                 label_delimiter=label_delimiter, encoding=encoding)
        frame = examples.frame
        gold = np.asarray(labels.encode(frame["label"].tolist(), examples.source))
        predictor = cls(run, batch_size=batch_size, blend=blend)
        pairs = frame["text_pair"].tolist() if "text_pair" in frame else None
        probs = predictor.predict_proba(frame["text"].tolist(), pairs)
        from ...evaluation.classification import full_report  # scikit-learn: only when evaluating

        report = full_report(gold, probs, predictor.labels.names, predictor.labels.multi_label, predictor.threshold)
        report["rows"] = len(frame)
        report["dropped_empty"] = examples.dropped_empty
        report["blend"] = predictor.blend_info()
        return report

    @classmethod
    def predict_file(cls, run: str | Path, input: str | Path, output: str | Path, *, text_column: str | None = None,
                     text_pair_column: str | None = None, batch_size: int = 64, backend: str = "torch",
                     calibrated: bool = False, chunk_rows: int = 10_000, resume: bool = False, progress: bool = False,
                     blend: bool = True) -> int:
        predictor = cls(run, batch_size=batch_size, backend=backend, calibrated=calibrated, blend=blend)
        return predictor.score_into(input, output, text_column=text_column, text_pair_column=text_pair_column,
                                    chunk_rows=chunk_rows, resume=resume, progress=progress)

    def score_into(self, input: str | Path, output: str | Path, *, text_column: str | None = None,
                   text_pair_column: str | None = None, chunk_rows: int = 10_000, resume: bool = False,
                   progress: bool = False) -> int:
        """Score ``input`` into ``output`` in chunks (``file_scoring.score_file``); returns the rows written."""
        return score_file(lambda table: self.score_table(table, text_column, text_pair_column), input, output,
                          chunk_rows=chunk_rows, resume=resume, progress=progress)

    def score_table(self, table: Table, text_column: str | None, text_pair_column: str | None) -> pd.DataFrame:
        """A chunk of an input file with ``predicted`` and one ``prob_<label>`` column per class added
        (rows with empty text left empty)."""
        examples = examples_from_table(
            table, text_column=text_column, text_pair_column=text_pair_column, require_labels=False, empty_text="drop"
        ) if len(table.frame) else None
        frame = table.frame.copy()
        predicted = np.full(len(frame), None, dtype=object)
        probs_full = np.full((len(frame), len(self.labels)), np.nan)
        if examples is not None and len(examples.frame):
            rows = examples.frame["_row"].to_numpy()
            pairs = examples.frame["text_pair"].tolist() if "text_pair" in examples.frame else None
            probs = self.predict_proba(examples.frame["text"].tolist(), pairs)
            predicted[rows] = ["|".join(d) if isinstance(d, list) else d for d in self.decide(probs)]
            probs_full[rows] = np.round(probs, 6)
        frame["predicted"] = predicted
        for i, name in enumerate(self.labels.names):
            frame[f"prob_{name}"] = probs_full[:, i]
        return frame


READER = Predictor
