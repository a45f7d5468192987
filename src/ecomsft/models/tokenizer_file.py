"""A model folder's ``tokenizer.json`` read with the ``tokenizers`` library alone.

``transformers.AutoTokenizer`` wraps the very same Rust tokenizer, but importing it costs about 1.6 s
here (it pulls in torch through transformers' configuration code): most of what ``ecomsft predict RUN
"text"`` spent on an ONNX export before the answer. This class offers the two calls the ONNX
prediction path makes (``__call__`` and ``pad``, as ``models.truncation.encode_texts`` and the
readers use them) with the same ids; ``tests/test_tokenizer_file.py`` checks them against
``AutoTokenizer``. A folder without ``tokenizer.json`` (a slow-only tokenizer) is read by
``AutoTokenizer`` instead (``load_tokenizer``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import EcomsftError


class TokenizerFile:
    def __init__(self, folder: str | Path):
        from tokenizers import Tokenizer

        from .resolve import REMOTE_CODE_REFUSED, _first_line

        folder = Path(folder)
        try:
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as err:  # noqa: BLE001 - the Rust library raises plain Exception for a damaged file
            raise EcomsftError(f"cannot load the model (a damaged file?): tokenizer.json: {_first_line(err)}",
                               where=str(folder)) from None
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        try:
            config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        except OSError:
            config = {}
        except ValueError as err:
            raise EcomsftError(f"cannot load the model (a damaged file?): tokenizer_config.json: {err}",
                               where=str(folder)) from None
        if not isinstance(config, dict):
            raise EcomsftError("cannot load the model (a damaged file?): tokenizer_config.json is not an object",
                               where=str(folder))
        if "auto_map" in config:  # as AutoTokenizer refuses it
            raise EcomsftError(REMOTE_CODE_REFUSED, where=str(folder))
        pad = config.get("pad_token")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        self.pad_token_id = (self.tokenizer.token_to_id(pad) if pad else None) or 0
        self.padding_side = config.get("padding_side", "right")
        self._truncation: int | None = None

    def _truncate(self, max_length: int | None) -> None:
        if max_length != self._truncation:
            if max_length:
                self.tokenizer.enable_truncation(max_length)
            else:
                self.tokenizer.no_truncation()
            self._truncation = max_length

    def __call__(self, texts: list[str], pairs: list[str] | None = None, *, truncation: bool = False,
                 max_length: int | None = None, return_special_tokens_mask: bool = False, verbose: bool = True) -> dict:
        """Unpadded ids as ``PreTrainedTokenizerFast(texts, pairs, truncation=..., max_length=...)`` gives them."""
        self._truncate(max_length if truncation else None)
        inputs = list(zip(texts, pairs)) if pairs is not None else list(texts)
        encoded = self.tokenizer.encode_batch(inputs)
        out = {"input_ids": [e.ids for e in encoded], "token_type_ids": [e.type_ids for e in encoded],
               "attention_mask": [e.attention_mask for e in encoded]}
        if return_special_tokens_mask:
            out["special_tokens_mask"] = [e.special_tokens_mask for e in encoded]
        return out

    def pad(self, encoded: dict, return_tensors: str = "np") -> dict[str, np.ndarray]:
        """Every row padded to the longest (ids with the pad token, the rest with 0), as int64 arrays."""
        longest = max((len(row) for row in encoded["input_ids"]), default=0)
        arrays = {}
        for key, rows in encoded.items():
            fill = self.pad_token_id if key == "input_ids" else 0
            padded = [(row + [fill] * (longest - len(row))) if self.padding_side == "right"
                      else ([fill] * (longest - len(row)) + row) for row in rows]
            arrays[key] = np.asarray(padded, dtype=np.int64).reshape(len(rows), longest)
        return arrays


def load_tokenizer(folder: str | Path):
    """``TokenizerFile`` where the folder has a ``tokenizer.json``, else ``AutoTokenizer``."""
    if (Path(folder) / "tokenizer.json").is_file():
        return TokenizerFile(folder)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
