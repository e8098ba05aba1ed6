"""Which precision a run uses: `auto` follows the hardware.

bf16 autocast keeps fp32 master weights and an fp32 loss, and runs the matmuls in bf16. It pays on GPUs with bf16
units and on CPUs with AMX tiles (`amx_bf16`), whose bf16 matmuls run several times fp32's. AVX-512 BF16 alone
does not pay: on this project's CPU (avx512_bf16, no AMX; oneDNN's avx512_core_bf16 kernels against MKL's fp32
ones, 2 threads, idle) a 2048^3 matmul ran at 156 GFLOP/s in bf16 against 263 in fp32, and LoRA training of
Gemma 3 270M at 0.67x fp32's tok/s (`bench/cpu_precision.py`, `bench/train_precision.py`). So `auto` is bf16 on
AMX and fp32 on every other CPU; `bf16` can still be asked for.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal


Precision = Literal["auto", "fp32", "bf16"]
CPU_BF16_FLAGS = ("amx_bf16",)  # /proc/cpuinfo flag of CPUs whose bf16 matmuls beat fp32 (see the docstring)


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when the CPU has AMX bf16 tiles, where bf16 matmuls beat fp32 ones."""
    return bool(set(_cpu_flags()) & set(CPU_BF16_FLAGS))


def _cpu_flags() -> list[str]:
    """The CPU's feature flags (Linux); empty where /proc/cpuinfo is not there."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            return line.split(":", 1)[1].split()
    return []


def resolve_precision(choice: Precision, device: str = "cpu") -> Literal["fp32", "bf16"]:
    """`auto` -> bf16 on a CUDA device that supports it or a CPU with AMX, else fp32.

    >>> resolve_precision("fp32"), resolve_precision("bf16")
    ('fp32', 'bf16')
    """
    if choice != "auto":
        return choice
    if device.startswith("cuda"):
        import torch  # here, not at import: the config schema reads `Precision` without loading torch

        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    if device == "cpu":
        return "bf16" if cpu_has_bf16() else "fp32"
    return "fp32"
