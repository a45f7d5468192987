import pandas as pd

from ecomsft.data.quality import drop_duplicates, duplicate_report, overlap
from ecomsft.data.splitting import stratified_split


def frame(n_pos=80, n_neg=20):
    return pd.DataFrame({"text": [f"t{i}" for i in range(n_pos + n_neg)], "label": ["pos"] * n_pos + ["neg"] * n_neg})


def test_split_is_stratified_seeded_and_disjoint():
    data = frame()
    train, valid, test = stratified_split(data, 0.1, 0.2, seed=1)
    assert (len(train), len(valid), len(test)) == (70, 10, 20)
    assert (test["label"] == "neg").sum() == 4 and (valid["label"] == "neg").sum() == 2
    assert set(train["text"]).isdisjoint(test["text"]) and set(valid["text"]).isdisjoint(test["text"])
    again = stratified_split(data, 0.1, 0.2, seed=1)[2]
    assert again["text"].tolist() == test["text"].tolist()


def test_split_survives_a_class_with_one_row():
    data = pd.concat([frame(), pd.DataFrame({"text": ["rare"], "label": ["odd"]})])
    train, valid, test = stratified_split(data, 0.1, 0.1, seed=0)
    assert len(train) + len(valid) + len(test) == len(data)


def test_duplicates_conflicts_and_overlap():
    data = pd.DataFrame({"text": ["a", "a", "b", "b", "c"], "label": ["1", "1", "1", "0", "0"]})
    report = duplicate_report(data)
    assert report == {"rows": 5, "duplicate_texts": 2, "exact_duplicates": 1, "conflicting_texts": 1}
    assert drop_duplicates(data, drop_conflicts=True)["text"].tolist() == ["a", "c"]
    assert drop_duplicates(data, drop_conflicts=False)["text"].tolist() == ["a", "b", "b", "c"]
    assert overlap(data.iloc[:3], pd.DataFrame({"text": ["a", "z", " b "], "label": ["1"] * 3})) == 2
