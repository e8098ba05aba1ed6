"""The one generation engine: many sequences in one `model.generate` call, left-padded, each with its own token
limit, stop texts, penalties and streaming callback.

`instill generate`, `chat`, evaluation by generation, the local backend and `instill serve` all generate here, so
the same prompt with the same `SamplingParams` gives the same text through every door. Each row keeps its own state
(tokens so far, text released so far, why it ended), fed one token per step by a stopping criterion. So a row ends
as soon as its own stop text, end of turn or token limit is reached while the others go on, and a streaming caller
receives text as it is made, never text that later turns out to be the start of a stop text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from instill.errors import InstillError
from instill.inference.chat_model import ChatModel
from instill.inference.sampling import FinishReason, SamplingParams


@dataclass
class Row:
    """One sequence to generate: its prompt ids and how to sample it (`params.n` is the caller's business: one row
    is one sequence)."""

    prompt: list[int]
    params: SamplingParams
    on_text: Callable[[str], None] | None = None  # streaming: called with each new piece of text, in order
    cancelled: Callable[[], bool] | None = None  # polled every step; a cancelled row stops generating


@dataclass(frozen=True)
class Generated:
    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


class RowText:
    """One row's tokens -> text. Ends on a stop token, a stop text or the token limit; releases (via `on_text`)
    only text that can no longer turn into a stop text or change as more bytes of a character arrive.

    Decoding is incremental, as in vLLM: each step decodes the few newest tokens with a couple of earlier ones as
    context (so a tokenizer that drops a word's leading space at the start of a text keeps it) and appends the
    difference, instead of decoding the whole row again (quadratic in its length).
    """

    def __init__(self, tokenizer: Any, row: Row, stop_ids: set[int], stops: tuple[str, ...]) -> None:
        self.tokenizer, self.row, self.stop_ids, self.stops = tokenizer, row, stop_ids, stops
        self.hold = max((len(s) for s in stops), default=1) - 1  # a stop text may begin in the last `hold` chars
        self.ids: list[int] = []
        self.prefix = self.read = 0  # ids[prefix:read] is context already in `text`; ids[read:] is not yet
        self.text = ""
        self.released = 0  # characters of `text` handed to on_text
        self.finish: FinishReason | None = None
        self.n_tokens = 0  # generated tokens, the stop token included

    def _decode(self, ids: list[int]) -> str:
        # no clean-up of spaces: text released earlier must stay a prefix of the text that follows
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def _catch_up(self, final: bool) -> None:
        """Append the text of ids[read:], unless it ends in half a character (more bytes may come) and more may."""
        before = self._decode(self.ids[self.prefix : self.read])
        after = self._decode(self.ids[self.prefix :])
        if len(after) > len(before) and (final or not after.endswith("\ufffd")):
            self.text += after[len(before) :]
            self.prefix, self.read = self.read, len(self.ids)

    def push(self, token: int) -> None:
        if self.finish is not None:
            return
        self.n_tokens += 1
        if token in self.stop_ids:
            return self._end("stop")
        self.ids.append(token)
        start = max(0, len(self.text) - self.hold)  # a new stop text ends in the new text
        self._catch_up(final=False)
        cuts = [i for i in (self.text.find(s, start) for s in self.stops) if i >= 0]
        if cuts:
            self.text = self.text[: min(cuts)]
            self.finish = "stop"
            return self._release(len(self.text))
        if len(self.ids) >= self.row.params.max_tokens:
            return self._end("length")
        self._release(len(self.text) - self.hold)

    def _end(self, reason: FinishReason) -> None:
        self._catch_up(final=True)  # bytes of a character the limit cut off
        self.finish = reason
        self._release(len(self.text))

    def _release(self, upto: int) -> None:
        if upto > self.released and self.row.on_text is not None:
            self.row.on_text(self.text[self.released : upto])
        self.released = max(self.released, upto)

    def result(self) -> Generated:
        if self.finish is None:  # generate ended first (cancelled): whatever there is
            self._end("length")
        return Generated(self.text, self.finish, len(self.row.prompt), self.n_tokens)


class _Feed(StoppingCriteria):
    """Hands each step's new token to its row and tells generate which rows are done."""

    def __init__(self, states: list[RowText]) -> None:
        self.states = states

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        done = []
        for state, token in zip(self.states, input_ids[:, -1].tolist()):
            state.push(token)
            if state.finish is None and state.row.cancelled is not None and state.row.cancelled():
                state.finish = "length"  # nobody waits for it; its result is dropped
            done.append(state.finish is not None)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class _Penalties(LogitsProcessor):
    """OpenAI's presence and frequency penalties, per row, on the tokens generated so far (not the prompt)."""

    def __init__(self, presence: list[float], frequency: list[float], device: torch.device) -> None:
        self.presence = torch.tensor(presence, device=device)[:, None]  # (B, 1)
        self.frequency = torch.tensor(frequency, device=device)[:, None]  # (B, 1)
        self.start: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.start is None:  # first call: nothing generated yet
            self.start = input_ids.shape[1]
        new = input_ids[:, self.start :]  # (B, t)
        counts = torch.zeros_like(scores).scatter_add_(1, new, torch.ones_like(new, dtype=scores.dtype))  # (B, V)
        return scores - self.frequency * counts - self.presence * (counts > 0).to(scores.dtype)


def _left_pad(prompts: Sequence[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) ids and attention mask, padded on the left so every row's next token sits at the same position.

    >>> ids, mask = _left_pad([[5, 6, 7], [8]], 0, torch.device("cpu"))
    >>> ids.tolist(), mask.tolist()
    ([[5, 6, 7], [0, 0, 8]], [[1, 1, 1], [0, 0, 1]])
    """
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
        mask[i, width - len(p) :] = 1
    return ids.to(device), mask.to(device)


def _sampling_kwargs(p: SamplingParams) -> dict[str, Any]:
    """`model.generate`'s sampling arguments. Every one is given, so nothing comes from the model's saved generation
    config: top_k=0 is no top-k cut (OpenAI's meaning), whatever top_k the saved config (or transformers' default
    of 50) holds."""
    if p.temperature > 0:
        return {"do_sample": True, "temperature": p.temperature, "top_p": p.top_p, "top_k": 0}
    return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}


def generate_rows(cm: ChatModel, rows: Sequence[Row]) -> list[Generated]:
    """Generate every row in one batch; results in the order of `rows`. The rows must share their `batch_key`
    (greedy, or the same temperature, top_p and seed); a seed seeds torch once, before the call."""
    keys = {r.params.batch_key() for r in rows}
    if len(keys) != 1:
        raise ValueError(f"rows generated together must share temperature, top_p and seed: {sorted(map(str, keys))}")
    if any(not r.prompt for r in rows):
        raise InstillError("a prompt is empty: there is nothing to continue")
    tok, params = cm.tokenizer, rows[0].params
    stop_ids = set(cm.stop_ids())
    states = [RowText(tok, r, stop_ids, r.params.stop + cm.stop_texts()) for r in rows]
    ids, mask = _left_pad([r.prompt for r in rows], tok.pad_token_id, cm.model.device)
    processors = LogitsProcessorList()
    if any(r.params.presence_penalty or r.params.frequency_penalty for r in rows):
        presence = [r.params.presence_penalty for r in rows]
        frequency = [r.params.frequency_penalty for r in rows]
        processors.append(_Penalties(presence, frequency, ids.device))
    if params.temperature > 0 and params.seed is not None:
        torch.manual_seed(params.seed)
    with torch.no_grad():
        cm.model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=max(r.params.max_tokens for r in rows),
            eos_token_id=sorted(stop_ids), pad_token_id=tok.pad_token_id, logits_processor=processors,
            stopping_criteria=StoppingCriteriaList([_Feed(states)]), **_sampling_kwargs(params),
        )
    return [s.result() for s in states]


def generate(cm: ChatModel, prompt: list[int], params: SamplingParams,
             on_text: Callable[[str], None] | None = None) -> Generated:
    """One sequence (`params.n` aside): `on_text` receives the text as it is made, the result holds all of it."""
    return generate_rows(cm, [Row(prompt, params, on_text)])[0]
