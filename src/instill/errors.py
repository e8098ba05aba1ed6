"""One exception type for mistakes a user can fix (bad file, bad recipe, missing model).

The CLI prints these as a single line and exits non-zero; anything else is a bug and keeps its traceback.
"""


class InstillError(Exception):
    """A user-facing error: the message alone must say what is wrong and where."""


def read_utf8(path: object, what: str = "file") -> str:
    """A text file's contents; a file that is not UTF-8 is one error naming the file and the byte offset."""
    from pathlib import Path

    data = Path(str(path)).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InstillError(f"{path}:{line}: this {what} is not UTF-8 text (byte {e.start}: "
                           f"{data[e.start:e.start + 1]!r}); save it as UTF-8") from None


def where(path: object, line: int | None = None, field: str | None = None) -> str:
    """Format a location as `file:line: field` for error messages.

    >>> where("data.jsonl", 3, "output")
    'data.jsonl:3: output'
    """
    out = str(path)
    if line is not None:
        out += f":{line}"
    if field is not None:
        out += f": {field}"
    return out
