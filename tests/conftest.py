"""Shared fixtures: a tiny randomly initialised BERT built in code, and small labelled files."""

from __future__ import annotations

import os
import random
import sys

import pandas as pd
import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORDS = ["good", "great", "love", "fast", "bad", "awful", "slow", "broken", "the", "product", "is", "was",
         "very", "delivery", "price", "quality", "and", "it", "好", "差", "很", "的", "不", "快", "慢"]
POSITIVE = ["good", "great", "love", "fast"]
NEGATIVE = ["bad", "awful", "slow", "broken"]
FILLER = ["the", "product", "is", "was", "very", "delivery", "price", "quality", "and", "it"]


@pytest.fixture(scope="session", autouse=True)
def _token_cache(tmp_path_factory):
    """Tokenized-data cache of the session's own, never the user's ~/.cache."""
    os.environ["ECOMSFT_CACHE"] = str(tmp_path_factory.mktemp("ecomsft-cache"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer BERT with a 30-word vocabulary, saved like a hub model (random weights)."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, model_max_length=64)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertForMaskedLM(config).save_pretrained(folder)
    return folder


UNIGRAM_PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁物流", "物流", "▁很", "很", "快", "慢", "▁好", "好", "差", "▁质量",
          "质量", "▁the", "▁good", "▁bad", "g", "o", "d", "b", "a", "t", "h", "e", "한", "국", "▁한국", "!", "1",
          "<mask>"]


@pytest.fixture(scope="session")
def tiny_unigram_dir(tmp_path_factory):
    """A 2-layer BERT over a SentencePiece-style Unigram vocabulary (XLM-R's special tokens), random weights."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-unigram")
    scores = [0.0] * 4 + [-2.0 - 0.1 * i for i in range(len(UNIGRAM_PIECES) - 5)] + [0.0]
    backend = Tokenizer(models.Unigram(list(zip(UNIGRAM_PIECES, scores)), unk_id=3, byte_fallback=False))
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    backend.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
                                                           special_tokens=[("<s>", 0), ("</s>", 2)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                        cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                                        model_max_length=64)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(UNIGRAM_PIECES), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64, pad_token_id=1)).save_pretrained(folder)
    return folder


def make_reviews(n: int, seed: int = 0, chinese_share: float = 0.0) -> pd.DataFrame:
    """Separable synthetic reviews: a sentiment word decides the label, fillers add noise."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "positive" if i % 2 == 0 else "negative"
        words = rng.sample(FILLER, 4) + [rng.choice(POSITIVE if label == "positive" else NEGATIVE)]
        rng.shuffle(words)
        text = " ".join(words)
        if rng.random() < chinese_share:
            text += (" 很好 赞 棒" if label == "positive" else " 很差 烂 糟")
        rows.append((text, label))
    return pd.DataFrame(rows, columns=["review", "label"])


@pytest.fixture
def reviews_csv(tmp_path):
    path = tmp_path / "reviews.csv"
    make_reviews(120).to_csv(path, index=False)
    return path


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run the console entry point in-process; returns (exit code, stdout, stderr)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from ecomsft import cli
    from ecomsft.report import terminal as render

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["ecomsft", *map(str, args)]
    code = 0
    render.console.file, render.err_console.file = out, err
    render.console.width = render.err_console.width = 250
    try:
        with redirect_stdout(out), redirect_stderr(err):
            cli.main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.argv = argv
        render.console.file, render.err_console.file = sys.stdout, sys.stderr
    return code, out.getvalue(), err.getvalue()


def failed_in_one_line(code: int, err: str) -> bool:
    """A user's mistake: exit code 2, exactly one ``error:`` line, and no traceback."""
    return code == 2 and err.count("error:") == 1 and "Traceback" not in err


def tiny_overrides(model_dir, data, output, **extra) -> dict:
    values = {
        "data.train": str(data), "model.name": str(model_dir), "output": str(output),
        "model.max_length": 32, "training.batch_size": 16, "training.lr": 1e-3, "training.epochs": 2,
        "training.progress_bar": False, "training.logging_steps": 5,
    }
    values.update(extra)
    return values


@pytest.fixture(scope="session")
def tiny_run(tiny_model_dir, tmp_path_factory):
    """A finished run of the tiny model on separable reviews (English and Chinese)."""
    from ecomsft.config import build_config
    from ecomsft.runner import run as train

    folder = tmp_path_factory.mktemp("run")
    data = folder / "reviews.csv"
    make_reviews(200, chinese_share=0.5).to_csv(data, index=False)
    return train(build_config(None, tiny_overrides(tiny_model_dir, data, folder / "out", **{"training.epochs": 3})))


PAIR_WORDS = ["good", "great", "love", "fast", "bad", "slow", "broken", "delivery", "price", "quality", "product", "very"]


def make_pairs(n_queries: int, seed: int = 0) -> pd.DataFrame:
    """Graded (query, product) rows: a relevant product (grade 3 or 2.67) repeats the query's words and
    says 'great'; an irrelevant one (1 or 1.33) has other words and says 'awful'. Learnable."""
    rng = random.Random(seed)
    words = [w for w in PAIR_WORDS if w not in ("great",)]
    rows = []
    for q in range(n_queries):
        query_words = rng.sample(words, 2)
        query = " ".join(query_words) + f" {q % 7}"
        for c in range(rng.randint(2, 6)):
            if c % 2 == 0:
                product, grade = " ".join(query_words + rng.sample(words, 1) + ["great"]), rng.choice([2.67, 3.0])
            else:
                product, grade = " ".join(rng.sample([w for w in words if w not in query_words], 2) + ["awful"]), rng.choice([1.0, 1.33])
            rows.append((query, f"{product} {c}", grade))
    return pd.DataFrame(rows, columns=["search_term", "product_title", "relevance"])


# --- GPU memory per test (a report only where a CUDA GPU is present) --------------------------

_GPU_PEAKS: list[tuple[float, str]] = []


@pytest.fixture(autouse=True)
def _gpu_memory_peak(request):
    """Records each test's peak GPU memory held by PyTorch (``max_memory_reserved``), reported at
    the end of the session: an allocation that grows with the device rather than the work shows."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        yield
        return
    torch.cuda.reset_peak_memory_stats()
    yield
    _GPU_PEAKS.append((torch.cuda.max_memory_reserved() / 2**20, request.node.nodeid))


def pytest_terminal_summary(terminalreporter):
    if _GPU_PEAKS:
        torch = sys.modules["torch"]
        free, total = torch.cuda.mem_get_info()
        terminalreporter.write_line(f"GPU memory in use at the end: {(total - free) / 2**20:.0f} MiB of {total / 2**20:.0f}; "
                                    f"jax imported: {'jax' in sys.modules}")
        terminalreporter.section("peak GPU memory per test (MiB, PyTorch reserved), largest first")
        for mib, nodeid in sorted(_GPU_PEAKS, reverse=True)[:15]:
            terminalreporter.write_line(f"{mib:9.0f}  {nodeid}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """``item.failed`` for fixtures that keep evidence of a failure (the browser tests' screenshots)."""
    outcome = yield
    if outcome.get_result().failed:
        item.failed = True
