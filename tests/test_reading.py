import json

import pandas as pd
import pytest

from ecomsft.data.reading import read_table
from ecomsft.errors import EcomsftError


def test_reads_each_format(tmp_path):
    frame = pd.DataFrame({"text": ["好评", "差评"], "label": ["1", "0"]})
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_csv(tmp_path / "a.tsv", index=False, sep="\t")
    frame.to_parquet(tmp_path / "a.parquet")
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in frame.to_dict("records")), encoding="utf-8")
    for name in ("a.csv", "a.tsv", "a.parquet", "a.jsonl"):
        table = read_table(tmp_path / name)
        assert table.frame["text"].tolist() == ["好评", "差评"], name


def test_gbk_file_is_read_correctly(tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes("text,label\n质量很好，物流很快,正面\n太差了,负面\n".encode("gbk"))
    table = read_table(path)
    assert table.encoding == "gb18030"
    assert table.frame["text"].tolist() == ["质量很好，物流很快", "太差了"]
    assert table.frame["label"].tolist() == ["正面", "负面"]


def test_cp1252_file_is_not_taken_for_gb18030(tmp_path):
    path = tmp_path / "fr.csv"
    reviews = ["Crème brûlée délicieuse", "Très déçu du modèle", "Qualité supérieure, livraison rapide"]
    path.write_bytes(("text,label\n" + "".join(f'"{t}",{i % 2}\n' for i, t in enumerate(reviews))).encode("cp1252"))
    table = read_table(path)
    assert table.frame["text"].tolist() == reviews
    assert table.encoding.replace("_", "").lower() not in {"gb18030", "gbk", "gb2312", "big5"}


def test_gbk_titles_with_latin_model_names_stay_gbk(tmp_path):
    path = tmp_path / "titles.csv"
    titles = ["飞利浦电动牙刷HX6730", "Apple iPhone 15 手机 256GB", "小米Redmi Note 12 Pro 黑色"]
    path.write_bytes(("text,label\n" + "".join(f"{t},a\n" for t in titles)).encode("gbk"))
    table = read_table(path)
    assert table.encoding == "gb18030"
    assert table.frame["text"].tolist() == titles


def test_utf8_bom_is_stripped(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefftext,label\n好,1\n".encode("utf-8"))
    table = read_table(path)
    assert list(table.frame.columns) == ["text", "label"]
    assert table.encoding == "utf-8-sig"


@pytest.mark.parametrize(
    "content, message",
    [(b"", "the file is empty"), (b"text,label\n", r"header \(text, label\) but no rows")],
)
def test_empty_and_header_only(tmp_path, content, message):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(EcomsftError, match=message):
        read_table(path)


def test_malformed_row_names_its_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,label\nok,1\nfine,0\ntoo,many,fields\n", encoding="utf-8")
    with pytest.raises(EcomsftError) as err:
        read_table(path)
    assert f"{path}:4" in str(err.value)


def test_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": 1}\n{"text": "b", label}\n', encoding="utf-8")
    with pytest.raises(EcomsftError, match=rf"{path}:2"):
        read_table(path)


def test_jsonl_strings_may_hold_unicode_line_separators(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "50\u0085寸 a\u2028b", "label": "x"}\r\n{"text": "ok", "label": "y"}\n', encoding="utf-8")
    frame = read_table(path).frame
    assert frame["text"].tolist() == ["50\u0085寸 a\u2028b", "ok"]


def test_missing_file_and_unsupported_type(tmp_path):
    with pytest.raises(EcomsftError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "x.docx").write_text("x")
    with pytest.raises(EcomsftError, match="unsupported file type"):
        read_table(tmp_path / "x.docx")
