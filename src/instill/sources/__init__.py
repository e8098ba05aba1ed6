"""Loaders for outside data formats: every source ends as a list of Examples or Conversations.

One entry point, `load_source`, reads a local file (or a file shipped with instill, `builtin:NAME`) or a hub dataset
and runs each row through the format's converter, so every bad record fails with its file and line.
"""

from __future__ import annotations

import difflib
import os
import re
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.resources import as_file, files
from typing import Any, Callable, Generator, Iterator

from instill.errors import InstillError, where
from instill.records import Conversation, Example
from instill.sources import converters
from instill.sources._io import read_json_array, read_jsonl
from instill.sources.sni import load_sni_task

__all__ = ["SOURCE_FORMATS", "SourceFormat", "load_source"]

_BUILTIN = "builtin:"

Record = Example | Conversation


@dataclass(frozen=True)
class SourceFormat:
    """How one outside format is read: row by row (`convert`, for JSON/JSONL files and hub datasets) or as a whole
    file (`load_file(path, limit)`, for formats whose records are not one object per row)."""

    convert: Callable[..., Record] | None = None
    load_file: Callable[[str, int | None], list[Record]] | None = None


def _cot_examples(path: str, limit: int | None) -> list[Example]:
    """A FLAN CoT TSV as Examples whose output is the reasoning and the Flan 2022 final-answer line."""
    from instill.formats import cot_target
    from instill.tasks.collections import cot_task  # imports this package; loaded lazily

    task = cot_task(path, validation_fraction=0.0)
    rows = task.split("train")[:limit]
    return [Example(instruction=r["question"], output=cot_target(r["chain_of_thought"], r["answer"]), task=task.name,
                    cluster=task.cluster, source=where(path, None, f"row {i + 1}")) for i, r in enumerate(rows)]


# The one list of source formats: `data.train[].format` in a recipe is `Literal[tuple(SOURCE_FORMATS)]`.
SOURCE_FORMATS: dict[str, SourceFormat] = {
    "alpaca": SourceFormat(convert=converters.alpaca),
    "dolly": SourceFormat(convert=converters.dolly),
    "sharegpt": SourceFormat(convert=converters.sharegpt),
    "openai": SourceFormat(convert=converters.openai),
    "sni": SourceFormat(load_file=lambda path, limit: list(load_sni_task(path, limit))),
    "cot": SourceFormat(load_file=_cot_examples),
}


def _format_of(format: str) -> SourceFormat:
    if format in SOURCE_FORMATS:
        return SOURCE_FORMATS[format]
    close = difflib.get_close_matches(str(format), SOURCE_FORMATS, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise InstillError(f"unknown format '{format}'{hint}; valid formats: {', '.join(SOURCE_FORMATS)}")


def _builtin_names() -> list[str]:
    data = files("instill") / "data"
    if not data.is_dir():
        return []
    return sorted(p.name[: -len(".jsonl")] for p in data.iterdir() if p.name.endswith(".jsonl"))


def _builtin(name: str) -> Any:
    """The packaged `data/NAME.jsonl`; only plain names, so `builtin:../x` cannot reach outside the data folder."""
    res = files("instill") / "data" / f"{name}.jsonl"
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith(".") or not res.is_file():
        names = _builtin_names()
        listing = ", ".join(names) if names else "none are installed"
        raise InstillError(f"unknown builtin dataset '{name}' (available: {listing})")
    return res


def _file_records(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """`(location, row)` pairs; the extension says whether the file is one JSON array or JSON Lines. A folder gives
    the records of its .json/.jsonl/.ndjson files in name order."""
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if os.path.splitext(n)[1].lower() in (".json", ".jsonl", ".ndjson"))
        if not names:
            raise InstillError(f"{path}: a folder with no .json, .jsonl or .ndjson file in it; name a data file "
                               "(or a folder of them)")
        for name in names:
            yield from _file_records(os.path.join(path, name))
        return
    ext = os.path.splitext(path)[1].lower()
    if ext == ".json":
        for index, row in read_json_array(path):
            yield where(path, None, f"record {index}"), row
    elif ext in (".jsonl", ".ndjson"):
        for line_no, row in read_jsonl(path):
            yield where(path, line_no), row
    else:
        raise InstillError(f"{path}: cannot tell the file type from '{ext or '(no extension)'}'; "
                           "use .json for a JSON array or .jsonl/.ndjson for one object per line")


def _hub_records(hub: str, subset: str | None, split: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a `datasets` dataset (a hub id or a local data folder), numbered 0-based for messages."""
    import datasets  # heavy; only paid when the hub is used

    try:
        ds = datasets.load_dataset(hub, subset, split=split)
    except Exception as e:  # datasets raises many unrelated types; the user only needs the reason
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        reason = lines[0] if lines else type(e).__name__
        raise InstillError(f"could not load dataset '{hub}' (split '{split}'): {reason}") from e
    name = f"{hub}[{split}]" if subset is None else f"{hub}/{subset}[{split}]"
    for index, row in enumerate(ds):
        yield where(name, None, f"row {index}"), row


def _convert(
    rows: Generator[tuple[str, dict[str, Any]], None, None], convert: Callable[..., Record], limit: int | None,
    train_on: str,
) -> list[Example | Conversation]:
    out: list[Example | Conversation] = []
    try:
        for loc, row in rows:
            if limit is not None and len(out) >= limit:
                break
            try:
                out.append(convert(row, train_on=train_on, source=loc))
            except InstillError as e:
                raise InstillError(f"{loc}: {e}") from e
    finally:
        rows.close()  # closes the file now when `limit` stops reading early
    return out


def load_source(
    *,
    format: str,
    path: str | None = None,
    hub: str | None = None,
    subset: str | None = None,
    split: str = "train",
    limit: int | None = None,
    train_on: str = "all",
) -> list[Example | Conversation]:
    """Load one source as records; exactly one of `path` (a file or `builtin:NAME`) and `hub` is given.

    `limit` keeps the first N records (and stops reading there); `train_on` ("all" | "last") picks the assistant
    turns that carry loss in chat formats.
    """
    spec = _format_of(format)
    if (path is None) == (hub is None):
        raise InstillError("give exactly one of 'path' and 'hub' for a source")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InstillError(f"limit must be a positive integer, got {limit!r}")
    if train_on not in ("all", "last"):
        raise InstillError(f"train_on must be 'all' or 'last', got '{train_on}'")

    if hub is not None:
        if spec.convert is None:
            raise InstillError(f"{format} from the hub is not supported; download the files")
        return _convert(_hub_records(hub, subset, split), spec.convert, limit, train_on)

    if subset is not None:
        raise InstillError(f"'subset' only applies to hub datasets, not to the file '{path}'")
    with ExitStack() as stack:
        path = os.fspath(path)
        if path.startswith(_BUILTIN):
            path = str(stack.enter_context(as_file(_builtin(path[len(_BUILTIN):]))))
        if spec.load_file is not None:
            return spec.load_file(path, limit)
        return _convert(_file_records(path), spec.convert, limit, train_on)
