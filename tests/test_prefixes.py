"""Text prefixes of e5-family encoders ("query: ", "passage: "), read from the model's own config."""

import shutil

import pytest

from ecomsft.models.prefixes import give_prompts, prefixed, text_prefixes

E5 = {"query": "query: ", "document": "passage: "}


def with_prefixes(source, folder, prefixes=E5):
    """A copy of a model folder whose config carries e5 prefixes, as the bundled me5's does."""
    import json

    shutil.copytree(source, folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["ecomsft_e5_prefixes"] = prefixes
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_prefixes_come_from_the_config_only():
    assert text_prefixes({"ecomsft_e5_prefixes": E5}) == E5 and text_prefixes({}) is None
    assert prefixed(E5, ["drill"], ["cordless drill"]) == (["query: drill"], ["passage: cordless drill"])
    assert prefixed(None, ["drill"], ["cordless drill"]) == (["drill"], ["cordless drill"])


def test_a_sentence_encoder_takes_the_prefixes_as_its_prompts(tiny_model_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    from ecomsft.readers.ranking.index import load_encoder

    plain = SentenceTransformer(str(tiny_model_dir), device="cpu")
    assert give_prompts(plain) is None and not any(plain.prompts.values())
    words = {"query": "the ", "document": "very "}  # words of the tiny vocabulary stand in for e5's
    encoder, _ = load_encoder(with_prefixes(tiny_model_dir, tmp_path / "e5", words))
    assert encoder.prompts == words
    query, document = encoder.encode_query(["good"]), encoder.encode_document(["good"])
    assert abs(query - document).sum() > 0  # the same text, embedded with its two prefixes


def test_a_cross_encoder_reads_pairs_with_its_prefixes(tiny_model_dir):
    import pandas as pd
    from transformers import AutoTokenizer

    from ecomsft.models.heads import RelevanceHead
    from ecomsft.tasks.relevance.config import RelevanceSection
    from ecomsft.tasks.relevance.model import encode

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    frame = pd.DataFrame({"text": ["good"], "text_pair": ["fast delivery"], "label": [2.0]})
    head = RelevanceHead.from_training(RelevanceSection(), frame["label"])
    words = {"query": "the ", "document": "very "}  # words of the tiny vocabulary stand in for e5's
    with_ = tokenizer.convert_ids_to_tokens(encode(tokenizer, frame, head, 32, prefixes=words)["input_ids"][0])
    without = tokenizer.convert_ids_to_tokens(encode(tokenizer, frame, head, 32)["input_ids"][0])
    assert with_ == ["[CLS]", "the", "good", "[SEP]", "very", "fast", "delivery", "[SEP]"]
    assert without == ["[CLS]", "good", "[SEP]", "fast", "delivery", "[SEP]"]


def test_trimming_keeps_the_pieces_of_the_prefixes(tiny_unigram_dir, tmp_path):
    from transformers import AutoTokenizer

    from ecomsft.models.trim import write_trimmed

    source = with_prefixes(tiny_unigram_dir, tmp_path / "source", {"query": "the ", "document": "good "})
    write_trimmed(str(source), ["物流很快"], tmp_path / "trimmed")  # Chinese texts only: no Latin script
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "trimmed")
    assert tokenizer.convert_ids_to_tokens(tokenizer("the good", add_special_tokens=False)["input_ids"]) == ["▁the", "▁good"]


def test_a_retrieval_run_on_an_e5_model_trains_and_searches_with_its_prompts(tiny_model_dir, tmp_path):
    import json

    from ecomsft.config import build_config
    from ecomsft.readers.ranking.index import load_encoder
    from ecomsft.runner import run

    from .conftest import make_pairs, tiny_overrides

    words = {"query": "the ", "document": "very "}
    model = with_prefixes(tiny_model_dir, tmp_path / "e5", words)
    data = tmp_path / "pairs.csv"
    make_pairs(12).to_csv(data, index=False)
    run(build_config(None, tiny_overrides(model, data, tmp_path / "run", **{
        "task.type": "retrieval", "training.epochs": 1, "baseline": False})))
    saved = json.loads((tmp_path / "run" / "model" / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    assert saved["prompts"] == words  # kept with the model: index and search embed as training did
    assert load_encoder(tmp_path / "run")[0].prompts == words


def test_a_relevance_run_on_an_e5_model_ranks_with_its_prefixes(tiny_model_dir, tmp_path, monkeypatch):
    from ecomsft.config import build_config
    from ecomsft.readers.ranking.reader import Ranker
    from ecomsft.runner import run

    from .conftest import make_pairs, tiny_overrides

    model = with_prefixes(tiny_model_dir, tmp_path / "e5", {"query": "the ", "document": "very "})
    data = tmp_path / "pairs.csv"
    make_pairs(12).to_csv(data, index=False)
    run(build_config(None, tiny_overrides(model, data, tmp_path / "run", **{
        "task.type": "relevance", "training.epochs": 1, "baseline": False})))
    ranker = Ranker(tmp_path / "run")
    assert ranker.prefixes == {"query": "the ", "document": "very "}
    seen = []
    tokenize = ranker.tokenizer.__class__.__call__
    monkeypatch.setattr(ranker.tokenizer.__class__, "__call__",
                        lambda self, *args, **kwargs: seen.append(args) or tokenize(self, *args, **kwargs))
    ranker.rank("good", ["fast delivery"])
    assert seen[0][0] == ["the good"] and seen[0][1] == ["very fast delivery"]


def test_the_starting_model_is_a_zero_shot_row_only_where_it_was_trained_as_a_sentence_encoder(tiny_model_dir, tmp_path):
    from ecomsft.evaluation.ranking_baselines import base_model_encoder

    assert base_model_encoder(str(tiny_model_dir), 32) is None  # no prefixes: a masked-LM model, no row
    assert base_model_encoder(None, 32) is None
    encoder = base_model_encoder(str(with_prefixes(tiny_model_dir, tmp_path / "e5")), 32)
    assert encoder.prompts == E5 and encoder.max_seq_length == 32


@pytest.mark.parametrize("task", ["relevance", "retrieval"])
def test_a_ranking_run_on_an_e5_model_reports_that_model_zero_shot(task, tiny_model_dir, tmp_path):
    import json

    from ecomsft.config import build_config
    from ecomsft.runner import run

    from .conftest import make_pairs, tiny_overrides

    data = tmp_path / "pairs.csv"
    make_pairs(16).to_csv(data, index=False)
    run(build_config(None, tiny_overrides(with_prefixes(tiny_model_dir, tmp_path / "e5"), data, tmp_path / "run", **{
        "task.type": task, "training.epochs": 1})))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    tables = [metrics["baselines"]] + ([metrics["baselines_reranking"]] if task == "retrieval" else [])
    for baselines in tables:  # retrieval: from the catalogue, and re-ranking each query's candidates
        own, minilm = baselines["zero_shot_base_model"], baselines["zero_shot_cosine"]
        assert set(own) == set(minilm) and all(0 <= v <= 1 for k, v in own.items() if k.startswith("ndcg@"))
    if task == "relevance":
        assert "score_zero_shot_base_model" in (tmp_path / "run" / "predictions.csv").read_text(encoding="utf-8").splitlines()[0]
