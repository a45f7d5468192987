"""Aspect-level review data, its metrics and its classical baseline."""

import json

import pandas as pd
import pytest

from ecomsft.data.aspects import Quad, read_aspects
from ecomsft.errors import EcomsftError
from ecomsft.evaluation.aspects import aspect_report, describe, worst_reviews
from ecomsft.evaluation.aspects_baseline import nearest_aspect, run_aspect_baseline

REVIEWS = ["使用一段时间才来评价，淡淡的香味，喜欢！", "物流太慢了，价格便宜", "包装破了，味道难闻", "很好用"]
LABELS = [  # id, aspect, a_start, a_end, opinion, o_start, o_end, category, polarity
    (1, "香味", 14, 16, "淡淡的", 11, 14, "气味", "正面"),
    (1, "_", "", "", "喜欢", 17, 19, "整体", "正面"),
    (2, "物流", 0, 2, "太慢了", 2, 5, "物流", "负面"),
    (2, "价格", 6, 8, "便宜", 8, 10, "价格", "正面"),
    (3, "包装", 0, 2, "破了", 2, 4, "包装", "负面"),
    (3, "味道", 5, 7, "难闻", 7, 9, "气味", "负面"),
    (4, "_", "", "", "很好用", 0, 3, "使用体验", "正面"),
]
COLUMNS = ["id", "AspectTerms", "A_start", "A_end", "OpinionTerms", "O_start", "O_end", "Categories", "Polarities"]


def _files(tmp_path, labels=LABELS, reviews=REVIEWS):
    pd.DataFrame({"id": range(1, len(reviews) + 1), "Reviews": reviews}).to_csv(tmp_path / "reviews.csv", index=False)
    pd.DataFrame(labels, columns=COLUMNS).to_csv(tmp_path / "labels.csv", index=False)
    return tmp_path / "reviews.csv", tmp_path / "labels.csv"


def test_two_files_of_quadruples_read_with_checked_offsets(tmp_path):
    data = read_aspects(*_files(tmp_path))
    assert data.spans and len(data.reviews) == 4 and data.reviews[0].text == REVIEWS[0]
    assert data.reviews[0].quads == [Quad((14, 16), (11, 14), "气味", "正面"), Quad(None, (17, 19), "整体", "正面")]
    assert data.categories == ["价格", "使用体验", "包装", "整体", "气味", "物流"] and data.polarities == ["正面", "负面"]
    info = data.describe()
    assert info["opinions"] == 7 and info["implicit_aspects"] == 2 and info["polarities"] == {"正面": 4, "负面": 3}
    assert json.dumps(info, ensure_ascii=False)  # plain numbers, for metrics.json


def test_the_jsonl_form_and_the_per_category_form(tmp_path):
    rows = [{"id": "a", "text": REVIEWS[1], "quadruples": [
        {"aspect": "物流", "aspect_start": 0, "aspect_end": 2, "opinion": "太慢了", "opinion_start": 2, "opinion_end": 5,
         "category": "物流", "polarity": "负面"}]}, {"id": "b", "text": "没什么感觉", "quadruples": []}]
    (tmp_path / "q.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    data = read_aspects(tmp_path / "q.jsonl")
    assert data.spans and data.reviews[0].quads == [Quad((0, 2), (2, 5), "物流", "负面")] and data.reviews[1].quads == []
    assert "1 reviews without any opinion" in data.notes[0]
    pd.DataFrame({"review": ["物流太慢", "价格便宜，物流快"], "物流": [-1, 1], "价格": [-2, "positive"]}).to_csv(tmp_path / "c.csv", index=False)
    data = read_aspects(tmp_path / "c.csv")
    assert not data.spans and data.reviews[0].quads == [Quad(None, None, "物流", "negative")]
    assert {q.pair() for q in data.reviews[1].quads} == {("物流", "positive"), ("价格", "positive")}


@pytest.mark.parametrize("change, message", [
    (lambda labels: [(1, "香味", 13, 15, *labels[0][4:])] + labels[1:], r"aspect '香味' is not at 13-15 of the review \(there: '的香'"),
    (lambda labels: labels + [(9, "_", "", "", "好", 0, 1, "整体", "正面")], "labels for review id '9', which"),
    (lambda labels: [(1, "香味", "x", 16, *labels[0][4:])] + labels[1:], "has offsets 'x'-'16', not numbers"),
    (lambda labels: [(*labels[0][:7], "", "正面")] + labels[1:], "empty aspect category"),
])
def test_bad_labels_are_one_line_naming_file_and_line(tmp_path, change, message):
    reviews, labels = _files(tmp_path, labels=change(list(LABELS)))
    with pytest.raises(EcomsftError, match=message) as err:
        read_aspects(reviews, labels)
    assert "labels.csv:" in str(err.value) and "\n" not in str(err.value)


def test_bad_review_files(tmp_path):
    reviews, labels = _files(tmp_path, reviews=[REVIEWS[0], "", *REVIEWS[2:]])
    with pytest.raises(EcomsftError, match=r"reviews.csv:3: empty review text"):
        read_aspects(reviews, labels)
    pd.DataFrame({"review": ["x"], "物流": ["great"]}).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(EcomsftError, match=r"c.csv:2 column '物流': 'great' is not a polarity"):
        read_aspects(tmp_path / "c.csv")
    (tmp_path / "e.jsonl").write_text(json.dumps({"text": "x", "quadruples": []}) + "\n", encoding="utf-8")
    with pytest.raises(EcomsftError, match="no review has an opinion labelled"):
        read_aspects(tmp_path / "e.jsonl")


def test_metrics_count_exact_quadruples_pairs_spans_and_complaints():
    gold = [[Quad((0, 2), (2, 5), "物流", "负面"), Quad((6, 8), (8, 10), "价格", "正面")], [Quad(None, (0, 3), "整体", "正面")]]
    predicted = [[Quad((0, 2), (2, 5), "物流", "负面"), Quad((6, 8), (8, 10), "价格", "负面")], [Quad(None, (0, 2), "整体", "正面")]]
    report = aspect_report(gold, predicted)
    assert report["quadruple_f1"] == pytest.approx(1 / 3)  # 1 of 3 exactly right either way
    assert report["pair_f1_micro"] == pytest.approx(2 / 3) and report["negative_recall"] == 1.0
    assert report["per_polarity"]["负面"]["precision"] == 0.5 and report["per_category"]["价格"]["f1"] == 0.0
    assert report["pair_f1_macro"] == pytest.approx((1 + 0 + 1) / 3)  # over the gold pair classes
    assert report["aspect_f1"] == 1.0 and report["opinion_f1"] == pytest.approx(2 / 3)
    worst = worst_reviews(["物流太慢了，价格便宜", "很好用"], gold, predicted)
    assert [w["row"] for w in worst] == [0, 1] and "价格 | 便宜 | 价格 | 负面" in worst[0]["predicted"]
    assert describe("很好用", gold[1][0]) == "_ | 很好用 | 整体 | 正面"
    assert aspect_report(gold, predicted, spans=False).keys().isdisjoint({"quadruple_f1", "aspect_f1"})


def test_the_nearest_aspect_stays_in_its_clause():
    text = "物流太慢了，价格便宜"
    assert nearest_aspect(text, (2, 5), [(0, 2), (6, 8)]) == (0, 2)
    assert nearest_aspect(text, (8, 10), [(0, 2), (6, 8)]) == (6, 8)
    assert nearest_aspect("很好用，物流", (0, 3), [(4, 6)]) is None


def test_the_classical_baseline_learns_the_repeated_patterns(tmp_path):
    data = read_aspects(*_files(tmp_path))
    train = data.reviews * 10
    metrics, predicted = run_aspect_baseline(train, data.reviews)
    assert metrics["quadruple_f1"] > 0.8 and metrics["pair_f1_micro"] > 0.8  # its own training reviews
    assert len(predicted) == 4 and all(isinstance(q, Quad) for quads in predicted for q in quads)
    assert set(metrics["pairs_only"]) == {"pair_f1_micro", "pair_f1_macro", "negative_recall"}


def _synthetic(tmp_path, n=80):
    """Reviews built from aspects and opinions with known offsets: (物流|价格|味道)(很快|便宜|难闻...)."""
    import random

    rng = random.Random(0)
    parts = [("物流", "物流", [("很快", "正面"), ("太慢", "负面")]), ("价格", "价格", [("便宜", "正面"), ("太贵", "负面")]),
             ("味道", "气味", [("好闻", "正面"), ("难闻", "负面")])]
    reviews, labels = [], []
    for i in range(n):
        text, quads = "", []
        for aspect, category, opinions in rng.sample(parts, 2):
            opinion, polarity = rng.choice(opinions)
            if text:
                text += "，"
            a = len(text)
            text += aspect + opinion
            quads.append((i + 1, aspect, a, a + 2, opinion, a + 2, a + 4, category, polarity))
        if i % 4 == 0:
            text += "，喜欢"
            quads.append((i + 1, "_", "", "", "喜欢", len(text) - 2, len(text), "整体", "正面"))
        reviews.append(text)
        labels += quads
    return _files(tmp_path, labels=labels, reviews=reviews)


def test_an_aspects_run_trains_predicts_serves_evaluates_and_summarises(tiny_model_dir, tmp_path):
    from fastapi.testclient import TestClient

    from ecomsft import api
    from ecomsft.config import build_config
    from ecomsft.inference.server import ServeSettings, create_app
    from ecomsft.runner import run

    from .conftest import failed_in_one_line, run_cli, tiny_overrides

    reviews, labels = _synthetic(tmp_path)
    values = tiny_overrides(tiny_model_dir, reviews, tmp_path / "run", **{
        "task.type": "aspects", "task.labels": str(labels), "training.epochs": 12, "training.lr": 3e-3,
        "training.batch_size": 8, "model.max_length": 48})
    result = run(build_config(None, values))
    folder, metrics = result.run_dir, result.metrics
    assert (folder / "model" / "aspect_heads.safetensors").is_file() and not list(folder.rglob("*.bin"))
    test = metrics["test"]
    assert {"quadruple_f1", "pair_f1_micro", "pair_f1_macro", "negative_recall", "aspect_f1", "opinion_f1"} <= set(test)
    assert test["pair_f1_micro"] > 0.5  # a tiny random model learns the repeated patterns
    assert "quadruple_f1" in metrics["baselines"]["crf_tfidf_lr"] and metrics["data"]["sizes"]["test"] == 8
    assert "Read these first" in (folder / "report.html").read_text(encoding="utf-8")

    found = api.predict(folder, ["物流很快，价格太贵", "   "])
    assert found[1] == [] and all({"aspect", "opinion_start", "category", "polarity", "score"} <= set(o) for o in found[0])
    assert found == [api.aspects(folder, ["物流很快，价格太贵"])[0], []]
    code, out, err = run_cli("aspects", folder, "物流很快，价格太贵", "--json")
    assert code == 0 and json.loads(out)[0]["text"] == "物流很快，价格太贵", err

    pd.DataFrame({"review": ["物流很快，价格太贵", "味道难闻，物流太慢"], "sku": [1, 2]}).to_csv(tmp_path / "new.csv", index=False)
    code, out, err = run_cli("aspects", folder, "--input", tmp_path / "new.csv", "--output", tmp_path / "out.csv",
                             "--summary", tmp_path / "summary.html")
    assert code == 0 and "opinions in 2 reviews" in out, err
    rows = pd.read_csv(tmp_path / "out.csv")
    assert set(rows["row"]) == {1, 2} and "sku" in rows.columns and "category" in rows.columns
    assert "<img" in (tmp_path / "summary.html").read_text(encoding="utf-8") or rows["category"].isna().all()
    rows_written, summary = api.aspects_file(folder, tmp_path / "new.csv", tmp_path / "out.jsonl", summary=tmp_path / "s.json")
    assert summary["reviews"] == 2 and json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))["reviews"] == 2
    code, _, err = run_cli("aspects", folder, "x", "--summary", tmp_path / "s2.html")
    assert failed_in_one_line(code, err) and "--summary needs --input" in err

    with TestClient(create_app(ServeSettings(run=str(folder)))) as client:
        answer = client.post("/v1/aspects", json={"texts": ["物流很快", "价格太贵"]})
        assert answer.status_code == 200 and len(answer.json()["opinions"]) == 2
        assert client.get("/v1/info").json()["task"] == "aspects"
        assert "finds opinions by aspect" in client.post("/v1/predict", json={"texts": ["x"]}).json()["error"]
    report = api.evaluate(folder, str(reviews), labels=str(labels))
    assert report["rows"] == 80 and 0 <= report["quadruple_f1"] <= 1 and "errors" in report

    # the blend with the character CRF: chosen on validation, kept in the model folder where used
    blend, kept = metrics["blend"], folder / "model" / "char_crf.json"
    assert blend["metric"] == "quadruple_f1" and blend["used"] == (blend["blend"] > blend["model"]) and len(blend["tried"]) == 9
    assert kept.is_file() == blend["used"] and ("test" in blend) == blend["used"]
    if not blend["used"]:  # the reader's side all the same: a CRF put where training would have kept it
        from ecomsft.evaluation.aspects_baseline import fit_char_crf
        from ecomsft.models.aspect_model import TAGS

        crf = fit_char_crf(read_aspects(reviews, labels).reviews, list(TAGS))
        crf.weight = 0.5
        crf.save(folder / "model")
    assert api.load(folder).lexical is not None and api.load(folder, blend=False).lexical is None
    texts = ["物流很快，价格太贵", "味道难闻"]
    assert len(api.aspects(folder, texts, blend=False)) == 2 and len(api.aspects(folder, texts)) == 2
    code, out, err = run_cli("aspects", folder, "物流很快", "--no-blend", "--json")
    assert code == 0 and json.loads(out)[0]["text"] == "物流很快", err
    with TestClient(create_app(ServeSettings(run=str(folder)))) as client:
        assert client.get("/v1/info").json()["blend"]["with"] == "character CRF"
    kept.write_text('{"format": 1, "model": "char-crf", "tags": []}', encoding="utf-8")
    code, _, err = run_cli("aspects", folder, "物流很快")
    assert failed_in_one_line(code, err) and "damaged character CRF file" in err and "char_crf.json" in err
    code, out, err = run_cli("aspects", folder, "物流很快", "--no-blend")  # the tagger alone never reads it
    assert code == 0, err


def test_the_character_crf_gives_crfsuites_marginals_from_its_json(tmp_path):
    import numpy as np

    from ecomsft.evaluation.aspects_baseline import fit_char_crf, review_tags
    from ecomsft.models.aspect_model import TAGS
    from ecomsft.models.char_crf import CharCrf, char_features

    reviews = read_aspects(*_synthetic(tmp_path)).reviews
    crf = fit_char_crf(reviews, list(TAGS))
    assert review_tags(reviews[0])[:4] == ["B-A", "E-A", "B-O", "E-O"]
    crf.weight = 0.3
    crf.save(tmp_path)
    again = CharCrf.load(tmp_path, list(TAGS))
    assert again.weight == 0.3 and again.crfsuite is None
    for text in ["物流很快，价格太贵", "味道难闻，喜欢", "x", "Air 物流 12"]:
        theirs = crf.crfsuite.predict_marginals_single(char_features(text))
        expected = np.array([[row.get(tag, 0.0) for tag in TAGS] for row in theirs])
        assert np.allclose(np.exp(again.log_marginals(text)), np.maximum(expected, 1e-6), atol=1e-5)
    assert CharCrf.load(tmp_path / "nowhere", list(TAGS)) is None
    with pytest.raises(EcomsftError, match="its tags are not the tagger's"):
        CharCrf.load(tmp_path, ["O", "B-X", "I-X", "E-X", "S-X"])
    saved = json.loads((tmp_path / "char_crf.json").read_text(encoding="utf-8"))
    attribute = next(iter(saved["state"]))
    for damage in ({"weight": 7}, {"state": {attribute: [[99, 1.0]]}}, {"state": {attribute: "x"}}, {"transitions": [[1]]}):
        (tmp_path / "char_crf.json").write_text(json.dumps({**saved, **damage}), encoding="utf-8")
        with pytest.raises(EcomsftError, match="damaged character CRF file"):
            CharCrf.load(tmp_path, list(TAGS))
    for content in (b"\xff\xfe not json", b"[1, 2]"):
        (tmp_path / "char_crf.json").write_bytes(content)
        with pytest.raises(EcomsftError, match="damaged character CRF file"):
            CharCrf.load(tmp_path, list(TAGS))


def test_an_aspects_run_with_a_crf_layer_keeps_its_transitions(tiny_model_dir, tmp_path):
    from ecomsft import api
    from ecomsft.config import build_config
    from ecomsft.runner import run

    from .conftest import tiny_overrides

    reviews, labels = _synthetic(tmp_path)
    values = tiny_overrides(tiny_model_dir, reviews, tmp_path / "run", **{
        "task.type": "aspects", "task.labels": str(labels), "task.crf": True, "training.epochs": 12,
        "training.lr": 3e-3, "training.batch_size": 8, "model.max_length": 48})
    result = run(build_config(None, values))
    assert result.metrics["test"]["pair_f1_micro"] > 0.5
    reader = api.load(result.run_dir)
    assert reader.model.crf is not None and reader.model.crf.transitions.abs().sum() > 0
    assert api.predict(result.run_dir, ["物流很快"]) == api.aspects(result.run_dir, ["物流很快"])

    # ONNX: the encoder on ONNX Runtime, the heads in torch; the same opinions as torch
    texts = ["物流很快，价格太贵", "味道难闻，物流太慢", "包装不错"]
    on_torch = api.aspects(result.run_dir, texts, backend="torch")
    api.export(result.run_dir, int8=True)
    on_onnx = api.aspects(result.run_dir, texts)  # auto: the fp32 export

    def spans(found):
        return [[(o["aspect"], o["opinion"], o["category"], o["polarity"]) for o in row] for row in found]

    assert spans(on_onnx) == spans(on_torch) and api.load(result.run_dir).backend == "onnx"
    assert all(abs(a["score"] - b["score"]) < 1e-3 for x, y in zip(on_onnx, on_torch) for a, b in zip(x, y))
    assert len(api.aspects(result.run_dir, texts, backend="onnx-int8")) == 3


def test_aspects_training_refuses_bad_offsets_in_one_line(tmp_path):
    from .conftest import failed_in_one_line, run_cli

    reviews, labels = _files(tmp_path, labels=[(1, "香味", 13, 15, *LABELS[0][4:]), *LABELS[1:]])
    code, _, err = run_cli("train", "--task", "aspects", "--data", reviews, "--set", f"task.labels={labels}",
                           "--output", tmp_path / "o")
    assert failed_in_one_line(code, err) and "labels.csv:2: aspect '香味' is not at 13-15" in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.partial").exists()


def test_the_file_summary_counts_in_bounded_memory():
    from ecomsft.readers.aspects.summary import OpinionSummary, frame, html

    summary = OpinionSummary(["正面", "负面"])
    for chunk in range(30):  # 60,000 distinct phrases: the examples kept stay bounded
        opinions = [[{"aspect": None, "opinion": f"词{chunk}-{i}", "category": "物流", "polarity": "正面"}] for i in range(2000)]
        summary.add([f"review {i}" for i in range(2000)], opinions)
    summary.add(["价格太贵了", "价格太贵"], [[{"aspect": "价格", "opinion": "太贵", "category": "价格", "polarity": "负面"}]] * 2)
    assert len(summary.examples) <= 50_000
    found = summary.result()
    assert found["reviews"] == 60_002 and [c["category"] for c in found["categories"]] == ["物流", "价格"]
    price = found["categories"][1]
    assert price["share"] == {"正面": 0.0, "负面": 1.0} and price["phrases"][0] == {
        "opinion": "太贵", "polarity": "负面", "count": 2, "examples": ["价格太贵了", "价格太贵"]}
    assert list(frame(found).columns[:5]) == ["category", "mentions", "reviews", "share_正面", "share_负面"]
    assert "<img" in html(found, "t") and "太贵" in html(found, "t")
