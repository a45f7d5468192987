import numpy as np
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from ecomsft.models.vocab import coverage, extend_vocabulary, unknown_pieces

TEXTS = ["质量很好 good", "物流很快 great", "质量太差 bad", "物流很慢 slow"] * 5


def test_unknown_rate_and_extension(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    before = coverage(tokenizer, TEXTS)
    assert before.unk_rate > 0.4
    counts = unknown_pieces(tokenizer, TEXTS)
    assert counts["质"] == 10 and "好" not in counts  # 好 is in the tiny vocabulary
    old_rows = model.get_input_embeddings().weight.shape[0]
    added = extend_vocabulary(tokenizer, model, TEXTS, min_count=2, max_new=100, init="mean").added
    assert set(added) == {"质", "量", "物", "流", "太"}
    assert model.get_input_embeddings().weight.shape[0] == old_rows + len(added)
    assert coverage(tokenizer, TEXTS).unk_rate == 0.0


def test_cooccurrence_init_places_rows_apart(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    texts = [f"the {a}{b} product is {w}" for a in "甲乙丙丁" for b in "戊己庚辛" for w in ("good", "bad", "fast")] * 2
    added = extend_vocabulary(tokenizer, model, texts, min_count=2, max_new=100, init="cooccurrence").added
    weight = model.get_input_embeddings().weight.detach().numpy()
    new_rows = weight[-len(added):]
    # Mean resizing would start every new row close to one vector; placed rows differ.
    assert np.linalg.norm(new_rows - new_rows.mean(axis=0), axis=1).mean() > 0.1 * np.linalg.norm(weight[:-len(added)] - weight[:-len(added)].mean(axis=0), axis=1).mean()
    assert np.isfinite(new_rows).all()
