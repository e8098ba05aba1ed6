#!/usr/bin/env bash
# GPU check in one go, within 10 minutes on a lent GPU machine (bench/gpu_check.py says what it measures):
# recipes/gemma.yaml in bf16, packed, flash-attention or sdpa: tok/s and MFU; with 2+ GPUs, DDP, FSDP, ZeRO-2
# and ZeRO-3 on 2 processes against 1 process, first steps' losses compared.
#
#   bash bench/gpu_check.sh wheels     # HERE (network): instill's dependencies the GPU image lacks, into .whl/
#   bash bench/gpu_check.sh            # THERE: installs .whl/ if present, runs the check, writes $OUT (or
#                                      # runs/gpu_check): summary.json and one log per run
#   bash bench/gpu_check.sh dry-run    # any CPU: the same script on a 2-layer Gemma 3, a few steps
#
# The GPU image (device README, KINDS.md) has torch, transformers, accelerate, peft, pyyaml, typer, but not
# pydantic and its two helpers (instill's config) nor deepspeed and hjson (what `instill train` imports, checked); `wheels` fetches those for Python 3.12 (deepspeed is an sdist upstream: its pure-Python
# wheel is built here). The Gemma GGUF package is larger than what travels (64 MiB), so there the check uses a Gemma
# 3 270M of random weights built from the published config: tok/s and MFU depend on the architecture, not weights.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
mode=${1:-run}
case "$mode" in
  wheels)
    grep -qx /.whl/ .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
    mkdir -p .whl
    plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
    ${PIP:-.venv/bin/pip} download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${plat[@]}" \
      -d .whl pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 typing_extensions==4.16.0 \
      hjson==3.1.0 || exit 1
    ${PIP:-.venv/bin/pip} wheel --no-deps -w .whl deepspeed==0.19.8 || exit 1
    du -sh .whl
    exit 0 ;;
  dry-run)
    exec ${PYTHON:-.venv/bin/python} bench/gpu_check.py --out "${OUT:-/tmp/gpu_check_dry}" --dry-run ;;
  run) ;;
  *) echo "usage: bash bench/gpu_check.sh [run|wheels|dry-run]" >&2; exit 2 ;;
esac

out=${OUT:-runs/gpu_check}
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}
else
  export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/nvidia_smi.txt"
$PY -c "import torch, transformers, accelerate, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'accelerate', accelerate.__version__, 'peft', peft.__version__)" 2>&1 | tee "$out/versions.txt"
# 9.5 minutes in all: the python script bounds each run (--run-timeout) and this bounds the whole
timeout 570 $PY bench/gpu_check.py --out "$out" --run-timeout 200 "${@:2}" 2>&1 | tee "$out/gpu_check.log"
exit "${PIPESTATUS[0]}"
