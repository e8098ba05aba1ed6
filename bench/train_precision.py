#!/usr/bin/env python
"""fp32 against bf16 autocast, LoRA against full fine-tuning: the same recipe, the same steps, one run.

Each mode is an `instill train` of the recipe (default recipes/gemma.yaml) for --steps optimizer steps in its own
process, with the same data order and seed; the first mode is the anchor the others are divided by. Printed: train
seconds (from the first to the last logged step), tok/s, peak RSS, the loss of each logged window, and the largest
gap to the anchor's loss over the same steps.

    python bench/train_precision.py                                  # gemma: lora fp32 (anchor), lora bf16, full bf16
    python bench/train_precision.py --steps 10 --modes lora:fp32 lora:bf16
    python bench/train_precision.py --recipe recipes/quickstart.yaml --steps 40   # the tiny model
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_mode(recipe: str, mode: str, steps: int, out: Path, extra: list[str]) -> dict:
    method, precision = mode.split(":")
    run_dir = out / mode.replace(":", "_")
    cmd = [sys.executable, "-m", "instill.cli", "train", recipe, f"run_dir={run_dir}", f"train.method={method}",
           f"train.precision={precision}", f"train.max_steps={steps}", "train.log_every=1", "train.save_every=null",
           "train.eval_every=null", "data.validation_fraction=0", *extra]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    log = (out / f"{mode.replace(':', '_')}.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak RSS alone
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{mode} failed; see {log.name}")
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps_rows = [r for r in rows if "loss" in r]
    rss = usage.ru_maxrss / 1024  # MB
    # tokens_per_s is per logged window (one step here); the first step pays warm-up, so it is left out
    rates = [r["tokens_per_s"] for r in steps_rows[1:]] or [steps_rows[0]["tokens_per_s"]]
    return {"mode": mode, "wall_s": round(wall, 1), "tok_s": sum(rates) / len(rates),
            "losses": [r["loss"] for r in steps_rows], "peak_rss_mb": round(rss),
            "load": f"{load0:.1f}-{os.getloadavg()[0]:.1f}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default=str(ROOT / "recipes" / "gemma.yaml"))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--modes", nargs="+", default=["lora:fp32", "lora:bf16", "full:bf16"],
                    help="method:precision; the first is the anchor")
    ap.add_argument("--out", default=None, help="folder for the runs (default: a temporary one)")
    ap.add_argument("overrides", nargs="*", help="key=value recipe overrides for every mode")
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="instill-precision-"))
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for mode in args.modes:
        print(f"running {mode} ({args.steps} steps) ...", file=sys.stderr, flush=True)
        results.append(run_mode(args.recipe, mode, args.steps, out, args.overrides))
    anchor = results[0]
    print(f"\n{args.steps} steps of {Path(args.recipe).name}; anchor: {anchor['mode']}\n")
    print("| mode | wall s | tok/s | tok/s vs anchor | peak RSS MB | first loss | last loss | "
          "max abs loss gap vs anchor | load avg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        gap = max(abs(a - b) for a, b in zip(r["losses"], anchor["losses"]))
        print(f"| {r['mode']} | {r['wall_s']} | {r['tok_s']:,.0f} | {r['tok_s'] / anchor['tok_s']:.2f}x | "
              f"{r['peak_rss_mb']} | {r['losses'][0]:.4f} | {r['losses'][-1]:.4f} | {gap:.4f} | {r['load']} |")
    print("\nloss per step:")
    for r in results:
        print(f"  {r['mode']:>10}: " + " ".join(f"{x:.3f}" for x in r["losses"]))


if __name__ == "__main__":
    main()
