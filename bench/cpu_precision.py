#!/usr/bin/env python
"""Does bf16 pay on this CPU? Matmul GFLOP/s at a model's shapes and generation tok/s, fp32 (anchor) vs bf16.

instill's `precision=auto` picks bf16 on CPUs with AMX. This bench is the evidence for that rule on the machine it
runs on: the same matmuls (the model's linear shapes at a training micro-batch of ~400 tokens and a decoding batch
of 16, the 262k-row output layer) and the same greedy generation, in fp32 and in bf16, in one process.

    python bench/cpu_precision.py                          # matmuls only (no model needed)
    python bench/cpu_precision.py --model gemma-3-270m     # and generation, batch 1 and 16
"""

from __future__ import annotations

import argparse
import os
import time

import torch

SHAPES = [(400, 640, 2048), (400, 2048, 640), (400, 640, 1024), (16, 640, 2048), (2048, 2048, 2048),
          (400, 640, 262144)]  # (tokens, in, out): Gemma 3 270M's MLP, attention, output layer; a square one


def matmul_gflops(m: int, k: int, n: int, dtype: torch.dtype, repeats: int = 10) -> float:
    x, w = torch.randn(m, k, dtype=dtype), torch.randn(n, k, dtype=dtype)
    for _ in range(2):
        torch.nn.functional.linear(x, w)
    t0 = time.perf_counter()
    for _ in range(repeats):
        torch.nn.functional.linear(x, w)
    return 2 * m * k * n * repeats / (time.perf_counter() - t0) / 1e9


def generation_tok_s(model_name: str, precision: str, batch: int, new_tokens: int) -> float:
    from instill.inference.chat_model import load_chat_model
    from instill.inference.engine import Row, generate_rows
    from instill.inference.sampling import SamplingParams

    cm = load_chat_model(model_name, precision=precision)
    prompt = cm.tokenizer("Write a short story about a lighthouse keeper who finds a message in a bottle.")["input_ids"]
    rows = [Row(list(prompt), SamplingParams(max_tokens=new_tokens)) for _ in range(batch)]
    generate_rows(cm, rows[:1])  # warm-up
    t0 = time.perf_counter()
    done = generate_rows(cm, rows)
    return sum(g.completion_tokens for g in done) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="also time generation with this model (folder, .gguf or name)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--new-tokens", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from instill.precision import cpu_has_bf16, resolve_precision

    print(f"threads {args.threads}; load average at start {os.getloadavg()[0]:.2f}; CPU bf16 units (AMX): "
          f"{cpu_has_bf16()}; precision=auto -> {resolve_precision('auto', 'cpu')}\n")
    print("| matmul (M x K x N) | fp32 GFLOP/s | bf16 GFLOP/s | bf16 vs fp32 |\n|---|---|---|---|")
    for m, k, n in SHAPES:
        f32, b16 = matmul_gflops(m, k, n, torch.float32), matmul_gflops(m, k, n, torch.bfloat16)
        print(f"| {m} x {k} x {n} | {f32:.0f} | {b16:.0f} | {b16 / f32:.2f}x |")
    if args.model:
        print(f"\n| generation ({args.model}, {args.new_tokens} new tokens, greedy) | fp32 tok/s | bf16 tok/s | "
              "bf16 vs fp32 |\n|---|---|---|---|")
        for batch in (1, 16):
            f32 = generation_tok_s(args.model, "fp32", batch, args.new_tokens)
            b16 = generation_tok_s(args.model, "bf16", batch, args.new_tokens)
            print(f"| batch {batch} | {f32:.1f} | {b16:.1f} | {b16 / f32:.2f}x |")
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
