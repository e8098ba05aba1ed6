"""The append-only JSONL store that makes a run crash-safe and resumable.

Each line is one JSON object, written whole, flushed and fsynced before the next request is sent:

    {"kind": "header", "style": ..., "seed": ...}                       first line: what the folder was started with
    {"kind": "batch", "request": r, "generated": n, "rejected": {reason: count}, "kept": [instruction, ...]}
    {"kind": "task", "id": ..., "is_classification": ..., "instances": [...], "dropped": reason | null}

A batch line holds everything one generation request kept, so a request is stored whole or not at all. On start,
the store is replayed; a last line without its newline (the process died while writing it) is cut off with a
warning. A request in flight when the process died was never stored, and is simply asked again.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instill.errors import InstillError, where

log = logging.getLogger(__name__)
FILE = "store.jsonl"  # the store's name inside a run folder


@dataclass
class Replayed:
    """What a store holds: the header, batch lines in request order, task lines by id."""

    header: dict[str, Any] | None = None
    batches: list[dict[str, Any]] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def kept(self) -> list[dict[str, Any]]:
        return [k for b in self.batches for k in b["kept"]]


def read_store(path: str | Path, repair: bool = False) -> Replayed:
    """Replay a store. A torn last line is ignored (and cut off the file when `repair`); any other bad line is an
    error naming file:line."""
    p = Path(path)
    out = Replayed()
    if not p.exists():
        return out
    data = p.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        log.warning("%s: the last line was cut off mid-write (%d bytes); ignoring it", p, len(data) - end)
        if repair:
            with open(p, "r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
    for line_no, raw in enumerate(data[:end].splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            kind = obj["kind"]
        except (ValueError, KeyError, TypeError):
            raise InstillError(f"{where(p, line_no)}: not a store line (the store is append-only: do not edit it)") from None
        if kind == "header":
            out.header = obj
        elif kind == "batch":
            if obj["request"] != len(out.batches):
                raise InstillError(f"{where(p, line_no)}: request {obj['request']} out of order "
                                   f"(expected {len(out.batches)})")
            out.batches.append(obj)
        elif kind == "task":
            if obj["id"] in out.tasks:
                raise InstillError(f"{where(p, line_no)}: task '{obj['id']}' stored twice")
            out.tasks[obj["id"]] = obj
        else:
            raise InstillError(f"{where(p, line_no)}: unknown line kind '{kind}'")
    return out


class Store:
    """Appends lines to `path`, each flushed to disk before `append` returns."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.path, "ab")

    def append(self, obj: dict[str, Any]) -> None:
        self.f.write(json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()
