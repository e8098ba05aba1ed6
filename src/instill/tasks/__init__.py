"""Tasks and templates: the registry of task cards (the bundled ones and a user's own folders).

`load_tasks()` returns every bundled task; `load_tasks(["my_cards/"])` adds a user's cards (a folder of YAML files,
or single files). Two cards with one name are an error naming both files.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Iterable

from instill.errors import InstillError
from instill.tasks.cards import load_card
from instill.tasks.task import SPLITS, Task
from instill.tasks.template import Template

__all__ = ["SPLITS", "Task", "Template", "builtin_cards", "load_card", "load_tasks"]


def builtin_cards() -> list[Path]:
    """The task cards instill ships (src/instill/tasks/cards/*.yaml)."""
    folder = Path(str(files("instill.tasks") / "cards"))
    return sorted(folder.glob("*.yaml"))


def _card_files(location: str | Path) -> list[Path]:
    p = Path(location)
    if p.is_dir():
        found = sorted([*p.rglob("*.yaml"), *p.rglob("*.yml")])
        if not found:
            raise InstillError(f"{p}: no task cards (*.yaml) in this folder")
        return found
    if p.is_file():
        return [p]
    raise InstillError(f"{p}: no such task card or folder")


def load_tasks(extra: Iterable[str | Path] = (), builtin: bool = True) -> dict[str, Task]:
    """Every task by name: the bundled cards (unless `builtin=False`) plus the cards in `extra`."""
    paths = list(builtin_cards()) if builtin else []
    for location in extra:
        paths += _card_files(location)
    tasks: dict[str, Task] = {}
    for path in paths:
        task = load_card(path)
        if task.name in tasks:
            raise InstillError(f"{path}: task '{task.name}' is already defined in {tasks[task.name].source}")
        tasks[task.name] = task
    return tasks
