"""The run's own lexical model, kept beside the fine-tuned one: the fitted tfidf-lr baseline
(``evaluation/baselines.py``) and the weight that blends it with the fine-tuned model.

Saved as data only, never as pickle (loading a pickle runs whatever code it names): the vectorizer's
settings, classes and terms in ``lexical.json``; the idf, coefficients and intercepts in
``lexical.safetensors`` (float64: reloaded, it gives the fitted pipeline's probabilities to the last
bit). Measured on the quickstart reviews against a pickle of the same pipeline, see the README.

Scoring is written here with numpy, not by rebuilding scikit-learn's objects: the estimator cannot
be rebuilt without its pickle, and importing scikit-learn (with scipy) costs about a second of the
2.5 that ``ecomsft predict RUN "text"`` may take. The analyzers the baseline uses (character and word
n-grams, ``TfidfVectorizer``'s own rules: whitespace runs collapsed, ``token_pattern``, n-grams
joined by a space), sublinear tf, idf, l2 norm, then ``X @ coef.T + intercept`` and a softmax (or a
sigmoid per column for two classes and multi-label runs): the pipeline's probabilities to 1e-12
(tested). Settings outside those (``char_wb``, accents stripped) score through scikit-learn's
``TfidfVectorizer`` with the fitted vocabulary and idf set on it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EcomsftError
from ..files import write_bytes_atomic, write_text_atomic

JSON, TENSORS = "lexical.json", "lexical.safetensors"
FORMAT = 1
# The vectorizer settings that shape its output (what the fitted object carries beyond its vocabulary).
_SETTINGS = ("analyzer", "ngram_range", "lowercase", "sublinear_tf", "norm", "use_idf", "smooth_idf",
             "token_pattern", "strip_accents", "binary")


_WHITESPACE = re.compile(r"\s\s+")  # TfidfVectorizer's own: a run of whitespace reads as one space


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def mix(model_probs: np.ndarray, lexical_probs: np.ndarray, weight: float) -> np.ndarray:
    """The blend: ``weight`` of the fine-tuned model's probabilities, the rest of the lexical model's."""
    return weight * model_probs + (1 - weight) * lexical_probs


@dataclass
class LexicalModel:
    settings: dict
    terms: list[str]
    idf: np.ndarray  # (terms,)
    coef: np.ndarray  # (1 or outputs, terms)
    intercept: np.ndarray  # (1 or outputs,)
    classes: list[int]  # the label ids the regression saw, in its column order
    n_labels: int
    multi_label: bool
    blend: dict = field(default_factory=dict)  # {"weight": w of the fine-tuned model, "threshold": t}; {}: none chosen

    @classmethod
    def from_pipeline(cls, pipeline, n_labels: int, multi_label: bool) -> "LexicalModel":
        """From the fitted ``make_pipeline(TfidfVectorizer, LogisticRegression or OneVsRest of it)``."""
        vectorizer, classifier = pipeline[0], pipeline[-1]
        settings = {key: getattr(vectorizer, key) for key in _SETTINGS}
        settings["ngram_range"] = list(settings["ngram_range"])
        terms = [None] * len(vectorizer.vocabulary_)
        for term, column in vectorizer.vocabulary_.items():
            terms[column] = term
        if multi_label:  # one binary regression per label; a label constant in training predicts it always
            coef = np.zeros((n_labels, len(terms)))
            intercept = np.zeros(n_labels)
            for i, estimator in enumerate(classifier.estimators_):
                if hasattr(estimator, "coef_"):
                    coef[i], intercept[i] = estimator.coef_[0], estimator.intercept_[0]
                else:  # sklearn's _ConstantPredictor: the probability is that constant, 0 or 1
                    intercept[i] = np.inf if float(np.ravel(estimator.y_)[0]) > 0.5 else -np.inf
            classes = list(range(n_labels))
        else:
            coef, intercept = classifier.coef_, classifier.intercept_
            classes = [int(c) for c in classifier.classes_]
        return cls(settings, terms, np.asarray(vectorizer.idf_, dtype=np.float64), np.asarray(coef, dtype=np.float64),
                   np.asarray(intercept, dtype=np.float64), classes, n_labels, multi_label)

    # scoring -----------------------------------------------------------------------------------
    def vectorizer(self):
        from sklearn.feature_extraction.text import TfidfVectorizer

        settings = {**self.settings, "ngram_range": tuple(self.settings["ngram_range"])}
        vectorizer = TfidfVectorizer(dtype=np.float64, **settings)
        vectorizer.vocabulary_ = {term: i for i, term in enumerate(self.terms)}
        vectorizer.fixed_vocabulary_ = True
        vectorizer.idf_ = self.idf
        return vectorizer

    def _ngrams(self, text: str) -> list[str]:
        """The analyzer of ``TfidfVectorizer`` for the settings ``_native`` allows."""
        s = self.settings
        if s["lowercase"]:
            text = text.lower()
        low, high = s["ngram_range"]
        if s["analyzer"] == "char":
            units, join = _WHITESPACE.sub(" ", text), ""
        else:
            if not hasattr(self, "_token_pattern"):
                self._token_pattern = re.compile(s["token_pattern"])
            units, join = self._token_pattern.findall(text), " "
        found = []
        for n in range(low, min(high, len(units)) + 1):
            found.extend(join.join(units[i:i + n]) for i in range(len(units) - n + 1))
        return found

    def _native(self) -> bool:
        s = self.settings
        return (s["analyzer"] in ("char", "word") and not s.get("strip_accents") and s.get("norm") in ("l2", None)
                and (s["analyzer"] == "char" or re.compile(s["token_pattern"]).groups == 0))

    def _scores(self, texts: list[str]) -> np.ndarray:
        """``X @ coef.T + intercept`` of the tf-idf rows of ``texts``."""
        if not self._native():
            if not hasattr(self, "_vectorizer"):
                self._vectorizer = self.vectorizer()
            return np.asarray(self._vectorizer.transform(texts) @ self.coef.T) + self.intercept
        if not hasattr(self, "_index"):
            self._index = {term: i for i, term in enumerate(self.terms)}
        s, index = self.settings, self._index
        scores = np.empty((len(texts), self.coef.shape[0]))
        for row, text in enumerate(texts):
            counts: dict[int, int] = {}
            for gram in self._ngrams(text):
                column = index.get(gram)
                if column is not None:
                    counts[column] = counts.get(column, 0) + 1
            columns = np.fromiter(sorted(counts), dtype=np.int64, count=len(counts))
            values = np.array([counts[c] for c in columns], dtype=np.float64)
            if s.get("binary"):
                values[:] = 1.0
            if s["sublinear_tf"]:
                values = np.log(values) + 1.0
            if s.get("use_idf", True):
                values = values * self.idf[columns]
            if s.get("norm") == "l2" and len(values):
                values = values / np.sqrt(np.dot(values, values))
            scores[row] = self.coef[:, columns] @ values
        return scores + self.intercept

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Probabilities (texts, labels), columns in label-id order; a class the regression never saw
        gets 0."""
        scores = self._scores([str(t) for t in texts])
        if self.multi_label:
            return _expit(scores)
        if scores.shape[1] == 1:  # two classes: one column of scores for the second
            seen = _expit(scores)
            seen = np.hstack([1 - seen, seen])
        else:
            seen = np.exp(scores - scores.max(axis=1, keepdims=True))
            seen /= seen.sum(axis=1, keepdims=True)
        if len(self.classes) == self.n_labels:
            return seen
        full = np.zeros((len(texts), self.n_labels))
        full[:, self.classes] = seen
        return full

    def blended(self, model_probs: np.ndarray, texts: list[str]) -> np.ndarray:
        """The fine-tuned model's probabilities mixed with this model's by the chosen weight."""
        return mix(model_probs, self.predict_proba(texts), float(self.blend["weight"]))

    # the files ---------------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        from safetensors.numpy import save

        folder = Path(folder)
        write_bytes_atomic(folder / TENSORS, save({"idf": self.idf, "coef": np.ascontiguousarray(self.coef),
                                                   "intercept": self.intercept}))
        write_text_atomic(folder / JSON, json.dumps({
            "format": FORMAT, "model": "tfidf-lr", "settings": self.settings, "classes": self.classes,
            "n_labels": self.n_labels, "multi_label": self.multi_label, "blend": self.blend, "terms": self.terms,
        }, ensure_ascii=False))

    @classmethod
    def load(cls, folder: str | Path) -> "LexicalModel | None":
        """The model saved in ``folder``; None when there is none (a run from before it was kept).
        A damaged or foreign file is one error naming it (data only: nothing in it is executed)."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        folder = Path(folder)
        if not (folder / JSON).exists() and not (folder / TENSORS).exists():
            return None
        where = str(folder / JSON)
        try:
            meta = json.loads((folder / JSON).read_text(encoding="utf-8"))
            where = str(folder / TENSORS)
            arrays = load_file(folder / TENSORS)
            where = str(folder)
            model = cls(dict(meta["settings"]), list(meta["terms"]), arrays["idf"], arrays["coef"], arrays["intercept"],
                        [int(c) for c in meta["classes"]], int(meta["n_labels"]), bool(meta["multi_label"]),
                        dict(meta.get("blend") or {}))
            model.check()
        except (OSError, ValueError, KeyError, TypeError, SafetensorError) as err:
            detail = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
            raise EcomsftError(f"the run's lexical model (tfidf-lr) cannot be read ({detail}); retrain, or pass "
                               "--no-blend to use the fine-tuned model alone", where=where) from None
        return model

    def check(self) -> None:
        """The shapes agree with each other and the settings with a TfidfVectorizer's."""
        outputs = self.n_labels if self.multi_label else (1 if len(self.classes) == 2 else len(self.classes))
        if (set(self.settings) - set(_SETTINGS) or self.settings.get("analyzer") not in ("word", "char", "char_wb")
                or self.idf.shape != (len(self.terms),)
                or self.coef.shape != (outputs, len(self.terms)) or self.intercept.shape != (outputs,)
                or not all(isinstance(t, str) for t in self.terms)
                or not all(0 <= c < self.n_labels for c in self.classes)):
            raise ValueError("its arrays do not fit together")
        weight = self.blend.get("weight")
        if weight is not None and not 0.0 <= float(weight) <= 1.0:
            raise ValueError("its blend weight is not between 0 and 1")
