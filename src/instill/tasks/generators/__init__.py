"""Instance generators for the bundled tasks: deterministic by seed, so every machine builds the same data offline.

A generator is a function `draw(rng) -> instance dict`, registered with the fields it produces. `generate_splits`
draws until it has enough distinct instances and deals them into splits, so no instance is in two splits.
Generators that can list every instance (a small fact table) register `exhaustive=True` and return the full list.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from typing import Any, Callable

from instill.errors import InstillError
from instill.tasks.task import Instance

log = logging.getLogger("instill.tasks")



@dataclass(frozen=True)
class Generator:
    name: str
    fields: frozenset[str]
    draw: Callable[[random.Random], Any]
    exhaustive: bool = False  # draw(rng) returns every instance at once


GENERATORS: dict[str, Generator] = {}


def generator(name: str, fields: tuple[str, ...] | list[str], exhaustive: bool = False):
    """Register `draw` under `name`; a card then says `instances: {generator: NAME, ...}`."""

    def register(draw: Callable[[random.Random], Any]) -> Callable[[random.Random], Any]:
        if name in GENERATORS:
            raise RuntimeError(f"generator '{name}' registered twice")
        GENERATORS[name] = Generator(name, frozenset(fields), draw, exhaustive)
        return draw

    return register


def get_generator(name: str) -> Generator:
    _load_all()
    if name not in GENERATORS:
        import difflib

        near = difflib.get_close_matches(name, GENERATORS, n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        raise InstillError(f"unknown generator '{name}'{hint}")
    return GENERATORS[name]


def _key(instance: Instance) -> str:
    return json.dumps(instance, sort_keys=True, ensure_ascii=False)


def generate_splits(name: str, seed: int, sizes: dict[str, int]) -> dict[str, list[Instance]]:
    """Distinct instances dealt into splits (test first, then validation, then train, so evaluation splits get
    their full size when the generator's space is small); a shortfall is logged, never hidden."""
    gen = get_generator(name)
    rng = random.Random(f"{name}:{seed}")
    want = sum(sizes.values())
    seen: set[str] = set()
    pool: list[Instance] = []
    if gen.exhaustive:
        candidates = list(gen.draw(rng))
        rng.shuffle(candidates)
        for inst in candidates:
            if _key(inst) not in seen:
                seen.add(_key(inst))
                pool.append(inst)
    else:
        attempts = 0
        while len(pool) < want and attempts < 50 * want + 1000:
            attempts += 1
            inst = gen.draw(rng)
            k = _key(inst)
            if k not in seen:
                seen.add(k)
                pool.append(inst)
    for inst in pool[:1]:
        extra = set(inst) - gen.fields
        missing = gen.fields - set(inst)
        if extra or missing:
            raise RuntimeError(f"generator '{name}' returned fields {sorted(inst)}, registered {sorted(gen.fields)}")
    if len(pool) < want:
        log.warning("generator '%s' found %d distinct instances of the %d asked for", name, len(pool), want)
    out: dict[str, list[Instance]] = {}
    start = 0
    for split in ("test", "validation", "train"):
        n = sizes.get(split, 0)
        out[split] = pool[start:start + n]
        start += n
    return out


def _load_all() -> None:
    """Import the generator modules of this package, which register themselves."""
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
