"""Extracting attributes with a finished extraction run: character spans into the original text."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...data.examples import TEXT_COLUMN_GUESSES
from ...data.tagging import as_text, read_tagged
from ...errors import EcomsftError
from ...evaluation.entities import entity_report, error_analysis
from ...inference.base import ExportableInference, results_array
from ...inference.file_scoring import column_texts, score_file
from ...inference.onnx_export import onnx_forward, resolve_backend
from ...models.resolve import SAFETENSORS_ONLY
from ...models.spans import merge, windows
from ...run_folder import trained_model


class Extractor(ExportableInference):
    """Entities of texts, as ``{"start", "end", "label", "text"}`` with offsets into each text as
    given; titles longer than the run's max_length are windowed and merged as in training."""

    tasks = ("extraction",)
    use = 'ecomsft extract RUN "title" (or ecomsft predict RUN --input FILE --output FILE)'
    route = "/v1/extract"
    # Extraction windows carry no token types (all zero, the model's default), so its graph takes none.
    onnx_graph = ("AutoModelForTokenClassification", ("input_ids", "attention_mask"), {0: "batch", 1: "sequence"})
    serves = 'this run extracts attributes: POST /v1/extract with {"texts": [...]}'

    def __init__(self, run: str | Path, batch_size: int = 64, device: str | None = None, backend: str = "torch"):
        from transformers import AutoConfig, AutoTokenizer

        folder = trained_model(run)
        backend = resolve_backend(folder, backend)
        self.run_dir = folder.parent if folder.name == "model" else None
        self.require(run)
        config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
        if getattr(config, "ecomsft_stride", None) is None:
            raise EcomsftError("not an extraction model: its config.json has no ecomsft_stride", where=str(folder))
        self.tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        self.max_length = int(config.ecomsft_max_length)
        self.stride = int(config.ecomsft_stride)
        self.all_subtokens = bool(config.ecomsft_all_subtokens)
        self.id2tag = {int(k): v for k, v in config.id2label.items()}
        self.crf = getattr(config, "ecomsft_crf", None)  # the learnt transition scores of a CRF layer, if trained with one
        self.labels = sorted({tag[2:] for tag in self.id2tag.values() if tag != "O"})
        self.batch_size = batch_size
        self.backend = backend
        self._forward = self._torch_forward(folder, device) if backend == "torch" else onnx_forward(folder, backend == "onnx-int8")

    @staticmethod
    def _torch_forward(folder: Path, device: str | None):
        import torch
        from transformers import AutoModelForTokenClassification

        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model = AutoModelForTokenClassification.from_pretrained(folder, **SAFETENSORS_ONLY, trust_remote_code=False).to(device).eval()

        def forward(batch) -> np.ndarray:
            with torch.inference_mode():
                return model(**{k: torch.as_tensor(v, device=device) for k, v in batch.items()}).logits.float().cpu().numpy()

        return forward

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
            spans = merge(ws, logits[k:k + len(ws)], self.id2tag, self.crf)
            k += len(ws)
            results.append([{"start": s.start, "end": s.end, "label": s.label, "text": text[s.start:s.end]} for s in spans])
        return results

    # the registry's surface -------------------------------------------------------------------
    def answer(self, texts: list[str]) -> list[list[dict]]:
        return self.extract(texts)

    def predict_batch(self, texts: list[str]) -> np.ndarray:
        return results_array(self.extract(texts))

    def describe(self) -> dict:
        return {"task": "extraction", "labels": self.labels}

    @classmethod
    def evaluate_file(cls, run: str | Path, data: str, *, encoding: str | None = None, batch_size: int = 64,
                      **_unused) -> dict:
        """Entity metrics on another tagged file (CoNLL or character spans); entity types the run
        does not know are refused."""
        extractor = cls(run, batch_size=batch_size)
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

    @classmethod
    def predict_file(cls, run: str | Path, input: str | Path, output: str | Path, *, text_column: str | None = None,
                     batch_size: int = 64, backend: str = "torch", chunk_rows: int = 10_000, resume: bool = False,
                     progress: bool = False, **_unused) -> int:
        return extract_rows(cls(run, batch_size=batch_size, backend=backend), input, output, text_column=text_column,
                            chunk_rows=chunk_rows, resume=resume, progress=progress)


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


READER = Extractor
