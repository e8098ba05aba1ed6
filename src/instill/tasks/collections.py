"""Real task collections as Tasks: Super-NaturalInstructions task folders and FLAN chain-of-thought TSV files.

SNI: each task file becomes a Task (its Definition the instruction, its positive examples the few-shot exemplars,
its first category the cluster). The official split files say which tasks train and which are evaluated; a test
task keeps only its first `eval_instances` instances (100, as the benchmark scores) and is marked `eval_only`, so
no mixture can train on it.
"""

from __future__ import annotations

import csv
import logging
import os
import random
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from instill.errors import InstillError, where
from instill.sources.sni import read_sni_task
from instill.tasks.task import Task
from instill.tasks.template import Template

if TYPE_CHECKING:
    from instill.config import CollectionConfig

log = logging.getLogger("instill.tasks")

# Phrasings of "definition + input -> output" for SNI tasks (the Tk-Instruct encoding is the `tk_instruct` format).
SNI_TEMPLATES = [
    "{{definition}}\n\n{{input}} ||| {{output}}",
    "{{definition}}\n\nInput: {{input}}\nOutput: ||| {{output}}",
    "Instructions: {{definition}}\n\n{{input}} ||| {{output}}",
    "{{input}}\n\n{{definition}} ||| {{output}}",
    "Task: {{definition}}\n\nInput: {{input}}\n\nAnswer: ||| {{output}}",
    "Read the task and complete it.\n\nTask: {{definition}}\n\n{{input}} ||| {{output}}",
    "{{definition}}\n\nQ: {{input}}\nA: ||| {{output}}",
    "Follow these instructions: {{definition}}\n\nHere is the input: {{input}} ||| {{output}}",
    "Input: {{input}}\n\nWhat is the output for this input, given the task below?\n{{definition}} ||| {{output}}",
    "Definition: {{definition}}\n\nExample input: {{input}}\nExample output: ||| {{output}}",
]

# Phrasings of a chain-of-thought question (FLAN CoT TSV: question, answer, chain_of_thought).
COT_TEMPLATES = [
    "{{question}} ||| {{answer}}",
    "Question: {{question}}\nAnswer: ||| {{answer}}",
    "Q: {{question}}\nA: ||| {{answer}}",
    "Answer the following question.\n\n{{question}} ||| {{answer}}",
    "{{question}}\n\nGive your answer. ||| {{answer}}",
    "Solve this: {{question}} ||| {{answer}}",
    "Here is a question: {{question}}\n\nWhat is the answer? ||| {{answer}}",
    "Problem: {{question}}\n\nSolution: ||| {{answer}}",
    "Consider the question below.\n{{question}} ||| {{answer}}",
    "{{question}}\nWhat is the correct answer? ||| {{answer}}",
]


def _snake(text: str) -> str:
    """'Title Generation' -> 'title_generation'.

    >>> _snake("Cause Effect Classification")
    'cause_effect_classification'
    """
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "misc"


def _read_split_file(path: Path) -> list[str]:
    if not path.is_file():
        raise InstillError(f"{path}: SNI split file not found")
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def sni_task(path: str | Path, eval_only: bool = False, limit: int | None = None) -> Task:
    """One SNI task file as a Task (instances: definition, input, output = first non-blank reference, references)."""
    raw = read_sni_task(str(path), limit)
    rows = [{"definition": raw.definition, "input": inst["input"],
             "output": next(r for r in inst["references"] if r.strip()), "references": inst["references"],
             "id": inst["id"]} for inst in raw.instances]
    exemplars = [{"definition": raw.definition, "input": p["input"], "output": p["output"], "references": [p["output"]],
                  "id": None} for p in raw.positives]
    if eval_only:
        splits = {"train": [], "validation": [], "test": rows}
    else:  # the last 5% (at most 50) of a training task's instances give a validation loss
        n_val = min(50, len(rows) // 20)
        splits = {"train": rows[: len(rows) - n_val], "validation": rows[len(rows) - n_val:], "test": []}
    task = Task(
        name=raw.name, cluster=_snake(raw.categories[0]) if raw.categories else "misc",
        templates=[Template.parse(t, name=f"{raw.name}/{i + 1}") for i, t in enumerate(SNI_TEMPLATES)],
        fields=frozenset(rows[0]), answer_field="output", id_field="id", definition=raw.definition,
        exemplars=exemplars, eval_only=eval_only, source=str(path), _splits=splits,
    )
    task.check()
    return task


def sni_tasks(folder: str | Path, which: str = "all", eval_instances: int = 100,
              max_train_instances: int | None = None, splits_dir: str | Path | None = None) -> dict[str, Task]:
    """The SNI tasks of a folder (`tasks/*.json` plus `splits/default/{train,test}_tasks.txt`).

    `which`: "train" (training tasks), "test" (evaluation tasks, first `eval_instances` instances each) or "all".
    Tasks named in a split file but absent from the folder are counted in the log (a partial copy is normal).
    """
    folder = Path(folder)
    task_dir = folder / "tasks" if (folder / "tasks").is_dir() else folder
    split_dir = Path(splits_dir) if splits_dir else folder / "splits" / "default"
    if which not in ("train", "test", "all"):
        raise InstillError(f"sni: 'which' must be train, test or all, got '{which}'")
    wanted = {"train": _read_split_file(split_dir / "train_tasks.txt") if which != "test" else [],
              "test": _read_split_file(split_dir / "test_tasks.txt") if which != "train" else []}
    overlap = set(wanted["train"]) & set(wanted["test"])
    if overlap:
        raise InstillError(f"{split_dir}: task '{sorted(overlap)[0]}' is in both the train and the test split")
    out: dict[str, Task] = {}
    for kind, names in wanted.items():
        missing = 0
        for name in names:
            path = task_dir / f"{name}.json"
            if not path.is_file():
                missing += 1
                continue
            is_test = kind == "test"
            out[name] = sni_task(path, eval_only=is_test, limit=eval_instances if is_test else max_train_instances)
        if names:
            log.info("sni %s: %d of %d listed tasks found in %s", kind, len(names) - missing, len(names), task_dir)
    if not out:
        raise InstillError(f"{task_dir}: none of the tasks in {split_dir} are here")
    return out


def cot_task(path: str | Path, name: str | None = None, cluster: str = "cot",
             validation_fraction: float = 0.05, seed: int = 0) -> Task:
    """A FLAN CoT TSV file (`question<TAB>answer<TAB>chain_of_thought` per line) as a Task with a chain of thought.

    A seeded `validation_fraction` of the rows is kept out of training for validation loss.
    """
    path = Path(path)
    if not path.is_file():
        raise InstillError(f"{path}: file not found")
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for line_no, cols in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if not cols or not any(c.strip() for c in cols):
                continue
            if len(cols) != 3:
                raise InstillError(f"{where(path, line_no)}: expected 3 tab-separated columns (question, answer, "
                                   f"chain_of_thought), got {len(cols)}")
            question, answer, chain = (c.strip() for c in cols)
            for field, value in (("question", question), ("answer", answer), ("chain_of_thought", chain)):
                if not value:
                    raise InstillError(f"{where(path, line_no)}: '{field}' is empty")
            rows.append({"question": question, "answer": answer, "chain_of_thought": chain})
    if not rows:
        raise InstillError(f"{path}: no records")
    name = name or re.sub(r"_train$", "", os.path.splitext(path.name)[0])
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_val = int(len(rows) * validation_fraction)
    val_ids = set(order[:n_val])
    splits = {"train": [r for i, r in enumerate(rows) if i not in val_ids],
              "validation": [r for i, r in enumerate(rows) if i in val_ids], "test": []}
    task = Task(name=name, cluster=cluster,
                templates=[Template.parse(t, name=f"{name}/{i + 1}") for i, t in enumerate(COT_TEMPLATES)],
                fields=frozenset(rows[0]), answer_field="answer", cot_field="chain_of_thought",
                source=str(path), _splits=splits)
    task.check()
    return task


def _cot_collection(col: CollectionConfig) -> dict[str, Task]:
    task = cot_task(col.path, col.name, col.cluster)
    return {task.name: task}


# The one list of collection kinds, each the function that reads one into tasks by name:
# `mixture.collections[].kind` in a recipe is `Literal[tuple(COLLECTIONS)]`.
COLLECTIONS: dict[str, Callable[[Any], dict[str, Task]]] = {
    "sni": lambda col: sni_tasks(col.path, col.which, col.eval_instances, col.max_instances),
    "cot": _cot_collection,
}
