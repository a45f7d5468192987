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


# 9-10 and the error shape: the server


@pytest.fixture(scope="module")
def loaded(tiny_run):
    from ecomsft.readers.classification.reader import Predictor

    return Predictor(tiny_run.run_dir)


def _client(tiny_run, loaded, **settings):
    from fastapi.testclient import TestClient

    from ecomsft.inference.server import ServeSettings, create_app

    return TestClient(create_app(ServeSettings(run=str(tiny_run.run_dir), **settings), predictor=loaded))


def test_the_api_description_needs_the_key(tiny_run, loaded):
    with _client(tiny_run, loaded, api_key="k") as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            response = client.get(path)
            assert response.status_code == 401 and "API key" in response.json()["error"], path
            assert client.get(path, headers={"Authorization": "Bearer k"}).status_code == 200, path
        assert "/v1/predict" in client.get("/openapi.json", headers={"Authorization": "Bearer k"}).json()["paths"]
    with _client(tiny_run, loaded, api_key="k", public_docs=True) as client:
        assert all(client.get(path).status_code == 200 for path in ("/docs", "/redoc", "/openapi.json"))
    with _client(tiny_run, loaded) as client:  # no key: nothing to guard
        assert client.get("/openapi.json").status_code == 200


def test_every_error_has_the_one_shape(tiny_run, loaded):
    deep = b'{"texts": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    with _client(tiny_run, loaded) as client:
        answers = [client.delete("/v1/predict"), client.get("/v1/predict"),
                   client.post("/v1/predict", content=b'{"texts": ["\xff\xfe"]}', headers={"content-type": "application/json"}),
                   client.post("/v1/predict", content=deep, headers={"content-type": "application/json"}),
                   client.get("/nowhere")]
    assert [a.status_code for a in answers][:2] == [405, 405]
    for answer in answers:
        assert 400 <= answer.status_code < 500, answer.text
        assert set(answer.json()) == {"error"} and answer.json()["error"], answer.text


def _serving(tiny_run, loaded, **settings):
    """A real uvicorn server with ecomsft's protocol on a free port, in a thread."""
    import socket
    import threading
    import time

    import uvicorn

    from ecomsft.inference.server import ServeSettings, create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(ServeSettings(run=str(tiny_run.run_dir), **settings), predictor=loaded)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           http="ecomsft.inference.protocol:GuardedH11Protocol"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    return server, thread, port


def _read_all(sock, limit=10.0):
    import time

    sock.settimeout(limit)
    data, started = b"", time.time()
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except TimeoutError:
        pass
    return data, time.time() - started


def test_slow_and_surplus_clients_are_cut_off(tiny_run, loaded):
    import socket

    import httpx

    server, thread, port = _serving(tiny_run, loaded, read_timeout_s=1, max_connections=4)
    try:
        half = socket.create_connection(("127.0.0.1", port))
        half.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: applica")  # half-sent headers
        short = socket.create_connection(("127.0.0.1", port))
        short.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100\r\n\r\n{\"texts\": [")  # a body shorter than its Content-Length
        for sock in (half, short):
            data, seconds = _read_all(sock)
            assert seconds < 5 and b"408" in data.split(b"\r\n")[0] and b'"error"' in data, data
            sock.close()
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
        extra = socket.create_connection(("127.0.0.1", port))
        data, seconds = _read_all(extra)
        assert b"503" in data.split(b"\r\n")[0] and b"max_connections" in data and seconds < 5
        for sock in (*held, extra):
            sock.close()
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/predict", json={"texts": ["good"]}, timeout=10)
        assert reply.status_code == 200  # a whole request is served as before
    finally:
        server.should_exit = True
        thread.join(timeout=20)


# 11, 13, 14 and the unclear messages: reading


def test_a_device_is_never_read(tiny_run, tmp_path):
    zero = tmp_path / "zero.csv"
    zero.symlink_to("/dev/zero")
    for args in (("data", "inspect", zero), ("train", "--data", zero, "--output", tmp_path / "r"),
                 ("train", "--data", zero, "--output", tmp_path / "r", "--set", "data.memory_mapped=true"),
                 ("predict", tiny_run.run_dir, "--input", zero, "--output", tmp_path / "s.csv")):
        code, _, err = run_cli(*args)
        assert failed_in_one_line(code, err) and "device" in err, (args, err)


def test_a_column_name_of_100000_characters_is_inspected_quickly(tmp_path):
    import time

    path = tmp_path / "wide.csv"
    path.write_text("text,label," + "x" * 100_000 + "\nhello there,pos,1\nbad thing,neg,2\n", encoding="utf-8")
    started = time.perf_counter()
    code, out, err = run_cli("data", "inspect", path)
    assert code == 0, err
    assert time.perf_counter() - started < 30  # was 200 s in rich's highlighter


def test_a_western_file_of_several_languages_is_read_as_cp1252(tmp_path):
    from ecomsft.data.reading import read_table

    path = tmp_path / "es_fr.csv"
    path.write_bytes("text,label\nnaïve,neg\nmal ¡gracias!,neg\ntrès,pos\n".encode("cp1252"))  # was read as cp857
    table = read_table(path)
    assert table.encoding == "cp1252" and table.frame["text"].tolist() == ["naïve", "mal ¡gracias!", "très"]
    assert read_table(_write(tmp_path / "zh.csv", "text,label\n质量,好\n物流很快,好\n".encode("gbk"))).encoding == "gb18030"


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_messages_stay_one_short_printable_line(tiny_model_dir, tmp_path):
    import zipfile

    archive = tmp_path / "reviews.csv"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("a.txt", "hello world " * 200)
    code, _, err = run_cli("data", "inspect", archive)
    assert failed_in_one_line(code, err) and "zip archive" in err and "PK" not in err
    many = _write(tmp_path / "many.csv", ("text,label\n" + "".join(f"review {i},lab{i}\n" for i in range(5000))).encode())
    code, _, err = tiny_train(tiny_model_dir, many, tmp_path / "r1")
    assert failed_in_one_line(code, err) and "at least 3 rows" in err and len(err) < 1200
    conflicting = _write(tmp_path / "c.csv", ("text,label\n" + "".join(f"same {i},{label}\n" for i in range(20)
                                                                      for label in ("pos", "neg"))).encode())
    code, _, err = tiny_train(tiny_model_dir, conflicting, tmp_path / "r2")
    assert failed_in_one_line(code, err) and "conflicting duplicates" in err and "(none)" not in err
    from ecomsft.report import terminal as render

    assert "characters left out" in render.one_line("x" * 100_000) and len(render.one_line("x" * 100_000)) < 1100
    assert render.one_line("a\nb\x00[bold]c") == "a b?\\[bold]c"


def test_a_label_written_with_a_decimal_point_is_said(tmp_path, caplog):
    from ecomsft.data.examples import load_examples

    path = _write(tmp_path / "l.csv", b"text,label\ngood one,2.0\nbad one,01\nok,2\nodd,[/x]\n")
    with caplog.at_level("WARNING", logger="ecomsft"):
        labels = load_examples(path).frame["label"].tolist()
    assert labels == ["2", "01", "2", "[/x]"] and "'2.0' -> '2'" in caplog.text
    from ecomsft.report import terminal as render

    import logging

    # a label that reads as markup ("[/x]" closes no tag: rich would raise) is printed as text
    render.LineHandler().emit(logging.LogRecord("ecomsft", logging.WARNING, "", 0, "label '[/x]' is rare", None, None))
