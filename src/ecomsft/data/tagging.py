"""Token-tagging data for attribute extraction: tag schemes, spans, and the two file forms shops
and annotation tools export.

- CoNLL-style: one token (a character, for Chinese) and its tag per line, split on the *tab only*
  (a token may be a literal space), a blank line between titles.
- JSONL/CSV with the text and character spans: ``{"text": ..., "entities": [{"start", "end", "label"}]}``.

Schemes: IO, BIO (IOB2) and BIOES (also spelt BIOUL/BILOU/BIEOS: S/U for one-token entities, E/L
for the last token). A sequence that breaks its scheme (I- after O, E- without B-) is repaired the
way seqeval's default (non-strict) mode reads it: an I-/E- that cannot continue the open entity
starts a new one. With ``repair=False`` it is an error naming the line; either way it is counted.

Spans are ``(start, end, label)`` over token positions (end exclusive); for text with character
offsets the same triple holds character positions. Written here rather than taken from seqeval,
whose ``get_entities`` knows BIO and BIOES but neither reports repairs nor converts back to tags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EcomsftError
from .reading import decode_bytes, read_table

SCHEMES = ("IO", "BIO", "BIOES")
_ALIASES = {"U": "S", "L": "E"}  # BIOUL/BILOU spellings of BIOES


@dataclass
class Span:
    start: int
    end: int  # exclusive
    label: str

    def as_tuple(self) -> tuple[int, int, str]:
        return self.start, self.end, self.label


@dataclass
class Tagged:
    """One title: its tokens, its tags (as read), and the entity spans over token positions."""

    tokens: list[str]
    tags: list[str]
    spans: list[Span]
    line: int  # the file line of its first token (1-based), or the record's line


@dataclass
class TaggedFile:
    items: list[Tagged]
    source: str
    scheme: str
    labels: list[str]  # entity types, sorted
    repaired: int = 0  # tags read leniently because they broke the scheme
    notes: list[str] = field(default_factory=list)


def as_text(tokens: list[str], spans: list[Span]) -> tuple[str, list[Span], list[tuple[int, int]]]:
    """A title's text (characters joined as they are, words with a space), its entities as
    character spans, and each token's character range."""
    glue = "" if all(len(t) == 1 for t in tokens) else " "
    offsets, position = [], 0
    for token in tokens:
        offsets.append((position, position + len(token)))
        position += len(token) + len(glue)
    text = glue.join(tokens)
    chars = [Span(offsets[s.start][0], offsets[s.end - 1][1], s.label) for s in spans]
    return text, chars, offsets


def split_tag(tag: str) -> tuple[str, str | None]:
    """'B-HP' -> ('B', 'HP'); 'O' -> ('O', None); BIOUL letters as BIOES ones."""
    if tag == "O":
        return "O", None
    prefix, sep, label = tag.partition("-")
    if not sep or not label or prefix.upper() not in {"B", "I", "E", "S", "U", "L"}:
        raise ValueError(f"'{tag}' is not a tag (expected O or B-/I-/E-/S- followed by a type)")
    prefix = prefix.upper()
    return _ALIASES.get(prefix, prefix), label


def detect_scheme(tags) -> str:
    """The smallest scheme whose prefixes the tags use: IO, BIO or BIOES."""
    prefixes = {split_tag(t)[0] for t in tags}
    if prefixes & {"E", "S"}:
        return "BIOES"
    if "B" in prefixes:
        return "BIO"
    return "IO"


def tags_to_spans(tags: list[str], scheme: str | None = None) -> tuple[list[Span], int]:
    """Entity spans of a tag sequence, and how many tags broke ``scheme`` (read as seqeval's
    lenient mode does: a tag that cannot continue the open entity starts a new one)."""
    scheme = scheme or detect_scheme(tags)
    spans: list[Span] = []
    broken = 0
    start, label = None, None

    def close(end: int) -> None:
        nonlocal start, label
        if start is not None:
            spans.append(Span(start, end, label))
        start, label = None, None

    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if scheme == "IO" and prefix != "O":
            if prefix != "I":
                broken += 1
            if start is None or kind != label:
                close(i)
                start, label = i, kind
            continue
        if prefix == "O":
            close(i)
        elif prefix == "B":
            close(i)
            start, label = i, kind
        elif prefix == "S":
            if scheme != "BIOES":
                broken += 1
            close(i)
            spans.append(Span(i, i + 1, kind))
        elif prefix in ("I", "E"):
            if start is None or kind != label:
                broken += 1
                close(i)
                start, label = i, kind
            if prefix == "E":
                if scheme != "BIOES":
                    broken += 1
                close(i + 1)
        if scheme == "BIOES" and prefix in ("B", "I") and start is not None:
            following = split_tag(tags[i + 1]) if i + 1 < len(tags) else ("O", None)
            if following[0] not in ("I", "E") or following[1] != label:
                broken += 1  # an entity that never ends with E-: ended here
                close(i + 1)
    close(len(tags))
    return spans, broken


def spans_to_tags(spans, length: int, scheme: str = "BIO") -> list[str]:
    """The tag sequence of ``length`` tokens for non-overlapping ``spans`` in ``scheme``."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme '{scheme}' (choose from {', '.join(SCHEMES)})")
    tags = ["O"] * length
    for span in sorted(spans, key=lambda s: s.start):
        start, end, label = span.start, span.end, span.label
        if scheme == "IO":
            tags[start:end] = [f"I-{label}"] * (end - start)
        elif scheme == "BIO":
            tags[start:end] = [f"B-{label}"] + [f"I-{label}"] * (end - start - 1)
        elif end - start == 1:
            tags[start] = f"S-{label}"
        else:
            tags[start:end] = [f"B-{label}"] + [f"I-{label}"] * (end - start - 2) + [f"E-{label}"]
    return tags


def read_conll(path: str | Path, *, scheme: str = "auto", repair: bool = True, encoding: str | None = None) -> TaggedFile:
    """A CoNLL-style file: ``token<TAB>tag`` lines, a blank line between titles."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise EcomsftError("file not found", where=source)
    text, _ = decode_bytes(path.read_bytes(), source, encoding)
    raw: list[tuple[list[str], list[str], int]] = []
    tokens, tags, first = [], [], None
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip() and "\t" not in line:  # a blank line ends a title (" \tO" is a space token)
            if tokens:
                raw.append((tokens, tags, first))
            tokens, tags, first = [], [], None
            continue
        token, sep, tag = line.partition("\t")
        if not sep or not tag.strip():
            raise EcomsftError("a token line without a tag (expected token<TAB>tag)", where=f"{source}:{number}")
        try:
            split_tag(tag.strip())
        except ValueError as err:
            raise EcomsftError(str(err), where=f"{source}:{number}") from None
        tokens.append(token)
        tags.append(tag.strip())
        first = first or number
    if tokens:
        raw.append((tokens, tags, first))
    if not raw:
        raise EcomsftError("no tagged titles in the file", where=source)
    return _tagged_file(raw, source, scheme, repair)


def _style(tags: list[str]) -> set[str]:
    """What a title's tags show of its scheme: 'E' (closes entities with E-/S-), 'open' (an entity of
    two or more tokens ends without E-, the BIO way), 'B' (uses B-), 'I-start' (an entity opens with I-)."""
    seen: set[str] = set()
    parts = [split_tag(t) for t in tags] + [("O", None)]
    for i, (prefix, kind) in enumerate(parts[:-1]):
        after, previous = parts[i + 1], parts[i - 1] if i else ("O", None)
        if prefix in ("E", "S"):
            seen.add("E")
        if prefix == "B":
            seen.add("B")
        if prefix == "I" and (previous[0] == "O" or previous[1] != kind):
            seen.add("I-start")
        if prefix == "I" and previous[1] == kind and after[1] != kind:
            seen.add("open")
    return seen


def _mixed(raw) -> tuple[int, str] | None:
    """The first title whose scheme differs from another's in the file: (line, what)."""
    styles = [(_style(tags), line) for _, tags, line in raw]
    closing = next((line for style, line in styles if "E" in style), None)
    bio_open = next((line for style, line in styles if "open" in style), None)
    if closing is not None and bio_open is not None:
        return max(closing, bio_open), "BIO entities without E- beside BIOES titles"
    with_b = next((line for style, line in styles if "B" in style), None)
    io_start = next((line for style, line in styles if "I-start" in style and "B" not in style), None)
    if with_b is not None and io_start is not None:
        return max(with_b, io_start), "IO titles (entities without B-) beside titles with B-"
    return None


def _tagged_file(raw, source: str, scheme: str, repair: bool) -> TaggedFile:
    if scheme == "auto":
        mixed = _mixed(raw)
        if mixed is not None:
            raise EcomsftError(f"mixed tag schemes in one file ({mixed[1]}); set the scheme to read it as one, "
                               "or fix the file", where=f"{source}:{mixed[0]}")
        scheme = max((detect_scheme(tags) for _, tags, _ in raw), key=SCHEMES.index)
    elif scheme not in SCHEMES:
        raise EcomsftError(f"unknown tag scheme '{scheme}' (choose from {', '.join(SCHEMES)} or auto)")
    items, repaired = [], 0
    for tokens, tags, line in raw:
        spans, broken = tags_to_spans(tags, scheme)
        if broken and not repair:
            raise EcomsftError(f"tags that break the {scheme} scheme ({broken} in this title); "
                               "set repair on to read them as seqeval does", where=f"{source}:{line}")
        repaired += broken
        items.append(Tagged(tokens, tags, spans, line))
    labels = sorted({s.label for item in items for s in item.spans})
    notes = [f"{source}: {repaired} tags broke the {scheme} scheme and were read as seqeval does"] if repaired else []
    return TaggedFile(items, source, scheme, labels, repaired, notes)


def read_span_file(path: str | Path, *, text_field: str = "text", entities_field: str = "entities",
                   encoding: str | None = None) -> TaggedFile:
    """JSONL (or CSV whose entities column holds JSON) with character spans; tokens are characters."""
    path = Path(path)
    source = str(path)
    table = read_table(path, encoding)
    frame = table.frame
    for column in (text_field, entities_field):
        if column not in frame.columns:
            raise EcomsftError(f"no column '{column}' (columns: {', '.join(map(str, frame.columns))})", where=source)
    items = []
    for row, (text, entities) in enumerate(zip(frame[text_field], frame[entities_field])):
        where = table.where(row)
        line = row + table.first_line + 1 if table.first_line is not None else row + 1
        if not isinstance(text, str) or not text.strip():
            raise EcomsftError(f"field '{text_field}' is empty", where=where)
        if isinstance(entities, str):
            try:
                entities = json.loads(entities) if entities.strip() else []
            except json.JSONDecodeError as err:
                raise EcomsftError(f"field '{entities_field}' is not JSON ({err.msg})", where=where) from None
        if entities is None or (isinstance(entities, float) and entities != entities):
            entities = []
        if not isinstance(entities, list):
            raise EcomsftError(f"field '{entities_field}' must be a list of {{start, end, label}}", where=where)
        spans = []
        for k, entity in enumerate(entities):
            field_name = f"{entities_field}[{k}]"
            if not isinstance(entity, dict) or not {"start", "end", "label"} <= set(entity):
                raise EcomsftError(f"field '{field_name}' needs start, end and label", where=where)
            start, end, label = entity["start"], entity["end"], entity["label"]
            if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool) or isinstance(end, bool):
                raise EcomsftError(f"field '{field_name}': start and end must be whole numbers", where=where)
            if not 0 <= start < end <= len(text):
                raise EcomsftError(f"field '{field_name}': span {start}-{end} is outside the text of {len(text)} "
                                   "characters (or empty)", where=where)
            if not isinstance(label, str) or not label.strip() or "-" in label and label.split("-")[0] in "BIESUL":
                raise EcomsftError(f"field '{field_name}': label must be an entity type such as BRAND", where=where)
            spans.append(Span(start, end, label.strip()))
        spans.sort(key=lambda s: (s.start, s.end))
        for a, b in zip(spans, spans[1:]):
            if b.start < a.end:
                raise EcomsftError(f"field '{entities_field}': spans {a.start}-{a.end} and {b.start}-{b.end} overlap",
                                   where=where)
        tokens = list(text)
        items.append(Tagged(tokens, spans_to_tags(spans, len(tokens), "BIOES"), spans, line))
    if not items:
        raise EcomsftError("no annotated texts in the file", where=source)
    return TaggedFile(items, source, "BIOES", sorted({s.label for i in items for s in i.spans}))


def read_tagged(path: str | Path, **options) -> TaggedFile:
    """CoNLL by default; JSONL/JSON/CSV/TSV/Parquet files as character spans."""
    suffix = Path(path).suffix.lower()
    if suffix in {".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet"}:
        return read_span_file(path, encoding=options.get("encoding"))
    return read_conll(path, **options)
