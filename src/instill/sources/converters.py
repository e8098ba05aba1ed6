"""Row converters: one outside record (a dict) to an Example or Conversation, named after the source format.

The same converter serves a local file and a hub dataset, so both fail the same way. Converters raise InstillError
without a location; the loader prefixes the file and line, since only it knows them.
"""

from __future__ import annotations

from typing import Any, Callable

from instill.errors import InstillError
from instill.records import ROLES, Conversation, Example, chat_to_conversation
from instill.sources._io import json_type

# ShareGPT dumps name speakers after the model that answered; all of them are the assistant.
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "system": "system",
}


def _field(row: dict[str, Any], key: str, kind: type = str, required: bool = True, what: str = "field") -> Any:
    """`row[key]` checked for type; an optional field that is absent or null gives None."""
    if key not in row or (row[key] is None and not required):
        if required:
            raise InstillError(f"missing {what} '{key}'")
        return None
    value = row[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise InstillError(f"{what} '{key}' must be a{'n' if kind in (list, dict) else ''} "
                           f"{json_type(kind())}, got {json_type(value)}")
    return value


def alpaca(row: dict[str, Any], train_on: str = "all", source: str | None = None) -> Example:
    """`{instruction, input?, output, task?, cluster?}`; other keys are ignored.

    >>> alpaca({"instruction": "Add.", "input": "2 3", "output": "5", "id": 7}, source="a.jsonl:3")
    Example(instruction='Add.', output='5', input='2 3', task=None, cluster=None, source='a.jsonl:3', meta={})
    """
    return Example(
        instruction=_field(row, "instruction"),
        input=_field(row, "input", required=False) or "",
        output=_field(row, "output"),
        task=_field(row, "task", required=False),
        cluster=_field(row, "cluster", required=False),
        source=source,
    )


def dolly(row: dict[str, Any], train_on: str = "all", source: str | None = None) -> Example:
    """databricks-dolly-15k `{instruction, context, response, category}`: the category is the task cluster."""
    return Example(
        instruction=_field(row, "instruction"),
        input=_field(row, "context", required=False) or "",
        output=_field(row, "response"),
        task="dolly",
        cluster=_field(row, "category", required=False),
        source=source,
    )


def sharegpt(row: dict[str, Any], train_on: str = "all", source: str | None = None) -> Conversation:
    """`{conversations: [{from, value}]}` with speaker names mapped to roles.

    >>> c = sharegpt({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]})
    >>> [(m.role, m.loss) for m in c.messages]
    [('user', False), ('assistant', True)]
    """
    turns = _field(row, "conversations", list)
    msgs = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise InstillError(f"conversations[{i}]: expected an object, got {json_type(turn)}")
        try:
            speaker = _field(turn, "from")
            value = _field(turn, "value")
        except InstillError as e:
            raise InstillError(f"conversations[{i}]: {e}") from e
        role = SHAREGPT_ROLES.get(speaker.strip().lower())
        if role is None:
            raise InstillError(f"conversations[{i}]: unknown speaker {speaker!r} in 'from' "
                               f"(expected one of {', '.join(SHAREGPT_ROLES)})")
        msgs.append({"role": role, "content": value})
    return chat_to_conversation(msgs, train_on=train_on, source=source)


def _content(message: dict[str, Any]) -> str:
    """A message's text: a string, or OpenAI content parts whose text parts are joined (as the API reads them);
    a part of another type (an image, audio) has no text to train on and is refused.

    >>> _content({"content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}]})
    'Hello\\nthere'
    """
    if not isinstance(message.get("content"), list):
        return _field(message, "content")
    texts = []
    for j, part in enumerate(message["content"]):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind != "text" or not isinstance(part.get("text"), str):
            raise InstillError(f"content[{j}]: only text parts can be trained on (got "
                               f"{repr(kind) if kind else json_type(part)})")
        texts.append(part["text"])
    return "\n".join(texts)


def openai(row: dict[str, Any], train_on: str = "all", source: str | None = None) -> Conversation:
    """`{messages: [{role, content, loss?}], task?, meta?}`, also instill's own Conversation JSONL.

    A per-message `loss` must be a real boolean: the string "false" would otherwise count as true.
    """
    messages = _field(row, "messages", list)
    msgs = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise InstillError(f"messages[{i}]: expected an object, got {json_type(m)}")
        try:
            msg = {"role": _field(m, "role"), "content": _content(m)}
            loss = _field(m, "loss", bool, required=False)
        except InstillError as e:
            raise InstillError(f"messages[{i}]: {e}") from e
        if msg["role"] not in ROLES:
            raise InstillError(f"messages[{i}]: unknown role {msg['role']!r} (expected one of {', '.join(ROLES)})")
        if loss is not None:
            msg["loss"] = loss
        msgs.append(msg)
    task = _field(row, "task", required=False)
    meta = _field(row, "meta", dict, required=False) or {}
    return chat_to_conversation(msgs, train_on=train_on, task=task, source=source, meta=dict(meta))
