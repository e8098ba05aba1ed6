"""What the multi-process layouts need from instill: which one a run is under, DeepSpeed's config from the recipe,
and DeepSpeed's logs kept off stdout."""

from __future__ import annotations

import logging
import sys
from typing import Any

from instill.config import TrainConfig
from instill.errors import InstillError


# DeepSpeed config key -> where the recipe sets it (for the error when a launch config fixed another value)
_DEEPSPEED_FROM_RECIPE = {
    "train_micro_batch_size_per_gpu": "train.batch_size",
    "gradient_accumulation_steps": "train.grad_accum",
    "gradient_clipping": "train.max_grad_norm (null = 0, off)",
    "train_batch_size": "train.batch_size x train.grad_accum x processes",
}


def fill_deepspeed_config(ds_config: dict, cfg: TrainConfig, num_processes: int) -> dict:
    """DeepSpeed's batch, accumulation and clipping from the recipe, in place; returns ds_config.

    instill prepares no DataLoader, so accelerate has no batch size to fill `train_micro_batch_size_per_gpu` from
    (it stops with a ValueError). Each optimizer step runs `train.grad_accum` backward passes; `train_step` marks the
    last one as DeepSpeed's accumulation boundary, where the engine clips and steps. So DeepSpeed's
    `gradient_accumulation_steps` is `train.grad_accum`, not 1: ZeRO keeps its accumulation buffers (the offloaded
    optimizer's among them) only when it is above 1, and `train_batch_size` is then the real global batch. instill's
    loss is already divided by the step's loss-token count, so the backward passes skip DeepSpeed's own division by
    the accumulation count (`scale_wrt_gas=False`). Clipping runs inside the engine's step (accelerate's
    `clip_grad_norm_` only reads the norm back), so `gradient_clipping` is `train.max_grad_norm`, 0 when off.
    A key missing or `auto` is filled; one the launch config fixed must agree, or the error names both.
    Under `train.tokens_per_batch` the micro-batch size varies; `train.batch_size` is then only DeepSpeed's count.
    """
    wanted = {
        "train_micro_batch_size_per_gpu": cfg.batch_size,
        "gradient_accumulation_steps": cfg.grad_accum,
        "gradient_clipping": float(cfg.max_grad_norm or 0.0),
        "train_batch_size": cfg.batch_size * cfg.grad_accum * num_processes,
    }
    for key, value in wanted.items():
        have = ds_config.get(key, "auto")
        if have is not None and have != "auto" and float(have) != float(value):
            raise InstillError(
                f"the DeepSpeed config sets {key}: {have}, but the recipe gives {value} "
                f"({_DEEPSPEED_FROM_RECIPE[key]}); "
                f"remove {key} from the launch config (recipes/accelerate/zero*.yaml: deepspeed_config) or set it "
                "to auto, and instill fills it from the recipe")
    ds_config.update(wanted)
    return ds_config


def deepspeed_logs_to_stderr() -> None:
    """DeepSpeed, when installed, is imported during training (accelerate, peft) and logs through a handler it binds
    to stdout at import ("Setting accelerator to CPU"), which would mix with what instill prints there (`instill run`
    prints the report's path last). Importing it first with stdout pointed at stderr binds that handler to stderr;
    its import-time warning is dropped (it says only that no GPU was found, and a user error must stay one line)."""
    import contextlib
    import importlib.util

    if "deepspeed" in sys.modules or importlib.util.find_spec("deepspeed") is None:
        return
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            import deepspeed  # noqa: F401
    finally:
        logging.disable(logging.NOTSET)


def is_deepspeed(accelerator: Any) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.DEEPSPEED


def is_sharded(accelerator: Any) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)
