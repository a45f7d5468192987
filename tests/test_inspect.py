import json

from .conftest import failed_in_one_line, run_cli


def test_data_inspect_reports_everything(tiny_model_dir, tmp_path):
    path = tmp_path / "shop.csv"
    rows = "review,label\n" + "质量很好 good,1\n" * 3 + "太差了 bad,0\n" + " ,1\n" + "质量很好 good,0\n"
    path.write_bytes(rows.encode("gbk"))
    code, out, err = run_cli("data", "inspect", path, "--model", tiny_model_dir, "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["encoding"] == "gb18030" and info["rows"] == 6 and info["columns"] == ["review", "label"]
    assert info["text_column"] == "review" and info["label_column"] == "label"
    assert info["labels"] == {"1": 3, "0": 2} and info["empty_texts"] == 1
    assert info["duplicates"] == {"rows": 5, "duplicate_texts": 3, "exact_duplicates": 2, "conflicting_texts": 1}
    assert info["chars"]["p50"] == 9 and info["tokens"]["p50"] >= 4
    assert info["tokens"]["unk_rate"] > 0.3
    code, out, err = run_cli("data", "inspect", path, "--model", tiny_model_dir)
    assert code == 0 and "unknown-token rate" in out and "gb18030" in out


def test_data_inspect_missing_file(tmp_path):
    code, out, err = run_cli("data", "inspect", tmp_path / "none.csv")
    assert failed_in_one_line(code, err) and "none.csv: file not found" in err
