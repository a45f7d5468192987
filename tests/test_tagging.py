"""Extraction's foundations: tag schemes and spans, the two file forms and their errors, entity
metrics against hand-computed examples and seqeval, and the CRF baseline on a toy set."""

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecomsft.data.tagging import Span, detect_scheme, read_conll, read_span_file, read_tagged, spans_to_tags, tags_to_spans
from ecomsft.errors import EcomsftError
from ecomsft.evaluation.crf_baseline import run_crf
from ecomsft.evaluation.entities import entity_report, error_analysis, token_accuracy


@st.composite
def span_sets(draw):
    length = draw(st.integers(1, 30))
    spans, position = [], 0
    while position < length:
        position += draw(st.integers(0, 3))
        size = draw(st.integers(1, 4))
        if position + size > length:
            break
        spans.append(Span(position, position + size, draw(st.sampled_from(["HP", "HC", "COLOR"]))))
        position += size + draw(st.integers(0, 2))
    return length, spans


@given(span_sets())
def test_spans_round_trip_through_every_scheme(case):
    length, spans = case
    for scheme in ("BIO", "BIOES"):
        tags = spans_to_tags(spans, length, scheme)
        back, broken = tags_to_spans(tags, scheme)
        assert broken == 0 and [s.as_tuple() for s in back] == [s.as_tuple() for s in spans]
        # BIO <-> BIOES: the same entities
        other = "BIOES" if scheme == "BIO" else "BIO"
        assert spans_to_tags(back, length, other) == spans_to_tags(spans, length, other)
    io, _ = tags_to_spans(spans_to_tags(spans, length, "IO"), "IO")  # IO merges touching entities of one type
    assert {s.label for s in io} == {s.label for s in spans}


def test_detect_scheme_and_bioul_spelling():
    assert detect_scheme(["O", "I-HP", "I-HP"]) == "IO"
    assert detect_scheme(["B-HP", "I-HP", "O"]) == "BIO"
    assert detect_scheme(["B-HP", "L-HP", "U-HC"]) == "BIOES"
    spans, broken = tags_to_spans(["B-HP", "L-HP", "U-HC"], "BIOES")
    assert [s.as_tuple() for s in spans] == [(0, 2, "HP"), (2, 3, "HC")] and broken == 0


def test_broken_sequences_are_repaired_as_seqeval_reads_them_and_counted():
    from seqeval.metrics.sequence_labeling import get_entities

    for tags in (["O", "I-HP", "I-HP", "O"], ["B-HP", "I-HC", "O"], ["I-HP", "B-HP", "I-HP"]):
        spans, broken = tags_to_spans(tags, "BIO")
        assert broken >= 1
        expected = sorted((start, end + 1, label) for label, start, end in get_entities(tags))
        assert sorted(s.as_tuple() for s in spans) == expected, tags
    spans, broken = tags_to_spans(["E-HP", "O", "B-HC", "I-HC", "O"], "BIOES")  # E- without B-, B- without E-
    assert broken == 2 and [s.as_tuple() for s in spans] == [(0, 1, "HP"), (2, 4, "HC")]


def _conll(tmp_path, text, name="t.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_conll_reading_with_space_tokens_and_errors(tmp_path):
    path = _conll(tmp_path, "飞\tB-HP\n利\tI-HP\n浦\tE-HP\n \tO\n牙\tB-HC\n刷\tE-HC\n\nA\tS-HP\n")
    read = read_conll(path)
    assert read.scheme == "BIOES" and read.labels == ["HC", "HP"] and len(read.items) == 2
    first = read.items[0]
    assert first.tokens[3] == " " and [s.as_tuple() for s in first.spans] == [(0, 3, "HP"), (4, 6, "HC")]
    assert read.items[1].line == 8
    with pytest.raises(EcomsftError, match=r"t2.txt:2: a token line without a tag"):
        read_conll(_conll(tmp_path, "a\tO\nb\n", "t2.txt"))
    with pytest.raises(EcomsftError, match=r"t3.txt:1: 'X-HP' is not a tag"):
        read_conll(_conll(tmp_path, "a\tX-HP\n", "t3.txt"))
    broken = _conll(tmp_path, "a\tO\nb\tI-HP\nc\tE-HP\n", "t4.txt")
    with pytest.raises(EcomsftError, match=r"t4.txt:1: tags that break the BIOES scheme"):
        read_conll(broken, repair=False)
    assert read_conll(broken).repaired == 1
    with pytest.raises(EcomsftError, match=r"t5.txt:4: mixed tag schemes"):
        read_conll(_conll(tmp_path, "a\tB-HP\nb\tE-HP\n\nc\tB-HC\nd\tI-HC\ne\tO\n", "t5.txt"))
    with pytest.raises(EcomsftError, match="no tagged titles"):
        read_conll(_conll(tmp_path, "\n\n", "t6.txt"))


def test_span_files_and_their_errors(tmp_path):
    rows = [{"text": "飞利浦电动牙刷HX6730", "entities": [{"start": 0, "end": 3, "label": "HP"},
                                                        {"start": 3, "end": 7, "label": "HC"}]},
            {"text": "无品牌", "entities": []}]
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    read = read_tagged(path)
    assert read.items[0].tags[:4] == ["B-HP", "I-HP", "E-HP", "B-HC"] and read.items[1].spans == []
    cases = [({"text": "abc", "entities": [{"start": 2, "end": 9, "label": "HP"}]}, "outside the text"),
             ({"text": "abcd", "entities": [{"start": 0, "end": 3, "label": "HP"}, {"start": 2, "end": 4, "label": "HC"}]},
              "overlap"),
             ({"text": "abc", "entities": [{"start": 0.5, "end": 2, "label": "HP"}]}, "whole numbers"),
             ({"text": " ", "entities": []}, "is empty"),
             ({"text": "abc", "entities": [{"start": 0, "label": "HP"}]}, r"entities\[0\]' needs start, end and label")]
    for row, message in cases:
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps(rows[1]) + "\n" + json.dumps(row) + "\n", encoding="utf-8")
        with pytest.raises(EcomsftError, match=rf"bad.jsonl:2.*{message}"):
            read_span_file(bad)


def test_entity_metrics_by_hand_and_against_seqeval():
    gold = [[(0, 3, "HP"), (4, 6, "HC")], [(0, 2, "HC")]]
    predicted = [[(0, 3, "HP"), (4, 5, "HC")], [(0, 2, "HP")]]
    report = entity_report(gold, predicted)
    # HP: 1 of 2 predicted right, 1 gold; HC: 0 of 1 predicted right, 2 gold.
    assert report["per_type"]["HP"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}
    assert report["per_type"]["HC"]["f1"] == 0.0 and report["per_type"]["HC"]["support"] == 2
    assert report["precision_micro"] == pytest.approx(1 / 3) and report["recall_micro"] == pytest.approx(1 / 3)
    assert report["f1_macro"] == pytest.approx(1 / 3)
    errors = error_analysis(gold, predicted)
    assert errors["boundary_errors"] == [{"type": "HC", "error": "same start, ends early", "count": 1}]
    assert errors["type_confusions"] == [{"gold": "HC", "predicted": "HP", "count": 1}]

    from seqeval.metrics import classification_report, f1_score

    rng = random.Random(0)
    gold_tags, predicted_tags = [], []
    for _ in range(200):
        length = rng.randint(1, 12)
        g = [Span(i, i + 1 + (i % 2), rng.choice(["HP", "HC"])) for i in range(0, length - 1, 3)]
        p = [Span(s.start, s.end + (rng.random() < 0.2), rng.choice(["HP", "HC"]) if rng.random() < 0.2 else s.label)
             for s in g if rng.random() < 0.85]
        gold_tags.append(spans_to_tags(g, length + 1, "BIO"))
        predicted_tags.append(spans_to_tags(p, length + 1, "BIO"))
    ours = entity_report([[s.as_tuple() for s in tags_to_spans(t, "BIO")[0]] for t in gold_tags],
                         [[s.as_tuple() for s in tags_to_spans(t, "BIO")[0]] for t in predicted_tags])
    theirs = classification_report(gold_tags, predicted_tags, output_dict=True, zero_division=0)
    assert ours["f1_micro"] == pytest.approx(f1_score(gold_tags, predicted_tags))
    assert ours["f1_macro"] == pytest.approx(theirs["macro avg"]["f1-score"])
    for label in ("HP", "HC"):
        assert ours["per_type"][label]["f1"] == pytest.approx(theirs[label]["f1-score"])
        assert ours["per_type"][label]["support"] == theirs[label]["support"]
    assert token_accuracy([["O", "B-HP"]], [["O", "O"]]) == 0.5


def test_crf_baseline_learns_a_toy_set():
    rng = random.Random(1)
    brands, products = ["飞利浦", "小米", "华为"], ["牙刷", "手机", "耳机"]

    def title():
        brand, product = rng.choice(brands), rng.choice(products)
        text = f"{brand}{product}{rng.randint(10, 99)}"
        return list(text), [Span(0, len(brand), "HP"), Span(len(brand), len(brand) + 2, "HC")]

    train, test = [title() for _ in range(120)], [title() for _ in range(30)]
    metrics, _, predicted = run_crf(train, test, ["HC", "HP"], max_iterations=50)
    assert metrics["f1_micro"] > 0.95 and metrics["token_accuracy"] > 0.95 and len(predicted) == 30


def test_viterbi_decoding_keeps_to_bioes():
    import numpy as np

    from ecomsft.models.spans import viterbi_bioes

    tags = ["O", "B-HP", "I-HP", "E-HP", "S-HP", "B-HC", "I-HC", "E-HC", "S-HC"]

    def scores(*rows):  # one dict of tag -> logit per position; the others far below
        out = np.full((len(rows), len(tags)), -10.0)
        for i, row in enumerate(rows):
            for tag, value in row.items():
                out[i, tags.index(tag)] = value
        return out

    # argmax would read O I-HP E-HP (an entity without its B-): the allowed best starts it
    assert viterbi_bioes(scores({"O": 2}, {"I-HP": 3, "B-HP": 2.5}, {"E-HP": 3}), tags) == ["O", "B-HP", "E-HP"]
    # a B- of one type never ends with an E- of another
    assert viterbi_bioes(scores({"B-HP": 3, "B-HC": 1}, {"E-HC": 3, "E-HP": 2}), tags) in (["B-HP", "E-HP"], ["B-HC", "E-HC"])
    # a sequence cannot end inside an entity
    assert viterbi_bioes(scores({"O": 1}, {"B-HC": 3, "S-HC": 2.9}), tags) == ["O", "S-HC"]
    # where argmax is already valid, it is the answer
    assert viterbi_bioes(scores({"S-HP": 1}, {"O": 1}, {"B-HC": 1}, {"I-HC": 1}, {"E-HC": 1}), tags) == \
        ["S-HP", "O", "B-HC", "I-HC", "E-HC"]
