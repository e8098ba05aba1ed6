"""Parsers for model responses in the formats the prompts ask for. Lenient about spacing, strict about shape:
what does not parse is dropped (and counted), never guessed into something else."""

from __future__ import annotations

import re

from instill.selfinstruct.filters import IOPair, collapse_whitespace

_ITEM = re.compile(r"^\s*(\d+)\s*[.)]\s?", re.MULTILINE)


def parse_instructions(response: str, first_number: int) -> list[str]:
    """The numbered instructions in a completion of `... {first_number-1}. X\\n{first_number}.` (a completion model
    continues after the number; a chat model usually repeats it). White space is collapsed; empty items dropped.

    >>> parse_instructions(" Name three birds.\\n10. Sort the list:\\n   3, 1, 2\\n11.", 9)
    ['Name three birds.', 'Sort the list: 3, 1, 2']
    >>> parse_instructions("9. Name three birds.\\n10) Add two numbers.", 9)
    ['Name three birds.', 'Add two numbers.']
    """
    text = response if _ITEM.match(response) else f"{first_number}. {response}"
    starts = list(_ITEM.finditer(text))
    items = [text[a.end() : b.start() if b else len(text)] for a, b in zip(starts, [*starts[1:], None])]
    return [t for t in (collapse_whitespace(i) for i in items) if t]


_EXAMPLE = re.compile(r"^\s*Example\s*\d+\s*:?\s*$", re.MULTILINE | re.IGNORECASE)
_FIELD = re.compile(r"^\s*(Input|Output)\s*:", re.MULTILINE | re.IGNORECASE)
_LABEL = re.compile(r"^\s*Class label\s*:", re.MULTILINE | re.IGNORECASE)


def _fields(chunk: str) -> dict[str, str]:
    """`Input: ...` / `Output: ...` sections of one chunk (multi-line values kept, outer space stripped)."""
    marks = list(_FIELD.finditer(chunk))
    return {a.group(1).lower(): chunk[a.end() : b.start() if b else len(chunk)].strip()
            for a, b in zip(marks, [*marks[1:], None])}


def parse_input_first(response: str) -> list[IOPair]:
    """Instances written as `Example N` blocks of `Input: ...` then `Output: ...` (`Input` may be absent for a
    task that needs none). A block without `Output:` is dropped; a response with no blocks and no fields is one
    output with empty input.

    >>> parse_input_first("Example 1\\nInput: 2, 3\\nOutput: 5\\n\\nExample 2\\nOutput: 7\\nExample 3\\nInput: 1")
    [('2, 3', '5'), ('', '7')]
    >>> parse_input_first("The capital is Paris.")
    [('', 'The capital is Paris.')]
    """
    chunks = _EXAMPLE.split(response)
    if len(chunks) == 1 and not _FIELD.search(response):
        return [("", response.strip())] if response.strip() else []
    out = []
    for chunk in chunks:
        f = _fields(chunk)
        if "output" in f:
            out.append((f.get("input", ""), f["output"]))
    return out


def parse_output_first(response: str) -> list[IOPair]:
    """Instances written as `Class label: L` then `Input: ...` (absent when the task takes no input). Returns
    (input, label) pairs.

    >>> parse_output_first("Class label: Positive\\nInput: I loved it.\\n\\nClass label: Negative\\nInput: Awful.\\nClass label:")
    [('I loved it.', 'Positive'), ('Awful.', 'Negative')]
    """
    chunks = _LABEL.split(response)[1:]
    out = []
    for chunk in chunks:
        head, _, rest = chunk.strip().partition("\n")
        label = head.strip()
        if label:
            out.append((_fields(rest).get("input", ""), label))
    return out
