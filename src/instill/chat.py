"""A multi-turn terminal chat: keeps the history, streams the reply, /reset and /exit."""

from __future__ import annotations

from typing import Callable, TextIO

from instill.inference.chat_model import ChatModel
from instill.inference.sampling import SamplingParams

HELP = "Type a message. /reset clears the history, /exit (or Ctrl-D) quits."

# answers a history, handing the reply's text to the callback piece by piece as it comes
Reply = Callable[[list[dict[str, str]], Callable[[str], None]], object]


def local_reply(cm: ChatModel, params: SamplingParams) -> Reply:
    """Replies of a model loaded here, through the engine every door uses."""
    from instill.inference.engine import generate

    return lambda history, on_text: generate(cm, cm.chat_ids(history), params, on_text)


def chat_loop(reply: Reply, system_prompt: str = "", read: Callable[[str], str] = input,
              out: TextIO | None = None) -> list[dict[str, str]]:
    """Run the chat until /exit or end of input; returns the final history (for tests).

    `reply` answers a history: `local_reply` for a model loaded here, or a server's streamed replies
    (`instill chat --base-url`).
    """
    import sys

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
        pieces: list[str] = []

        def show(piece: str) -> None:
            pieces.append(piece)
            print(piece, end="", file=out, flush=True)

        try:
            reply(history, show)
        except KeyboardInterrupt:  # stop this reply, keep the chat; the unanswered turn is dropped
            print("\n(interrupted)", file=out, flush=True)
            history.pop()
            continue
        print(file=out, flush=True)
        history.append({"role": "assistant", "content": "".join(pieces).strip()})
