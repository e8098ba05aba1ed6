"""Seed tasks in the paper's JSONL shape: one object per line with `id`, `name`, `instruction`,
`instances: [{input, output}]` and `is_classification`. Errors name the file and line."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from instill.errors import InstillError, where
from instill.sources._io import read_jsonl

BUILTIN = "builtin"  # the `seeds` value that means the 175 seed tasks instill ships


@dataclass(frozen=True)
class SeedTask:
    id: str
    name: str
    instruction: str
    instances: tuple[tuple[str, str], ...]  # (input, output)
    is_classification: bool


def builtin_seeds_path() -> Path:
    return Path(str(resources.files("instill.selfinstruct") / "seeds.jsonl"))


def _task(obj: dict, at: str) -> SeedTask:
    def text(key: str, required: bool = True) -> str:
        value = obj.get(key, "" if not required else None)
        if not isinstance(value, str) or (required and not value.strip()):
            raise InstillError(f"{at}: field '{key}' must be a non-empty string")
        return value

    instances = obj.get("instances")
    if not isinstance(instances, list) or not instances:
        raise InstillError(f"{at}: field 'instances' must be a non-empty list of {{input, output}}")
    pairs = []
    for i, inst in enumerate(instances):
        if not isinstance(inst, dict) or not isinstance(inst.get("input", ""), str) \
                or not isinstance(inst.get("output"), str):
            raise InstillError(f"{at}: instances[{i}] needs a string 'output' (and an optional string 'input')")
        pairs.append((inst.get("input", ""), inst["output"]))
    if not isinstance(obj.get("is_classification"), bool):
        raise InstillError(f"{at}: field 'is_classification' must be true or false")
    return SeedTask(text("id"), obj.get("name") or text("id"), text("instruction"), tuple(pairs),
                    obj["is_classification"])


def load_seeds(path: str | Path = BUILTIN) -> list[SeedTask]:
    """Read and validate a seed file (`builtin`: the bundled one); ids must be unique.

    Raises:
        InstillError: naming the file and line of the first problem.
    """
    p = builtin_seeds_path() if str(path) == BUILTIN else Path(path)
    if str(path) == BUILTIN and not p.is_file():
        raise InstillError(f"the bundled seed tasks are missing ({p}); pass a seed file with --seeds")
    tasks: list[SeedTask] = []
    lines: dict[str, int] = {}
    for line, obj in read_jsonl(str(p)):
        task = _task(obj, where(p, line))
        if task.id in lines:
            raise InstillError(f"{where(p, line)}: id '{task.id}' already used on line {lines[task.id]}")
        lines[task.id] = line
        tasks.append(task)
    return tasks
