"""A linear-chain CRF over characters (sklearn-crfsuite; the features of the classical baselines of
extraction and aspects), kept with an aspects run: its per-character tag marginals are mixed into
the fine-tuned tagger's scores where the validation split says so (``model.blend: auto``), as
classification blends tfidf-lr.

crfsuite fits it; the run keeps its weights as JSON (attribute -> label weights, label-to-label
transitions) and the marginals are computed here with numpy (forward-backward), so that reading a
run never loads a binary model file nor needs crfsuite's own reader: nothing in the file is
executed, and a damaged one is one error naming it. Written by hand because crfsuite can only load
its own binary files; tested against crfsuite's own marginals.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..errors import EcomsftError
from ..files import write_text_atomic

WINDOW = 2  # characters on each side


def _kind(ch: str) -> str:
    if ch.isspace():
        return "space"
    if ch.isdigit():
        return "digit"
    if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf":
        return "cjk"
    if ch.isalpha():
        return "upper" if ch.isupper() else "alpha"
    return "punct"


def sequence_features(tokens: list[str]) -> list[dict[str, object]]:
    """Per token: unigrams, bigrams and trigrams of the characters (lower-cased) in a window of +-2,
    their kinds (CJK, Latin, digit, ...), and the position (the padded sequence built once)."""
    padded = ["<s>"] * WINDOW + [t.lower() for t in tokens] + ["</s>"] * WINDOW
    kinds = ["<s>"] * WINDOW + [_kind(t[:1] or " ") for t in tokens] + ["</s>"] * WINDOW
    out = []
    for i in range(len(tokens)):
        j = i + WINDOW
        features: dict[str, object] = {"bias": 1.0, "first": i == 0, "last": i == len(tokens) - 1}
        for k in range(-WINDOW, WINDOW + 1):
            features[f"c[{k}]"] = padded[j + k]
            features[f"k[{k}]"] = kinds[j + k]
        for k in range(-WINDOW, WINDOW):
            features[f"c[{k}:{k + 2}]"] = padded[j + k] + padded[j + k + 1]
        for k in range(-WINDOW, WINDOW - 1):
            features[f"c[{k}:{k + 3}]"] = "".join(padded[j + k:j + k + 3])
        out.append(features)
    return out


FILE = "char_crf.json"
FORMAT = 1
FLOOR = 1e-6  # the smallest marginal probability kept (a tag crfsuite never saw would be log 0)


def crfsuite_model(max_iterations: int = 100):
    """The CRF both baselines fit: L-BFGS with L1 + L2, every transition learnt."""
    import sklearn_crfsuite

    return sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.1, max_iterations=max_iterations,
                                all_possible_transitions=True)


def char_features(text: str) -> list[dict]:
    return sequence_features(list(text))


class CharCrf:
    """The fitted CRF's weights; ``log_marginals(text)``: (characters, tags) log-probabilities in
    the order of ``tags`` (the tagger's tag set)."""

    def __init__(self, tags: list[str], labels: list[str], state: dict[str, list[list[float]]], transitions: list[list[float]],
                 weight: float = 0.0):
        self.tags, self.labels, self.weight = list(tags), list(labels), float(weight)
        self.state = state  # attribute -> [[label index, weight], ...], as the file keeps it
        self.rows = {attribute: row for row, attribute in enumerate(state)}
        self.matrix = np.zeros((len(state) + 1, len(labels)))  # attribute x label weights; the last row: unknown
        for attribute, pairs in state.items():
            for label, weight in pairs:
                self.matrix[self.rows[attribute], int(label)] = weight
        self.transitions = np.asarray(transitions, dtype=np.float64)
        self.order = np.array([self.labels.index(t) if t in self.labels else -1 for t in self.tags])
        self.crfsuite, self.fit_seconds = None, 0.0

    @classmethod
    def fit(cls, texts: list[str], tag_sequences: list[list[str]], tags: list[str], max_iterations: int = 100) -> "CharCrf":
        started = time.perf_counter()
        crf = crfsuite_model(max_iterations)
        crf.fit([char_features(t) for t in texts], tag_sequences)
        labels = list(crf.classes_)
        index = {label: k for k, label in enumerate(labels)}
        state: dict[str, list[list[float]]] = {}
        for (attribute, label), value in crf.state_features_.items():
            state.setdefault(attribute, []).append([index[label], float(value)])
        transitions = np.zeros((len(labels), len(labels)))
        for (a, b), value in crf.transition_features_.items():
            transitions[index[a], index[b]] = value
        fitted = cls(tags, labels, state, transitions.tolist())
        fitted.crfsuite = crf  # crfsuite's own model, for the classical baseline's tags (never saved)
        fitted.fit_seconds = time.perf_counter() - started
        return fitted

    def log_marginals(self, text: str) -> np.ndarray:
        n, k = len(text), len(self.labels)
        if n == 0:
            return np.zeros((0, len(self.tags)))
        # crfsuite's reading of a feature dict (python-crfsuite's ItemSequence): a string value is the
        # attribute "key:value" of weight 1, a number or bool the attribute "key" of that weight.
        unknown, rows, values = len(self.state), [], []
        for features in char_features(text):
            for key, value in features.items():
                if isinstance(value, str):
                    rows.append(self.rows.get(f"{key}:{value}", unknown))
                    values.append(1.0)
                else:
                    rows.append(self.rows.get(key, unknown))
                    values.append(float(value))
        per_char = len(rows) // n  # every character has the same feature keys
        emissions = (self.matrix[rows] * np.asarray(values)[:, None]).reshape(n, per_char, k).sum(axis=1)
        alpha, beta = np.zeros((n, k)), np.zeros((n, k))
        alpha[0] = emissions[0]
        for i in range(1, n):
            alpha[i] = emissions[i] + np.logaddexp.reduce(alpha[i - 1][:, None] + self.transitions, axis=0)
        for i in range(n - 2, -1, -1):
            beta[i] = np.logaddexp.reduce(self.transitions + (emissions[i + 1] + beta[i + 1])[None, :], axis=1)
        marginals = alpha + beta - np.logaddexp.reduce(alpha[-1])
        out = np.full((n, len(self.tags)), np.log(FLOOR))
        known = self.order >= 0
        out[:, known] = np.maximum(marginals[:, self.order[known]], np.log(FLOOR))
        return out

    # the file ---------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        write_text_atomic(Path(folder) / FILE, json.dumps({
            "format": FORMAT, "model": "char-crf", "tags": self.tags, "labels": self.labels, "weight": self.weight,
            "transitions": self.transitions.tolist(), "state": self.state}, ensure_ascii=False))

    @classmethod
    def load(cls, folder: str | Path, tags: list[str]) -> "CharCrf | None":
        """The CRF kept in ``folder`` for a tagger of ``tags``; None when there is none. A damaged
        file, or one made for other tags, is one error naming it."""
        path = Path(folder) / FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("model") != "char-crf":
                raise ValueError("not a character CRF of this version")
            if data["tags"] != list(tags) or not set(data["labels"]) <= set(tags):
                raise ValueError("its tags are not the tagger's")
            if not 0 <= float(data["weight"]) <= 1:
                raise ValueError("its weight is not between 0 and 1")
            crf = cls(data["tags"], data["labels"], dict(data["state"]), data["transitions"], data["weight"])
            if crf.transitions.shape != (len(crf.labels), len(crf.labels)):
                raise ValueError("its transitions do not fit its labels")
            return crf
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, UnicodeDecodeError) as err:
            raise EcomsftError(f"damaged character CRF file ({err})", where=str(path)) from None
