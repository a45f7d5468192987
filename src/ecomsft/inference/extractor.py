"""Extracting attributes with a finished extraction run: character spans into the original text."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.examples import TEXT_COLUMN_GUESSES
from ..models.resolve import SAFETENSORS_ONLY
from ..models.spans import merge, windows
from ..run_folder import require_task, trained_model
from ..schema import metrics_of
from .batch import column_texts, score_file
from .onnx_export import check_backend, onnx_forward


class Extractor:
    """Entities of texts, as ``{"start", "end", "label", "text"}`` with offsets into each text as
    given; titles longer than the run's max_length are windowed and merged as in training."""

    def __init__(self, run: str | Path, batch_size: int = 64, device: str | None = None, backend: str = "torch"):
        from transformers import AutoConfig, AutoTokenizer

        check_backend(backend)
        folder = trained_model(run)
        self.run_dir = folder.parent if folder.name == "model" else None
        require_task(run, "extraction")
        config = AutoConfig.from_pretrained(folder)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.max_length = int(config.ecomsft_max_length)
        self.stride = int(config.ecomsft_stride)
        self.all_subtokens = bool(config.ecomsft_all_subtokens)
        self.id2tag = {int(k): v for k, v in config.id2label.items()}
        self.labels = sorted({tag[2:] for tag in self.id2tag.values() if tag != "O"})
        self.batch_size = batch_size
        self.backend = backend
        self._forward = self._torch_forward(folder, device) if backend == "torch" else onnx_forward(folder, backend == "onnx-int8")

    @staticmethod
    def _torch_forward(folder: Path, device: str | None):
        import torch
        from transformers import AutoModelForTokenClassification

        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model = AutoModelForTokenClassification.from_pretrained(folder, **SAFETENSORS_ONLY).to(device).eval()

        def forward(batch) -> np.ndarray:
            with torch.inference_mode():
                return model(**{k: torch.as_tensor(v, device=device) for k, v in batch.items()}).logits.float().cpu().numpy()

        return forward

    @property
    def metrics(self) -> dict:
        return metrics_of(self.run_dir)

    def extract(self, texts: list[str]) -> list[list[dict]]:
        texts = [str(t) for t in texts]
        per_text = [windows(self.tokenizer, text, self.max_length, self.stride, self.all_subtokens) if text.strip() else []
                    for text in texts]
        flat = [w for ws in per_text for w in ws]
        logits: list[np.ndarray] = [None] * len(flat)
        order = sorted(range(len(flat)), key=lambda i: len(flat[i].input_ids))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            batch = self.tokenizer.pad({"input_ids": [flat[i].input_ids for i in idx],
                                        "attention_mask": [flat[i].attention_mask for i in idx]}, return_tensors="np")
            out = np.asarray(self._forward(dict(batch)), dtype=np.float32)
            for row, i in enumerate(idx):
                logits[i] = out[row]
        results, k = [], 0
        for text, ws in zip(texts, per_text):
            spans = merge(ws, logits[k:k + len(ws)], self.id2tag)
            k += len(ws)
            results.append([{"start": s.start, "end": s.end, "label": s.label, "text": text[s.start:s.end]} for s in spans])
        return results


def extract_rows(extractor: Extractor, input: str | Path, output: str | Path, *, text_column: str | None = None,
                 chunk_rows: int = 10_000, resume: bool = False, progress: bool = False) -> int:
    """Every row of ``input`` with an ``entities`` column added (a JSON list of spans; empty texts
    get an empty cell), a chunk at a time and resumable like ``predict --input``."""
    import json

    columns: dict[str, str] = {}

    def score(table):
        texts = column_texts(table, columns, text_column, TEXT_COLUMN_GUESSES, "text", "--text-column")
        frame = table.frame.copy()
        found = extractor.extract(texts)
        frame["entities"] = [json.dumps(spans, ensure_ascii=False) if text.strip() else None
                             for text, spans in zip(texts, found)]
        return frame

    return score_file(score, input, output, chunk_rows=chunk_rows, resume=resume, progress=progress)
