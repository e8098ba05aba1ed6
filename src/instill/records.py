"""The data types every stage shares: Example, Message, Conversation.

Every source of supervision ends as a Conversation; the trainer and the evaluator only know conversations.
Records validate on construction, so a bad record fails where it was read, not deep inside training.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from instill.errors import InstillError

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Example:
    """One instruction record: an instruction, an optional input, the expected output.

    >>> Example(instruction="Add 2 and 3.", output="5").input
    ''
    """

    instruction: str
    output: str
    input: str = ""
    task: str | None = None
    cluster: str | None = None
    source: str | None = field(default=None, compare=False)  # "file:line", carried to the Conversation for errors
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("instruction", "output", "input"):
            if not isinstance(getattr(self, name), str):
                raise InstillError(f"field '{name}' must be a string, got {type(getattr(self, name)).__name__}")
        if not self.instruction.strip():
            raise InstillError("field 'instruction' is empty")
        if not self.output.strip():
            raise InstillError("field 'output' is empty (an example needs a response to learn from)")


@dataclass(frozen=True)
class Message:
    """One turn of a chat. `loss` says whether an assistant turn is trained on (never true for other roles)."""

    role: str
    content: str
    loss: bool = False

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InstillError(f"unknown role '{self.role}' (expected one of {', '.join(ROLES)})")
        if not isinstance(self.content, str):
            raise InstillError(f"message content must be a string, got {type(self.content).__name__}")
        if self.loss and self.role != "assistant":
            raise InstillError(f"only assistant turns can carry loss, not a '{self.role}' turn")


@dataclass(frozen=True)
class Conversation:
    """A chat whose assistant turns marked `loss=True` are the training targets.

    Rules: at least one assistant turn with loss; loss-bearing turns are not empty; a system turn may only come
    first; the conversation ends with an assistant turn (a trailing user turn would teach nothing).
    """

    messages: tuple[Message, ...]
    task: str | None = None
    source: str | None = None  # "file:line", for error messages downstream
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        msgs = self.messages
        if not msgs:
            raise InstillError("conversation has no messages")
        for i, m in enumerate(msgs):
            if m.role == "system" and i != 0:
                raise InstillError(f"message {i}: a system message may only come first")
            if m.loss and not m.content.strip():
                raise InstillError(f"message {i}: assistant response is empty")
            if i > 0 and m.role == msgs[i - 1].role:
                raise InstillError(f"messages {i - 1} and {i}: two '{m.role}' turns in a row")
        if msgs[-1].role != "assistant":
            raise InstillError(f"conversation ends with a '{msgs[-1].role}' turn; it must end with the assistant")
        if not any(m.loss for m in msgs):
            raise InstillError("conversation has no assistant turn that carries loss")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"messages": [{"role": m.role, "content": m.content, "loss": m.loss} for m in self.messages]}
        if self.task is not None:
            out["task"] = self.task
        if self.meta:
            out["meta"] = self.meta
        return out

    def chat(self) -> list[dict[str, str]]:
        """The messages as chat-template input (`[{role, content}]`)."""
        return [{"role": m.role, "content": m.content} for m in self.messages]


def chat_to_conversation(
    messages: Iterable[dict[str, Any]], train_on: str = "all", **kwargs: Any
) -> Conversation:
    """Build a Conversation from `{role, content[, loss]}` dicts.

    `train_on="all"` puts loss on every assistant turn, `"last"` only on the final one. An explicit `loss` key on a
    message wins over both.

    >>> c = chat_to_conversation([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])
    >>> [m.loss for m in c.messages]
    [False, True]
    """
    if train_on not in ("all", "last"):
        raise InstillError(f"train_on must be 'all' or 'last', got '{train_on}'")
    raw = list(messages)
    last_assistant = max((i for i, m in enumerate(raw) if m.get("role") == "assistant"), default=-1)
    built = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise InstillError(f"message {i}: needs 'role' and 'content'")
        is_assistant = m["role"] == "assistant"
        loss = m.get("loss", is_assistant and (train_on == "all" or i == last_assistant))
        if not isinstance(loss, bool):  # "false" must not count as true
            raise InstillError(f"message {i}: 'loss' must be true or false, got {loss!r}")
        built.append(Message(role=m["role"], content=m["content"], loss=loss))
    return Conversation(messages=tuple(built), **kwargs)


def example_to_conversation(example: Example, system_prompt: str = "") -> Conversation:
    """A single-turn Example becomes user (instruction, blank line, input) and assistant (output).

    >>> c = example_to_conversation(Example(instruction="Reverse the words.", input="a b", output="b a"))
    >>> [(m.role, m.content) for m in c.messages]
    [('user', 'Reverse the words.\\n\\na b'), ('assistant', 'b a')]
    """
    user = example.instruction if not example.input.strip() else f"{example.instruction}\n\n{example.input}"
    msgs = [Message("system", system_prompt)] if system_prompt else []
    msgs += [Message("user", user), Message("assistant", example.output, loss=True)]
    meta = dict(example.meta)
    if example.cluster is not None:
        meta["cluster"] = example.cluster
    return Conversation(messages=tuple(msgs), task=example.task, source=example.source, meta=meta)


def to_conversations(
    records: Iterable[Example | Conversation], system_prompt: str = ""
) -> Iterator[Conversation]:
    """Turn any mix of records into conversations; a system prompt is added where a record has none."""
    for rec in records:
        if isinstance(rec, Example):
            yield example_to_conversation(rec, system_prompt)
        elif system_prompt and rec.messages[0].role != "system":
            yield Conversation((Message("system", system_prompt), *rec.messages), rec.task, rec.source, rec.meta)
        else:
            yield rec


def write_conversations_jsonl(conversations: Iterable[Conversation], path: str) -> int:
    """Write Conversation JSONL (instill's interchange format); returns the count written."""
    n = 0
    tmp = f"{path}.tmp"  # renamed when whole: a kill leaves the old file or the new one
    with open(tmp, "w", encoding="utf-8") as f:
        for conv in conversations:
            f.write(json.dumps(conv.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n
