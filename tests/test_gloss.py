"""Dictionary-gloss placement of added Chinese rows, and whole words as tokens."""

import logging

import numpy as np
import pytest
import torch
from tokenizers import AddedToken
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig, BertForSequenceClassification

from ecomsft.errors import EcomsftError
from ecomsft.models import gloss
from ecomsft.models.resolve import resolve_model
from ecomsft.models.vocab import extend_vocabulary

# Real CC-CEDICT lines (the shipped dictionary's own text).
CEDICT_LINES = """\
# CC-CEDICT
物流 物流 [wu4 liu2] /distribution (business)/logistics/
手機 手机 [shou3 ji1] /cell phone/mobile phone/CL:部[bu4],支[zhi1]/
王 王 [Wang2] /surname Wang/
王 王 [wang2] /king or monarch/best or strongest of its type/grand/great/
箇 个 [ge4] /variant of 個|个[ge4]/
個 个 [ge4] /individual/this/that/size/classifier for people or objects in general/
讚 赞 [zan4] /variant of 贊|赞[zan4]/to praise/
贊 赞 [zan4] /to patronize/to support/to praise/(Internet slang) to like (an online post on Facebook etc)/
的 的 [de5] /of/~'s (possessive particle)/(used after an attribute)/also pr. [di4] or [di5] in poetry and songs/
知道 知道 [zhi1 dao5] /to know/to become aware of/also pr. [zhi1 dao4]/
北京 北京 [Bei3 jing1] /Beijing, capital of the People's Republic of China/
"""


@pytest.fixture
def dictionary_file(tmp_path):
    path = tmp_path / "cedict.txt"
    path.write_text(CEDICT_LINES, encoding="utf-8")
    return path


def test_gloss_cleaning_on_real_dictionary_lines(dictionary_file):
    glosses = gloss.read_dictionary(dictionary_file)
    assert glosses["物流"] == ["distribution", "logistics"]           # parenthetical note dropped
    assert glosses["手机"] == ["cell phone", "mobile phone"]          # classifier dropped
    assert glosses["王"] == ["king or monarch", "best or strongest of its type", "grand", "great"]  # surname dropped
    assert glosses["个"] == ["individual", "this", "that", "size"]   # variant and classifier senses dropped
    assert glosses["赞"] == ["praise", "patronize", "support", "like"]  # "to" dropped, duplicate kept once
    assert glosses["的"] == ["of"]
    assert glosses["知道"] == ["know", "become aware of"]
    assert glosses["北京"] == ["Beijing, capital of the People's Republic of China"]  # a name, used for want of another


def test_shipped_dictionary_is_found_and_read():
    glosses = gloss.load_glosses()
    assert glosses is not None and len(glosses) > 100_000
    assert "logistics" in glosses["物流"] and "express delivery" in glosses["快递"]


@pytest.fixture(scope="module")
def random_minilm_shaped(tmp_path_factory):
    """A tiny random BERT with the real (bundled MiniLM) WordPiece tokenizer."""
    folder = tmp_path_factory.mktemp("random-bert-real-tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=2)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("init", ["gloss", "gloss_topk"])
def test_gloss_row_lies_nearer_its_english_word_than_a_random_row(random_minilm_shaped, init):
    tokenizer = AutoTokenizer.from_pretrained(random_minilm_shaped)
    model = AutoModelForSequenceClassification.from_pretrained(random_minilm_shaped)
    texts = ["物流很快，快递员很好", "物流太慢了，快递员态度差"] * 5
    extension = extend_vocabulary(tokenizer, model, texts, min_count=2, max_new=100, init=init,
                                  add_words=True, word_min_count=2)
    assert {"物流", "快递"} <= set(extension.words)
    assert extension.init_counts["gloss"] >= 2
    weight = model.get_input_embeddings().weight.detach().numpy()

    def cosine(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    distribution = weight[tokenizer.convert_tokens_to_ids("distribution")]  # 物流's first gloss
    delivery = weight[tokenizer.convert_tokens_to_ids("delivery")]
    row = weight[tokenizer.convert_tokens_to_ids("物流")]
    random_rows = weight[np.random.default_rng(0).choice(30000, 200, replace=False)]
    assert cosine(row, distribution) > max(cosine(r, distribution) for r in random_rows)
    assert cosine(weight[tokenizer.convert_tokens_to_ids("快递")], delivery) > max(cosine(r, delivery) for r in random_rows)
    # Rescaled to the norm of real rows.
    norms = np.linalg.norm(weight[:30522], axis=1)
    assert abs(np.linalg.norm(row) - norms.mean()) < 1e-3 * norms.mean() + 1e-6


def test_words_matched_longest_first_and_tokenizer_reloads_the_same(tiny_model_dir, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    texts = ["物流很快", "物流费太贵", "物流费不贵", "物品很好", "物流很慢"] * 4
    extension = extend_vocabulary(tokenizer, model, texts, min_count=2, max_new=100, init="cooccurrence",
                                  add_words=True, word_min_count=2)
    assert "物流" in extension.words and "物" in extension.characters
    # An overlapping word, added as ecomsft adds words: the longer one wins where both match.
    tokenizer.add_tokens([AddedToken("物流费", normalized=False)])
    ids = tokenizer("物流费很好，物流很快，物好", add_special_tokens=False)["input_ids"]
    pieces = [tokenizer.added_tokens_decoder[i].content if i in tokenizer.added_tokens_decoder else tokenizer.convert_ids_to_tokens(i)
              for i in ids]
    assert pieces[:3] == ["物流费", "很", "好"]
    assert pieces[4:6] == ["物流", "很快"]
    assert pieces[-2:] == ["物", "好"]  # an unseen word falls back to its characters
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    sample = ["物流费很好，物流很快，物品 good", "物流太慢 bad"]
    assert reloaded(sample)["input_ids"] == tokenizer(sample)["input_ids"]
    assert len(reloaded) == model.get_input_embeddings().weight.shape[0] + 1


def test_missing_dictionary_warns_and_places_by_cooccurrence(tiny_model_dir, monkeypatch, caplog):
    monkeypatch.setattr(gloss, "DICTIONARIES", (("no_such_dictionary_package", "cedict.txt"),))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    texts = [f"the {a}{b} product is {w}" for a in "甲乙丙丁" for b in "戊己庚辛" for w in ("good", "bad", "fast")] * 2
    with caplog.at_level(logging.WARNING, logger="ecomsft"):
        extension = extend_vocabulary(tokenizer, model, texts, min_count=2, max_new=100, init="gloss")
    assert "no-such-dictionary-package" in caplog.text and "co-occurrence" in caplog.text
    assert "gloss" not in extension.init_counts and extension.init_counts["cooccurrence"] > 0


def test_unreadable_dictionary_warns(tmp_path, monkeypatch, caplog):
    bad = tmp_path / "cedict.txt"
    bad.write_bytes(b"\xff\xfe\x00bad bytes \xc3\x28")
    monkeypatch.setattr(gloss, "dictionary_path", lambda: bad)
    with caplog.at_level(logging.WARNING, logger="ecomsft"):
        assert gloss.load_glosses() is None
    assert str(bad) in caplog.text


def test_no_chinese_adds_no_words_and_says_so_once(tiny_model_dir, caplog):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    with caplog.at_level(logging.INFO, logger="ecomsft"):
        extension = extend_vocabulary(tokenizer, model, ["the product is good", "very bad"] * 5, min_count=2,
                                      max_new=100, init="gloss", add_words=True)
    assert extension.words == [] and extension.characters == []
    assert caplog.text.count("no frequent Chinese words") == 1


def test_add_words_needs_a_fast_tokenizer(tiny_model_dir):
    from transformers import CanineTokenizer

    slow = CanineTokenizer()  # a Python tokenizer: it has no Rust added-token matcher
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    with pytest.raises(EcomsftError, match="add_words needs a fast"):
        extend_vocabulary(slow, model, ["物流很快"] * 5, min_count=2, max_new=100, add_words=True)


def test_run_records_how_rows_started_and_predicts_with_words(tiny_model_dir, tmp_path):
    import json

    import ecomsft
    from ecomsft.config import build_config
    from ecomsft.runner import run as train

    from .conftest import make_reviews, tiny_overrides

    data = tmp_path / "reviews.csv"
    make_reviews(120, chinese_share=1.0).to_csv(data, index=False)
    result = train(build_config(None, tiny_overrides(tiny_model_dir, data, tmp_path / "run", **{
        "model.new_embedding_init": "gloss", "model.add_words": True, "model.word_min_count": 2,
        "training.epochs": 1})))
    vocab = json.loads((result.run_dir / "metrics.json").read_text())["model"]
    assert vocab["added_words"] >= 1 and vocab["added_characters"] >= 4
    assert sum(vocab["new_rows_init"].values()) == vocab["added_tokens"] == vocab["added_words"] + vocab["added_characters"]
    assert vocab["tokens_per_text_after"] < vocab["tokens_per_text_before"]
    assert vocab["new_rows_shift"] > 0
    tokenizer = AutoTokenizer.from_pretrained(result.run_dir / "model")
    assert {"很好", "很差"} & set(tokenizer.get_added_vocab())
    [prediction] = ecomsft.load(result.run_dir).predict(["the product is good 很好 赞"])
    assert prediction["label"] in {"positive", "negative"}
