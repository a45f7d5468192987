"""Vocabulary trimming (model.trim_vocab): the kept rows, the rebuilt tokenizer, and runs on it."""

import json

import pytest

from ecomsft.errors import EcomsftError
from ecomsft.models.trim import kept_ids, trimmed_tokenizer, write_trimmed

from .conftest import UNIGRAM_PIECES as PIECES
from .conftest import failed_in_one_line, make_reviews, run_cli, tiny_overrides

def test_unigram_trim_keeps_the_training_segmentation_and_the_model_exactly(tiny_unigram_dir, tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    texts = ["物流很快", "质量好", "the good"]
    info = write_trimmed(str(tiny_unigram_dir), texts, tmp_path / "trimmed")
    before, after = (AutoTokenizer.from_pretrained(p) for p in (tiny_unigram_dir, tmp_path / "trimmed"))
    keep = kept_ids(before, texts)
    assert info == {"vocab_rows": len(keep), "vocab_rows_before": len(PIECES)}
    kept = {PIECES[i] for i in keep}
    # Specials, the used pieces, and the single characters of the scripts present (Han and Latin;
    # digits and punctuation always); not the Hangul of a script the texts never use, nor unused words.
    assert {"<s>", "<pad>", "</s>", "<unk>", "<mask>", "▁物流", "▁the", "▁good", "b", "!", "1", "慢", "差"} <= kept
    assert not kept & {"한", "국", "▁한국", "▁bad"} and "▁很" in kept  # a character at a word start too
    for text in texts:  # the same pieces, the same vectors
        old, new = before(text)["input_ids"], after(text)["input_ids"]
        assert [keep[i] for i in new] == old
        assert after.convert_ids_to_tokens(new) == before.convert_ids_to_tokens(old)
    models = [AutoModel.from_pretrained(p).eval() for p in (tiny_unigram_dir, tmp_path / "trimmed")]
    assert models[1].config.vocab_size == len(keep) and models[1].config.pad_token_id == keep.index(1)
    with torch.no_grad():
        out = [m(**t(texts, padding=True, return_tensors="pt")).last_hidden_state for m, t in zip(models, (before, after))]
    assert torch.allclose(out[0], out[1], atol=1e-6)
    # Unseen text: a dropped word falls back to its characters, an unused script to <unk>; never an error.
    assert after.convert_ids_to_tokens(after("bad 한국")["input_ids"]) == ["<s>", "▁", "b", "a", "d", "▁", "<unk>", "</s>"]
    assert after.decode(after("物流很快")["input_ids"], skip_special_tokens=True) == "物流很快"
    assert after.mask_token_id == keep.index(len(PIECES) - 1) and after.pad_token_id == keep.index(1)


def test_wordpiece_run_trims_and_predicts_on_unseen_text(tiny_model_dir, tmp_path):
    from ecomsft.config import build_config
    from ecomsft.readers.classification.reader import Predictor
    from ecomsft.runner import run

    data = tmp_path / "reviews.csv"
    make_reviews(80).to_csv(data, index=False)  # English only
    result = run(build_config(None, tiny_overrides(tiny_model_dir, data, tmp_path / "run", **{
        "model.trim_vocab": True, "training.epochs": 1, "baseline": False})))
    model_info = result.metrics["model"]
    assert model_info["vocab_rows_before"] == 30 and model_info["vocab_rows"] < 30
    tokenizer_file = json.loads((tmp_path / "run" / "model" / "tokenizer.json").read_text(encoding="utf-8"))
    assert "好" not in tokenizer_file["model"]["vocab"]  # a script the training texts never use
    predictor = Predictor(tmp_path / "run")
    assert predictor.model.config.vocab_size == model_info["vocab_rows"]
    out = predictor.predict(["good delivery", "很好 unheard-of words", ""])
    assert [set(row["probabilities"]) for row in out] == [{"negative", "positive"}] * 3


def test_auto_leaves_a_small_vocabulary_alone_and_tasks_that_need_the_whole_one_refuse(tiny_model_dir, tmp_path):
    from ecomsft.config import build_config
    from ecomsft.runner import run

    data = tmp_path / "reviews.csv"
    make_reviews(60).to_csv(data, index=False)
    result = run(build_config(None, tiny_overrides(tiny_model_dir, data, tmp_path / "run", **{
        "training.max_steps": 1, "baseline": False})))
    assert result.metrics["model"].get("vocab_rows") is None  # auto: 30 rows are not worth trimming
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(make_reviews(20)["review"]), encoding="utf-8")
    code, _, err = run_cli("pretrain", "--data", corpus, "--model", tiny_model_dir, "--output", tmp_path / "p",
                           "--set", "model.trim_vocab=true")
    assert failed_in_one_line(code, err) and "model.trim_vocab" in err


def test_a_bpe_vocabulary_is_refused_in_one_line():
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    bpe = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE({"a": 0, "b": 1, "ab": 2, "<unk>": 3},
                                                                         [("a", "b")], unk_token="<unk>")),
                                  unk_token="<unk>")
    with pytest.raises(EcomsftError, match="Unigram .* and WordPiece"):
        trimmed_tokenizer(bpe, [0, 1, 3])


def test_with_frozen_embeddings_a_trimmed_run_trains_exactly_like_the_full_one(tiny_model_dir, tmp_path):
    from ecomsft.config import build_config
    from ecomsft.runner import run

    data = tmp_path / "reviews.csv"
    make_reviews(80, chinese_share=0.5).to_csv(data, index=False)
    tests = {}
    for trim in (False, True):
        result = run(build_config(None, tiny_overrides(tiny_model_dir, data, tmp_path / f"run-{trim}", **{
            "model.trim_vocab": trim, "training.freeze_embeddings": True, "training.epochs": 1, "baseline": False})))
        tests[trim] = result.test
    assert tests[True]["log_loss"] == pytest.approx(tests[False]["log_loss"], abs=1e-6)
