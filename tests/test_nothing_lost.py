"""Nothing lost, nothing overwritten: every command that writes keeps the user's files byte for byte.

One table of cases: a command, what was there before, and the one-line refusal it must give.
"""

import hashlib
import json
import os
import shutil

import pandas as pd
import pytest

from ecomsft import run_folder
from ecomsft.data.reading import decode_bytes
from ecomsft.errors import EcomsftError

from .conftest import failed_in_one_line, make_reviews, run_cli


def digest(folder) -> dict:
    """Every file under ``folder`` with the hash of its bytes."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def reviews(tmp_path):
    path = tmp_path / "reviews.csv"
    make_reviews(60).to_csv(path, index=False)
    return path


def tiny_train(model, data, output, *extra):
    return run_cli("train", "--data", data, "--model", model, "--output", output, "--max-steps", "2", "--max-length", "32",
                   "--set", "training.progress_bar=false", "--set", "baseline=false", *extra)


@pytest.fixture
def finished_run(tiny_model_dir, reviews, tmp_path):
    code, _, err = tiny_train(tiny_model_dir, reviews, tmp_path / "u")
    assert code == 0, err
    return tmp_path / "u"


def test_overwrite_keeps_a_file_added_to_a_finished_run(tiny_model_dir, reviews, finished_run):
    notes = finished_run / "my_notes.md"
    notes.write_bytes("# what I saw\n物流很快\n".encode())
    before = digest(finished_run)
    code, _, err = tiny_train(tiny_model_dir, reviews, finished_run, "--overwrite")
    assert failed_in_one_line(code, err) and "my_notes.md" in err and "did not write" in err
    assert digest(finished_run) == before  # refused before any work: the whole run untouched
    assert not finished_run.with_name("u.partial").exists()


def test_overwrite_deletes_exactly_what_ecomsft_wrote(tiny_model_dir, reviews, finished_run):
    listed = json.loads((finished_run / run_folder.MARKER).read_text(encoding="utf-8"))["files"]
    assert "metrics.json" in listed and "model/config.json" in listed
    (finished_run / "model" / "onnx").mkdir()
    (finished_run / "model" / "onnx" / "model.onnx").write_bytes(b"graph")
    run_folder.record(finished_run / "model" / "onnx" / "model.onnx")  # what ecomsft export does
    code, _, err = tiny_train(tiny_model_dir, reviews, finished_run, "--overwrite")
    assert code == 0, err
    assert not (finished_run / "model" / "onnx").exists()  # ours, recorded: replaced with the rest


def test_quickstart_refuses_a_folder_that_looks_like_a_run_but_holds_a_thesis(tmp_path):
    folder = tmp_path / "p"
    (folder / "model").mkdir(parents=True)
    (folder / "metrics.json").write_text("{}", encoding="utf-8")
    (folder / "thesis.docx").write_bytes(b"PK\x03\x04 four years")
    before = digest(folder)
    code, _, err = run_cli("quickstart", "--fast", "--output", folder)
    assert failed_in_one_line(code, err) and "thesis.docx" in err
    assert digest(folder) == before


def test_a_users_partial_folder_is_never_touched(tiny_model_dir, reviews, tmp_path):
    partial = tmp_path / "exp.partial"
    (partial / "checkpoints").mkdir(parents=True)
    (partial / "checkpoints" / "state.bin").write_bytes(b"\x00\x01")
    (partial / "notes.txt").write_text("mine", encoding="utf-8")
    before = digest(partial)
    code, _, err = tiny_train(tiny_model_dir, reviews, tmp_path / "exp")
    assert failed_in_one_line(code, err) and "did not write" in err
    assert digest(partial) == before and not (tmp_path / "exp").exists()


def test_a_symbolic_link_output_is_refused_before_training(tiny_model_dir, reviews, finished_run, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(finished_run, target_is_directory=True)
    before = digest(finished_run)
    code, _, err = tiny_train(tiny_model_dir, reviews, link, "--overwrite")
    assert failed_in_one_line(code, err) and "symbolic link" in err
    assert digest(finished_run) == before and link.is_symlink()


def test_an_unwritable_output_is_refused_before_the_model_loads(tiny_model_dir, reviews, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    code, _, err = tiny_train("no-such-org/no-such-model", reviews, blocker / "run")
    assert failed_in_one_line(code, err) and "cannot write" in err  # not the model's error: nothing was loaded


# Every command that writes a file: (arguments after the run or before --output, the input it reads).
FILE_COMMANDS = {
    "predict": lambda run, data: ["predict", run, "--input", data],
    "rank": lambda run, data: ["rank", run, "--input", data],
    "generate": lambda run, data: ["generate", run, "--input", data],
    "evaluate": lambda run, data: ["evaluate", run, "--data", data],
    "data augment": lambda run, data: ["data", "augment", data],
    "data recipe": lambda run, data: ["data", "recipe", "review-sentiment", data],
}


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_file_outputs_never_replace_the_input_nor_an_existing_file(command, tiny_run, reviews, tmp_path):
    args = FILE_COMMANDS[command](tiny_run.run_dir, reviews)
    before = reviews.read_bytes()
    code, _, err = run_cli(*args, "--output", reviews)
    assert failed_in_one_line(code, err) and "is the input" in err
    code, _, err = run_cli(*args, "--output", reviews, "--overwrite")  # not even with --overwrite
    assert failed_in_one_line(code, err) and "is the input" in err
    existing = tmp_path / "existing.csv"
    existing.write_bytes(b"a user's csv\n")
    code, _, err = run_cli(*args, "--output", existing)
    assert failed_in_one_line(code, err) and "already exists" in err and "--overwrite" in err
    assert reviews.read_bytes() == before and existing.read_bytes() == b"a user's csv\n"


def test_file_outputs_replace_an_existing_file_with_overwrite(tiny_run, reviews, tmp_path):
    out = tmp_path / "scored.csv"
    out.write_text("old\n", encoding="utf-8")
    code, _, err = run_cli("predict", tiny_run.run_dir, "--input", reviews, "--output", out, "--overwrite")
    assert code == 0, err
    assert "predicted" in pd.read_csv(out).columns


def test_compare_into_a_finished_run_needs_overwrite(finished_run, reviews):
    before = digest(finished_run)
    code, _, err = run_cli("compare", "--data", reviews, "--models", "tfidf-lr", "--output", finished_run)
    assert failed_in_one_line(code, err) and "--overwrite" in err
    assert digest(finished_run) == before


def test_compare_fails_when_every_candidate_fails(reviews, tmp_path):
    code, _, err = run_cli("compare", "--data", reviews, "--models", "no-such-org/model-a,no-such-org/model-b",
                           "--output", tmp_path / "cmp", "--max-steps", "1")
    assert failed_in_one_line(code, err) and "every candidate failed" in err
    assert (tmp_path / "cmp" / "leaderboard.csv").is_file()


def test_compare_interrupted_says_how_to_go_on(reviews, tmp_path, monkeypatch):
    from ecomsft import compare

    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare, "_run_transformer", interrupted)
    code, _, err = run_cli("compare", "--data", reviews, "--models", "tfidf-lr,minilm", "--output", tmp_path / "cmp")
    assert code == 130 and err.count("error:") == 1 and "Traceback" not in err
    assert "interrupted at candidate 'minilm'" in err and "--resume" not in err.replace("no --resume", "")
    board = pd.read_csv(tmp_path / "cmp" / "leaderboard.csv")
    assert set(board["status"]) == {"ok", "interrupted"}
    code, _, err = run_cli("compare", "--data", reviews, "--models", "tfidf-lr", "--output", tmp_path / "cmp",
                           "--overwrite")
    assert code == 0, err  # the interrupted comparison is ecomsft's: replaced whole
    assert list(pd.read_csv(tmp_path / "cmp" / "leaderboard.csv")["candidate"]) == ["tfidf-lr"]


def test_each_command_checks_the_runs_task_first(tiny_run, tmp_path):
    extraction = tmp_path / "extraction-run"
    shutil.copytree(tiny_run.run_dir, extraction)
    config = extraction / "config.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("type: classification", "type: extraction"),
                      encoding="utf-8")
    code, _, err = run_cli("predict", extraction, "great product")  # read as the run's task says: not what its model is
    assert failed_in_one_line(code, err) and "not an extraction model" in err and "Traceback" not in err
    for args in (["generate", tiny_run.run_dir, "hi"], ["extract", tiny_run.run_dir, "title"]):
        code, _, err = run_cli(*args)
        assert failed_in_one_line(code, err) and "classification run" in err and "ecomsft predict" in err
    assert run_folder.task_of(tiny_run.run_dir) == "classification"
    assert run_folder.task_of(tiny_run.run_dir / "model") == "classification"


# cp1252, cp1250 and Latin-1 decided on the text: each sample in each code page that can hold it.
SAMPLES = {
    "es": "el tamaño es perfecto ¡gracias! la señora está contenta",
    "fr": "très élevé, ça coûte cher; où est la qualité? déçu",
    "fr-central": "reçu hier, qualité médiocre, côté prix élevé",  # letters cp1250 holds too
    "de": "Größe passt, schöne Qualität, über alles zufrieden, weiß",
    "pl": "zażółć gęślą jaźń, bardzo dobra jakość",
    "cs": "příliš žluťoučký kůň úpěl ďábelské ódy",
}


@pytest.mark.parametrize("page", ["cp1252", "cp1250", "latin-1"])
def test_western_code_pages_are_told_apart_on_the_text(page):
    decoded = 0
    for name, text in SAMPLES.items():
        try:
            raw = ("review\n" + text + "\n").encode(page)
        except UnicodeEncodeError:
            continue
        assert decode_bytes(raw, name)[0] == "review\n" + text + "\n", (page, name)
        decoded += 1
    assert decoded >= 3


def test_a_huge_text_is_cut_before_tokenizing(tiny_run, tmp_path):
    from ecomsft.data.examples import CHARS_PER_TOKEN, load_examples

    huge = tmp_path / "huge.csv"
    pd.DataFrame({"text": ["good " * 400_000, "bad product"], "label": ["positive", "negative"]}).to_csv(huge, index=False)
    examples = load_examples(str(huge), max_chars=32 * CHARS_PER_TOKEN)
    assert examples.cut_texts == 1 and examples.frame["text"].str.len().max() == 32 * CHARS_PER_TOKEN
    assert any("cut 1 text" in note for note in examples.notes)
    out = tmp_path / "scored.csv"
    code, _, err = run_cli("predict", tiny_run.run_dir, "--input", huge, "--output", out)
    assert code == 0, err
    scored = pd.read_csv(out)
    assert len(scored) == 2 and scored["text"].str.len()[0] == 2_000_000  # the output keeps the text whole


def test_replacing_refuses_a_file_that_appeared_while_training(tmp_path):
    partial, output = tmp_path / "o.partial", tmp_path / "o"
    run_folder.mark(output, "run", files=[])
    (partial).mkdir()
    (partial / "metrics.json").write_text("{}", encoding="utf-8")
    (output / "late.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(EcomsftError, match="late.txt.*kept in"):
        run_folder.finish(partial, output, "run")
    assert (output / "late.txt").read_text(encoding="utf-8") == "mine" and (partial / "metrics.json").is_file()
    os.remove(output / "late.txt")
    run_folder.finish(partial, output, "run")
    assert (output / "metrics.json").is_file() and not partial.exists()
