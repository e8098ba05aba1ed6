"""One exception type for mistakes a user can fix (bad file, bad recipe, missing model).

The CLI prints these as a single line and exits non-zero; anything else is a bug and keeps its traceback.
"""


class InstillError(Exception):
    """A user-facing error: the message alone must say what is wrong and where."""


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
