"""The blend a run would have chosen, for a run trained before blends existed (or with model.blend
off): the same steps as ``tasks/classification/task.py`` (tfidf-lr fitted on the training file, the
weight chosen on the validation file by the run's metric, scored once on the test file), with the
run's saved model as the fine-tuned side. Prints the three models' validation and test figures.

    .venv/bin/python benchmarks/blend_existing.py RUN --train train.csv --valid valid.csv --test test.csv \\
        --text-column review --label-column cat
"""

from __future__ import annotations

import argparse
import json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--train", required=True)
    parser.add_argument("--valid", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--text-column", default=None)
    parser.add_argument("--label-column", default=None)
    parser.add_argument("--metric", default="f1_macro")
    args = parser.parse_args()

    import numpy as np

    from ecomsft.data.examples import char_budget, load_examples
    from ecomsft.evaluation.baselines import fit_tfidf_lr
    from ecomsft.evaluation.blend import choose_blend
    from ecomsft.evaluation.classification import scalar_metrics
    from ecomsft.readers.classification.reader import Predictor
    from ecomsft.models.lexical import mix

    predictor = Predictor(args.run, blend=False)
    labels, budget = predictor.labels, char_budget(predictor.max_length)
    splits = {}
    for name in ("train", "valid", "test"):
        frame = load_examples(getattr(args, name), text_column=args.text_column, label_column=args.label_column,
                              max_chars=budget).frame  # cut as the run cut its texts
        splits[name] = (frame["text"].tolist(), np.asarray(labels.encode(frame["label"].tolist())))
    lexical, seconds = fit_tfidf_lr(*splits["train"], len(labels), labels.multi_label)
    probs = {name: predictor.predict_proba(splits[name][0]) for name in ("valid", "test")}
    lexical_probs = {name: lexical.predict_proba(splits[name][0]) for name in ("valid", "test")}
    choice = choose_blend(splits["valid"][1], probs["valid"], lexical_probs["valid"], multi_label=labels.multi_label,
                          metric=args.metric)
    weight = choice["weight"]
    gold = splits["test"][1]
    test = {"model": scalar_metrics(gold, probs["test"]), "tfidf_lr": scalar_metrics(gold, lexical_probs["test"]),
            "blend": scalar_metrics(gold, mix(probs["test"], lexical_probs["test"], weight))}
    print(json.dumps({"choice": choice, "tfidf_lr_train_seconds": seconds,
                      "test": {k: {m: v[m] for m in ("accuracy", "f1_macro")} for k, v in test.items()}}, indent=2))


if __name__ == "__main__":
    main()
