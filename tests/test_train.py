"""Training on tiny models: the loss by hand, learning, save/load/generate, resume, LoRA, encoder-decoder."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch
import yaml

from instill.config import Recipe
from instill.errors import InstillError
from instill.inference.chat_model import load_chat_model
from instill.inference.engine import generate
from instill.inference.sampling import SamplingParams
from instill.modeling import load_pretrained
from instill.tokenize import IGNORE_INDEX, Encoded, encode_prompt
from instill.train import checkpoint
from instill.train.batching import BatchStream
from instill.train.packing import collate_padded
from instill.train.loop import fit, setup, train, train_step
from instill.train.loss import count_loss_tokens, summed_loss


def metrics(run_dir: Path, key: str = "loss") -> dict[int, float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r[key] for r in rows if key in r}


def test_causal_loss_equals_hand_computation(tiny_llama_dir):
    model = load_pretrained(str(tiny_llama_dir)).model
    batch = collate_padded([Encoded([5, 6, 7, 8, 9], [X := IGNORE_INDEX, X, X, 8, 9]), Encoded([10, 11, 12], [X, 11, 12])], pad_id=0)
    got = summed_loss(model, batch, is_seq2seq=False)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    by_hand = 0.0
    for row in range(2):
        for t in range(batch["input_ids"].shape[1] - 1):
            target = int(batch["labels"][row, t + 1])
            if target != IGNORE_INDEX:  # position t predicts token t+1
                by_hand -= math.log(torch.softmax(logits[row, t].double(), -1)[target].item())
    assert count_loss_tokens(batch, is_seq2seq=False) == 4
    assert got.item() == pytest.approx(by_hand, rel=1e-5)


def test_seq2seq_loss_equals_hand_computation(tiny_t5_dir):
    loaded = load_pretrained(str(tiny_t5_dir))
    assert loaded.is_seq2seq
    model = loaded.model
    batch = collate_padded([Encoded([5, 6, 7], [8, 9, 3]), Encoded([10, 11], [12, 3])], pad_id=0)
    got = summed_loss(model, batch, is_seq2seq=True)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).logits
    by_hand = 0.0
    for row in range(2):
        for t in range(batch["labels"].shape[1]):
            target = int(batch["labels"][row, t])
            if target != IGNORE_INDEX:
                by_hand -= math.log(torch.softmax(logits[row, t].double(), -1)[target].item())
    assert count_loss_tokens(batch, is_seq2seq=True) == 5
    assert got.item() == pytest.approx(by_hand, rel=1e-5)


def test_batch_stream_covers_every_example_once_per_epoch():
    stream = BatchStream(n_examples=10, batch_size=2, grad_accum=1, world_size=1, seed=3)
    seen = [i for step in range(5) for idx in stream.micro_batches(step, 0) for i in idx]
    assert sorted(seen) == list(range(10))
    two = BatchStream(n_examples=10, batch_size=1, grad_accum=1, world_size=2, seed=3)
    split = [i for step in range(5) for rank in (0, 1) for idx in two.micro_batches(step, rank) for i in idx]
    assert split == seen  # two processes share the same global order


def test_training_lowers_loss_and_round_trips(tmp_path, tiny_llama_dir, alpaca_file, make_recipe):
    recipe = Recipe.model_validate(make_recipe(tmp_path / "run", alpaca_file, str(tiny_llama_dir), max_steps=150))
    out = train(recipe)
    losses = metrics(tmp_path / "run")
    assert losses[150] < 0.05 * losses[1]
    # the folder loads with plain transformers, chat template included
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert AutoModelForCausalLM.from_pretrained(out) is not None
    assert AutoTokenizer.from_pretrained(out).chat_template
    cm = load_chat_model(str(out))
    ask = [{"role": "user", "content": "What is the capital of France?"}]
    reply = generate(cm, cm.chat_ids(ask), SamplingParams(max_tokens=12)).text.strip()
    assert reply == "Paris."
    assert (tmp_path / "run" / "config.yaml").is_file()


def test_accumulation_does_not_change_the_step(tmp_path, tiny_llama_dir, alpaca_file, make_recipe):
    """One step of 1 x 8 and of 4 x 2 sees the same examples: same loss, same gradient (Adam would hide a scale)."""
    results = []
    for name, bs, accum in (("a", 8, 1), ("b", 2, 4)):
        cfg = make_recipe(tmp_path / name, alpaca_file, str(tiny_llama_dir), max_steps=1, batch_size=bs, grad_accum=accum,
                          batching="padded", precision="fp32")  # fp32 whatever `auto` is: bf16 rounds by batch shape
        s = setup(Recipe.model_validate(cfg))
        s.optimizer.zero_grad = lambda set_to_none=True: None  # keep the step's gradient for inspection
        loss, _ = train_step(s, 0)
        results.append((loss, [p.grad.clone() for p in s.model.parameters()]))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    for g, h in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(g, h, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("method", ["full", "lora"])  # LoRA dropout makes the restored random state matter
def test_resume_continues_the_same_loss_curve(tmp_path, tiny_llama_dir, alpaca_file, make_recipe, method):
    full = make_recipe(tmp_path / "full", alpaca_file, str(tiny_llama_dir), max_steps=6, method=method)
    train(Recipe.model_validate(full))
    expected = metrics(tmp_path / "full")

    # a run killed after step 4, its last checkpoint at step 3; a fresh process picks it up
    part = make_recipe(tmp_path / "part", alpaca_file, str(tiny_llama_dir), max_steps=6, save_every=3, method=method)
    s = setup(Recipe.model_validate(part))
    s.total_steps = 4
    first = fit(s)
    assert checkpoint.latest_checkpoint(tmp_path / "part").name == "step-0000003"
    part["train"]["resume"] = True
    resumed = setup(Recipe.model_validate(part))
    assert resumed.start_step == 3
    rest = fit(resumed)
    assert first[:3] + rest == pytest.approx([expected[i] for i in range(1, 7)], rel=1e-5)
    steps = [json.loads(line)["step"] for line in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]  # step 4 ran twice but is logged once


def test_a_second_run_into_the_same_folder_is_refused(tmp_path, tiny_llama_dir, alpaca_file, make_recipe):
    cfg = make_recipe(tmp_path / "run", alpaca_file, str(tiny_llama_dir), max_steps=1)
    train(Recipe.model_validate(cfg))
    with pytest.raises(InstillError, match="train.resume=true"):
        train(Recipe.model_validate(cfg))


def test_lora_trains_only_adapter_weights(tmp_path, tiny_llama_dir, alpaca_file, make_recipe):
    cfg = make_recipe(tmp_path / "lora", alpaca_file, str(tiny_llama_dir), max_steps=3, method="lora")
    s = setup(Recipe.model_validate(cfg))
    before = {n: p.detach().clone() for n, p in s.model.named_parameters()}
    trainable = [n for n, p in s.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    for step in range(3):
        train_step(s, step)
    for n, p in s.model.named_parameters():
        if "lora_" not in n:
            assert torch.equal(before[n], p.detach()), f"base weight {n} changed"
    assert all(not torch.equal(before[n], p.detach()) for n, p in s.model.named_parameters() if "lora_B" in n)


def test_lora_saves_merged_or_as_adapter_with_the_same_outputs(tmp_path, tiny_llama_dir, alpaca_file, make_recipe):
    from transformers import AutoModelForCausalLM

    # fp32: under bf16 the base is stored in bf16 for training (test_gguf checks the bf16 save)
    cfg = make_recipe(tmp_path / "lora", alpaca_file, str(tiny_llama_dir), max_steps=5, method="lora", precision="fp32")
    s = setup(Recipe.model_validate(cfg))
    fit(s)
    model = s.accelerator.unwrap_model(s.model).eval()
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    with torch.no_grad():
        reference = model(input_ids=ids).logits  # the trained adapter, unmerged, in peft
    checkpoint.save_model(model, s.tokenizer, s.fmt, tmp_path / "adapter", merge_lora=False)
    checkpoint.save_model(model, s.tokenizer, s.fmt, tmp_path / "merged", merge_lora=True)
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")  # plain transformers, no peft
    assert not any("lora" in n for n, _ in merged.named_parameters())
    adapter = load_chat_model(str(tmp_path / "adapter"), precision="fp32").model  # base + adapter through peft
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits, reference, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(adapter(input_ids=ids).logits, reference, rtol=1e-4, atol=1e-5)


def test_multi_token_end_of_turn_stops_generation_on_the_text(tiny_llama_dir):
    """Greedy decoding is deterministic: take two tokens the model generates as the end-of-turn text; generation
    must stop where that text first completes, and the reply is cut before it, whole and streamed."""
    from instill.chat_format import ChatFormat

    cm = load_chat_model(str(tiny_llama_dir))
    chat = [{"role": "user", "content": "Hello there"}]
    prompt = torch.tensor([encode_prompt(cm.tokenizer, cm.fmt, chat)])
    with torch.no_grad():
        free = cm.model.generate(input_ids=prompt, max_new_tokens=24, do_sample=False, eos_token_id=None)[0, prompt.shape[1] :]
    decode = cm.tokenizer.decode
    # a random model emits partial UTF-8 bytes; the marker must be text that can appear in the decoded reply
    marker = next(m for i in range(len(free) - 1) if (m := decode(free[i : i + 2])).isascii() and m.strip()
                  and len(cm.tokenizer(m, add_special_tokens=False)["input_ids"]) > 1)
    stop_at = next(n for n in range(1, len(free) + 1) if marker in decode(free[:n]))
    cm.fmt = ChatFormat(cm.fmt.template, end_of_turn=marker)
    pieces: list[str] = []
    done = generate(cm, cm.chat_ids(chat), SamplingParams(max_tokens=24), on_text=pieces.append)
    assert done.completion_tokens == stop_at < len(free)  # generation itself stops, not only the text
    expected = decode(free, skip_special_tokens=True).split(marker, 1)[0]
    assert done.text == "".join(pieces) == expected


def test_seq2seq_trains_and_generates(tmp_path, tiny_t5_dir, alpaca_file, make_recipe):
    cfg = make_recipe(tmp_path / "t5", alpaca_file, str(tiny_t5_dir), max_steps=150)
    out = train(Recipe.model_validate(cfg))
    losses = metrics(tmp_path / "t5")
    assert losses[150] < 0.05 * losses[1]
    cm = load_chat_model(str(out))
    assert cm.is_seq2seq
    ask = [{"role": "user", "content": "What is the capital of France?"}]
    reply = generate(cm, cm.chat_ids(ask), SamplingParams(max_tokens=12)).text.strip()
    assert reply == "Paris."


def test_two_processes_match_one(tmp_path, tiny_llama_dir, alpaca_file, make_recipe):
    """torchrun with 2 CPU processes (gloo), 2 sequences each, gives the losses of 1 process with 4."""
    import subprocess
    import sys

    # fp32 whatever `auto` is: under bf16, 2 x 2 and 1 x 4 sequences round differently (losses apart by ~1e-4)
    one = make_recipe(tmp_path / "one", alpaca_file, str(tiny_llama_dir), max_steps=3, batch_size=4, batching="padded",
                      precision="fp32")
    one["data"]["validation_fraction"] = 0.05  # 1 validation sequence: process 1 gets none of its own
    train(Recipe.model_validate(one))
    two = make_recipe(tmp_path / "two", alpaca_file, str(tiny_llama_dir), max_steps=3, batching="padded",
                      precision="fp32")
    two["data"]["validation_fraction"] = 0.05
    recipe = tmp_path / "two.yaml"
    recipe.write_text(yaml.safe_dump(two))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "instill.cli", "train",
           str(recipe), "train.batch_size=2", "train.save_every=3"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("model saved to") == 1
    assert metrics(tmp_path / "two") == pytest.approx(metrics(tmp_path / "one"), rel=1e-5)
    assert metrics(tmp_path / "two", "val_loss") == pytest.approx(metrics(tmp_path / "one", "val_loss"), rel=1e-5)
    assert len(metrics(tmp_path / "one", "val_loss")) == 1
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints" / "step-0000003").glob("random_states_*")) == [
        "random_states_0.pkl", "random_states_1.pkl"]


def test_bf16_autocast_trains(tmp_path, tiny_llama_dir, alpaca_file, make_recipe):
    cfg = make_recipe(tmp_path / "bf16", alpaca_file, str(tiny_llama_dir), max_steps=20, precision="bf16")
    s = setup(Recipe.model_validate(cfg))
    losses = fit(s)
    assert all(math.isfinite(x) for x in losses) and losses[-1] < 0.6 * losses[0]
    assert next(s.model.parameters()).dtype == torch.float32  # master weights stay fp32 under autocast


def test_default_template_round_trip_stops_at_eos(tmp_path, tiny_llama_dir, alpaca_file, make_recipe):
    """With chat.template=default (what a base model without a template gets), the saved tokenizer carries that
    template, and generation stops at the eos that ends each trained response."""
    from instill.chat_format import DEFAULT_TEMPLATE

    cfg = make_recipe(tmp_path / "default", alpaca_file, str(tiny_llama_dir), max_steps=150)
    cfg["chat"] = {"template": "default"}
    out = train(Recipe.model_validate(cfg))
    cm = load_chat_model(str(out))
    assert cm.fmt.template == DEFAULT_TEMPLATE
    ask = [{"role": "user", "content": "Add 2 and 3."}]
    reply = generate(cm, cm.chat_ids(ask), SamplingParams(max_tokens=30)).text.strip()
    assert reply == "The answer is 5."


MIXTURE_RECIPE = """
model: {name: tiny, tiny: {hidden_size: 32, num_layers: 2, num_heads: 2, intermediate_size: 64, vocab_size: 400}}
mixture:
  tasks: ["cluster:nli", "even_odd", "addition"]
  held_out_clusters: [nli]
  max_per_task: 6
  validation_per_task: 1
  eval_per_task: 2
  formats: {zero_shot: 1.0}
data: {max_length: 128}
train: {max_steps: 1, batch_size: 4}
"""


def test_train_and_data_build_write_the_same_data_folder(tmp_path):
    """`instill train` writes the mixture it trains on with the writer `instill data build` uses: the same rows,
    the same stats.json (token counts included) and the composition plot."""
    from typer.testing import CliRunner

    from instill.cli import app

    (tmp_path / "r.yaml").write_text(MIXTURE_RECIPE)
    for command, name in ((["train"], "trained"), (["data", "build"], "built")):
        res = CliRunner().invoke(app, [*command, str(tmp_path / "r.yaml"), f"run_dir={tmp_path / name}"])
        assert res.exit_code == 0, res.output
    trained, built = tmp_path / "trained" / "data", tmp_path / "built" / "data"
    stats = json.loads((trained / "stats.json").read_text())
    assert stats == json.loads((built / "stats.json").read_text()) and stats["tokens"]["target"] > 0
    for name in ("train.jsonl", "validation.jsonl", "eval.jsonl"):
        assert (trained / name).read_text() == (built / name).read_text(), name
    assert (trained / "composition.png").is_file() and (built / "composition.png").is_file()
