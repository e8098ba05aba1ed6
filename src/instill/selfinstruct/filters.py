"""Self-Instruct's filters as pure functions: each returns why a thing is rejected, or None to keep it.

Instructions (paper step 3): length in words, blacklisted words, bad starts. Instances (step 7): input equal to
output, empty output, a trailing colon; conflicting outputs for one input drop the whole task; exact duplicates go.
"""

from __future__ import annotations

import re
import string
from typing import Sequence

IOPair = tuple[str, str]  # (input, output) of a generated task instance


def collapse_whitespace(text: str) -> str:
    """Runs of white space (newlines included) become one space.

    >>> collapse_whitespace("  Name three\\n  colours.  ")
    'Name three colours.'
    """
    return re.sub(r"\s+", " ", text).strip()


def blacklist_pattern(words: Sequence[str]) -> re.Pattern[str]:
    """One regex matching any blacklisted word or phrase as whole words, case-insensitive."""
    if not words:
        return re.compile(r"(?!x)x")  # matches nothing
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


def instruction_rejection(text: str, *, min_words: int, max_words: int, blacklist: re.Pattern[str],
                          bad_starts: Sequence[str]) -> str | None:
    """Why an instruction (white space already collapsed) is dropped, or None.

    Reasons: "too_short" (<= min_words words), "too_long" (> max_words), "blacklist", "bad_start" (a listed
    prefix), "punctuation_start", "non_ascii_start".

    >>> kw = dict(min_words=3, max_words=150, blacklist=blacklist_pattern(["image", "go to"]), bad_starts=["Write a program"])
    >>> [instruction_rejection(t, **kw) for t in ["Name a colour.", "Describe this Image in detail.", "Write a program that sorts numbers.", "- List three fruits please.", "Éxplain the rules of chess.", "Explain the rules of chess."]]
    ['too_short', 'blacklist', 'bad_start', 'punctuation_start', 'non_ascii_start', None]
    """
    words = len(text.split())
    if words <= min_words:
        return "too_short"
    if words > max_words:
        return "too_long"
    if blacklist.search(text):
        return "blacklist"
    if any(text.startswith(s) for s in bad_starts):
        return "bad_start"
    if text[0] in string.punctuation:
        return "punctuation_start"
    if not text[0].isascii():
        return "non_ascii_start"
    return None


def instance_rejection(inp: str, out: str) -> str | None:
    """Why one (input, output) instance is dropped, or None. A trailing colon on either side means the model
    stopped before writing the content.

    >>> [instance_rejection(*x) for x in [("2 + 2", "4"), ("same", "same"), ("x", ""), ("List:", "a, b")]]
    [None, 'input_equals_output', 'empty_output', 'ends_with_colon']
    """
    inp, out = inp.strip(), out.strip()
    if inp == out:
        return "input_equals_output"
    if not out:
        return "empty_output"
    if inp.endswith(":") or out.endswith(":"):
        return "ends_with_colon"
    return None


def filter_instances(instances: Sequence[IOPair], max_instances: int) -> tuple[list[IOPair], dict[str, int], str | None]:
    """Clean a task's instances: drop invalid ones, then drop the whole task when one input has two different
    outputs, remove exact duplicates, keep the first `max_instances`.

    Returns (kept, counts of dropped instances by reason, why the task is dropped or None).

    >>> filter_instances([("a", "1"), ("a", "1"), ("b", "b"), ("c", "3")], 5)
    ([('a', '1'), ('c', '3')], {'input_equals_output': 1, 'duplicate': 1}, None)
    >>> filter_instances([("a", "1"), ("a", "2")], 5)[2]
    'conflicting_outputs'
    """
    dropped: dict[str, int] = {}
    valid: list[IOPair] = []
    for inp, out in instances:
        reason = instance_rejection(inp, out)
        if reason:
            dropped[reason] = dropped.get(reason, 0) + 1
        else:
            valid.append((inp.strip(), out.strip()))
    outputs: dict[str, str] = {}
    for inp, out in valid:
        if outputs.setdefault(inp, out) != out:
            return [], dropped, "conflicting_outputs"
    unique = list(dict.fromkeys(valid))
    if len(unique) < len(valid):
        dropped["duplicate"] = len(valid) - len(unique)
    if not unique:
        return [], dropped, "no_valid_instances"
    return unique[:max_instances], dropped, None
