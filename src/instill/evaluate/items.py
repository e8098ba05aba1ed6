"""What an evaluation asks: rows read from an eval set (`run_dir/data/eval.jsonl`) or rendered from tasks.

An `EvalRow` is one prompt (the chat before the answer) with everything scoring needs, each a named field: the
references, for tasks with options the options and the right one, the task, cluster, format and template it came
from. `instill data build` writes one row per line (`EvalRow.to_json`) and the evaluator reads them back field by
field (`EvalRow.from_json`), so an evaluation can be rerun on exactly the rows a run was built with.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterable

from instill.config import MixtureConfig
from instill.errors import InstillError, where
from instill.formats import PROMPT_FORMATS
from instill.sources._io import json_type


@dataclass
class EvalRow:
    """One question to a model. `messages` end with the user turn; `references` are the acceptable answers and
    `answer` the one a model is trained to give (with options: one of `options`, as shown in the prompt)."""

    task: str
    cluster: str
    messages: list[dict[str, str]]
    references: list[str]
    answer: str
    options: list[str] | None = None
    format: str = "zero_shot"  # the prompt format (`instill.formats.PROMPT_FORMATS`)
    instance_id: str | None = None  # the instance's id in its source (SNI's "id"), written to predictions.jsonl
    template: str | None = None  # the task template the prompt was rendered with
    split: str | None = None  # the task split the instance came from
    index: int | None = None  # the instance's position in that split

    def __post_init__(self) -> None:
        if not self.messages or self.messages[-1].get("role") != "user":
            raise InstillError("'messages' must end with the user turn the model answers")
        if not isinstance(self.references, list) or not all(isinstance(r, str) for r in self.references):
            raise InstillError("'references' must be a list of strings")
        if self.options is not None and self.answer not in self.options:
            raise InstillError(f"the answer '{self.answer}' is not one of the options {self.options}")
        if self.format not in PROMPT_FORMATS:
            raise InstillError(f"'format' is '{self.format}', expected one of {', '.join(PROMPT_FORMATS)}")

    @property
    def prompt(self) -> str:
        return self.messages[-1]["content"]

    def to_json(self) -> dict[str, Any]:
        """Every field, null ones included: a reader never has to guess a missing one."""
        return asdict(self)

    @classmethod
    def from_json(cls, row: Any, origin: str) -> "EvalRow":
        """A row of an eval JSONL file; any missing, unknown or mistyped field is one error naming `origin`."""
        if not isinstance(row, dict):
            raise InstillError(f"{origin}: expected a JSON object (an evaluation row), got {json_type(row)}")
        names = [f.name for f in fields(cls)]
        if is_older_eval_row(row):
            raise InstillError(f"{origin}: a conversation with 'meta' is the eval format of an older instill; "
                               "rebuild the eval set with `instill data build RECIPE`")
        for key in row:
            if key not in names:
                raise InstillError(f"{origin}: unknown field '{key}' (an evaluation row has {', '.join(names)})")
        for key in names:
            if key not in row:
                raise InstillError(f"{origin}: missing field '{key}'")
        for key, kind in _FIELD_TYPES.items():
            value = row[key]
            if not (value is None and key in _NULLABLE) and (not isinstance(value, kind) or isinstance(value, bool)):
                raise InstillError(f"{origin}: '{key}' must be {_KIND_NAMES[kind]}"
                                   f"{' or null' if key in _NULLABLE else ''}, got {json_type(value)}")
        try:
            return cls(**{**row, "messages": _messages(row["messages"])})
        except InstillError as e:
            raise InstillError(f"{origin}: {e}") from None


_FIELD_TYPES = {"task": str, "cluster": str, "messages": list, "references": list, "answer": str, "options": list,
                "format": str, "instance_id": str, "template": str, "split": str, "index": int}
_NULLABLE = {"options", "instance_id", "template", "split", "index"}
_KIND_NAMES = {str: "a string", list: "an array", int: "an integer"}


def _messages(turns: list[Any]) -> list[dict[str, str]]:
    """The `{role, content}` turns of a row, each checked."""
    for i, m in enumerate(turns):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise InstillError(f"messages[{i}] needs a string 'role' and a string 'content'")
    return [{"role": m["role"], "content": m["content"]} for m in turns]


def is_older_eval_row(row: Any) -> bool:
    """An eval row as older instill wrote it: a conversation with a 'meta' object, no typed fields.

    >>> is_older_eval_row({"messages": [], "meta": {}}), is_older_eval_row({"answer": "a", "meta": None})
    (True, False)
    """
    return isinstance(row, dict) and "meta" in row and "answer" not in row


def eval_file_is_current(path: str | Path) -> bool:
    """True when an eval file exists and its first row is not in the older format (a malformed row is left for
    `read_eval_jsonl` to name)."""
    p = Path(path)
    if not p.is_file():
        return False
    with p.open(encoding="utf-8") as f:
        first = f.readline()
    try:
        return not is_older_eval_row(json.loads(first))
    except json.JSONDecodeError:
        return True


def write_eval_jsonl(rows: Iterable[EvalRow], path: str | Path) -> int:
    """Write eval rows, one JSON object a line; returns the count written."""
    from instill.files import write_text_atomic

    text = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in rows)
    write_text_atomic(Path(path), text)
    return text.count("\n")


def read_eval_jsonl(path: str | Path) -> list[EvalRow]:
    """Rows of an eval JSONL file; errors name the file and line."""
    p = Path(path)
    if not p.is_file():
        raise InstillError(f"{p}: no such evaluation file")
    rows = []
    with p.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InstillError(f"{where(p, n)}: not valid JSON ({e.msg})") from None
            rows.append(EvalRow.from_json(row, where(p, n)))
    if not rows:
        raise InstillError(f"{p}: no evaluation rows")
    return rows


def task_items(patterns: Iterable[str], fmt: str = "zero_shot", per_task: int = 100, cards: Iterable[str] = (),
               sni: str | None = None, sni_split: str = "test", split: str = "test",
               mixture: MixtureConfig = MixtureConfig()) -> list[EvalRow]:
    """Rows rendered from tasks: bundled and card tasks matching `patterns` (names, globs, `cluster:NAME`), and
    with `sni` a Super-NaturalInstructions folder's tasks of `sni_split` (its test tasks score their first 100).
    Few-shot formats take `mixture.shots` exemplars within `mixture.max_prompt_chars`, as a recipe's evaluation
    set does (the schema's defaults unless given)."""
    from instill.mixture import eval_items, select_tasks
    from instill.tasks import load_tasks
    from instill.tasks.collections import sni_tasks

    patterns = list(patterns)
    tasks = load_tasks(list(cards), builtin=True) if patterns or not sni else {}
    chosen = select_tasks(tasks, patterns) if patterns else {}
    if sni:
        found = sni_tasks(sni, sni_split, eval_instances=per_task)
        chosen.update(found)
    if not chosen:
        raise InstillError("nothing to evaluate: give --data, --tasks/--clusters, or --sni")
    items = []
    for name in sorted(chosen):
        task = chosen[name]
        task_split = "test" if task.eval_only else split
        items += eval_items(task, task_split, per_task, fmt, shots=mixture.shots, max_chars=mixture.max_prompt_chars)
    return items
