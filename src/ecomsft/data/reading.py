"""Reading tables from disk: CSV, TSV, JSONL, Parquet and Excel, with the text encoding sniffed.

Chinese shop exports are often GBK/GB18030 and Excel-made CSVs start with a UTF-8 BOM, so text files
are decoded here (not by pandas' default UTF-8) and the encoding that worked is reported back.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import EcomsftError
from ..files import regular_file

TEXT_FORMATS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": "\t"}
JSON_FORMATS = {".jsonl", ".json", ".ndjson"}
BINARY_FORMATS = {".parquet", ".pq", ".xlsx", ".xls"}
SUPPORTED = sorted(set(TEXT_FORMATS) | JSON_FORMATS | BINARY_FORMATS)


class RowPlaces:
    """Points at a row of a file in messages ("file:line column 'x'"); needs ``source`` and
    ``first_line``: the file line of row 0 (1 after a CSV header, 0 for JSONL), None where lines
    mean nothing (Parquet, Excel)."""

    source: str
    first_line: int | None

    def where(self, row: int, column: str | None = None) -> str:
        place = f"{self.source}:{row + self.first_line + 1}" if self.first_line is not None else f"{self.source} row {row + 1}"
        return f"{place} column '{column}'" if column else place


@dataclass
class Table(RowPlaces):
    """A table read from one source, with what is needed to point at its rows in messages."""

    frame: pd.DataFrame
    source: str
    encoding: str | None
    first_line: int | None


def decode_bytes(raw: bytes, source: str, encoding: str | None = None) -> tuple[str, str]:
    """Decode a file's bytes: a forced encoding, else UTF-8 (BOM or not), else GB18030, else a guess."""
    if encoding:
        try:
            return raw.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as err:
            raise EcomsftError(f"cannot decode as {encoding}: {err}", where=source) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            return raw[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        bad_offset = utf8_error.start
    try:
        # GB18030 is a superset of GBK and GB2312, the encodings of Chinese Windows and shop exports.
        text = raw.decode("gb18030")
        if not _latin_decoded_as_gb18030(text):
            return text, "gb18030"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    guess = best.encoding.replace("_", "").lower() if best is not None else None
    western = western_decode(raw)
    # A European text that one language's letters explain is taken as such whatever the guess
    # (the guesser also names Baltic or Central pages for it), and so is one of several languages
    # that the guesser takes for a DOS page (cp857 for "naïve ¡gracias! très": shops export Windows
    # pages); else the guess, unless Chinese.
    if western is not None and (western[2] or guess is None or guess in _LATIN_ENCODINGS or _OEM_PAGE.match(guess)):
        return western[0], western[1]
    if best is not None and guess not in _CHINESE_ENCODINGS:
        return str(best), best.encoding
    line = raw[:bad_offset].count(b"\n") + 1
    raise EcomsftError(
        "unknown text encoding (not UTF-8 nor GBK/GB18030); pass --set data.encoding=NAME",
        where=f"{source}:{line}",
    )


# The accented letters (and punctuation) of the languages written in the Windows Western and Central
# European code pages. On a few short reviews the guesser (charset_normalizer) picks any of these
# code pages: "tamaño ¡gracias!" came back as cp1250 "tamańo ˇgracias". A text is decoded with each
# page instead, and the page under which one language's alphabet covers most of its non-ASCII
# characters wins (hand-written: no maintained library decides among these pages on short text).
_ALPHABETS = {
    "es": "áéíóúüñÁÉÍÓÚÜÑ¡¿", "fr": "àâæçéèêëîïôœùûüÿÀÂÆÇÉÈÊËÎÏÔŒÙÛÜŸ", "de": "äöüßÄÖÜ",
    "pt": "ãõáâàçéêíóôúÃÕÁÂÀÇÉÊÍÓÔÚ", "it": "àèéìíòóùÀÈÉÌÍÒÓÙ", "nl": "éëïóöüÉËÏÓÖÜ",
    "nordic": "åäöæøéÅÄÖÆØÉ", "pl": "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "cs": "áčďéěíňóřšťúůýžÁČĎÉĚÍŇÓŘŠŤÚŮÝŽ",
    "sk": "áäčďéíĺľňóôŕšťúýžÁÄČĎÉÍĹĽŇÓÔŔŠŤÚÝŽ", "hu": "áéíóöőúüűÁÉÍÓÖŐÚÜŰ", "ro": "ăâîșțşţĂÂÎȘȚŞŢ",
    "hr": "čćđšžČĆĐŠŽ", "tr": "çğıöşüâîÇĞİÖŞÜÂÎ",
}
_ANY_ALPHABET = set("".join(_ALPHABETS.values()))
_COMMON_PUNCTUATION = set("€‘’‚“”„–—…•«»°£§©®±²³µ·×÷\u00a0")
_WESTERN_PAGES = ("cp1252", "cp1250", "cp1254", "latin-1")  # in this order where the texts tie


def western_decode(raw: bytes) -> tuple[str, str, bool] | None:
    """Decode European text in cp1252, cp1250, cp1254 or Latin-1, whichever reads as one language: (text,
    page, whether that language's letters explain every non-ASCII character); None if none of
    them decodes the bytes."""
    best, mixed = None, None
    for page in _WESTERN_PAGES:
        try:
            text = raw.decode(page)
        except UnicodeDecodeError:
            continue
        special = [c for c in text if not c.isascii() and c not in _COMMON_PUNCTUATION]
        controls = sum(0x80 <= ord(c) < 0xA0 for c in text)  # C1 controls: Latin-1 reading cp1252's quotes
        score = max(sum(c in letters for c in special) for letters in _ALPHABETS.values()) - len(special) - controls
        if best is None or score > best[0]:
            best = (score, text, page)
        # Reviews in several Western languages (Spanish and French in one shop's file): every
        # character is a letter of one of them in the Western page (the Central and Turkish pages
        # map too many bytes to letters: Cyrillic would pass there).
        if page == "cp1252" and not controls and all(c in _ANY_ALPHABET for c in special):
            mixed = (text, page, True)
    if best is None:
        return None
    return (best[1], best[2], True) if best[0] == 0 else mixed or (best[1], best[2], False)


_OEM_PAGE = re.compile(r"^(cp|ibm)\d{3}$|^mac")  # DOS and old Mac pages: cp437, cp850, cp857, maciceland, ...
_CHINESE_ENCODINGS = {"gb18030", "gbk", "gb2312", "big5", "big5hkscs", "hz", "cp936", "cp950"}
_LATIN_ENCODINGS = {"latin1", "iso88591", "iso88599", "iso885910", "iso885913", "iso885914", "iso885915",
                    "iso88593", "iso88594", "cp1252", "windows1252", "maclatin", "macroman",
                    "cp1250", "windows1250", "iso88592", "iso885916", "maccentraleurope", "maclatin2", "cp852", "cp850",
                    "cp1254", "windows1254", "cp1257", "windows1257"}
# The CJK Unified Ideographs (with Extension A and the compatibility block): Chinese characters.
CJK_RANGE = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{CJK_RANGE}]")


def _latin_decoded_as_gb18030(text: str) -> bool:
    """True when GB18030 "decoded" a Latin-1/cp1252 file: every accented letter then swallows the
    byte after it into one CJK character glued to Latin letters ("Cr\u732bme" for "Crème"), whereas
    real Chinese text keeps its characters next to other characters and punctuation."""
    places = [m.start() for m in _CJK_CHAR.finditer(text)]
    if not places:
        return False

    def latin(i: int) -> bool:
        return 0 <= i < len(text) and text[i].isascii() and text[i].isalpha()

    glued = sum(1 for i in places if latin(i - 1) or latin(i + 1))
    return glued > 0.5 * len(places)


# What a file named .csv may really be; its bytes are never printed in a message.
_MAGIC = {b"PK\x03\x04": "a zip archive (an .xlsx workbook is one: name it .xlsx)", b"\x1f\x8b": "a gzip archive",
          b"PAR1": "a Parquet file (name it .parquet)", b"%PDF": "a PDF document", b"\xd0\xcf\x11\xe0": "an old Office file",
          b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"7z\xbc\xaf": "a 7-Zip archive", b"Rar!": "a RAR archive",
          b"BZh": "a bzip2 archive", b"SQLite format 3": "an SQLite database"}


def refuse_binary(head: bytes, source: str) -> None:
    """One line when a text data file is not text at all (its first bytes)."""
    kind = next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)
    if kind is None and b"\x00" in head[:8192] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        kind = "a binary file"
    if kind:
        raise EcomsftError(f"not a text file: it is {kind}", where=source)


def sniff_file_encoding(path: Path) -> str:
    """The encoding of a file too big to read whole, from its first megabyte."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 20)
    refuse_binary(head, str(path))
    # Cut at the last newline so that a multi-byte character is never split.
    if len(head) == 1 << 20 and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]
    return decode_bytes(head, str(path))[1]


_PANDAS_LINE = re.compile(r"line (\d+)")


def _read_delimited(text: str, sep: str, source: str) -> pd.DataFrame:
    if not text.strip():
        raise EcomsftError("the file is empty", where=source)
    try:
        return pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[], engine="c"
        )
    except pd.errors.EmptyDataError:
        raise EcomsftError("the file is empty", where=source) from None
    except pd.errors.ParserError as err:
        match = _PANDAS_LINE.search(str(err))
        where = f"{source}:{match.group(1)}" if match else source
        detail = str(err).split(". ", 1)[-1].strip()
        raise EcomsftError(f"malformed row ({detail})", where=where) from None
    except csv.Error as err:
        raise EcomsftError(f"malformed file ({err})", where=source) from None


def _read_jsonl(text: str, source: str) -> pd.DataFrame:
    # Parsed line by line rather than with pandas.read_json so that a broken line is named.
    stripped = text.lstrip()
    if not stripped:
        raise EcomsftError("the file is empty", where=source)
    if stripped.startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as err:
            raise EcomsftError(f"not valid JSON ({err.msg})", where=f"{source}:{err.lineno}") from None
    else:
        records = []
        # Lines end at "\n" only: str.splitlines would also break at U+0085 or U+2028, which JSON
        # strings may hold raw (pandas writes them so).
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise EcomsftError(f"not valid JSON ({err.msg})", where=f"{source}:{number}") from None
            if not isinstance(record, dict):
                raise EcomsftError("each line must be a JSON object", where=f"{source}:{number}")
            records.append(record)
    if not records:
        raise EcomsftError("the file holds no records", where=source)
    return pd.DataFrame.from_records(records)


def read_table(path: str | Path, encoding: str | None = None) -> Table:
    """Read one data file into a DataFrame of strings (JSON keeps lists and numbers)."""
    path = Path(path)
    source = str(path)
    if path.is_dir():
        raise EcomsftError("is a folder, expected a data file", where=source)
    regular_file(path)  # a device (a link to /dev/zero named reviews.csv) would be read without end
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise EcomsftError(f"unsupported file type '{suffix}' (supported: {', '.join(SUPPORTED)})", where=source)

    if suffix in BINARY_FORMATS:
        try:
            if suffix in {".parquet", ".pq"}:
                frame = pd.read_parquet(path)
            else:
                frame = pd.read_excel(path, dtype=str, keep_default_na=False)
        except ImportError as err:
            raise EcomsftError(f"reading {suffix} needs an extra package: {err}", where=source) from None
        except Exception as err:  # pyarrow/openpyxl raise many types for a corrupt file
            raise EcomsftError(f"cannot read {suffix} file ({type(err).__name__}: {err})", where=source) from None
        if frame.empty:
            raise EcomsftError("the file holds no rows", where=source)
        return Table(frame, source, None, 1 if suffix.startswith(".xls") else None)

    raw = path.read_bytes()
    refuse_binary(raw, source)
    text, used = decode_bytes(raw, source, encoding)
    if suffix in JSON_FORMATS:
        frame = _read_jsonl(text, source)
        first_line = 0 if not text.lstrip().startswith("[") else None
    else:
        frame = _read_delimited(text, TEXT_FORMATS[suffix], source)
        first_line = 1
        if frame.empty:
            raise EcomsftError(
                f"the file has a header ({', '.join(map(str, frame.columns))}) but no rows", where=source
            )
    return Table(frame, source, used, first_line)
