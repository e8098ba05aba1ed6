"""Launch configs (recipes/accelerate/*.yaml) and FSDP2 on 2 CPU processes (gloo) against 1 process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from instill.config import Recipe
from instill.train.loop import train

CONFIGS = Path(__file__).parent.parent / "recipes" / "accelerate"
SHIM = Path(__file__).parent / "cpu_fsdp.py"


def _metrics(run_dir: Path, key: str) -> dict[int, float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r[key] for r in rows if key in r}


def test_every_launch_config_is_what_accelerate_reads():
    """Each shipped file loads as accelerate's ClusterConfig, and the FSDP ones build FSDP2 plugins that wrap by
    the model's own decoder layers."""
    from accelerate.commands.config.config_args import ClusterConfig
    from accelerate.utils import FullyShardedDataParallelPlugin

    kinds = {}
    for path in sorted(CONFIGS.glob("*.yaml")):
        cfg = ClusterConfig.from_yaml_file(str(path))  # unknown keys are refused here
        kinds[path.stem] = cfg.distributed_type.value
        assert cfg.mixed_precision in ("no", "bf16") and not cfg.use_cpu
        if path.stem.startswith("fsdp"):
            fsdp = cfg.fsdp_config
            plugin = FullyShardedDataParallelPlugin(
                fsdp_version=fsdp["fsdp_version"], auto_wrap_policy=fsdp["fsdp_auto_wrap_policy"].lower(),
                reshard_after_forward=fsdp["fsdp_reshard_after_forward"], state_dict_type=fsdp["fsdp_state_dict_type"])
            assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
        if path.stem.startswith("zero"):
            assert cfg.deepspeed_config["zero_stage"] == int(path.stem[-1])
    assert kinds == {"ddp": "MULTI_GPU", "fsdp": "FSDP", "fsdp_lora": "FSDP",
                     "zero2": "DEEPSPEED", "zero3": "DEEPSPEED"}


def _launch(config: str, recipe: Path, *overrides: str) -> None:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / config),
           "--num_processes", "2", "--main_process_port", "0", str(SHIM), "train", str(recipe), *overrides]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["full", "lora"])
def test_fsdp_matches_one_process_resumes_sharded_and_saves(tmp_path, tiny_llama_dir, alpaca_file, make_recipe, method):
    """FSDP2 on 2 processes x 2 sequences = 1 process x 2 micro-batches of 2: the same losses per step. The FSDP run
    stops at a sharded checkpoint (step 2) and a second launch resumes it; the gathered model/ generates the same
    text as the unsharded run's. Constant lr, so stopping at step 2 does not change the schedule; the full loss
    head on both sides (FSDP uses it; the chunked head sums in another order, which Adam amplifies past 1e-5);
    LoRA dropout 0 (each process draws its own masks)."""
    from transformers import AutoModelForCausalLM

    common = dict(batching="padded", schedule="constant", loss_head="full", method=method, lora={"dropout": 0.0})
    one = make_recipe(tmp_path / "one", alpaca_file, str(tiny_llama_dir), max_steps=4, batch_size=2, grad_accum=2, **common)
    one["data"]["validation_fraction"] = 0.05
    train(Recipe.model_validate(one))
    two = make_recipe(tmp_path / "two", alpaca_file, str(tiny_llama_dir), max_steps=4, batch_size=2, **common)
    two["data"]["validation_fraction"] = 0.05
    recipe = tmp_path / "two.yaml"
    recipe.write_text(yaml.safe_dump(two))
    config = "fsdp.yaml" if method == "full" else "fsdp_lora.yaml"
    _launch(config, recipe, "train.max_steps=2", "train.save_every=2")
    ckpt = tmp_path / "two" / "checkpoints" / "step-0000002"
    assert sorted(p.name for p in (ckpt / "pytorch_model_fsdp_0").glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    assert sorted(p.name for p in (ckpt / "optimizer_0").glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    _launch(config, recipe, "train.resume=true")

    assert _metrics(tmp_path / "two", "loss") == pytest.approx(_metrics(tmp_path / "one", "loss"), rel=1e-5)
    assert sorted(_metrics(tmp_path / "two", "loss")) == [1, 2, 3, 4]
    assert _metrics(tmp_path / "two", "val_loss")[4] == pytest.approx(_metrics(tmp_path / "one", "val_loss")[4], rel=1e-5)
    sharded = AutoModelForCausalLM.from_pretrained(tmp_path / "two" / "model")
    whole = AutoModelForCausalLM.from_pretrained(tmp_path / "one" / "model")
    assert not any("lora" in n for n, _ in sharded.named_parameters())  # merged, loadable without peft
    for (name, p), q in zip(whole.named_parameters(), sharded.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6, msg=name)
    prompt = torch.tensor([[5, 6, 7, 8, 9, 10]])
    kwargs = dict(max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0)
    assert torch.equal(sharded.generate(prompt, **kwargs), whole.generate(prompt, **kwargs))
