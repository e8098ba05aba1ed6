"""Task cards: YAML files that declare a task, where its instances come from, and its templates.

A user adds a task by writing one card. Instances come from a registered generator (the bundled tasks), a JSONL
file next to the card, an inline list, or any Hugging Face dataset whose columns the card maps to fields. Every
problem is reported with the card's path and the key or template at fault, when the card loads.

    name: country_capital
    cluster: closed_book_qa
    answer_field: capital
    instances: {generator: country_capital, seed: 0, sizes: {train: 30, validation: 5, test: 9}}
    templates:
      - "What is the capital of {{country}}? ||| {{capital}}"
      - {prompt: "{{capital}} is the capital of which country?", target: "{{country}}", inverted: true}
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from instill.errors import InstillError, where
from instill.files import invalid_yaml, read_utf8, yaml_kind
from instill.tasks.generators import generate_splits, get_generator
from instill.tasks.task import SPLITS, Instance, Task
from instill.tasks.template import Template


class _CardLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. Options like `[yes, no]` stay the words a template shows."""


_CardLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _ch in "tTfF":
    _CardLoader.yaml_implicit_resolvers.setdefault(_ch, []).insert(
        0, ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GeneratorInstances(_Strict):
    generator: str
    seed: int = 0
    sizes: dict[Literal["train", "validation", "test"], int] = Field(
        default_factory=lambda: {"train": 400, "validation": 50, "test": 50})


class FileInstances(_Strict):
    path: str = Field(description="JSONL next to the card (or absolute); a row's `split` field picks its split")
    fractions: dict[Literal["train", "validation", "test"], float] = Field(
        default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1},
        description="for rows without a `split` field: dealt at random (by seed) in these proportions")
    seed: int = 0


class InlineInstances(_Strict):
    inline: dict[Literal["train", "validation", "test"], list[dict[str, Any]]]


class HubInstances(_Strict):
    hub: str = Field(description="a hub id or a local folder (`datasets.load_dataset`, or `save_to_disk` output)")
    subset: str | None = None
    splits: dict[Literal["train", "validation", "test"], str] = Field(
        default_factory=lambda: {"train": "train", "validation": "validation", "test": "test"})
    columns: dict[str, str] = Field(description="task field -> dataset column", min_length=1)
    limit: int | None = Field(None, gt=0, description="at most this many rows per split")


class Card(_Strict):
    name: str | None = None
    cluster: str
    description: str = ""
    definition: str = ""
    answer_field: str | None = None
    options: list[str] | None = None
    options_field: str | None = None
    cot_field: str | None = None
    fields: list[str] | None = None
    instances: GeneratorInstances | FileInstances | InlineInstances | HubInstances
    templates: list[Any] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _instances_kind(cls, data: Any) -> Any:
        """Pick the instance source by its key, so an error talks about the right one."""
        inst = data.get("instances") if isinstance(data, dict) else None
        if isinstance(inst, dict):
            for key, kind in (("generator", GeneratorInstances), ("path", FileInstances),
                              ("inline", InlineInstances), ("hub", HubInstances)):
                if key in inst:
                    data = dict(data, instances=kind.model_validate(inst))
                    break
            else:
                raise ValueError("instances needs one of: generator, path, inline, hub")
        return data


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"unknown key '{loc}'"
    msg = first["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def _read_jsonl_instances(path: Path, card: str) -> list[tuple[int, Instance]]:
    from instill.sources._io import read_jsonl

    try:
        return list(read_jsonl(str(path)))
    except InstillError as e:
        raise InstillError(f"{card}: instances: {e}") from None


def _file_splits(spec: FileInstances, card_path: Path) -> dict[str, list[Instance]]:
    path = Path(spec.path) if os.path.isabs(spec.path) else card_path.parent / spec.path
    out: dict[str, list[Instance]] = {s: [] for s in SPLITS}
    unsplit: list[Instance] = []
    for line_no, row in _read_jsonl_instances(path, str(card_path)):
        split = row.pop("split", None)
        if split is None:
            unsplit.append(row)
        elif split in out:
            out[split].append(row)
        else:
            raise InstillError(f"{where(path, line_no)}: split '{split}' is not one of {', '.join(SPLITS)}")
    if unsplit:
        rng = random.Random(spec.seed)
        rng.shuffle(unsplit)
        total = sum(spec.fractions.values())
        start = 0
        for i, (split, frac) in enumerate(spec.fractions.items()):
            n = len(unsplit) - start if i == len(spec.fractions) - 1 else round(len(unsplit) * frac / total)
            out[split] += unsplit[start:start + n]
            start += n
    return out


def _hub_splits(spec: HubInstances) -> dict[str, list[Instance]]:
    import datasets  # heavy; only paid when a hub card is used

    local_saved = os.path.isdir(spec.hub) and any(
        os.path.exists(os.path.join(spec.hub, f)) for f in ("dataset_dict.json", "state.json"))
    try:
        ds = datasets.load_from_disk(spec.hub) if local_saved else datasets.load_dataset(spec.hub, spec.subset)
    except Exception as e:  # datasets raises many unrelated types; the user needs the reason only
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        raise InstillError(f"could not load dataset '{spec.hub}': {lines[0] if lines else type(e).__name__}") from e
    out: dict[str, list[Instance]] = {}
    for split, name in spec.splits.items():
        if name not in ds:
            raise InstillError(f"dataset '{spec.hub}' has no split '{name}' (it has: {', '.join(ds)})")
        part = ds[name]
        for field, column in spec.columns.items():
            if column not in part.column_names:
                raise InstillError(f"dataset '{spec.hub}' split '{name}' has no column '{column}' (for field "
                                   f"'{field}'; columns: {', '.join(part.column_names)})")
        if spec.limit is not None:
            part = part.select(range(min(spec.limit, len(part))))
        # a ClassLabel column becomes its label name, which is what templates and options talk about
        labels = {c: f.names for c, f in part.features.items() if isinstance(f, datasets.ClassLabel)}
        rows = []
        for row in part:
            rows.append({f: labels[c][row[c]] if c in labels else row[c] for f, c in spec.columns.items()})
        out[split] = rows
    return out


def _render_once(templates: list[Template], splits: dict[str, list] | None, fields: frozenset[str],
                 has_options: bool) -> None:
    """Render every template once when the card loads, so a template the sandbox blocks (or that fails on a real
    instance) refuses the card there, not in the middle of a mixture. Lazy instances (generators, hub datasets)
    are not loaded for this: a stand-in instance checks the sandbox alone."""
    rows = [r for rs in (splits or {}).values() for r in rs]
    sample = dict(rows[0]) if rows else {f: "x" for f in fields}
    options = "OPTIONS:\n- a\n- b" if has_options else None
    for t in templates:
        try:
            t.render(sample, options=options)
        except InstillError as e:
            if rows or "sandbox" in str(e):
                raise InstillError(f"template {t.name}: {e}") from None
        except (TypeError, ValueError, ArithmeticError) as e:  # e.g. arithmetic on a field's value
            if rows:  # a real instance: the template cannot render the task's own data
                raise InstillError(f"template {t.name}: {type(e).__name__}: {e}") from None


def load_card(path: str | Path) -> Task:
    """One card file -> a checked Task (instances load lazily, except inline and file ones, which are small)."""
    path = Path(path)
    if not path.is_file():
        raise InstillError(f"{path}: task card not found")
    try:
        raw = yaml.load(read_utf8(path, "task card"), Loader=_CardLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as e:
        raise invalid_yaml(path, e) from None
    if not isinstance(raw, dict):
        raise InstillError(f"{path}: a task card must be a mapping of keys at its top level, got {yaml_kind(raw)}")
    try:
        card = Card.model_validate(raw)
    except ValidationError as e:
        raise InstillError(f"{path}: {_describe(e)}") from None
    name = card.name or path.stem
    try:
        templates = [Template.parse(spec, name=f"{name}/{i + 1}") for i, spec in enumerate(card.templates)]
    except InstillError as e:
        raise InstillError(f"{path}: templates: {e}") from None

    inst = card.instances
    splits: dict[str, list[Instance]] | None = None
    load = None
    if isinstance(inst, GeneratorInstances):
        try:
            fields = get_generator(inst.generator).fields
        except InstillError as e:
            raise InstillError(f"{path}: instances: {e}") from None
        load = lambda: generate_splits(inst.generator, inst.seed, dict(inst.sizes))  # noqa: E731
    elif isinstance(inst, HubInstances):
        fields = frozenset(inst.columns)
        load = lambda: _hub_splits(inst)  # noqa: E731
    else:
        splits = dict(inst.inline) if isinstance(inst, InlineInstances) else _file_splits(inst, path)
        rows = [r for rs in splits.values() for r in rs]
        if not rows:
            raise InstillError(f"{path}: instances: no instances")
        fields = frozenset(rows[0])
        for split, rs in splits.items():
            for i, r in enumerate(rs):
                if frozenset(r) != fields:
                    raise InstillError(f"{path}: instances: {split} instance {i + 1} has fields {sorted(r)}, "
                                       f"the first has {sorted(fields)}")
    if card.fields is not None:
        if not set(card.fields) <= fields:
            raise InstillError(f"{path}: fields: {sorted(set(card.fields) - fields)[0]!r} is not produced by the "
                               "instances")
        fields = frozenset(card.fields)

    task = Task(
        name=name, cluster=card.cluster, templates=templates, fields=fields, answer_field=card.answer_field,
        options=card.options, options_field=card.options_field, cot_field=card.cot_field,
        description=card.description, definition=card.definition, source=str(path), _splits=splits, _load=load,
    )
    try:
        task.check()
        _render_once(templates, splits, fields, has_options=bool(card.options or card.options_field))
    except InstillError as e:
        raise InstillError(f"{path}: {e}") from None
    return task
