"""Reading and writing the text files stages share: UTF-8 or one clear error; results written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from instill.errors import InstillError, where


def read_utf8(path: object, what: str = "file") -> str:
    """A text file's contents; a file that is not UTF-8 is one error naming the file and the byte offset."""
    data = Path(str(path)).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InstillError(f"{path}:{line}: this {what} is not UTF-8 text (byte {e.start}: "
                           f"{data[e.start:e.start + 1]!r}); save it as UTF-8") from None


def invalid_yaml(path: object, error: Exception) -> InstillError:
    """A YAML syntax error as one line: the file, the line and column where the parser stopped, what it expected,
    and where the construct it was reading began (PyYAML's own text spreads this over several lines)."""
    mark, problem = getattr(error, "problem_mark", None), getattr(error, "problem", None)
    if mark is None or not problem:
        return InstillError(f"{path}: invalid YAML: {' '.join(str(error).split())}")
    context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
    began = f" ({context} that began on line {start.line + 1})" if context and start is not None else ""
    return InstillError(f"{where(path, mark.line + 1)}:{mark.column + 1}: invalid YAML: {problem}{began}")


def yaml_kind(value: Any) -> str:
    """What a YAML file holds instead of a mapping, in a user's words.

    >>> yaml_kind(["a"]), yaml_kind("a")
    ('a list', 'a single value')
    """
    return "a list" if isinstance(value, list) else "a single value"


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a result file so that a kill at any moment leaves the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
