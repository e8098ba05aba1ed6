"""A Task: a name, a cluster, instances split into train/validation/test, optional answer options, templates.

A task is data plus many phrasings of it. Instances are plain dicts of fields; `answer_field` names the field that
holds the task's answer (what non-inverted templates put in their target), which is what options are checked
against and what chain-of-thought targets end with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from instill.errors import InstillError
from instill.tasks.template import Template

SPLITS = ("train", "validation", "test")

Instance = dict[str, Any]  # one row of a task: its fields by name (a generated task instance is selfinstruct.filters.IOPair)


@dataclass
class Task:
    name: str
    cluster: str
    templates: list[Template]
    fields: frozenset[str]
    answer_field: str | None = None
    options: list[str] | None = None  # the same options for every instance
    options_field: str | None = None  # or: a field holding each instance's own list of options
    cot_field: str | None = None  # a field holding a chain of thought, for the CoT formats
    id_field: str | None = None  # a field holding each instance's id in its source (SNI's "id"), for predictions
    description: str = ""
    definition: str = ""  # a task-level instruction (SNI's Definition), for the Tk-Instruct format
    exemplars: list[Instance] = field(default_factory=list)  # fixed demonstrations (SNI's positive examples)
    eval_only: bool = False  # an evaluation task (SNI's test tasks): never part of a training mixture
    source: str = ""  # the card file or collection it came from, for messages
    _splits: dict[str, list[Instance]] | None = field(default=None, repr=False)
    _load: Callable[[], dict[str, list[Instance]]] | None = field(default=None, repr=False)

    @property
    def has_options(self) -> bool:
        return self.options is not None or self.options_field is not None

    @property
    def has_cot(self) -> bool:
        return self.cot_field is not None

    def splits(self) -> dict[str, list[Instance]]:
        """Instances per split, loaded on first use (a hub dataset or a generator runs only when needed)."""
        if self._splits is None:
            if self._load is None:
                raise InstillError(f"task '{self.name}' has no instances")
            self._splits = {s: list(v) for s, v in self._load().items()}
            for s in SPLITS:
                self._splits.setdefault(s, [])
        return self._splits

    def split(self, name: str) -> list[Instance]:
        if name not in SPLITS:
            raise InstillError(f"unknown split '{name}' (expected one of {', '.join(SPLITS)})")
        return self.splits()[name]

    def options_for(self, instance: Instance) -> list[str] | None:
        """The answer options of one instance, or None when the task has none."""
        if self.options is not None:
            return self.options
        if self.options_field is not None:
            opts = instance.get(self.options_field)
            if not isinstance(opts, list) or not opts or not all(isinstance(o, str) for o in opts):
                raise InstillError(f"task '{self.name}': field '{self.options_field}' must be a non-empty list of "
                                   f"strings, got {opts!r}")
            return opts
        return None

    def answer(self, instance: Instance) -> str | None:
        return None if self.answer_field is None else str(instance[self.answer_field])

    @property
    def forward_templates(self) -> list[Template]:
        """Templates whose target is the task's answer: the ones evaluation may use."""
        return [t for t in self.templates if not t.inverted]

    def check(self) -> None:
        """Card-level consistency: every template reads only known fields; answer, options and CoT fields exist."""
        if not self.templates:
            raise InstillError("has no templates")
        for key in ("answer_field", "options_field", "cot_field", "id_field"):
            value = getattr(self, key)
            if value is not None and value not in self.fields:
                raise InstillError(f"{key} '{value}' is not a field of the task (fields: {', '.join(sorted(self.fields))})")
        if self.options is not None and self.options_field is not None:
            raise InstillError("give 'options' or 'options_field', not both")
        if self.has_options and self.answer_field is None:
            raise InstillError("a task with options needs 'answer_field' (the field that holds the right option)")
        if self.has_cot and self.answer_field is None:
            raise InstillError("a task with 'cot_field' needs 'answer_field' (what the reasoning concludes)")
        if self.options is not None and (len(self.options) < 2 or len(set(self.options)) != len(self.options)):
            raise InstillError("'options' must list at least two different options")
        if not self.forward_templates:
            raise InstillError("every template is inverted; at least one must produce the task's answer")
        for i, t in enumerate(self.templates):
            try:
                if t.shows_options and not self.has_options:
                    raise InstillError("shows {{ options }}, but the task has no 'options' or 'options_field'")
                t.check_fields(self.fields)
            except InstillError as e:
                raise InstillError(f"template {i + 1}: {e}") from None
