"""The OpenAI-compatible server (`instill serve`): FastAPI app, batching worker, uvicorn runner."""

from typing import Any

from instill.serve.settings import ServeSettings

__all__ = ["Batcher", "ServeSettings", "create_app"]


def __getattr__(name: str) -> Any:
    """The app and the worker load torch and FastAPI: imported on first use, not with the settings."""
    if name == "create_app":
        from instill.serve.app import create_app

        return create_app
    if name == "Batcher":
        from instill.serve.batcher import Batcher

        return Batcher
    raise AttributeError(name)
