"""Loading a finished run (or a bare model folder) and predicting with it in batches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data.labels import LabelSet
from ..errors import EcomsftError
from ..tasks.classification import probabilities


def model_folder(run: str | Path) -> Path:
    path = Path(run)
    if (path / "model" / "config.json").is_file():
        return path / "model"
    if (path / "config.json").is_file():
        return path
    if path.with_name(path.name + ".partial").exists():
        raise EcomsftError("this run did not finish (see its .partial folder; train again with --resume)", where=str(path))
    raise EcomsftError("not a run folder nor a model folder (no model/config.json)", where=str(path))


class Predictor:
    """Batched prediction with a fine-tuned classifier.

    Inputs are sorted by length so that each batch pads to little, and results come back in the
    order given.
    """

    def __init__(self, run: str | Path, batch_size: int = 64, device: str | None = None):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.model_dir = model_folder(run)
        self.run_dir = self.model_dir.parent if self.model_dir.name == "model" else None
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        self.model = AutoModelForSequenceClassification.from_pretrained(self.model_dir, use_safetensors=True)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.device).eval()
        self.labels = LabelSet.from_model_config(self.model.config)
        self.threshold = float(getattr(self.model.config, "ecomsft_threshold", 0.5) or 0.5)
        self.max_length = int(getattr(self.model.config, "ecomsft_max_length", 0) or 128)
        self.batch_size = batch_size

    @property
    def metrics(self) -> dict:
        if self.run_dir is None or not (self.run_dir / "metrics.json").is_file():
            return {}
        return json.loads((self.run_dir / "metrics.json").read_text(encoding="utf-8"))

    def predict_proba(self, texts: list[str], text_pairs: list[str] | None = None, progress=None) -> np.ndarray:
        """Class probabilities, one row per text, columns in ``self.labels.names`` order."""
        import torch

        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, len(self.labels)))
        order = np.argsort([len(t) + (len(text_pairs[i]) if text_pairs else 0) for i, t in enumerate(texts)], kind="stable")
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start:start + self.batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    [text_pairs[i] for i in idx] if text_pairs else None,
                    truncation=True, max_length=self.max_length, padding=True, return_tensors="pt",
                ).to(self.device)
                logits = self.model(**batch).logits.float().cpu().numpy()
                out[idx] = probabilities(logits.astype(np.float64), self.labels.multi_label)
                if progress is not None:
                    progress(len(idx))
        return out

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


def load(run: str | Path, **kwargs) -> Predictor:
    return Predictor(run, **kwargs)
