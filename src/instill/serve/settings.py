"""The server's settings, with their defaults (the CLI's flags read them from here); no heavy imports, so the
command line can show them without loading torch."""

from __future__ import annotations

from dataclasses import dataclass

from instill.inference.sampling import default


@dataclass(frozen=True)
class ServeSettings:
    model_name: str  # what clients pass as `model`
    api_key: str | None = None  # None: no authentication
    max_batch_size: int = 16  # sequences generated together
    max_wait_ms: float = 10.0  # how long the first queued request waits for company
    max_queue: int = 256  # waiting requests past which the server answers 429
    timeout_s: float = 120.0  # per request, queueing included: 504 past it
    default_max_tokens: int = default("max_tokens")  # chat requests without max_tokens (completions: 16, as OpenAI)
    max_body_mb: float = 4.0  # request bodies past this are answered 413 at once, before they are read
