"""What an evaluation asks: items read from an eval set (`run_dir/data/eval.jsonl`) or rendered from tasks.

An item is one prompt (the chat before the answer) with what scoring needs: the references, and for tasks with
options the options and the right one. Items come from Conversation JSONL whose `meta` carries those fields, as
`instill data build` writes them, so an evaluation can be rerun on exactly the rows a run was built with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from instill.errors import InstillError, where
from instill.records import Conversation
from instill.sources._io import json_type


@dataclass
class EvalItem:
    """One question to a model. `messages` end with the user turn; `references` are the acceptable answers."""

    task: str
    cluster: str
    messages: list[dict[str, str]]
    references: list[str]
    answer: str
    options: list[str] | None = None
    format: str = "zero_shot"
    instance_id: str | None = None  # the instance's id in its source (SNI's "id"), written to predictions.jsonl
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        return self.messages[-1]["content"]


def item_from_conversation(conv: Conversation | dict[str, Any], origin: str = "eval set") -> EvalItem:
    """The question of a conversation (everything before its last assistant turn) and the scoring fields of its meta."""
    d = conv.to_dict() if isinstance(conv, Conversation) else conv
    msgs = _messages(d, origin)
    if not msgs or msgs[-1]["role"] != "assistant" or len(msgs) < 2:
        raise InstillError(f"{origin}: an evaluation row needs a user turn followed by the reference answer")
    if not isinstance(d.get("meta") or {}, dict):
        raise InstillError(f"{origin}: 'meta' must be an object, got {json_type(d['meta'])}")
    meta = dict(d.get("meta") or {})
    target = msgs[-1]["content"]
    answer = meta.get("answer", target)
    refs = meta.get("references") or [answer]
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise InstillError(f"{origin}: meta.references must be a list of strings")
    options = meta.get("options")
    if options is not None and answer not in options:
        raise InstillError(f"{origin}: the answer '{answer}' is not one of the options {options}")
    instance_id = meta.get("instance_id")
    if instance_id is not None and not isinstance(instance_id, str):
        raise InstillError(f"{origin}: meta.instance_id must be a string, got {type(instance_id).__name__}")
    return EvalItem(task=d.get("task") or meta.get("task") or "unnamed", cluster=meta.get("cluster", "none"),
                    messages=msgs[:-1], references=list(refs), answer=answer, options=options,
                    format=meta.get("format", "zero_shot"), instance_id=instance_id, meta=meta)


def _messages(row: Any, origin: str) -> list[dict[str, str]]:
    """The `{role, content}` turns of a row, each checked: a row of another shape is one error naming it."""
    if not isinstance(row, dict):
        raise InstillError(f"{origin}: expected a JSON object with 'messages', got {json_type(row)}")
    turns = row.get("messages", [])
    if not isinstance(turns, list):
        raise InstillError(f"{origin}: 'messages' must be an array of {{role, content}}, got {json_type(turns)}")
    for i, m in enumerate(turns):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise InstillError(f"{origin}: messages[{i}] needs a string 'role' and a string 'content'")
    return [{"role": m["role"], "content": m["content"]} for m in turns]


def read_eval_jsonl(path: str | Path) -> list[EvalItem]:
    """Items from a Conversation JSONL file; errors name the file and line."""
    p = Path(path)
    if not p.is_file():
        raise InstillError(f"{p}: no such evaluation file")
    items = []
    with p.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InstillError(f"{where(p, n)}: not valid JSON ({e.msg})") from None
            items.append(item_from_conversation(row, where(p, n)))
    if not items:
        raise InstillError(f"{p}: no evaluation rows")
    return items


def task_items(patterns: Iterable[str], fmt: str = "zero_shot", per_task: int = 100, cards: Iterable[str] = (),
               sni: str | None = None, sni_split: str = "test", split: str = "test") -> list[EvalItem]:
    """Items rendered from tasks: bundled and card tasks matching `patterns` (names, globs, `cluster:NAME`), and
    with `sni` a Super-NaturalInstructions folder's tasks of `sni_split` (its test tasks score their first 100)."""
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
        items += [item_from_conversation(c, f"task {name}") for c in eval_items(task, task_split, per_task, fmt)]
    return items
