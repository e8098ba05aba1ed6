"""Reading and writing the text files stages share: UTF-8 or one clear error; results written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

from instill.errors import InstillError


def read_utf8(path: object, what: str = "file") -> str:
    """A text file's contents; a file that is not UTF-8 is one error naming the file and the byte offset."""
    data = Path(str(path)).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InstillError(f"{path}:{line}: this {what} is not UTF-8 text (byte {e.start}: "
                           f"{data[e.start:e.start + 1]!r}); save it as UTF-8") from None


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a result file so that a kill at any moment leaves the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
