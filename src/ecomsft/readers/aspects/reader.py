"""Reading an aspects run: each review's opinions (aspect, opinion, category, polarity, with
character offsets and a score), a file of reviews scored one row per opinion, evaluation on another
labelled file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...data.aspects import TEXT_GUESSES, read_aspects
from ...errors import EcomsftError
from ...evaluation.aspects import aspect_report, worst_reviews
from ...inference.base import ExportableInference, results_array
from ...inference.onnx_export import onnx_forward, resolve_backend
from ...inference.file_scoring import column_texts, score_file
from ...models.aspect_model import HEADS_FILE, TAGS, AspectModel, as_quads, decode, load_encoder
from ...models.char_crf import CharCrf
from ...models.resolve import SAFETENSORS_ONLY
from ...run_folder import trained_model

OUTPUT_COLUMNS = ("row", "aspect", "aspect_start", "aspect_end", "opinion", "opinion_start", "opinion_end", "category",
                  "polarity", "score")


class AspectReader(ExportableInference):
    tasks = ("aspects",)
    use = 'ecomsft aspects RUN "review" (or --input FILE --output FILE [--summary FILE.html])'
    route = "/v1/aspects"
    serves = 'this run finds opinions by aspect: POST /v1/aspects with {"texts": [...]}'
    # The encoder's hidden states (named "logits" in the graph); the heads run in torch on them.
    onnx_graph = ("AutoModel", ("input_ids", "attention_mask", "token_type_ids"), {0: "batch", 1: "sequence"})

    def __init__(self, run: str | Path, batch_size: int = 64, device: str | None = None, backend: str = "torch",
                 blend: bool = True):
        import torch
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoTokenizer

        folder = trained_model(run)
        self.run_dir = folder.parent if folder.name == "model" else None
        self.require(run)
        config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
        if getattr(config, "ecomsft_aspect_categories", None) is None or not (folder / HEADS_FILE).is_file():
            raise EcomsftError(f"not an aspects model: its config.json names no aspect categories or {HEADS_FILE} "
                               "is missing", where=str(folder))
        self.tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        self.categories, self.polarities = list(config.ecomsft_aspect_categories), list(config.ecomsft_aspect_polarities)
        self.spans = bool(getattr(config, "ecomsft_aspect_spans", True))
        self.max_length = int(config.ecomsft_max_length)
        self.batch_size = batch_size
        self.model = AspectModel(load_encoder(folder, **SAFETENSORS_ONLY), self.categories, self.polarities,
                                 crf=bool(getattr(config, "ecomsft_aspect_crf", False)))
        missing, unexpected = self.model.load_state_dict(load_file(str(folder / HEADS_FILE)), strict=False)
        if unexpected or any(not name.startswith("encoder.") for name in missing):
            raise EcomsftError(f"{HEADS_FILE} does not fit this model (missing {[n for n in missing if not n.startswith('encoder.')]}"
                               f", unexpected {unexpected})", where=str(folder))
        self.model.to(torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))).eval()
        self.backend = resolve_backend(folder, backend)
        if self.backend != "torch":
            self.model.exported = onnx_forward(folder, self.backend == "onnx-int8")
        # The character CRF training mixed into the tagger (where it chose to); blend=False: the tagger alone.
        self.lexical = CharCrf.load(folder, list(TAGS)) if blend and self.spans else None

    @classmethod
    def load(cls, run: str | Path, *, batch_size: int = 64, backend: str = "torch", blend: bool = True, **options):
        return cls(run, batch_size=batch_size, backend=backend, blend=blend)

    def opinions(self, texts: list[str]) -> list[list[dict]]:
        """Per review, its opinions: ``aspect``/``opinion`` (text, or None when implicit) with
        ``aspect_start``/``aspect_end``/``opinion_start``/``opinion_end``, ``category``, ``polarity``, ``score``."""
        texts = [str(t) for t in texts]
        found = decode(self.model, self.tokenizer, [t if t.strip() else " " for t in texts], self.max_length,
                       self.batch_size, self.spans, self.lexical)
        return [[_spelled(text, o) for o in opinions] if text.strip() else [] for text, opinions in zip(texts, found)]

    # the registry's surface -------------------------------------------------------------------
    def answer(self, texts: list[str]) -> list[list[dict]]:
        return self.opinions(texts)

    def predict_batch(self, texts: list[str]) -> np.ndarray:
        return results_array(self.opinions(texts))

    def describe(self) -> dict:
        return {"task": "aspects", "labels": {"categories": self.categories, "polarities": self.polarities},
                "blend": {"used": True, "weight": round(1 - self.lexical.weight, 2), "with": "character CRF"}
                if self.lexical else {"used": False}}

    @classmethod
    def evaluate_file(cls, run: str | Path, data: str, *, encoding: str | None = None, batch_size: int = 64,
                      text_column: str | None = None, labels: str | None = None, blend: bool = True, **_unused) -> dict:
        """Quadruple, pair and span metrics on another labelled file (any of the three forms);
        categories or polarities the run does not know are refused."""
        reader = cls(run, batch_size=batch_size, blend=blend)
        gold = read_aspects(data, labels, text_column=text_column, encoding=encoding)
        unknown = sorted({q.category for r in gold.reviews for q in r.quads} - set(reader.categories)) + sorted(
            {q.polarity for r in gold.reviews for q in r.quads} - set(reader.polarities))
        if unknown:
            raise EcomsftError(f"categories or polarities the run was not trained on: {', '.join(unknown)}", where=data)
        texts = [r.text for r in gold.reviews]
        # The labelled reviews are never empty (read_aspects refuses it): decoded as spans, not spelled out.
        found = decode(reader.model, reader.tokenizer, texts, reader.max_length, reader.batch_size, reader.spans,
                       reader.lexical)
        predicted = [as_quads(opinions) for opinions in found]
        report = aspect_report([r.quads for r in gold.reviews], predicted, gold.spans and reader.spans)
        report.update({"errors": worst_reviews(texts, [r.quads for r in gold.reviews], predicted), "rows": len(texts)})
        return report

    @classmethod
    def predict_file(cls, run: str | Path, input: str | Path, output: str | Path, *, text_column: str | None = None,
                     batch_size: int = 64, chunk_rows: int = 10_000, resume: bool = False, progress: bool = False,
                     backend: str = "torch", blend: bool = True, **_unused) -> int:
        return opinion_rows(cls(run, batch_size=batch_size, backend=backend, blend=blend), input, output, text_column=text_column,
                            chunk_rows=chunk_rows, resume=resume, progress=progress)


def _spelled(text: str, opinion: dict) -> dict:
    out = {}
    for part in ("aspect", "opinion"):
        span = opinion[part]
        out.update({part: text[span[0]:span[1]] if span else None, f"{part}_start": span[0] if span else None,
                    f"{part}_end": span[1] if span else None})
    return {**out, "category": opinion["category"], "polarity": opinion["polarity"], "score": round(opinion["score"], 4)}



def opinion_rows(reader: AspectReader, input: str | Path, output: str | Path, *, text_column: str | None = None,
                 chunk_rows: int = 10_000, resume: bool = False, progress: bool = False, summary=None) -> int:
    """One output row per opinion found (the input row's number, the spans, category, polarity and
    score, then the input's columns), a chunk at a time and resumable like ``predict --input``; a
    review without an opinion gets one row with empty opinion cells, so that every review is counted.
    ``summary`` (a ``summary.OpinionSummary``) counts every chunk (a whole pass: not with ``resume``)."""
    if summary is not None and resume:
        raise EcomsftError("a summary counts the whole file in one pass; run without --resume", where=str(output))
    columns: dict[str, str] = {}
    offset = [0]

    def score(table) -> pd.DataFrame:
        texts = column_texts(table, columns, text_column, TEXT_GUESSES, "text", "--text-column")
        found = reader.opinions(texts)
        if summary is not None:
            summary.add([t for t in texts if t.strip()], [f for t, f in zip(texts, found) if t.strip()])
        rows = []
        for i, (record, opinions) in enumerate(zip(table.frame.to_dict("records"), found)):
            for opinion in opinions or [dict.fromkeys(OUTPUT_COLUMNS[1:])]:
                rows.append({"row": offset[0] + i + 1, **opinion, **{k: v for k, v in record.items() if k not in OUTPUT_COLUMNS}})
        offset[0] += len(table.frame)
        return pd.DataFrame(rows, columns=[*OUTPUT_COLUMNS, *[c for c in table.frame.columns if c not in OUTPUT_COLUMNS]])

    return score_file(score, input, output, chunk_rows=chunk_rows, resume=resume, progress=progress)


READER = AspectReader
