"""The summary a shop manager opens first: over a whole file of reviews, per aspect category the
mentions, the reviews that mention it, the share of each polarity, and the most frequent opinion
phrases with their counts and example reviews; as a dict (JSON), a table (CSV) and an HTML page with
a chart. Counts are added chunk by chunk, so that a file of any size is summarised in bounded
memory (a few example reviews are kept per phrase, and only for the phrases that lead)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd

from ...errors import EcomsftError
from ...files import write_bytes_atomic, write_text_atomic
from ...report.page import CSS, html_table, html_text, png_img

EXAMPLES = 3
PHRASES = 10


class OpinionSummary:
    def __init__(self, polarities: list[str]):
        self.polarities = list(polarities)
        self.reviews = self.reviews_with_opinion = 0
        self.mentions: Counter = Counter()  # category -> opinions
        self.mentioning: Counter = Counter()  # category -> reviews
        self.by_polarity: Counter = Counter()  # (category, polarity) -> opinions
        self.phrases: Counter = Counter()  # (category, polarity, phrase) -> opinions
        self.examples: dict[tuple, list[str]] = defaultdict(list)

    def add(self, texts: list[str], found: list[list[dict]]) -> None:
        for text, opinions in zip(texts, found):
            self.reviews += 1
            self.reviews_with_opinion += bool(opinions)
            for category in {o["category"] for o in opinions}:
                self.mentioning[category] += 1
            for o in opinions:
                phrase = o["opinion"] or o["aspect"] or "_"
                key = (o["category"], o["polarity"], phrase)
                self.mentions[o["category"]] += 1
                self.by_polarity[(o["category"], o["polarity"])] += 1
                self.phrases[key] += 1
                if len(self.examples[key]) < EXAMPLES:
                    self.examples[key].append(text[:200])
        if len(self.examples) > 50_000:  # bounded: keep the examples of the phrases that lead
            keep = {key for key, _ in self.phrases.most_common(20_000)}
            self.examples = defaultdict(list, {k: v for k, v in self.examples.items() if k in keep})

    def result(self) -> dict:
        categories = []
        for category, mentions in self.mentions.most_common():
            phrases = [{"opinion": phrase, "polarity": polarity, "count": count, "examples": self.examples.get((c, polarity, phrase), [])}
                       for (c, polarity, phrase), count in self.phrases.most_common() if c == category][:PHRASES]
            categories.append({"category": category, "mentions": mentions, "reviews": self.mentioning[category],
                               "share": {p: self.by_polarity[(category, p)] / mentions for p in self.polarities},
                               "phrases": phrases})
        return {"reviews": self.reviews, "reviews_with_opinion": self.reviews_with_opinion, "polarities": self.polarities,
                "categories": categories}


def frame(found: dict) -> pd.DataFrame:
    return pd.DataFrame([{"category": row["category"], "mentions": row["mentions"], "reviews": row["reviews"],
                          **{f"share_{p}": round(row["share"][p], 4) for p in found["polarities"]},
                          "top_opinions": "; ".join(f"{p['opinion']} ({p['polarity']}, {p['count']})" for p in row["phrases"])}
                         for row in found["categories"]])


def chart(found: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ...report.page import plot_names

    rows = found["categories"][:15][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    left = [0] * len(rows)
    colours = {0: "#2e7d32", 1: "#c62828", 2: "#9e9e9e"}
    for k, polarity in enumerate(found["polarities"]):
        values = [row["mentions"] * row["share"][polarity] for row in rows]
        ax.barh(plot_names([r["category"] for r in rows]), values, left=left, label=plot_names([polarity])[0],
                color=colours.get(k))
        left = [a + b for a, b in zip(left, values)]
    ax.set_xlabel("opinions")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return png_img(fig)


def html(found: dict, title: str) -> str:
    body = [html_text("<h1>{}</h1><p>{} reviews, {} with at least one opinion.</p>", title, found["reviews"],
                      found["reviews_with_opinion"])]
    if found["categories"]:
        body.append(chart(found))
        body.append(html_table([[r["category"], r["mentions"], r["reviews"], *(f"{100 * r['share'][p]:.0f}%" for p in found["polarities"])]
                                for r in found["categories"]], ["category", "mentions", "reviews", *found["polarities"]], (0,)))
        for row in found["categories"]:
            body.append(html_text("<h2>{}</h2>", row["category"]) + html_table(
                [[p["opinion"], p["polarity"], p["count"], " / ".join(p["examples"])] for p in row["phrases"]],
                ["opinion", "polarity", "count", "example reviews"], (0, 1, 3)))
    return (html_text('<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>{}</title>', title)
            + f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>")


def write_summary(found: dict, target: str | Path, title: str) -> Path:
    """``target`` by its suffix: .html (page with chart), .csv (one row per category) or .json (everything)."""
    target = Path(target)
    suffix = target.suffix.lower()
    if suffix == ".html":
        write_text_atomic(target, html(found, title))
    elif suffix == ".json":
        write_text_atomic(target, json.dumps(found, ensure_ascii=False, indent=1))
    elif suffix == ".csv":
        write_bytes_atomic(target, frame(found).to_csv(index=False).encode("utf-8"))
    else:
        raise EcomsftError(f"cannot write a summary as '{suffix}' (use .html, .csv or .json)", where=str(target))
    return target
