"""Alpaca's variant: 3 seed tasks (never machine-made ones) shown whole, one completion writes the remaining tasks
of a list of 20 (instruction, input or `<noinput>`, output), separated by `###`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Sequence

from instill.selfinstruct.filters import collapse_whitespace
from instill.selfinstruct.prompts import render

if TYPE_CHECKING:
    from instill.selfinstruct.config import SelfInstructConfig
    from instill.selfinstruct.seeds import SeedTask

NO_INPUT = "<noinput>"
_FIELD = re.compile(r"^\s*\d+\s*\.\s*(Instruction|Input|Output)\s*:", re.MULTILINE | re.IGNORECASE)


def format_task(i: int, instruction: str, inp: str, out: str) -> str:
    """One numbered task block.

    >>> print(format_task(1, "Add the numbers.", "2, 3", "5"))
    ###
    1. Instruction: Add the numbers.
    1. Input:
    2, 3
    1. Output:
    5
    """
    return f"###\n{i}. Instruction: {instruction}\n{i}. Input:\n{inp or NO_INPUT}\n{i}. Output:\n{out}"


def prompt(seeds: Sequence["SeedTask"], cfg: "SelfInstructConfig") -> str:
    """The Alpaca prompt: requirements, the seed tasks numbered from 1, and the next number's `Instruction:`."""
    blocks = [format_task(i, " ".join(s.instruction.split()), *s.instances[0]) for i, s in enumerate(seeds, 1)]
    blocks.append(f"###\n{len(seeds) + 1}. Instruction:")
    return render(cfg.prompts.alpaca, num_tasks=str(cfg.alpaca.tasks_per_call), tasks="\n".join(blocks))


def parse(response: str, first_number: int, cut: bool) -> list[dict[str, Any]]:
    """Tasks from a completion that starts right after `{first_number}. Instruction:`. A task missing a field is
    dropped; when the reply was cut by max_tokens its last task is dropped (it may be unfinished).

    >>> parse(" Add the numbers.\\n4. Input:\\n2, 3\\n4. Output:\\n5\\n###\\n5. Instruction: Name a colour.\\n5. Input:\\n<noinput>\\n5. Output:\\nRed", 4, False)
    [{'instruction': 'Add the numbers.', 'input': '2, 3', 'output': '5'}, {'instruction': 'Name a colour.', 'input': '', 'output': 'Red'}]
    """
    text = f"{first_number}. Instruction:{response}"
    tasks = []
    for block in text.split("###"):
        marks = list(_FIELD.finditer(block))
        fields = {m.group(1).lower(): block[m.end() : n.start() if n else len(block)].strip()
                  for m, n in zip(marks, [*marks[1:], None])}
        if len(fields) == 3 and fields["instruction"] and fields["output"]:
            inp = fields["input"]
            tasks.append({"instruction": collapse_whitespace(fields["instruction"]),
                          "input": "" if inp.strip().lower() == NO_INPUT else inp, "output": fields["output"]})
        else:
            tasks.append(None)
    if cut and tasks:
        tasks = tasks[:-1]
    return [t for t in tasks if t is not None]
