"""Super-NaturalInstructions task files: one JSON object per task, each instance becomes an Example.

The task definition is the instruction; the positive examples travel in `meta` so a template can build k-shot
prompts; every reference output is kept in `meta["references"]` because SNI scores against all of them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from instill.errors import InstillError, where
from instill.records import Example
from instill.sources._io import json_type, load_json

log = logging.getLogger("instill.sources")


def _strings(value: Any, what: str) -> list[str]:
    """A list of strings (a lone string is accepted as a one-item list)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InstillError(f"'{what}' must be a list of strings, got {json_type(value)}")
    return value


def _positives(task: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for i, ex in enumerate(task.get("Positive Examples") or []):
        if not isinstance(ex, dict) or not isinstance(ex.get("input"), str) or not isinstance(ex.get("output"), str):
            raise InstillError(f"'Positive Examples'[{i}] must be an object with string 'input' and 'output'")
        out.append({"input": ex["input"], "output": ex["output"]})
    return out


@dataclass
class SniTask:
    """One task file, checked: what both the record loader and the task collection need."""

    name: str
    definition: str
    categories: list[str]
    positives: list[dict[str, str]]
    instances: list[dict[str, Any]]  # {id (str or None), input, references}, only those with a non-blank reference


def read_sni_task(path: str, limit: int | None = None) -> SniTask:
    """Read and check one SNI task file; instances without a non-blank output are skipped with a warning, never
    silently. `limit` keeps the first N usable instances."""
    task = load_json(path)
    name = os.path.splitext(os.path.basename(path))[0]
    try:
        if not isinstance(task, dict):
            raise InstillError(f"expected a JSON object (an SNI task file), got {json_type(task)}")
        if "Definition" not in task:
            raise InstillError("missing field 'Definition'")
        if "Instances" not in task:
            raise InstillError("missing field 'Instances'")
        definition = " ".join(_strings(task["Definition"], "Definition")).strip()
        if not definition:
            raise InstillError("'Definition' is empty")
        categories = _strings(task.get("Categories") or [], "Categories")
        positives = _positives(task)
        instances = task["Instances"]
        if not isinstance(instances, list):
            raise InstillError(f"'Instances' must be an array, got {json_type(instances)}")
        if not instances:
            raise InstillError("no records ('Instances' is empty)")
    except InstillError as e:
        raise InstillError(f"{path}: {e}") from e

    out: list[dict[str, Any]] = []
    skipped = 0
    for i, inst in enumerate(instances):
        if limit is not None and len(out) >= limit:
            break
        try:
            if not isinstance(inst, dict):
                raise InstillError(f"expected an object, got {json_type(inst)}")
            if not isinstance(inst.get("input"), str):
                raise InstillError(f"field 'input' must be a string, got {json_type(inst.get('input'))}")
            if inst.get("id") is not None and not isinstance(inst["id"], str):
                raise InstillError(f"field 'id' must be a string, got {json_type(inst['id'])}")
            refs = _strings(inst.get("output"), "output")
            if not any(r.strip() for r in refs):  # `[]` or only blank strings (real data has `[""]`)
                skipped += 1
                continue
            out.append({"id": inst.get("id"), "input": inst["input"], "references": list(refs), "position": i})
        except InstillError as e:
            raise InstillError(f"{where(path, None, f'instance {i}')}: {e}") from e
    if skipped:
        log.warning("%s: skipped %d instance(s) with no non-blank 'output'", path, skipped)
    if not out:
        raise InstillError(f"{path}: no records (no instance has a non-blank 'output')")
    return SniTask(name, definition, categories, positives, out)


def load_sni_task(path: str, limit: int | None = None) -> list[Example]:
    """Load one SNI task file as Examples: the output is the first non-blank reference; `meta["references"]` keeps
    the list exactly as the file has it."""
    task = read_sni_task(path, limit)
    return [
        Example(
            instruction=task.definition,
            input=inst["input"],
            output=next(r for r in inst["references"] if r.strip()),
            task=task.name,
            cluster=task.categories[0] if task.categories else None,
            source=where(path, None, f"instance {inst['position']}"),
            meta={
                "id": inst["id"],
                "references": inst["references"],
                "positive_examples": [dict(p) for p in task.positives],
                "categories": list(task.categories),
            },
        )
        for inst in task.instances
    ]
