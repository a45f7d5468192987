"""The second bad-input and attack probe (issue 45): links followed into other files, code run from
a run folder, user folders deleted, and the rest. Data-loss cases compare byte-for-byte digests
before and after."""

import json
import os
import shutil
import struct

import pytest

from ecomsft import run_folder
from ecomsft.errors import EcomsftError

from .conftest import failed_in_one_line, make_reviews, run_cli
from .test_nothing_lost import digest, tiny_train


@pytest.fixture
def reviews(tmp_path):
    path = tmp_path / "reviews.csv"
    make_reviews(60).to_csv(path, index=False)
    return path


@pytest.fixture
def important(tmp_path):
    path = tmp_path / "elsewhere" / "important.txt"
    path.parent.mkdir()
    path.write_bytes("my only copy\n".encode())
    return path


# 1. links followed into another file


def test_a_link_at_the_scoring_work_file_is_refused(tiny_run, reviews, important, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".scored.csv.partial").symlink_to(important)
    code, _, err = run_cli("predict", tiny_run.run_dir, "--input", reviews, "--output", out / "scored.csv")
    assert failed_in_one_line(code, err) and "link" in err
    assert important.read_bytes() == "my only copy\n".encode()
    assert not (out / "scored.csv").exists()


def test_links_at_the_old_temporary_names_are_never_written_through(tiny_run, reviews, important, tmp_path):
    """Temporary files are created afresh with random names: a link planted at a predictable name
    (``.state.json.tmp``, ``.report.html.tmp``) is neither followed nor removed."""
    out = tmp_path / "out"
    out.mkdir()
    (out / ".scored.csv.state.json").symlink_to(important)
    code, _, err = run_cli("predict", tiny_run.run_dir, "--input", reviews, "--output", out / "scored.csv")
    assert failed_in_one_line(code, err) and "link" in err and not list(out.glob(".scored.csv.partial"))
    (out / ".scored.csv.state.json").unlink()
    (out / ".scored.csv.state.json.tmp").symlink_to(important)
    code, _, err = run_cli("predict", tiny_run.run_dir, "--input", reviews, "--output", out / "scored.csv")
    assert code == 0, err
    assert important.read_bytes() == "my only copy\n".encode()
    assert (out / "scored.csv").is_file() and not (out / "scored.csv").is_symlink()
    run = tmp_path / "run"
    shutil.copytree(tiny_run.run_dir, run)
    (run / ".report.html.tmp").symlink_to(important)
    code, _, err = run_cli("report", run)
    assert code == 0, err
    assert important.read_bytes() == "my only copy\n".encode() and (run / ".report.html.tmp").is_symlink()
    assert "<html" in (run / "report.html").read_text(encoding="utf-8")


def test_the_atomic_writer_refuses_a_link_or_device_target(tmp_path, important):
    from ecomsft.files import write_text_atomic

    link = tmp_path / "metrics.json"
    link.symlink_to(important)
    with pytest.raises(EcomsftError, match="symbolic link"):
        write_text_atomic(link, "{}")
    with pytest.raises(EcomsftError, match="device"):
        write_text_atomic("/dev/null", "{}")
    assert important.read_bytes() == "my only copy\n".encode()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # nothing half-written left


# 2. custom code from a run folder


def _with_custom_code(run, tmp_path):
    """A copy of ``run`` whose config and tokenizer config ask transformers to run a .py of the folder."""
    evil = tmp_path / "evil"
    shutil.copytree(run, evil)
    model = evil / "model"
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    config.update(model_type="evilbert", auto_map={"AutoConfig": "evil.EvilConfig",
                                                    "AutoModelForSequenceClassification": "evil.EvilModel"})
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    tok = json.loads((model / "tokenizer_config.json").read_text(encoding="utf-8"))
    tok["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
    (model / "tokenizer_config.json").write_text(json.dumps(tok), encoding="utf-8")
    ran = tmp_path / "THE_CODE_RAN"
    (model / "evil.py").write_text(f"open({str(ran)!r}, 'w').write('x')\nfrom transformers import BertConfig\n"
                                   "class EvilConfig(BertConfig):\n    model_type = 'evilbert'\n", encoding="utf-8")
    return evil, ran


def test_code_in_a_run_folder_never_runs(tiny_run, tmp_path, reviews, monkeypatch):
    evil, ran = _with_custom_code(tiny_run.run_dir, tmp_path)
    monkeypatch.setattr("sys.stdin", open(os.devnull))  # nobody to answer transformers' question either
    for args in (("predict", evil, "很好"), ("export", evil), ("evaluate", evil, "--data", reviews)):
        code, _, err = run_cli(*args)
        assert failed_in_one_line(code, err) and "never runs code" in err, (args, err)
    code, _, err = tiny_train(evil / "model", reviews, tmp_path / "from-evil")
    assert failed_in_one_line(code, err) and "never runs code" in err
    assert not ran.exists()


def test_every_pretrained_load_refuses_remote_code():
    """A source guard: every ``from_pretrained`` call in ecomsft passes ``trust_remote_code=False``."""
    import re
    from pathlib import Path

    import ecomsft

    missing = []
    for path in Path(ecomsft.__file__).parent.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"\.from_pretrained\(", text):
            depth, end = 1, match.end()
            while depth:
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                end += 1
            if "trust_remote_code=False" not in text[match.end():end] and "PeftModel" not in text[match.start() - 12:match.start()]:
                missing.append(f"{path.name}:{text[:match.start()].count(chr(10)) + 1}")
    assert missing == []


# 3-7. user files deleted, concurrent runs, checkpoints


def _user_folder(folder, files: dict, marker: str | None = None):
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    if marker is not None:
        (folder / run_folder.MARKER).write_text(marker, encoding="utf-8")
    return digest(folder)


@pytest.mark.parametrize("marker, files", [
    ("{not json", {"config.yaml": b"lr: 1\n", "predictions.csv": b"a,b\n", "model/my_weights.bin": b"\x00" * 64}),
    (None, {"metrics.json": b"{}", "model/pytorch_model.bin": b"\x01" * 64, "config.yaml": b"x: 1\n"}),
    ("{}", {"metrics.json": b"{}", "model/config.json": b"{}"}),
    ('{"kind": "run", "files": "everything"}', {"metrics.json": b"{}"}),
], ids=["invalid-marker", "no-marker-common-names", "empty-marker", "marker-without-list"])
def test_overwrite_never_deletes_an_unproven_folder(tiny_model_dir, reviews, tmp_path, marker, files):
    folder = tmp_path / "theirs"
    folder.mkdir()
    before = _user_folder(folder, files, marker)
    code, _, err = tiny_train(tiny_model_dir, reviews, folder, "--overwrite")
    assert failed_in_one_line(code, err) and "did not write" in err
    assert digest(folder) == before


def test_a_file_of_ours_changed_since_is_not_deleted(tiny_model_dir, reviews, tmp_path):
    run = tmp_path / "run"
    code, _, err = tiny_train(tiny_model_dir, reviews, run)
    assert code == 0, err
    listed = json.loads((run / run_folder.MARKER).read_text(encoding="utf-8"))["files"]
    assert listed["metrics.json"] == (run / "metrics.json").stat().st_size  # sizes recorded
    (run / "model" / "model.safetensors").write_bytes(b"my own weights, saved under ecomsft's name")
    before = digest(run)
    code, _, err = tiny_train(tiny_model_dir, reviews, run, "--overwrite")
    assert failed_in_one_line(code, err) and "model/model.safetensors" in err and "changed" in err
    assert digest(run) == before


@pytest.mark.parametrize("overwrite", [(), ("--overwrite",)])
def test_a_work_folder_without_a_valid_marker_is_never_deleted(tiny_model_dir, reviews, tmp_path, overwrite):
    partial = tmp_path / "out.partial"
    partial.mkdir()
    before = _user_folder(partial, {"precious.txt": b"mine"}, "{}")
    code, _, err = tiny_train(tiny_model_dir, reviews, tmp_path / "out", *overwrite)
    assert failed_in_one_line(code, err) and "did not write" in err
    assert digest(partial) == before


def test_a_valid_work_folder_keeps_a_file_it_does_not_list(tiny_model_dir, reviews, tmp_path):
    partial = tmp_path / "out.partial"
    partial.mkdir()
    run_folder.mark(partial, run_folder.PARTIAL, files=[])
    before = _user_folder(partial, {"precious.txt": b"mine"})
    code, _, err = tiny_train(tiny_model_dir, reviews, tmp_path / "out", "--overwrite")
    assert failed_in_one_line(code, err) and "precious.txt" in err
    assert digest(partial) == before


def test_a_second_command_on_the_same_output_is_refused_while_the_first_runs(tiny_model_dir, reviews, tmp_path):
    first = run_folder.RunFolder(tmp_path / "r2").prepare(overwrite=False, resume=False)  # a live run holds the lock
    (first.partial / "config.yaml").write_text("live\n", encoding="utf-8")
    first.keep()
    before = digest(first.partial)
    for extra in ((), ("--overwrite",), ("--resume",)):
        code, _, err = tiny_train(tiny_model_dir, reviews, tmp_path / "r2", *extra)
        assert failed_in_one_line(code, err) and "another ecomsft command" in err, err
    assert digest(first.partial) == before
    run_folder.unlock(first.partial, first._lock)  # the first ended: the folder is free again


def test_an_interrupted_runs_checkpoints_are_kept_without_overwrite(tiny_model_dir, reviews, tmp_path):
    interrupted = run_folder.RunFolder(tmp_path / "out").prepare(overwrite=False, resume=False)
    (interrupted.checkpoints / "checkpoint-2").mkdir(parents=True)
    (interrupted.checkpoints / "checkpoint-2" / "model.safetensors").write_bytes(b"\x02" * 32)
    interrupted.keep()
    run_folder.unlock(interrupted.partial, interrupted._lock)  # the process ended
    before = digest(interrupted.partial)
    code, _, err = tiny_train(tiny_model_dir, reviews, tmp_path / "out")
    assert failed_in_one_line(code, err) and "--resume" in err and "--overwrite" in err
    assert digest(interrupted.partial) == before
    code, _, err = tiny_train(tiny_model_dir, reviews, tmp_path / "out", "--overwrite")
    assert code == 0, err
    assert not interrupted.partial.exists() and (tmp_path / "out" / "metrics.json").is_file()
    assert not (tmp_path / "out" / run_folder.LOCK).exists()


# 8. a script in a report


def test_every_value_a_report_renders_is_escaped(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run.run_dir, run)
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    metrics["data"]["sizes"]["train"] = "<script>alert(1)</script>"
    metrics["model"]["name"] = "<img src=x onerror=alert(2)>"
    (run / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    code, _, err = run_cli("report", run)
    assert code == 0, err
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page and "<img src=x" not in page


# 12. tracebacks


@pytest.mark.parametrize("output", [".", "/", "", "  "])
def test_an_output_that_names_no_folder_is_refused(tiny_model_dir, reviews, tmp_path, monkeypatch, output):
    monkeypatch.chdir(tmp_path / "empty" if (tmp_path / "empty").mkdir() is None else tmp_path)
    code, _, err = tiny_train(tiny_model_dir, reviews, output)
    assert failed_in_one_line(code, err) and "--output" in err
    assert list((tmp_path / "empty").iterdir()) == []


def test_damaged_model_files_fail_in_one_line(tiny_run, tmp_path):
    weights = tmp_path / "weights"
    shutil.copytree(tiny_run.run_dir, weights)
    data = (weights / "model" / "model.safetensors").read_bytes()
    (weights / "model" / "model.safetensors").write_bytes(struct.pack("<Q", 2 ** 40) + data[8:])
    tokenizer = tmp_path / "tokenizer"
    shutil.copytree(tiny_run.run_dir, tokenizer)
    text = (tokenizer / "model" / "tokenizer.json").read_bytes()
    (tokenizer / "model" / "tokenizer.json").write_bytes(text[: len(text) // 3])
    for run in (weights, tokenizer):
        code, _, err = run_cli("predict", run, "很好")
        assert failed_in_one_line(code, err) and "damaged" in err, err
