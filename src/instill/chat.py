"""A multi-turn terminal chat: keeps the history, streams the reply, /reset and /exit."""

from __future__ import annotations

from typing import Callable, Iterator, TextIO

from instill.generate import ChatModel, GenerationParams, stream

HELP = "Type a message. /reset clears the history, /exit (or Ctrl-D) quits."


def chat_loop(
    cm: ChatModel | None, params: GenerationParams, system_prompt: str = "",
    read: Callable[[str], str] = input, out: TextIO | None = None,
    reply: Callable[[list[dict[str, str]]], Iterator[str]] | None = None,
) -> list[dict[str, str]]:
    """Run the chat until /exit or end of input; returns the final history (for tests).

    `reply` answers a history piece by piece; by default the local model `cm` does (`instill chat --base-url`
    passes a server's streamed replies instead, and `cm` is then unused).
    """
    import sys

    answer = reply or (lambda history: stream(cm, history, params))
    out = out or sys.stdout
    base = [{"role": "system", "content": system_prompt}] if system_prompt else []
    history = list(base)
    print(HELP, file=out, flush=True)
    while True:
        try:
            line = read("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print(file=out)
            return history
        if not line:
            continue
        if line == "/exit":
            return history
        if line == "/reset":
            history = list(base)
            print("(history cleared)", file=out, flush=True)
            continue
        history.append({"role": "user", "content": line})
        print("bot> ", end="", file=out, flush=True)
        reply = ""
        try:
            for piece in answer(history):
                reply += piece
                print(piece, end="", file=out, flush=True)
        except KeyboardInterrupt:  # stop this reply, keep the chat; the unanswered turn is dropped
            print("\n(interrupted)", file=out, flush=True)
            history.pop()
            continue
        print(file=out, flush=True)
        history.append({"role": "assistant", "content": reply.strip()})
