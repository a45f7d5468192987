"""Bad inputs a user can cause end in one `error:` line (or typer's usage error for an option out of
its declared range), exit code 2 and no traceback, on every command; nothing half-written stays."""

import errno

import pandas as pd
import pytest

from .conftest import failed_in_one_line, make_reviews, run_cli


@pytest.fixture
def reviews(tmp_path):
    path = tmp_path / "reviews.csv"
    make_reviews(40).to_csv(path, index=False)
    return path


def test_config_files_that_are_not_utf8_text(tmp_path, reviews):
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes(f"data:\n  train: {reviews}\n  text_column: 评论\n".encode("gbk"))
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    for config, line in ((gbk, 3), (binary, 2)):  # byte 0x80 comes after the newline at 0x0a
        code, _, err = run_cli("train", config)
        assert failed_in_one_line(code, err) and f"{config.name}:{line}" in err and "UTF-8" in err


def test_a_model_folder_with_a_broken_tokenizer(tiny_model_dir, tmp_path, reviews):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "tokenizer.json").write_text("{not json", encoding="utf-8")
    code, _, err = run_cli("train", "--data", reviews, "--model", broken, "--output", tmp_path / "run", "--max-steps", "1")
    assert failed_in_one_line(code, err) and "cannot load the model" in err and str(broken) in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_input_files_with_undecodable_bytes_are_scored_and_counted(tiny_run, tmp_path, caplog):
    rows = [f"review {i} good product with a few more words to pass the first megabyte,positive" for i in range(15_000)]
    source = tmp_path / "late-bytes.csv"
    source.write_bytes(("text,label\n" + "\n".join(rows) + "\n").encode() + b"\xff\xfe bad \xc3\x28 thing,negative\n")
    assert source.stat().st_size > 1 << 20  # past what the encoding is sniffed from
    out = tmp_path / "scored.csv"
    with caplog.at_level("WARNING", logger="ecomsft"):
        code, _, err = run_cli("predict", tiny_run.run_dir, "--input", source, "--output", out)
    assert code == 0, err
    assert any("1 row(s) from line 15002" in r.getMessage() and "U+FFFD" in r.getMessage() for r in caplog.records)
    scored = pd.read_csv(out, keep_default_na=False)
    assert len(scored) == 15_001 and scored["predicted"].iloc[-1] in ("positive", "negative")


@pytest.mark.parametrize("option", [["--max-batch-size", "0"], ["--max-queue", "0"], ["--port", "70000"],
                                    ["--port", "-1"], ["--workers", "0"], ["--max-texts", "0"]])
def test_serve_options_out_of_range_are_usage_errors(tiny_run, option):
    code, _, err = run_cli("serve", tiny_run.run_dir, *option)
    assert code == 2 and "Traceback" not in err and "Invalid value" in err and option[0] in err


def test_unwritable_outputs(tiny_run, tmp_path, reviews, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    for args in (["train", "--data", reviews, "--model", "no-such-org/model", "--output", blocker / "run"],
                 ["index", "minilm", "--catalog", reviews, "--output", blocker / "idx"],
                 ["evaluate", tiny_run.run_dir, "--data", reviews, "--output", blocker / "e.json"],
                 ["evaluate", tiny_run.run_dir, "--data", reviews, "--output", tmp_path / "nodir" / "e.json"],
                 ["data", "augment", reviews, "--output", blocker / "a.csv"]):
        code, _, err = run_cli(*args)
        assert failed_in_one_line(code, err), args
    # A folder that turns read-only under ecomsft (a mount, a full disk): still one line, naming it.
    import ecomsft.report as report

    def read_only(path, _text):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(report, "write_text_atomic", read_only)
    code, _, err = run_cli("report", tiny_run.run_dir)
    assert failed_in_one_line(code, err) and "Read-only file system" in err and "report.html" in err


def test_the_server_answers_a_malformed_oversized_body_with_its_schemas_422(tiny_run):
    from fastapi.testclient import TestClient

    from ecomsft.inference.server import ServeSettings, create_app

    with TestClient(create_app(ServeSettings(run=str(tiny_run.run_dir), max_texts=2))) as client:
        malformed = client.post("/v1/predict", json={"texts": [1, 2, 3]})
        too_many = client.post("/v1/predict", json={"texts": ["a", "b", "c"]})
    assert malformed.status_code == 422 and "texts[0]" in malformed.json()["error"]
    assert too_many.status_code == 413 and "max_texts" in too_many.json()["error"]


@pytest.mark.parametrize("command", [["predict", "RUN", "good", "  "], ["extract", "RUN", ""], ["generate", "RUN", "\t"]])
def test_an_empty_text_argument_is_refused_in_one_line(tiny_run, command):
    args = [str(tiny_run.run_dir) if part == "RUN" else part for part in command]
    code, out, err = run_cli(*args)
    assert failed_in_one_line(code, err) and "is empty" in err and not out
