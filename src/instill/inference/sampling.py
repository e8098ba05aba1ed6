"""`SamplingParams`: how to sample, with one meaning and one set of defaults for every door.

The OpenAI API's names and meanings. The options of `instill generate`, `chat` and `serve` take their defaults
from here, the server's request schema and Self-Instruct's decoding blocks their bounds (`sampling_field`), and the
engine is the one place that turns the parameters into `model.generate` arguments. No heavy imports: the command
line reads the defaults without loading torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from instill.errors import InstillError

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class Bound:
    """An interval a number must lie in: `ge` or `gt` below, `le` above (None: unbounded on that side).

    >>> Bound(gt=0, le=1).describe(), Bound(ge=1).describe(), Bound(ge=1).holds(0)
    ('in (0, 1]', 'at least 1', False)
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None

    def holds(self, v: float) -> bool:
        return ((self.ge is None or v >= self.ge) and (self.gt is None or v > self.gt)
                and (self.le is None or v <= self.le))

    def describe(self) -> str:
        if self.le is None:
            return f"at least {self.ge:g}" if self.ge is not None else f"greater than {self.gt:g}"
        low = f"[{self.ge:g}" if self.ge is not None else f"({self.gt:g}"
        return f"in {low}, {self.le:g}]"

    def pydantic(self) -> dict[str, float]:
        """As pydantic's Field constraints."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


BOUNDS: dict[str, Bound] = {
    "max_tokens": Bound(ge=1),
    "temperature": Bound(ge=0, le=2),  # 0 = greedy; OpenAI's range
    "top_p": Bound(gt=0, le=1),
    "n": Bound(ge=1),
    "presence_penalty": Bound(ge=-2, le=2),
    "frequency_penalty": Bound(ge=-2, le=2),
}


@dataclass(frozen=True)
class SamplingParams:
    """How to sample, with the OpenAI API's names and meanings.

    Args:
        max_tokens: longest completion, in tokens.
        temperature: 0 means greedy decoding.
        top_p: nucleus sampling mass (with temperature > 0). There is no top-k cut, whatever top_k a model's saved
            generation config holds (as in the OpenAI API).
        n: completions per prompt.
        stop: texts that end a completion; the stop text itself is not returned.
        presence_penalty / frequency_penalty: subtracted from the logit of a token once it has appeared / per time
            it has appeared in the completion (OpenAI's definition, -2..2).
        seed: makes sampling repeatable (for a local model: per call; for HTTP: as far as the server allows).

    >>> SamplingParams(max_tokens=0)
    Traceback (most recent call last):
    instill.errors.InstillError: max_tokens must be at least 1 (got 0)
    """

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.stop, str) or not isinstance(self.stop, tuple):  # a list or one string: keep it hashable
            object.__setattr__(self, "stop", (self.stop,) if isinstance(self.stop, str) else tuple(self.stop))
        for name, bound in BOUNDS.items():
            if not bound.holds(getattr(self, name)):
                raise InstillError(f"{name} must be {bound.describe()} (got {getattr(self, name)})")
        if not all(self.stop):
            raise InstillError("stop texts must not be empty")

    def batch_key(self) -> tuple[Any, ...]:
        """What sequences must share to be generated in one call: greedy ones nothing (top_p and seed mean nothing
        to greedy decoding), sampled ones temperature, top_p and seed. Token limits, stops and penalties are per
        sequence.

        >>> SamplingParams(top_p=0.9, seed=7).batch_key() == SamplingParams(max_tokens=3).batch_key()
        True
        """
        return ("greedy",) if self.temperature == 0 else ("sample", self.temperature, self.top_p, self.seed)


def default(name: str) -> Any:
    """A field's default, for options and schemas that offer the field under their own name.

    >>> default("max_tokens")
    256
    """
    return next(f.default for f in dataclasses.fields(SamplingParams) if f.name == name)


_UNSET: Any = object()


def sampling_field(name: str, default_value: Any = _UNSET, **extra: Any) -> Any:
    """A pydantic Field for the SamplingParams field `name`: its bounds, and its default unless one is given (the
    server's temperature keeps OpenAI's default of 1; `...` makes it required)."""
    from pydantic import Field

    value = default(name) if default_value is _UNSET else default_value
    bound = BOUNDS[name].pydantic() if name in BOUNDS else {}
    return Field(value, **bound, **extra)
