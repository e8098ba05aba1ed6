"""Launch configs (recipes/accelerate/*.yaml), FSDP2 and DeepSpeed ZeRO-2/3 on 2 CPU processes (gloo) against 1
process, and the DeepSpeed config instill fills from the recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from instill.config import Recipe, TrainConfig
from instill.errors import InstillError
from instill.train.loop import fill_deepspeed_config, train

CONFIGS = Path(__file__).parent.parent / "recipes" / "accelerate"
SHIM = Path(__file__).parent / "cpu_fsdp.py"
DS_SHIM = Path(__file__).parent / "cpu_deepspeed.py"


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


def _launch(config: str, recipe: Path, *overrides: str, shim: Path = SHIM) -> None:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / config),
           "--num_processes", "2", "--main_process_port", "0", str(shim), "train", str(recipe), *overrides]
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


def _deepspeed_plugin(config: str, monkeypatch, **fixed):
    """accelerate's DeepSpeedPlugin as `accelerate launch --config_file CONFIG` builds it in each process: the
    yaml's deepspeed_config keys become ACCELERATE_* variables (a key the yaml leaves out sets none), `fixed`
    stands for keys a user added to the yaml. Needs no DeepSpeed."""
    from accelerate.commands.config.config_args import ClusterConfig
    from accelerate.utils import DeepSpeedPlugin

    ds = {**ClusterConfig.from_yaml_file(str(CONFIGS / config)).deepspeed_config, **fixed}
    env = {"zero_stage": "ACCELERATE_DEEPSPEED_ZERO_STAGE",
           "gradient_accumulation_steps": "ACCELERATE_GRADIENT_ACCUMULATION_STEPS",
           "gradient_clipping": "ACCELERATE_GRADIENT_CLIPPING",
           "offload_optimizer_device": "ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE",
           "offload_param_device": "ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE",
           "zero3_init_flag": "ACCELERATE_DEEPSPEED_ZERO3_INIT",
           "zero3_save_16bit_model": "ACCELERATE_DEEPSPEED_ZERO3_SAVE_16BIT_MODEL"}
    assert set(ds) <= set(env), set(ds) - set(env)
    for key, var in env.items():
        monkeypatch.delenv(var, raising=False)
        if key in ds:
            monkeypatch.setenv(var, str(ds[key]).lower())
    return DeepSpeedPlugin()


@pytest.mark.parametrize("config", ["zero2.yaml", "zero3.yaml"])
def test_deepspeed_config_is_filled_from_the_recipe(config, monkeypatch):
    """The shipped ZeRO files leave batch, accumulation and clipping to instill (accelerate would otherwise stop:
    no DataLoader to read a batch size from); instill sets them from the recipe."""
    plugin = _deepspeed_plugin(config, monkeypatch)
    assert plugin.deepspeed_config["train_micro_batch_size_per_gpu"] == "auto"
    assert plugin.deepspeed_config["gradient_accumulation_steps"] == "auto"
    assert plugin.deepspeed_config["zero_optimization"]["stage"] == int(config[4])
    cfg = TrainConfig(batch_size=3, grad_accum=4, max_grad_norm=0.5)
    ds = fill_deepspeed_config(plugin.deepspeed_config, cfg, num_processes=8)
    assert (ds["train_micro_batch_size_per_gpu"], ds["gradient_accumulation_steps"], ds["gradient_clipping"],
            ds["train_batch_size"]) == (3, 4, 0.5, 3 * 4 * 8)
    assert plugin.is_auto("train_micro_batch_size_per_gpu") is False  # what accelerate.prepare checks first
    no_clip = fill_deepspeed_config(_deepspeed_plugin(config, monkeypatch).deepspeed_config,
                                    TrainConfig(max_grad_norm=None), num_processes=1)
    assert no_clip["gradient_clipping"] == 0.0  # DeepSpeed clips only above 0


@pytest.mark.parametrize(("fixed", "train", "field"), [
    ({"gradient_accumulation_steps": 1}, {"grad_accum": 4}, "train.grad_accum"),
    ({"gradient_clipping": 1.0}, {"max_grad_norm": 0.3}, "train.max_grad_norm"),
    ({"gradient_clipping": 1.0}, {"max_grad_norm": None}, "train.max_grad_norm"),
])
def test_deepspeed_values_fixed_in_the_launch_config_must_match_the_recipe(fixed, train, field, monkeypatch):
    plugin = _deepspeed_plugin("zero2.yaml", monkeypatch, **fixed)
    with pytest.raises(InstillError, match=field.replace(".", r"\.")) as err:
        fill_deepspeed_config(plugin.deepspeed_config, TrainConfig(**train), num_processes=2)
    assert next(iter(fixed)) in str(err.value)
    agreeing = {"grad_accum": 1} if "gradient_accumulation_steps" in fixed else {"max_grad_norm": 1.0}
    fill_deepspeed_config(plugin.deepspeed_config, TrainConfig(**agreeing), num_processes=2)  # equal values pass


@pytest.mark.slow
@pytest.mark.parametrize("config", ["zero2.yaml", "zero3.yaml"])
def test_deepspeed_matches_one_process(tmp_path, tiny_llama_dir, alpaca_file, make_recipe, config):
    """DeepSpeed ZeRO-2 / ZeRO-3 on 2 CPU processes x 2 micro-batches of 1 (instill's accumulation; DeepSpeed
    steps once, at the boundary, clipping at train.max_grad_norm) = 1 process x 4 micro-batches of 1: the same
    losses per step and validation loss. The gradient norms are 2.8, 2.1 and 4.3: clipping at 2.5 acts on steps 1
    and 3 only, so a gradient DeepSpeed divided once more by its accumulation count (1.4, 1.1, 2.1, never clipped)
    gives other Adam updates, as does an optimizer step per micro-batch. The run stops at a checkpoint (DeepSpeed's
    per-rank ZeRO files) that a second launch resumes; the gathered model/ has the unsharded run's weights."""
    pytest.importorskip("deepspeed")
    from transformers import AutoModelForCausalLM

    common = dict(batching="padded", schedule="constant", loss_head="full", precision="fp32", max_grad_norm=2.5,
                  max_steps=3, batch_size=1)
    one = make_recipe(tmp_path / "one", alpaca_file, str(tiny_llama_dir), grad_accum=4, **common)
    one["data"]["validation_fraction"] = 0.05
    train(Recipe.model_validate(one))
    two = make_recipe(tmp_path / "two", alpaca_file, str(tiny_llama_dir), grad_accum=2, **common)
    two["data"]["validation_fraction"] = 0.05
    recipe = tmp_path / "two.yaml"
    recipe.write_text(yaml.safe_dump(two))
    _launch(config, recipe, "train.max_steps=2", "train.save_every=2", shim=DS_SHIM)
    ckpt = tmp_path / "two" / "checkpoints" / "step-0000002" / "pytorch_model"  # DeepSpeed's own layout
    assert sorted(p.name for p in ckpt.glob("*optim_states.pt")) == [
        "zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"]
    _launch(config, recipe, "train.resume=true", shim=DS_SHIM)
    assert sorted(_metrics(tmp_path / "two", "loss")) == [1, 2, 3]
    assert _metrics(tmp_path / "two", "loss") == pytest.approx(_metrics(tmp_path / "one", "loss"), rel=1e-5)
    val_two, val_one = _metrics(tmp_path / "two", "val_loss")[3], _metrics(tmp_path / "one", "val_loss")[3]
    assert val_two == pytest.approx(val_one, rel=1e-5)
    sharded = AutoModelForCausalLM.from_pretrained(tmp_path / "two" / "model")
    whole = AutoModelForCausalLM.from_pretrained(tmp_path / "one" / "model")
    # ZeRO-3 reduce-scatters in another summation order; 3 Adam steps at lr 1e-2 leave up to 2.2e-6 on weights of ~0.1
    for (name, p), q in zip(whole.named_parameters(), sharded.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-5, msg=name)
