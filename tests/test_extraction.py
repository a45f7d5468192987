"""Task extraction end to end on a tiny random model: training beside the CRF, entity metrics,
long titles windowed without losing entities, ``ecomsft extract``, file prediction, /v1/extract."""

import json
import random

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ecomsft.config import build_config
from ecomsft.errors import EcomsftError
from ecomsft.runner import run

from .conftest import failed_in_one_line, run_cli, tiny_overrides

BRANDS, PRODUCTS = ["飞利浦", "小米", "华为", "苹果"], ["牙刷", "手机", "耳机", "电脑"]


def conll_titles(n: int, seed: int = 0, filler: int = 0) -> str:
    rng, lines = random.Random(seed), []
    for _ in range(n):
        brand, product = rng.choice(BRANDS), rng.choice(PRODUCTS)
        chars = list(brand) + list(product) + list(f"x{rng.randint(10, 99)}") + ["好"] * filler
        tags = (["B-HP"] + ["I-HP"] * (len(brand) - 2) + ["E-HP"] + ["B-HC", "E-HC"]
                + ["O"] * (3 + filler))
        lines += [f"{c}\t{t}" for c, t in zip(chars, tags)] + [""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def extraction_run(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("extraction")
    (folder / "train.txt").write_text(conll_titles(160), encoding="utf-8")
    return run(build_config(None, tiny_overrides(tiny_model_dir, folder / "train.txt", folder / "run", **{
        "task.type": "extraction", "training.epochs": 6, "model.max_length": 16, "task.stride": 4})))


def test_extraction_learns_and_reports_beside_the_crf(extraction_run):
    metrics = extraction_run.metrics
    assert metrics["task"] == "extraction" and metrics["labels"] == ["HC", "HP"]
    assert metrics["model"]["added_words"] == 0  # characters only: words would cut entity boundaries
    assert metrics["test"]["f1_micro"] > 0.9 and set(metrics["test"]["per_type"]) == {"HC", "HP"}
    assert metrics["baselines"]["crf"]["f1_micro"] > 0.9
    predictions = pd.read_csv(extraction_run.run_dir / "predictions.csv")
    assert json.loads(predictions["gold"][0])[0]["label"] in {"HP", "HC"}
    report = (extraction_run.run_dir / "report.html").read_text(encoding="utf-8")
    assert "Per entity type" in report and "CRF baseline" in report


def test_titles_longer_than_max_length_lose_no_entity(extraction_run):
    from ecomsft.readers.extraction.reader import Extractor

    extractor = Extractor(extraction_run.run_dir)
    short = "华为手机x42"
    long_title = "好" * 9 + short + "好" * 9 + "小米耳机x17"  # far beyond 16 tokens: three windows or more
    found = extractor.extract([short, long_title, ""])
    assert [(e["label"], e["text"]) for e in found[0]] == [("HP", "华为"), ("HC", "手机")]
    labels = [(e["label"], e["text"]) for e in found[1]]
    assert ("HP", "华为") in labels and ("HP", "小米") in labels and ("HC", "耳机") in labels
    assert all(long_title[e["start"]:e["end"]] == e["text"] for e in found[1]) and found[2] == []


def test_extract_command_predict_file_and_the_route(extraction_run, tmp_path):
    code, out, err = run_cli("extract", extraction_run.run_dir, "飞利浦牙刷x30", "--json")
    assert code == 0, err
    entities = json.loads(out)[0]["entities"]
    assert {(e["label"], e["text"]) for e in entities} == {("HP", "飞利浦"), ("HC", "牙刷")}
    titles = tmp_path / "titles.csv"
    pd.DataFrame({"sku": [1, 2, 3], "title": ["小米手机x11", "", "苹果电脑x99"]}).to_csv(titles, index=False)
    code, _, err = run_cli("predict", extraction_run.run_dir, "--input", titles, "--output", tmp_path / "out.jsonl",
                           "--text-column", "title")
    assert code == 0, err
    rows = pd.read_json(tmp_path / "out.jsonl", lines=True)
    assert rows["sku"].tolist() == [1, 2, 3] and pd.isna(rows["entities"][1])
    assert {e["text"] for e in json.loads(rows["entities"][2])} == {"苹果", "电脑"}

    from ecomsft.inference.server import ServeSettings, create_app

    with TestClient(create_app(ServeSettings(run=str(extraction_run.run_dir), max_texts=4))) as client:
        answer = client.post("/v1/extract", json={"texts": ["华为耳机x20", "小米牙刷x31"]})
        assert answer.status_code == 200, answer.text
        assert [e["text"] for e in answer.json()["entities"][0]] == ["华为", "耳机"]
        assert client.post("/v1/extract", json={"texts": ["a"] * 5}).status_code == 413
        assert "/v1/extract" in client.post("/v1/predict", json={"texts": ["x"]}).json()["error"]
        assert client.get("/v1/info").json()["task"] == "extraction"
        assert "/v1/extract" in client.get("/openapi.json").json()["paths"]


def test_evaluate_scores_another_tagged_file(extraction_run, tmp_path):
    (tmp_path / "more.txt").write_text(conll_titles(30, seed=5), encoding="utf-8")
    code, out, err = run_cli("evaluate", extraction_run.run_dir, "--data", tmp_path / "more.txt", "--output", tmp_path / "e.json")
    assert code == 0, err
    report = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))
    assert report["rows"] == 30 and report["f1_micro"] > 0.9 and set(report["per_type"]) == {"HC", "HP"}
    assert "f1_micro" in out
    (tmp_path / "odd.txt").write_text("飞\tB-XX\n利\tE-XX\n", encoding="utf-8")
    code, _, err = run_cli("evaluate", extraction_run.run_dir, "--data", tmp_path / "odd.txt")
    assert failed_in_one_line(code, err) and "entity types the run was not trained on: XX" in err


def test_onnx_export_extracts_what_torch_extracts(extraction_run):
    from ecomsft.readers.extraction.reader import Extractor

    run_dir = extraction_run.run_dir
    code, out, err = run_cli("export", run_dir, "--int8")
    assert code == 0, err
    texts = ["华为手机x42", "好" * 9 + "苹果耳机x17" + "好" * 9 + "小米电脑x88", "飞利浦牙刷x30", ""]
    expected = Extractor(run_dir).extract(texts)
    assert sum(map(len, expected)) >= 6
    assert Extractor(run_dir, backend="onnx", batch_size=2).extract(texts) == expected
    int8 = Extractor(run_dir, backend="onnx-int8").extract(texts)
    assert sum(a == b for a, b in zip(int8, expected)) >= 3  # quantized: close, not bit-identical
    code, out, err = run_cli("extract", run_dir, "飞利浦牙刷x30", "--json", "--backend", "onnx")
    assert code == 0, err
    assert json.loads(out)[0]["entities"] == expected[2]


def test_extraction_defaults_measured_on_the_titles():
    cfg = build_config(None, {"task.type": "extraction", "data.train": "titles.txt"})
    assert cfg.training.lr == 3e-4 and cfg.training.group_by_length is False and cfg.task.crf is True


def test_extraction_config_and_data_errors(tiny_model_dir, tmp_path):
    with pytest.raises(EcomsftError, match="config key 'data.label_column' is not used by task 'extraction'"):
        build_config(None, {"data.train": "t.txt", "task.type": "extraction", "data.label_column": "tags"})
    bad = tmp_path / "bad.txt"
    bad.write_text("飞\tB-HP\n利\n", encoding="utf-8")
    code, _, err = run_cli("train", "--task", "extraction", "--data", bad, "--model", tiny_model_dir,
                           "--output", tmp_path / "o")
    assert failed_in_one_line(code, err) and "bad.txt:2: a token line without a tag" in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.partial").exists()


def test_sentencepiece_pieces_of_several_chinese_characters_are_tagged_per_character(tiny_unigram_dir):
    """XLM-R / me5 hold 物流 and 质量 as single pieces and see a title without spaces as one word:
    every Chinese character must still be a head of its own, or an entity boundary inside a piece
    (or inside the title) is lost."""
    from transformers import AutoTokenizer

    from ecomsft.data.tagging import Span
    from ecomsft.models.spans import window_labels, windows

    tokenizer = AutoTokenizer.from_pretrained(tiny_unigram_dir)
    text = "物流很快 the good"
    assert "▁物流" in tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])
    [window] = windows(tokenizer, text, max_length=32, stride=8, all_subtokens=False)
    assert [text[a:b] for a, b in zip(window.starts, window.ends)] == ["物", "流", "很", "快", "the", "good"]
    tags = {"O": 0, "S-HP": 1, "B-HC": 2, "E-HC": 3}
    labels = window_labels(window, [Span(0, 1, "HP"), Span(1, 3, "HC")], tags)
    assert [labels[h] for h in window.heads] == [1, 2, 3, 0, 0, 0]  # 物 | 流很 | ...: both entities kept
    parts = windows(tokenizer, "物流很快" * 6, max_length=8, stride=2, all_subtokens=False)
    covered = sorted({start for part in parts for start in part.starts})
    assert covered == list(range(24)) and all(len(part.input_ids) <= 8 for part in parts)


def test_characters_the_tokenizer_does_not_know_lose_no_entity(tiny_unigram_dir):
    """A title with an emoji and a Chinese character outside the vocabulary (or a trimmed one): each
    is still a head of its own (read as <unk>), so an entity made of them round-trips exactly."""
    import numpy as np
    from transformers import AutoTokenizer

    from ecomsft.data.tagging import Span
    from ecomsft.models.spans import bioes_tags, merge, window_labels, windows

    tokenizer = AutoTokenizer.from_pretrained(tiny_unigram_dir)
    text = "龘😀物流很快"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id in ids
    gold = [Span(0, 2, "HP"), Span(2, 4, "HC")]
    tags = bioes_tags(["HC", "HP"])
    tag_ids = {t: i for i, t in enumerate(tags)}
    parts = windows(tokenizer, text, max_length=6, stride=2, all_subtokens=False)
    assert len(parts) > 1  # longer than one window
    logits = []
    for part in parts:
        labels = window_labels(part, gold, tag_ids)
        logits.append(np.stack([np.eye(len(tags))[max(label, 0)] * 10 for label in labels]))
    assert [s.as_tuple() for s in merge(parts, logits, dict(enumerate(tags)))] == [s.as_tuple() for s in gold]


def test_pack_heads_moves_each_rows_heads_to_its_front():
    import torch

    from ecomsft.models.crf_head import pack_heads

    logits = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)
    labels = torch.tensor([[-100, 2, -100, 1, -100], [-100, -100, -100, -100, -100]])
    emissions, tags, mask = pack_heads(logits, labels)
    assert emissions.shape == (2, 2, 3) and torch.equal(emissions[0], logits[0, [1, 3]])
    assert tags[0].tolist() == [2, 1] and mask.tolist() == [[True, True], [True, False]]  # a row without heads: one O


def test_viterbi_adds_learnt_transition_scores_within_bioes():
    import numpy as np

    from ecomsft.models.spans import bioes_tags, viterbi_bioes

    tags = bioes_tags(["HP"])  # O B I E S
    scores = np.zeros((2, len(tags)))
    scores[:, tags.index("S-HP")] = 1.0  # alone, each head an S
    zero = {"start": [0.0] * 5, "end": [0.0] * 5, "transitions": [[0.0] * 5 for _ in range(5)]}
    assert viterbi_bioes(scores, tags, zero) == ["S-HP", "S-HP"]
    together = dict(zero, transitions=[[3.0 if (a, b) == ("B-HP", "E-HP") else 0.0 for b in tags] for a in tags])
    assert viterbi_bioes(scores, tags, together) == ["B-HP", "E-HP"]  # the learnt B->E move outweighs two S
    forbidden = dict(zero, transitions=[[9.0 if (a, b) == ("O", "E-HP") else 0.0 for b in tags] for a in tags])
    assert viterbi_bioes(scores, tags, forbidden) == ["S-HP", "S-HP"]  # a move BIOES forbids stays forbidden


def test_a_crf_layer_trains_saves_its_scores_and_leaves_a_plain_model(tiny_model_dir, tmp_path):
    from transformers import AutoModelForTokenClassification

    from ecomsft.readers.extraction.reader import Extractor

    (tmp_path / "train.txt").write_text(conll_titles(120), encoding="utf-8")
    result = run(build_config(None, tiny_overrides(tiny_model_dir, tmp_path / "train.txt", tmp_path / "run", **{
        "task.type": "extraction", "task.crf": True, "training.epochs": 6, "model.max_length": 16, "task.stride": 4,
        "baseline": False, "training.group_by_length": True})))  # the fast setting: evaluation must keep the windows' order
    metrics = result.metrics
    assert "CRF" in metrics["training"]["loss"] and metrics["test"]["f1_micro"] > 0.5
    config = json.loads((result.run_dir / "model" / "config.json").read_text(encoding="utf-8"))
    crf = config["ecomsft_crf"]
    assert len(crf["transitions"]) == len(config["id2label"]) and len(crf["start"]) == len(config["id2label"])
    tags = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    assert crf["transitions"][tags.index("O")][tags.index("E-HP")] < -1000  # BIOES's forbidden moves stay forbidden
    AutoModelForTokenClassification.from_pretrained(result.run_dir / "model", use_safetensors=True)
    safetensors = (result.run_dir / "model" / "model.safetensors").read_bytes()[:20000]
    assert b"crf." not in safetensors  # the layer left the weights: its scores live in config.json
    extractor = Extractor(result.run_dir)
    assert extractor.crf == crf
    predictions = pd.read_csv(result.run_dir / "predictions.csv")
    first = predictions.iloc[0]
    assert extractor.extract([first["text"]])[0] == json.loads(first["predicted"])
