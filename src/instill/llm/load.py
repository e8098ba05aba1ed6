"""`load_backend`: a backend from its config (a recipe section or a dict), e.g.

    {backend: openai, base_url: "http://127.0.0.1:8000/v1", model: my-model, api_key_env: OPENAI_API_KEY}
    {backend: local, model: runs/quickstart/model, max_batch_size: 16}
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal, Mapping, Union

from pydantic import Field, TypeAdapter, ValidationError

from instill.config import Strict
from instill.errors import InstillError
from instill.llm.base import LLM


class OpenAIBackendConfig(Strict):
    backend: Literal["openai"]
    base_url: str = Field(description="API root with /v1, e.g. http://127.0.0.1:8000/v1")
    model: str = Field(description="model name the server knows")
    # the key itself never sits in a recipe file: the recipe names the variable that holds it
    api_key_env: str | None = Field("OPENAI_API_KEY", description="environment variable holding the API key")
    max_concurrency: int = Field(8, ge=1, description="requests in flight at once")
    max_retries: int = Field(4, ge=0, description="retries of a request on 429, 408, 5xx, timeouts, lost connections")
    backoff_s: float = Field(0.5, ge=0, description="wait before the first retry; doubles each retry (with jitter)")
    max_backoff_s: float = Field(30.0, ge=0)
    timeout_s: float = Field(120.0, gt=0, description="per attempt")


class LocalBackendConfig(Strict):
    backend: Literal["local"]
    model: str = Field(description="a model folder (from `instill train`) or a hub id")
    max_batch_size: int = Field(16, ge=1, description="sequences generated together")
    chat_template: str = Field("auto", description="as chat.template in a training recipe")
    end_of_turn: str | None = Field(None, description="None: what the model folder was trained with, else eos")


BackendConfig = Annotated[Union[OpenAIBackendConfig, LocalBackendConfig], Field(discriminator="backend")]


def parse_backend_config(spec: Mapping[str, Any]) -> OpenAIBackendConfig | LocalBackendConfig:
    """Validate a backend section; errors name the field.

    >>> parse_backend_config({"backend": "local", "model": "runs/m"}).max_batch_size
    16
    >>> parse_backend_config({"backend": "openai", "model": "m"})
    Traceback (most recent call last):
    instill.errors.InstillError: llm backend: base_url: Field required
    """
    try:
        return TypeAdapter(BackendConfig).validate_python(dict(spec))
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"] if p not in ("openai", "local"))
        raise InstillError(f"llm backend: {where + ': ' if where else ''}{err['msg']}") from None


def load_backend(spec: Mapping[str, Any] | OpenAIBackendConfig | LocalBackendConfig,
                 api_key: str | None = None) -> LLM:
    """Build the backend a config names. The openai backend sends `api_key` when given (a CLI flag: the key is
    never part of a config, so never saved with one), else the key in the variable `api_key_env` names (unset or
    empty: no key is sent, as local servers need none). A local backend needs no key."""
    cfg = spec if isinstance(spec, (OpenAIBackendConfig, LocalBackendConfig)) else parse_backend_config(spec)
    if isinstance(cfg, OpenAIBackendConfig):
        from instill.llm.openai import OpenAIBackend

        key = api_key or (os.environ.get(cfg.api_key_env) if cfg.api_key_env else None)
        return OpenAIBackend(cfg.base_url, cfg.model, key or None, max_concurrency=cfg.max_concurrency,
                             max_retries=cfg.max_retries, backoff_s=cfg.backoff_s, max_backoff_s=cfg.max_backoff_s,
                             timeout_s=cfg.timeout_s)
    from instill.inference.chat_model import load_chat_model
    from instill.llm.local import LocalBackend

    return LocalBackend(load_chat_model(cfg.model, cfg.chat_template, cfg.end_of_turn), cfg.max_batch_size)
