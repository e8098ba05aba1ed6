"""From the store to files others read: the instruction pool with neighbours, instill Conversation records, and
Alpaca JSON. Rows are in store order (request, then position), so exports of the same store are identical."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from instill.errors import InstillError
from instill.records import Example, example_to_conversation, write_conversations_jsonl
from instill.selfinstruct.store import FILE, Replayed, read_store



def load_store(folder: str | Path) -> Replayed:
    path = Path(folder) / FILE
    if not path.is_file():
        raise InstillError(f"{path}: no store here (run `instill selfinstruct generate --out {folder}` first)")
    return read_store(path)


def pool_rows(state: Replayed) -> Iterator[dict[str, Any]]:
    """Each kept instruction with its neighbours, mean similarity, classification flag and instances."""
    for k in state.kept:
        task = state.tasks.get(k["id"])
        if "output" in k:  # alpaca style: the instance came with the instruction
            instances, is_cls, dropped = [{"input": k["input"], "output": k["output"]}], None, None
        elif task is not None:
            instances, is_cls, dropped = task["instances"], task["is_classification"], task["dropped"]
        else:
            instances, is_cls, dropped = [], None, "not_done"
        yield {"id": k["id"], "instruction": k["instruction"], "is_classification": is_cls, "instances": instances,
               "dropped": dropped, "most_similar_instructions": dict(k["most_similar"]),
               "avg_similarity_score": k["avg_similarity"], "max_similarity": k["max_similarity"]}


def examples(state: Replayed) -> Iterator[Example]:
    """One Example per kept instance of every task that was not dropped."""
    for row in pool_rows(state):
        for inst in row["instances"]:
            yield Example(instruction=row["instruction"], input=inst["input"], output=inst["output"],
                          task=row["id"], source=f"selfinstruct task {row['id']}")


def export(folder: str | Path, out: str | Path | None = None) -> dict[str, Path]:
    """Write pool.jsonl, conversations.jsonl (instill records) and alpaca_data.json into `out` (default: the run
    folder); returns the paths."""
    state = load_store(folder)
    out = Path(out or folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"pool": out / "pool.jsonl", "conversations": out / "conversations.jsonl", "alpaca": out / "alpaca_data.json"}
    with open(paths["pool"], "w", encoding="utf-8") as f:
        for row in pool_rows(state):
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    exs = list(examples(state))
    write_conversations_jsonl((example_to_conversation(e) for e in exs), str(paths["conversations"]))
    alpaca = [{"instruction": e.instruction, "input": e.input, "output": e.output} for e in exs]
    paths["alpaca"].write_text(json.dumps(alpaca, ensure_ascii=False, indent=1), encoding="utf-8")
    return paths
