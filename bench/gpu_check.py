#!/usr/bin/env python
"""GPU check in one go (bench/gpu_check.sh runs it): recipes/gemma.yaml in bf16 with packing and flash-attention
(sdpa where flash-attn is not installed), its tok/s and MFU; with 2+ GPUs, DDP, FSDP, ZeRO-2 and ZeRO-3 on 2
processes against 1 process with the same global batch, first steps' losses side by side.

    python bench/gpu_check.py --out runs/gpu_check            # on the GPU machine (about 6-8 minutes)
    python bench/gpu_check.py --out /tmp/gc --dry-run         # on a CPU: a 2-layer Gemma 3, a few steps

Model: gemma-3-270m when it resolves offline (its converted folder in the cache, or the `[gemma]` extra); otherwise
a Gemma 3 270M with random weights built from its published config (google/gemma-3-270m config.json: 18 layers,
hidden 640, 4 heads of 256, 1 KV head, MLP 2048, vocabulary 262,144, tied head) and a stand-in tokenizer. tok/s
and MFU depend on the architecture and the packed row length (data.max_length), not on the weights.

MFU = achieved model FLOP/s / the GPUs' peak dense bf16 FLOP/s. Model FLOPs per trained token use ALL parameters
(tied embedding counted once, i.e. as the output projection): 6N is the usual full-fine-tuning count (forward 2N,
backward 4N); a LoRA run does not compute the frozen weights' gradients, so its work is about 4N + 6N_trainable,
reported as `mfu_lora`. Attention's own FLOPs (which grow with the row length) are left out of both, so both
understate the work slightly. tok/s = all tokens of the packed rows per second (metrics.jsonl's tokens_per_s), the
mean over the logged windows after the first (compilation, warm-up).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "recipes" / "accelerate"

# Peak dense (no sparsity) bf16 tensor-core FLOP/s per GPU, from NVIDIA's datasheets (their headline bf16 figures
# are with 2:4 sparsity; these are half of them): H100 SXM5 989.4 T, H100 PCIe 756 T, H100 NVL 835 T
# ("NVIDIA H100 Tensor Core GPU" datasheet); H200 SXM 989 T, H200 NVL 835 T ("NVIDIA H200 Tensor Core GPU" page);
# A100 SXM4/PCIe 312 T ("NVIDIA A100 Tensor Core GPU" datasheet). Matched in order on torch's device name.
# (An 8192^3 bf16 matmul measured 770-800 TFLOP/s on this workplace's H100 and H200: the practical ceiling.)
PEAK_BF16 = [("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H100", 989.4e12), ("H200 NVL", 835e12),
             ("H200", 989e12), ("A100", 312e12)]

GEMMA3_270M = dict(  # google/gemma-3-270m config.json
    vocab_size=262144, hidden_size=640, intermediate_size=2048, num_hidden_layers=18, num_attention_heads=4,
    num_key_value_heads=1, head_dim=256, max_position_embeddings=32768, sliding_window=512, rope_theta=1e6,
    query_pre_attn_scalar=256, rms_norm_eps=1e-6, hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
    pad_token_id=0, eos_token_id=1, bos_token_id=2,
)

DRY_RUN_SHRINK = dict(vocab_size=4096, hidden_size=64, intermediate_size=128, num_hidden_layers=2, head_dim=16,
                      sliding_window=64)


def peak_flops(device_name: str, override_tflops: float | None) -> tuple[float | None, str]:
    if override_tflops:
        return override_tflops * 1e12, "--peak-tflops"
    for key, value in PEAK_BF16:
        if key in device_name:
            return value, f"table ({key})"
    return None, "unknown device: pass --peak-tflops"


def gemma_model(out: Path, dry_run: bool) -> tuple[str, str]:
    """(model.name, what it is)."""
    from instill.model_source import NAMED_MODELS, cache_root

    if not dry_run and ((cache_root() / "gemma-3-270m" / "config.json").is_file() or importlib.util.find_spec(
            NAMED_MODELS["gemma-3-270m"].package) is not None):
        return "gemma-3-270m", "Gemma 3 270M (real weights)"
    folder = out / ("gemma-3-small-random" if dry_run else "gemma-3-270m-random")
    config = {**GEMMA3_270M, **(DRY_RUN_SHRINK if dry_run else {})}
    if not (folder / "config.json").is_file():
        import torch
        from transformers import Gemma3ForCausalLM, Gemma3TextConfig

        from instill.modeling import train_tiny_tokenizer

        torch.manual_seed(0)
        Gemma3ForCausalLM(Gemma3TextConfig(**config)).save_pretrained(folder)
        tok = train_tiny_tokenizer(_corpus(), vocab_size=2000)
        tok.save_pretrained(folder)
    if dry_run:
        return str(folder), "a 2-layer Gemma 3 of random weights (dry run)"
    return str(folder), "Gemma 3 270M architecture, random weights, stand-in tokenizer (gemma weights not installed)"


def _corpus() -> list[str]:
    """Text for the stand-in tokenizer: instill's bundled task cards and data, whatever is there."""
    texts = [p.read_text(errors="ignore") for p in sorted((ROOT / "src" / "instill").rglob("*")) if
             p.suffix in (".jsonl", ".yaml", ".md") and p.is_file()]
    lines = [line for t in texts for line in t.splitlines() if line.strip()]
    return lines[:50000] or ["hello world"] * 100


def param_counts(model_name: str, recipe: dict) -> tuple[int, int]:
    """(all parameters, trainable under the recipe's method), counted on the meta device."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from instill.model_source import resolve_model

    cfg = AutoConfig.from_pretrained(resolve_model(model_name))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    total = sum(p.numel() for p in model.parameters())
    if recipe["train"].get("method") != "lora":
        return total, total
    from peft import LoraConfig, get_peft_model

    lora = recipe["train"].get("lora", {})
    peft_model = get_peft_model(model, LoraConfig(r=lora.get("r", 16), lora_alpha=lora.get("alpha", 32),
                                                  target_modules=lora.get("target_modules", "all-linear")))
    return total, sum(p.numel() for p in peft_model.parameters() if p.requires_grad)


def run_train(out: Path, name: str, overrides: list[str], config: str | None, processes: int,
              timeout: int) -> dict:
    """One `instill train` (1 process, or `accelerate launch` with a launch config); its metrics and wall time."""
    run_dir = out / name
    if config is None:
        cmd = [sys.executable, "-m", "instill.cli", "train"]
    else:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / config),
               "--num_processes", str(processes), "--main_process_port", "0", "-m", "instill.cli", "train"]
    cmd += [str(out / "recipe.yaml"), f"run_dir={run_dir}", *overrides]
    t0 = time.time()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        rc, err = done.returncode, done.stderr
    except subprocess.TimeoutExpired as e:
        partial = e.stderr or ""
        rc, err = "timeout", partial.decode(errors="ignore") if isinstance(partial, bytes) else partial
    (out / f"{name}.log").write_text(err or "")
    rows = []
    if (run_dir / "metrics.jsonl").is_file():
        rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = {r["step"]: r["loss"] for r in rows if "loss" in r}
    rates = [r["tokens_per_s"] for r in rows if "tokens_per_s" in r]
    result = {"name": name, "rc": rc, "wall_s": round(time.time() - t0, 1), "losses": losses,
              "tok_s": sum(rates[1:]) / len(rates[1:]) if len(rates) > 1 else (rates[0] if rates else None)}
    if rc != 0:
        result["error_tail"] = (err or "")[-1500:]
    print(json.dumps({k: v for k, v in result.items() if k != "error_tail"}), flush=True)
    if rc != 0:
        print(result["error_tail"], flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "gpu_check")
    ap.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "gemma.yaml")
    ap.add_argument("--steps", type=int, default=40, help="optimizer steps of the throughput run")
    ap.add_argument("--compare-steps", type=int, default=5, help="steps of each 1- vs 2-process comparison")
    ap.add_argument("--peak-tflops", type=float, default=None, help="peak dense bf16 TFLOP/s per device")
    ap.add_argument("--dry-run", action="store_true",
                    help="CPU: a 2-layer Gemma 3, fp32, a few steps, peak 1 TFLOP/s; the same code paths")
    ap.add_argument("--run-timeout", type=int, default=240, help="seconds for one training run")
    args = ap.parse_args()
    import torch
    import yaml

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    devices = torch.cuda.device_count()
    name = torch.cuda.get_device_name(0) if devices else "cpu"
    if not devices and not args.dry_run:
        sys.exit("no CUDA device: run with --dry-run to check the script on a CPU")
    peak, peak_source = peak_flops(name, args.peak_tflops or (1.0 if args.dry_run else None))
    model_name, model_what = gemma_model(out, args.dry_run)
    recipe = yaml.safe_load(args.recipe.read_text())
    recipe["model"]["name"] = model_name
    if model_name != "gemma-3-270m":
        recipe["chat"] = {"template": "auto"}  # the stand-in tokenizer's own (ChatML)
    if args.dry_run:
        recipe["mixture"]["max_per_task"] = 4
        recipe["mixture"]["eval_per_task"] = 1
        recipe["data"]["max_length"] = 128
    (out / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    flash = importlib.util.find_spec("flash_attn") is not None and devices > 0
    attn = "flash_attention_2" if flash else "sdpa"
    precision = "fp32" if args.dry_run else "bf16"
    common = [f"train.precision={precision}", "train.batching=packed", f"model.attn_implementation={attn}",
              "train.save_every=null", "train.warmup_steps=0"]
    summary: dict = {"device": name, "devices": devices, "model": model_what, "attn": attn, "precision": precision,
                     "peak_flops_per_device": peak, "peak_source": peak_source, "runs": []}
    print(json.dumps({k: summary[k] for k in ("device", "devices", "model", "attn", "precision")}), flush=True)

    steps = 3 if args.dry_run else args.steps
    tput = run_train(out, "throughput", [*common, f"train.max_steps={steps}",
                                         f"train.log_every={1 if args.dry_run else 5}"], None, 1, args.run_timeout)
    summary["runs"].append(tput)
    n_all, n_train = param_counts(model_name, recipe)
    summary.update(params_all=n_all, params_trainable=n_train)
    if tput["tok_s"] and n_all and peak:
        summary["mfu_6N"] = 6 * n_all * tput["tok_s"] / peak
        summary["mfu_lora"] = (4 * n_all + 6 * n_train) * tput["tok_s"] / peak
        print(f"tok/s {tput['tok_s']:.0f}; N = {n_all / 1e6:.1f}M all, {n_train / 1e6:.2f}M trainable; "
              f"MFU (6N) {summary['mfu_6N']:.1%}, (4N + 6N_trainable) {summary['mfu_lora']:.1%} "
              f"of {peak / 1e12:.0f} TFLOP/s ({peak_source})", flush=True)

    if devices >= 2 or args.dry_run:
        # Same global batch: 1 process x 2 micro-batches = 2 processes x 1; constant lr, loss_head full (the
        # sharded layouts use it), LoRA dropout 0 (each process draws its own masks).
        k = args.compare_steps if not args.dry_run else 2
        cmp = [*common, f"train.max_steps={k}", "train.log_every=1", "train.schedule=constant", "train.loss_head=full",
               "train.lora.dropout=0.0", "train.batch_size=2"]
        lora = recipe["train"].get("method") == "lora"
        summary["runs"].append(run_train(out, "one_process", [*cmp, "train.grad_accum=2"], None, 1, args.run_timeout))
        layouts = [("ddp", "ddp.yaml"), ("fsdp", "fsdp_lora.yaml" if lora else "fsdp.yaml"),
                   ("zero2", "zero2.yaml"), ("zero3", "zero3.yaml")]
        if args.dry_run:  # the 2-process layouts need GPUs (tests/test_distributed.py runs them on CPU with shims);
            layouts = [("repeat", None)]  # the comparison code runs on a repeat of the 1-process run (diff 0)
        for label, config in layouts:
            if label.startswith("zero") and importlib.util.find_spec("deepspeed") is None:
                summary["runs"].append({"name": label, "rc": "skipped: deepspeed not installed"})
                print(f"{label}: skipped, deepspeed not installed", flush=True)
                continue
            accum = "train.grad_accum=1" if config else "train.grad_accum=2"
            summary["runs"].append(run_train(out, label, [*cmp, accum], config, 2, args.run_timeout))
        ref = summary["runs"][-len(layouts) - 1]["losses"]
        for r in summary["runs"][-len(layouts):]:
            if r.get("losses") and ref:
                common_steps = sorted(set(r["losses"]) & set(ref))
                r["missing_steps"] = sorted(set(ref) - set(r["losses"]))
                r["max_rel_loss_diff"] = max(abs(r["losses"][s] - ref[s]) / abs(ref[s]) for s in common_steps)
                print(f"{r['name']}: losses {r['losses']} vs 1 process {ref}: max rel diff "
                      f"{r['max_rel_loss_diff']:.2e} (bf16: expect < 1e-2)", flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    failed = [r["name"] for r in summary["runs"]
              if r.get("rc") not in (0, None) and not str(r["rc"]).startswith("skipped")]
    print(f"summary: {out / 'summary.json'}; failed runs: {failed or 'none'}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
