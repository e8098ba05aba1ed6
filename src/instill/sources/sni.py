"""Super-NaturalInstructions task files: one JSON object per task, each instance becomes an Example.

The task definition is the instruction; the positive examples travel in `meta` so a template can build k-shot
prompts; every reference output is kept in `meta["references"]` because SNI scores against all of them.
"""

from __future__ import annotations

import logging
import os
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


def load_sni_task(path: str, limit: int | None = None) -> list[Example]:
    """Load one SNI task file; instances without a non-blank output are skipped with a warning, never silently.

    The output is the first non-blank reference; `meta["references"]` keeps the list exactly as the file has it.
    """
    task = load_json(path)
    name = os.path.splitext(os.path.basename(path))[0]
    try:
        if not isinstance(task, dict):
            raise InstillError(f"expected a JSON object (an SNI task file), got {json_type(task)}")
        if "Definition" not in task:
            raise InstillError("missing field 'Definition'")
        if "Instances" not in task:
            raise InstillError("missing field 'Instances'")
        instruction = " ".join(_strings(task["Definition"], "Definition")).strip()
        categories = _strings(task.get("Categories") or [], "Categories")
        positives = _positives(task)
        instances = task["Instances"]
        if not isinstance(instances, list):
            raise InstillError(f"'Instances' must be an array, got {json_type(instances)}")
        if not instances:
            raise InstillError("no records ('Instances' is empty)")
    except InstillError as e:
        raise InstillError(f"{path}: {e}") from e

    out: list[Example] = []
    skipped = 0
    for i, inst in enumerate(instances):
        if limit is not None and len(out) >= limit:
            break
        loc = where(path, None, f"instance {i}")
        try:
            if not isinstance(inst, dict):
                raise InstillError(f"expected an object, got {json_type(inst)}")
            if not isinstance(inst.get("input"), str):
                raise InstillError(f"field 'input' must be a string, got {json_type(inst.get('input'))}")
            refs = _strings(inst.get("output"), "output")
            answer = next((r for r in refs if r.strip()), None)
            if answer is None:  # `[]` or only blank strings (real data has `[""]`): nothing to learn from
                skipped += 1
                continue
            out.append(Example(
                instruction=instruction,
                input=inst["input"],
                output=answer,
                task=name,
                cluster=categories[0] if categories else None,
                meta={
                    "id": inst.get("id"),
                    "references": list(refs),
                    "positive_examples": [dict(p) for p in positives],
                    "categories": list(categories),
                },
            ))
        except InstillError as e:
            raise InstillError(f"{loc}: {e}") from e
    if skipped:
        log.warning("%s: skipped %d instance(s) with no non-blank 'output'", path, skipped)
    if not out:
        raise InstillError(f"{path}: no records (no instance has a non-blank 'output')")
    return out
