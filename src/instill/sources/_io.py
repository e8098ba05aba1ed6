"""Readers for JSON Lines and JSON-array files that fail with the file and line (or record) of the problem.

Both yield `(position, record)` pairs where every record is a JSON object; the caller formats the position with
`errors.where`. An empty file is an error ("no records"): loading nothing is almost always a wrong path or filter.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterator

from instill.errors import InstillError, where

_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages a user reads next to their file.

    >>> json_type([1]), json_type(None), json_type(True)
    ('array', 'null', 'boolean')
    """
    if value is None:
        return "null"
    return _JSON_TYPES.get(type(value), type(value).__name__)


def check_file(path: str) -> None:
    """Fail early, in one line, when `path` cannot be a readable data file."""
    if not os.path.exists(path):
        raise InstillError(f"{path}: file not found")
    if os.path.isdir(path):
        raise InstillError(f"{path}: is a directory, expected a file")


def _open_error(path: str, err: OSError) -> InstillError:
    return InstillError(f"{path}: cannot read: {err.strerror or err}")


def read_jsonl(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield `(line_no, object)` for each non-blank line (1-based), streaming so big files are never slurped.

    Read as bytes and decoded per line, so an encoding error names the exact line.
    """
    check_file(path)
    count = 0
    try:
        f = open(path, "rb")
    except OSError as e:
        raise _open_error(path, e) from e
    with f:
        for line_no, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise InstillError(f"{where(path, line_no)}: not UTF-8 text ({e.reason})") from e
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise InstillError(f"{where(path, line_no)}: invalid JSON: {e.msg} (column {e.colno})") from e
            if not isinstance(obj, dict):
                raise InstillError(f"{where(path, line_no)}: expected a JSON object, got {json_type(obj)}")
            count += 1
            yield line_no, obj
    if count == 0:
        raise InstillError(f"{path}: no records (the file is empty)")


def load_json(path: str) -> Any:
    """Parse a whole JSON file (arrays and SNI task objects cannot be streamed with the standard library)."""
    check_file(path)
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f)
    except OSError as e:
        raise _open_error(path, e) from e
    except UnicodeDecodeError as e:
        raise InstillError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise InstillError(f"{where(path, e.lineno)}: invalid JSON: {e.msg} (column {e.colno})") from e


def read_json_array(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield `(index, object)` (0-based) for each element of a file holding one JSON array of objects."""
    data = load_json(path)
    if not isinstance(data, list):
        raise InstillError(f"{path}: expected a JSON array of records, got {json_type(data)}")
    if not data:
        raise InstillError(f"{path}: no records (the array is empty)")
    for index, obj in enumerate(data):
        if not isinstance(obj, dict):
            raise InstillError(f"{where(path, None, f'record {index}')}: expected a JSON object, got {json_type(obj)}")
        yield index, obj
