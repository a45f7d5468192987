"""Reading instruction and chat data for generative SFT: prompt/completion columns, chat
``messages`` (system/user/assistant turns) or Alpaca-style instruction/input/output, all read into
one shape, a list of ``{"role", "content"}`` turns ending with the assistant's, validated here
(the file, line and column of every problem named) and trusted after."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..errors import EcomsftError
from .examples import is_missing, load_table
from .reading import Table

ROLES = ("system", "user", "assistant")
FORMATS = ("prompt_completion", "messages", "alpaca")
# Where each shape's fields are read from: the defaults of task generation's *_column keys.
COLUMNS = {"prompt_column": "prompt", "completion_column": "completion", "messages_column": "messages",
           "instruction_column": "instruction", "input_column": "input", "output_column": "output"}


@dataclass
class Conversations:
    """Validated conversations of one file; ``rows[i]`` is the file row of ``items[i]``."""

    items: list[list[dict]]
    rows: list[int]
    table: Table
    format: str
    notes: list[str] = field(default_factory=list)

    def where(self, i: int) -> str:
        return self.table.where(self.rows[i])


def detect_format(columns: list[str], options) -> str:
    if options.format != "auto":
        return options.format
    if options.messages_column in columns:
        return "messages"
    if options.prompt_column in columns and options.completion_column in columns:
        return "prompt_completion"
    if options.instruction_column in columns and options.output_column in columns:
        return "alpaca"
    raise EcomsftError(
        f"cannot tell the data's shape (columns: {', '.join(map(str, columns))}); generation reads a "
        f"'{options.messages_column}' column, '{options.prompt_column}'/'{options.completion_column}' columns or "
        f"'{options.instruction_column}'/'{options.output_column}' columns (set task.format and the task.*_column keys)")


def _text(table: Table, row: int, column: str, value, *, required: bool, role: str) -> str:
    if is_missing(value):
        if required:
            raise EcomsftError(f"empty {role}", where=table.where(row, column))
        return ""
    if not isinstance(value, (str, int, float)):
        raise EcomsftError(f"the {role} must be text, not {type(value).__name__}", where=table.where(row, column))
    return str(value)


def _messages(table: Table, row: int, column: str, value) -> list[dict]:
    where = table.where(row, column)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise EcomsftError(f"the messages are not valid JSON ({err.msg})", where=where) from None
    if hasattr(value, "tolist"):  # Parquet lists come back as arrays
        value = value.tolist()
    if not isinstance(value, list) or not value:
        raise EcomsftError("messages must be a non-empty list of {role, content} turns", where=where)
    turns = []
    for k, turn in enumerate(value, start=1):
        if not isinstance(turn, dict) or "role" not in turn or "content" not in turn:
            raise EcomsftError(f"turn {k} is not a {{role, content}} object", where=where)
        role = str(turn["role"]).strip().lower()
        if role not in ROLES:
            raise EcomsftError(f"turn {k} has the unknown role '{turn['role']}' (roles: {', '.join(ROLES)})", where=where)
        content = turn["content"]
        if is_missing(content):
            if role == "assistant":
                raise EcomsftError(f"turn {k}: an empty assistant turn (nothing to learn)", where=where)
            content = ""
        if not isinstance(content, (str, int, float)):
            raise EcomsftError(f"turn {k}: the content must be text", where=where)
        if role == "system" and k > 1:
            raise EcomsftError(f"turn {k}: a system turn comes first or not at all", where=where)
        turns.append({"role": role, "content": str(content)})
    if turns[-1]["role"] != "assistant":
        raise EcomsftError("the conversation does not end with an assistant turn", where=where)
    first = 1 if turns[0]["role"] == "system" else 0
    if turns[first]["role"] != "user":
        raise EcomsftError("the conversation must start (after any system turn) with a user turn", where=where)
    return turns


def conversations_from_table(table: Table, options) -> Conversations:
    """``options``: a ``GenerationSection`` (format, the column names, the system turn)."""
    frame = table.frame
    columns = [str(c) for c in frame.columns]
    shape = detect_format(columns, options)
    wanted = {"messages": [options.messages_column], "prompt_completion": [options.prompt_column, options.completion_column],
              "alpaca": [options.instruction_column, options.output_column]}[shape]
    for column in wanted:
        if column not in columns:
            raise EcomsftError(f"no column '{column}' (columns: {', '.join(columns)})", where=table.source)
    items, rows = [], []
    has_input = options.input_column in columns
    for row, record in enumerate(frame.to_dict("records")):
        if shape == "messages":
            turns = _messages(table, row, options.messages_column, record[options.messages_column])
        elif shape == "prompt_completion":
            prompt = _text(table, row, options.prompt_column, record[options.prompt_column], required=True, role="prompt")
            completion = _text(table, row, options.completion_column, record[options.completion_column],
                               required=True, role="completion")
            turns = [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
        else:
            instruction = _text(table, row, options.instruction_column, record[options.instruction_column],
                                required=True, role="instruction")
            extra = _text(table, row, options.input_column, record[options.input_column], required=False,
                          role="input") if has_input else ""
            output = _text(table, row, options.output_column, record[options.output_column], required=True, role="output")
            turns = [{"role": "user", "content": f"{instruction}\n\n{extra}" if extra.strip() else instruction},
                     {"role": "assistant", "content": output}]
        if options.system and turns[0]["role"] != "system":
            turns = [{"role": "system", "content": options.system}, *turns]
        items.append(turns)
        rows.append(row)
    if not items:
        raise EcomsftError("the file holds no rows", where=table.source)
    return Conversations(items, rows, table, shape)


def read_conversations(source: str, options, encoding: str | None = None) -> Conversations:
    return conversations_from_table(load_table(source, encoding), options)


def prompt_of(turns: list[dict]) -> list[dict]:
    """The turns before the last assistant turn: what the model is given at generation time."""
    return turns[:-1]


def answer_of(turns: list[dict]) -> str:
    return turns[-1]["content"]
