"""Text prefixes of encoders trained with them: the e5 family embeds ``query: ...`` and
``passage: ...`` (Wang et al. 2022), and scores worse on texts without them.

A model carries its prefixes in its own config (``ecomsft_e5_prefixes``: the bundled ``me5`` is
written with them, ``models/e5_file.py``, and a run on it keeps them), so a run, an index, a search
and the server apply the same ones; a model without the key gets none.
"""

from __future__ import annotations

KEY = "ecomsft_e5_prefixes"


def text_prefixes(config) -> dict[str, str] | None:
    """``{"query": ..., "document": ...}`` from a model config (an object or the dict of config.json)."""
    value = config.get(KEY) if isinstance(config, dict) else getattr(config, KEY, None)
    return {"query": value["query"], "document": value["document"]} if value else None


def prefixed(prefixes: dict[str, str] | None, queries: list[str], products: list[str]) -> tuple[list[str], list[str]]:
    if not prefixes:
        return queries, products
    return [prefixes["query"] + q for q in queries], [prefixes["document"] + p for p in products]


def give_prompts(encoder) -> dict[str, str] | None:
    """A sentence-transformers encoder takes its transformer's prefixes as its ``query`` and
    ``document`` prompts (``encode_query`` / ``encode_document`` apply them; ``save`` keeps them),
    unless it has prompts of its own. Returns the prompts given, or None."""
    if any((getattr(encoder, "prompts", None) or {}).values()):
        return None
    for module in encoder.modules():
        prefixes = text_prefixes(getattr(getattr(module, "auto_model", None), "config", None) or {})
        if prefixes:
            encoder.prompts = dict(prefixes)
            return prefixes
    return None
