"""The four Flan 2022 formats (zero-/few-shot x with/without chain of thought), Tk-Instruct, and option rendering.

One function, `render`, turns (task, instance, template, format) into a prompt and a target. Everything that a
format adds around a template lives here: the option block and the target that follows its style, few-shot
exemplars with the Flan 2022 separators and a length budget that drops exemplars rather than cut the question,
chain-of-thought triggers and targets that end in a parseable answer.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from instill.errors import InstillError
from instill.records import Conversation, Message

if TYPE_CHECKING:  # instill.tasks loads the bundled cards; this module only needs the names
    from instill.tasks.task import Instance, Task
    from instill.tasks.template import Template

# The one list of prompt formats: the recipe's `mixture.formats` keys and `eval_format`, and `instill eval --format`,
# are derived from it.
PROMPT_FORMATS: tuple[str, ...] = ("zero_shot", "few_shot", "zero_shot_cot", "few_shot_cot", "tk_instruct")
COT_FORMATS = frozenset({"zero_shot_cot", "few_shot_cot"})

# Flan 2022: each exemplar is `prompt + "\n\n" + target + "\n\n\n"`, then the question.
EXEMPLAR_SEP = "\n\n"
EXAMPLE_SEP = "\n\n\n"

COT_TRIGGERS = (
    "Let's think step by step.",
    "Think step by step, then give the answer.",
    "Answer by reasoning step-by-step.",
    "Explain your reasoning, then answer.",
    "Work it out step by step before answering.",
)
COT_ANSWER = "Therefore, the answer is"


@dataclass(frozen=True)
class OptionStyle:
    """How an option list is shown, and what the target looks like under it ("(B) no" under letters)."""

    name: str
    header: str
    marker: Callable[[int], str]
    target_has_marker: bool = False

    def render(self, options: list[str]) -> tuple[str, list[str]]:
        """(the option block, the target text of each option)."""
        lines = [self.marker(i) + opt for i, opt in enumerate(options)]
        targets = lines if self.target_has_marker else list(options)
        return self.header + "\n" + "\n".join(lines), targets


def _dash(i: int) -> str:
    return "- "


def _letter(i: int) -> str:
    return f"({chr(ord('A') + i)}) "


def _number(i: int) -> str:
    return f"{i + 1}. "


# FLAN's own rendering first (`OPTIONS:\n- a\n- b`); the rest vary header and markers as Flan 2022 does.
OPTION_STYLES: dict[str, OptionStyle] = {s.name: s for s in (
    OptionStyle("flan", "OPTIONS:", _dash),
    OptionStyle("options", "Options:", _dash),
    OptionStyle("choose", "Choose your answer from:", _dash),
    OptionStyle("possible", "Possible answers:", _dash),
    OptionStyle("letters", "Options:", _letter, target_has_marker=True),
    OptionStyle("letters_pick", "Pick one:", _letter, target_has_marker=True),
    OptionStyle("numbers", "Choose from:", _number, target_has_marker=True),
)}


def render_options(options: list[str], style: str = "flan") -> tuple[str, list[str]]:
    """The option block and each option's target in that style.

    >>> render_options(["yes", "no"])
    ('OPTIONS:\\n- yes\\n- no', ['yes', 'no'])
    >>> render_options(["yes", "no"], "letters")[1]
    ['(A) yes', '(B) no']
    """
    if style not in OPTION_STYLES:
        raise InstillError(f"unknown option style '{style}' (known: {', '.join(OPTION_STYLES)})")
    return OPTION_STYLES[style].render(options)


def cot_target(chain_of_thought: str, answer: str) -> str:
    """Flan 2022's CoT target: the reasoning, then a final line a parser can find.

    >>> cot_target("2 and 3 make 5.", "5")
    '2 and 3 make 5.\\nTherefore, the answer is 5.'
    """
    answer = answer.strip()
    return f"{chain_of_thought.strip()}\n{COT_ANSWER} {answer}{'' if answer.endswith('.') else '.'}"


def parse_cot_answer(text: str) -> str | None:
    """The final answer of a chain of thought (after the last "the answer is"), or None when there is none.

    >>> parse_cot_answer("2 and 3 make 5.\\nTherefore, the answer is 5.")
    '5'
    >>> parse_cot_answer(cot_target("It is the capital.", "Washington, D.C."))
    'Washington, D.C'
    """
    matches = list(re.finditer(r"the answer is\s*:?\s*", text, flags=re.IGNORECASE))
    if not matches:
        return None
    answer = text[matches[-1].end():].strip().split("\n")[0].strip()
    if answer.endswith("."):
        answer = answer[:-1]
    return answer.strip() or None


@dataclass
class Rendered:
    """One instance in one format. `options` are the option targets shown (None without options) and `answer` the
    right one, so an evaluator can rank them; `meta` says where the example came from."""

    prompt: str
    target: str
    answer: str
    options: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_conversation(self, system_prompt: str = "", source: str | None = None) -> Conversation:
        msgs = [Message("system", system_prompt)] if system_prompt else []
        msgs += [Message("user", self.prompt), Message("assistant", self.target, loss=True)]
        return Conversation(messages=tuple(msgs), task=self.meta.get("task"), source=source, meta=dict(self.meta))


def _zero_shot(task: Task, instance: Instance, template: Template, style: str) -> tuple[str, str, str, list[str] | None]:
    """(prompt, target, answer, option targets) of the template alone."""
    options = None if template.inverted else task.options_for(instance)
    if options is None or not template.shows_options:
        prompt, target = template.render(instance, render_options(options, style)[0] if options else None)
        if options is not None and target not in options:
            raise InstillError(f"target {target!r} is not one of the options {options}")
        return prompt, target, target, (list(options) if options is not None else None)
    block, styled = render_options(options, style)
    prompt, target = template.render(instance, block)
    if target not in options:
        raise InstillError(f"target {target!r} is not one of the options {options}")
    answer = styled[options.index(target)]
    return prompt, answer, answer, styled


def _tk_field(text: str) -> str:
    """Tk-Instruct appends a period to a field that does not end in punctuation."""
    text = text.strip()
    return text if not text or text[-1] in string.punctuation else text + "."


def tk_instruct_prompt(definition: str, exemplars: list[tuple[str, str]], question: str) -> str:
    """Tk-Instruct's encoding: the definition, positive examples, then the instance.

    >>> print(tk_instruct_prompt("Add the numbers", [("1 2", "3")], "2 2"))  # doctest: +NORMALIZE_WHITESPACE
    Definition: Add the numbers.
    <BLANKLINE>
     Positive Example 1 -
    Input: 1 2.
     Output: 3.
    <BLANKLINE>
    Now complete the following example -
    Input: 2 2.
    Output:
    """
    out = f"Definition: {_tk_field(definition)}\n\n"
    for i, (x, y) in enumerate(exemplars, 1):
        out += f" Positive Example {i} -\nInput: {_tk_field(x)}\n Output: {_tk_field(y)}\n\n"
    return out + f"Now complete the following example -\nInput: {_tk_field(question)}\nOutput: "


def render(
    task: Task,
    instance: Instance,
    template: Template,
    fmt: str = "zero_shot",
    rng: random.Random | None = None,
    *,
    shots: int,
    max_chars: int,
    style: str | None = None,
    exemplar_pool: list[Instance] | None = None,
) -> Rendered:
    """Render one instance. Few-shot exemplars come from `exemplar_pool` (default: the task's fixed exemplars,
    else its train split), never the asked instance, all in the same template and option style; exemplars are
    dropped from the end until the prompt fits `max_chars` (the question itself is never cut). `style=None` picks
    an option style at random (training); evaluation passes a fixed one."""
    rng = rng or random.Random(0)
    if fmt not in PROMPT_FORMATS:
        raise InstillError(f"unknown format '{fmt}' (known: {', '.join(PROMPT_FORMATS)})")
    if fmt in COT_FORMATS and not task.has_cot:
        raise InstillError(f"task '{task.name}' has no chain of thought (cot_field), so no '{fmt}' format")
    if fmt in COT_FORMATS and template.inverted:  # the reasoning explains the forward answer, not the inverted one
        raise InstillError(f"template {template.name} is inverted; chain-of-thought formats need a forward template")
    if style is None:
        style = rng.choice(list(OPTION_STYLES))
    meta = {"task": task.name, "cluster": task.cluster, "template": template.name, "format": fmt,
            "inverted": template.inverted}
    if task.has_options and not template.inverted and template.shows_options:
        meta["option_style"] = style

    if fmt == "tk_instruct":
        if not task.definition:
            raise InstillError(f"task '{task.name}' has no definition, so no 'tk_instruct' format")
        pool = [e for e in (exemplar_pool if exemplar_pool is not None else task.exemplars) if e != instance]
        x, y = str(instance["input"]), task.answer(instance) or ""
        chosen = [(str(e["input"]), str(e[task.answer_field])) for e in pool[:shots]]
        while chosen and len(tk_instruct_prompt(task.definition, chosen, x)) > max_chars:
            chosen.pop()
        meta["shots"] = len(chosen)
        return Rendered(tk_instruct_prompt(task.definition, chosen, x), y, y, None, meta)

    prompt, target, answer, options = _zero_shot(task, instance, template, style)
    cot = fmt in COT_FORMATS
    if cot:
        trigger = rng.choice(COT_TRIGGERS)
        prompt = f"{prompt}\n\n{trigger}"
        target = cot_target(str(instance[task.cot_field]), answer)

    shots_used = 0
    if fmt.startswith("few_shot"):
        pool = exemplar_pool if exemplar_pool is not None else (task.exemplars or task.split("train"))
        pool = [e for e in pool if e != instance]
        picked = rng.sample(pool, min(shots, len(pool)))
        blocks = []
        for ex in picked:
            ex_prompt, ex_target, ex_answer, _ = _zero_shot(task, ex, template, style)
            if cot:
                ex_prompt = f"{ex_prompt}\n\n{trigger}"
                ex_target = cot_target(str(ex[task.cot_field]), ex_answer)
            blocks.append(ex_prompt + EXEMPLAR_SEP + ex_target + EXAMPLE_SEP)
        while blocks and len("".join(blocks)) + len(prompt) > max_chars:
            blocks.pop()
        shots_used = len(blocks)
        prompt = "".join(blocks) + prompt
    meta["shots"] = shots_used
    return Rendered(prompt, target, answer, options, meta)
