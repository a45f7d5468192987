"""Generating with a decoder: prompts formatted by the run's chat template (the one training
used), cut from the left to fit, batched greedy or sampled generation that reports whether each
output stopped by itself (EOS) within its budget, token streaming, and files (chunked, resumable)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ...data.conversations import COLUMNS, answer_of, prompt_of, read_conversations
from ...evaluation.generation import generation_report
from ...inference.base import Inference
from ...inference.file_scoring import column_texts, score_file
from ...models.generating import generate_ids, prompt_ids, sampling_options, stop_ids, until_stop
from ...models.resolve import SAFETENSORS_ONLY
from ...run_folder import run_config, trained_model

PROMPT_COLUMN_GUESSES = ("prompt", "instruction", "question", "query", "text", "review", "title")


class Generator(Inference):
    """Generation with a finished generation run: ``generate`` for batches, ``stream`` for one
    prompt a piece at a time. A prompt is a text (the user turn) or a list of chat turns."""

    tasks = ("generation",)
    use = 'ecomsft generate RUN "prompt" (or --input FILE --output FILE)'
    route = "/v1/generate"
    serves = 'this run generates: POST /v1/generate with {"prompt": ...}'
    batched = False  # one request at a time on the model (its own lock); no micro-batches
    served_limits = ("max_new_tokens",)

    def __init__(self, run: str | Path, batch_size: int = 8, device: str | None = None):
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        folder = trained_model(run)
        self.run_dir = folder.parent if folder.name == "model" else None
        self.require(run)
        config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
        self.tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        self.model = AutoModelForCausalLM.from_pretrained(folder, **SAFETENSORS_ONLY, trust_remote_code=False)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.device).eval()
        self.max_length = int(config.ecomsft_max_length)
        self.max_new_tokens = int(config.ecomsft_max_new_tokens)
        self.system = getattr(config, "ecomsft_system", None)
        # How the run judges its answers (evaluate on another file does the same).
        self.completion_kind = getattr(config, "ecomsft_completion_kind", None) or "text"
        self.labels = getattr(config, "ecomsft_labels", None)
        self.positions = int(getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", 0) or 10**6)
        self.batch_size = batch_size
        self.lock = threading.Lock()  # one generate() at a time on this model (the server's threads)

    def turns(self, prompt: str | list[dict]) -> list[dict]:
        turns = [{"role": "user", "content": str(prompt)}] if isinstance(prompt, str) else list(prompt)
        if self.system and turns[0]["role"] != "system":
            turns = [{"role": "system", "content": self.system}, *turns]
        return turns

    def prompt_ids(self, prompt: str | list[dict], max_new_tokens: int) -> tuple[list[int], bool]:
        return prompt_ids(self.tokenizer, self.turns(prompt), max(8, min(self.max_length, self.positions - max_new_tokens)))

    def generate(self, prompts: list, max_new_tokens: int | None = None, **sampling) -> list[dict]:
        """``[{"text", "stopped", "new_tokens", "prompt_cut"}]`` in input order; ``stopped`` is
        true when the model ended its answer itself (EOS) within ``max_new_tokens``."""
        budget = max_new_tokens or self.max_new_tokens
        encoded = [self.prompt_ids(p, budget) for p in prompts]
        with self.lock:
            found = generate_ids(self.model, self.tokenizer, [ids for ids, _ in encoded], max_new_tokens=budget,
                                 batch_size=self.batch_size, sampling=sampling_options(**sampling))
        return [{"text": self.tokenizer.decode(ids, skip_special_tokens=True).strip(), "stopped": stopped,
                 "new_tokens": len(ids), "prompt_cut": cut} for (ids, stopped), (_, cut) in zip(found, encoded)]

    def stream(self, prompt, max_new_tokens: int | None = None, **sampling) -> Iterator[dict]:
        """The answer to one prompt as it is generated: ``{"text": piece}`` events, then
        ``{"done": True, "stopped": ..., "new_tokens": ...}``."""
        import torch
        from transformers import TextIteratorStreamer

        budget = max_new_tokens or self.max_new_tokens
        ids, _ = self.prompt_ids(prompt, budget)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        inputs = torch.tensor([ids], device=self.device)
        stops, result = stop_ids(self.tokenizer), {}

        def work():
            try:
                with self.lock, torch.inference_mode():
                    result["ids"] = self.model.generate(
                        input_ids=inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=budget, eos_token_id=stops,
                        pad_token_id=self.tokenizer.pad_token_id, streamer=streamer, **sampling_options(**sampling))[0, len(ids):].tolist()
            except BaseException as err:  # seen by the reader below, not lost in the thread
                result["error"] = err
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        for piece in streamer:
            if piece:
                yield {"text": piece}
        thread.join()
        if "error" in result:
            raise result["error"]
        kept, stopped = until_stop(result["ids"], stops, self.tokenizer.pad_token_id)
        yield {"done": True, "stopped": stopped, "new_tokens": len(kept)}

    # the registry's surface -------------------------------------------------------------------
    @classmethod
    def load(cls, run: str | Path, *, batch_size: int = 8, backend: str = "torch", blend: bool = True, **options) -> "Generator":
        # At most 8 prompts generated together: the other commands' batch of 64 would pad short
        # prompts to the longest and keep finished answers decoding until the last one stops.
        return cls(run, batch_size=min(batch_size, 8))

    def describe(self) -> dict:
        return {"task": "generation", "labels": self.labels}

    def answer(self, texts: list[str]) -> list[dict]:
        return self.generate(texts)

    @classmethod
    def evaluate_file(cls, run: str | Path, data: str, *, encoding: str | None = None, batch_size: int = 8,
                      **_unused) -> dict:
        """Generation metrics on another file of prompts and answers (prompt/completion, messages
        or Alpaca columns, as in training), judged as the run judged its test split."""
        trained = (run_config(run) or {}).get("task", {})  # the columns the run was trained on; the system turn: ours
        options = SimpleNamespace(format="auto", system=None, **{key: trained.get(key, name) for key, name in COLUMNS.items()})
        read = read_conversations(data, options, encoding)
        generator = cls.load(run, batch_size=batch_size)
        answers = generator.generate([prompt_of(turns) for turns in read.items])
        references = [answer_of(turns) for turns in read.items]
        report, _ = generation_report(references, [a["text"] for a in answers], generator.completion_kind, generator.labels)
        report.update({"stopped_by_eos": float(np.mean([a["stopped"] for a in answers])),
                       "prompts_cut": int(sum(a["prompt_cut"] for a in answers)), "rows": len(answers)})
        return report

    @classmethod
    def predict_file(cls, run: str | Path, input: str | Path, output: str | Path, *, text_column: str | None = None,
                     batch_size: int = 8, chunk_rows: int = 1_000, resume: bool = False, progress: bool = False,
                     **_unused) -> int:
        return generate_rows(cls.load(run, batch_size=batch_size), input, output, prompt_column=text_column,
                             chunk_rows=min(chunk_rows, 1_000), resume=resume, progress=progress)


def generate_rows(generator: Generator, input: str | Path, output: str | Path, *, prompt_column: str | None = None,
                  max_new_tokens: int | None = None, chunk_rows: int = 1_000, resume: bool = False, progress: bool = False,
                  **sampling) -> int:
    """Every row of ``input`` with ``generation`` and ``stopped`` columns added (empty prompts get
    empty cells), a chunk at a time and resumable like ``predict --input``."""
    columns: dict[str, str] = {}

    def score(table):
        prompts = column_texts(table, columns, prompt_column, PROMPT_COLUMN_GUESSES, "prompt", "--prompt-column")
        frame = table.frame.copy()
        keep = [i for i, p in enumerate(prompts) if p.strip()]
        found = generator.generate([prompts[i] for i in keep], max_new_tokens, **sampling) if keep else []
        texts, stopped = [None] * len(prompts), [None] * len(prompts)
        for i, answer in zip(keep, found):
            texts[i], stopped[i] = answer["text"], answer["stopped"]
        frame["generation"], frame["stopped"] = texts, stopped
        return frame

    return score_file(score, input, output, chunk_rows=chunk_rows, resume=resume, progress=progress)


READER = Generator
