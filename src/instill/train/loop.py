"""The training run: setup -> fit -> save. A short loop of our own on accelerate, so DDP, FSDP and DeepSpeed come
from `accelerate launch` / `torchrun` without a trainer subclass."""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from instill.build import write_mixture
from instill.chat_format import ChatFormat
from instill.config import Recipe, TrainConfig, save_recipe
from instill.errors import InstillError
from instill.mixture import Mixture, build_mixture
from instill.precision import resolve_precision
from instill.tokenize import IGNORE_INDEX, Encoded
from instill.train.layouts import deepspeed_logs_to_stderr, fill_deepspeed_config, is_deepspeed, is_sharded
from instill.train.lora import apply_lora, fp32_lora_base, whole_lora_model
from instill.train import checkpoint, tracking
from instill.train.batching import BATCHINGS, Stream, collate_batch
from instill.train.data import encode_all, load_model_and_format, prepare_conversations
from instill.train.loss import chunkable_head, count_loss_tokens, summed_loss

log = logging.getLogger("instill.train")


@dataclass
class Session:
    recipe: Recipe
    run_dir: Path
    accelerator: Any
    model: Any
    tokenizer: Any
    fmt: ChatFormat
    is_seq2seq: bool
    optimizer: Any
    scheduler: Any
    train_data: list[Encoded]
    val_data: list[Encoded]
    stream: Stream
    total_steps: int
    head: Any = None  # the output layer when the chunked loss head applies (see loss.chunkable_head)
    pack_row_length: int = 0  # packed rows hold at most this many tokens
    start_step: int = 0


def _optimizer_and_schedule(model: Any, cfg: TrainConfig, total_steps: int) -> tuple[Any, Any]:
    from transformers import get_scheduler

    params = [p for p in model.parameters() if p.requires_grad]
    # fused: one kernel over all parameters (the per-tensor default cost ~6% of a CPU step on the bench model)
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, fused=True)
    name = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}[cfg.schedule]
    return optimizer, get_scheduler(name, optimizer, num_warmup_steps=cfg.warmup_steps, num_training_steps=total_steps)


def _has_accelerator() -> bool:
    """accelerate takes the multi-process CPU (gloo) path under torchrun only when told it runs on CPU."""
    xpu = getattr(torch, "xpu", None)
    return torch.cuda.is_available() or torch.backends.mps.is_available() or bool(xpu and xpu.is_available())


def _precision(cfg: TrainConfig) -> str:
    """accelerate's mixed_precision for train.precision; auto = bf16 on a GPU or CPU with bf16 units."""
    device = "cuda" if torch.cuda.is_available() else ("cpu" if not _has_accelerator() else "other")
    return "bf16" if resolve_precision(cfg.precision, device) == "bf16" else "no"


def _make_stream(cfg: TrainConfig, data: list[Encoded], is_seq2seq: bool, world_size: int, seed: int) -> Stream:
    """The data order train.batching gives (an encoder-decoder's length counts its target too)."""
    lengths = [len(e.input_ids) + (len(e.labels) if is_seq2seq else 0) for e in data]
    return BATCHINGS[cfg.batching].stream(lengths, cfg, world_size, seed)


def _prepare_model(model: Any, cfg: TrainConfig, is_seq2seq: bool, precision: str) -> Any:
    """Activation checkpointing and LoRA, in that order (peft wraps a model whose layers already recompute).

    LoRA under bf16: the frozen base weights are stored in bf16 (they need no fp32 master copy), the adapters stay
    fp32. Autocast caches its bf16 copy only of weights that require grad, so a frozen fp32 base was cast again in
    every forward: the 262k x 640 tied head of Gemma once per loss chunk. Measured on Gemma 3 270M, LoRA r=16 on
    2 cores: 82 tok/s with fp32 base weights under autocast against 212 tok/s in plain fp32. Parameters only:
    float buffers (RoPE's inv_freq) stay fp32, as `from_pretrained(dtype=bfloat16)` keeps them; `model.to(bf16)`
    rounded the rotary frequencies, a phase error growing with the position that inference never sees. The final
    save reloads the fp32 base (`lora.fp32_lora_base`).
    """
    if cfg.activation_checkpointing:
        kwargs = {"use_reentrant": False}  # the reentrant variant needs inputs that require grad (LoRA has none)
        if hasattr(model, "activation_checkpointing_enable"):  # the newer name; gradient_checkpointing_* warns
            model.activation_checkpointing_enable(kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    if cfg.method == "lora":
        if precision == "bf16":
            for p in model.parameters():  # tied weights are one parameter, cast once
                p.data = p.data.to(torch.bfloat16)
        model = apply_lora(model, cfg, is_seq2seq)  # peft keeps the adapters in fp32 (autocast_adapter_dtype)
    return model


def _loss_head(model: Any, cfg: TrainConfig, is_seq2seq: bool, accelerator: Any) -> Any:
    """The output layer for the chunked head, or None (full logits), saying why when one was asked for."""
    from accelerate.utils import DistributedType

    if cfg.loss_head == "full" or is_seq2seq:
        return None
    if accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        reason = "sharded weights are not whole outside the model's forward"
        head = None
    else:
        head, reason = chunkable_head(model)
    if head is None and accelerator.is_main_process:
        log.warning("train.loss_head=chunked does not fit this model (%s); using the full head", reason)
    return head


def _pack_row_length(model: Any, recipe: Recipe) -> int:
    """Packed rows: data.max_length tokens under sdpa/eager, whose masked attention costs the row length squared;
    one row per micro-batch under flash-attention, whose variable-length kernels cost each sequence alone."""
    impl = getattr(model.config, "_attn_implementation", None) or ""
    return 2**62 if impl.startswith("flash") else recipe.data.max_length


BASE_MODEL_DIR = "base_model"  # model.name=tiny: the untrained model, saved so evaluations can compare with it


def setup(recipe: Recipe, mixture: Mixture | None = None) -> Session:
    """Everything before the first step: data, model, optimizer, and the checkpoint to resume from. A mixture
    already built from this recipe (by `instill run`) is used as is."""
    from accelerate import Accelerator

    deepspeed_logs_to_stderr()
    from accelerate.state import AcceleratorState
    from accelerate.utils import set_seed

    cfg = recipe.train
    # AcceleratorState is a process-wide singleton that refuses a second precision; reset it (keeping the
    # process group) so one process can run several trainings (tests, sweeps). Private, but stable since 0.20.
    AcceleratorState._reset_state(reset_partial_state=False)
    mixed = _precision(cfg)
    accelerator = Accelerator(mixed_precision=mixed, cpu=not _has_accelerator(), **tracking.accelerator_kwargs(recipe))
    set_seed(recipe.seed)
    run_dir = Path(recipe.run_dir)
    if not cfg.resume and any((run_dir / name).exists() for name in ("metrics.jsonl", "model", "checkpoints")):
        raise InstillError(f"{run_dir} holds an earlier run; set train.resume=true to continue it, "
                           "or choose another run_dir")
    built_here = recipe.mixture is not None and mixture is None
    if built_here:
        mixture = build_mixture(recipe.mixture, recipe.seed, recipe.data.system_prompt,
                                progress=accelerator.is_main_process)
    convs, val_convs = prepare_conversations(recipe, mixture)
    if built_here and accelerator.is_main_process:  # the data it trained on, as `instill data build` writes it
        write_mixture(recipe, mixture)
    loaded, fmt = load_model_and_format(recipe, convs)
    train_data, stats = encode_all(convs, loaded.tokenizer, fmt, recipe.data, loaded.is_seq2seq)
    val_data, _ = encode_all(val_convs, loaded.tokenizer, fmt, recipe.data, loaded.is_seq2seq)
    if not train_data:
        raise InstillError("no training sequence fits data.max_length; raise it")
    if accelerator.is_main_process:
        if stats.dropped_too_long:
            log.warning("dropped %d sequences whose response does not fit data.max_length", stats.dropped_too_long)
        log.info("train: %d sequences, %d tokens, %d carry loss (%d with a cut prompt); validation: %d sequences",
                 stats.sequences, stats.tokens, stats.loss_tokens, stats.truncated, len(val_data))
    if BATCHINGS[cfg.batching].decoder_only and loaded.is_seq2seq:
        raise InstillError(f"train.batching={cfg.batching} needs a decoder-only model; use train.batching=grouped")
    base_dir = run_dir / BASE_MODEL_DIR
    if recipe.model.name == "tiny" and accelerator.is_main_process and not base_dir.exists():
        checkpoint.save_model(loaded.model, loaded.tokenizer, fmt, base_dir, merge_lora=False)
    model = _prepare_model(loaded.model, cfg, loaded.is_seq2seq, "bf16" if mixed == "bf16" else "fp32")
    head = _loss_head(model, cfg, loaded.is_seq2seq, accelerator)
    row_length = _pack_row_length(loaded.model, recipe)
    stream = _make_stream(cfg, train_data, loaded.is_seq2seq, accelerator.num_processes, recipe.seed)
    total = cfg.max_steps or stream.steps_for(cfg.epochs)
    optimizer, scheduler = _optimizer_and_schedule(model, cfg, total)
    if is_deepspeed(accelerator):
        fill_deepspeed_config(accelerator.state.deepspeed_plugin.deepspeed_config, cfg, accelerator.num_processes)
        accelerator.gradient_accumulation_steps = cfg.grad_accum  # what accelerate compares DeepSpeed's with
    # The scheduler is not prepared: accelerate's wrapper steps it once per process. It is checkpointed as is.
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    session = Session(recipe, run_dir, accelerator, model, loaded.tokenizer, fmt, loaded.is_seq2seq,
                      optimizer, scheduler, train_data, val_data, stream, total, head, row_length)
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_recipe(recipe, run_dir / "config.yaml")
        (run_dir / "data_stats.json").write_text(json.dumps(vars(stats), indent=1))
    tracking.start(accelerator, recipe)
    if cfg.resume and (last := checkpoint.latest_checkpoint(run_dir)) is not None:
        session.start_step = checkpoint.load_checkpoint(accelerator, last)["step"]
        if accelerator.is_main_process:
            log.info("resumed from %s at step %d", last, session.start_step)
    if cfg.resume and accelerator.is_main_process:
        _forget_metrics_after(run_dir / "metrics.jsonl", session.start_step)
    accelerator.wait_for_everyone()
    return session


def _forget_metrics_after(path: Path, step: int) -> None:
    """Steps after the checkpoint are run again on resume; drop their old rows so each step is logged once."""
    if path.is_file():
        rows = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
        path.write_text("".join(r + "\n" for r in rows))


def _global_sums(accelerator: Any, *values: float) -> list[float]:
    """Sum each value over processes, in one all-reduce."""
    if accelerator.num_processes == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=accelerator.device)
    return accelerator.reduce(t, reduction="sum").tolist()


def make_batch(s: Session, seqs: list[Encoded]) -> dict[str, torch.Tensor]:
    """Collate a micro-batch as train.batching says (padded with a mask, right-padded without, or packed)."""
    return collate_batch(s.recipe.train.batching, seqs, s.tokenizer.pad_token_id, s.is_seq2seq, s.pack_row_length)


def train_step(s: Session, step: int) -> tuple[float, int]:
    """One optimizer step; returns (mean loss over the step's loss tokens, tokens seen by all processes)."""
    acc, device = s.accelerator, s.accelerator.device
    micro = [[s.train_data[i] for i in idx] for idx in s.stream.micro_batches(step, acc.process_index)]
    batches = [make_batch(s, seqs) for seqs in micro]
    # needed before the backward pass: the loss is divided by the step's token count over all processes
    (n_global,) = _global_sums(acc, sum(count_loss_tokens(b, s.is_seq2seq) for b in batches))
    s.model.train()
    total, tokens = 0.0, sum(len(e.input_ids) for seqs in micro for e in seqs)
    deepspeed = is_deepspeed(acc)
    for k, batch in enumerate(batches):
        batch = {key: v.to(device) for key, v in batch.items()}
        last = k == len(batches) - 1
        sync = acc.no_sync(s.model) if not last else nullcontext()
        # DeepSpeed: accelerate's backward clips and steps the engine whenever sync_gradients is set (its own
        # accumulate() would set it); instill accumulates itself, so only the step's last micro-batch is the boundary.
        backward_kwargs = {"scale_wrt_gas": False} if deepspeed else {}  # see fill_deepspeed_config
        if deepspeed:
            acc.gradient_state._set_sync_gradients(last)
        with sync, acc.autocast():
            loss_sum = summed_loss(s.model, batch, s.is_seq2seq, s.head, s.recipe.train.loss_chunk_size)
            # DDP averages gradients over processes, so scale by the process count to get a global token mean.
            acc.backward(loss_sum * acc.num_processes / max(n_global, 1.0), **backward_kwargs)
        total += float(loss_sum.detach())
    if s.recipe.train.max_grad_norm is not None:
        acc.clip_grad_norm_(s.model.parameters(), s.recipe.train.max_grad_norm)
    s.optimizer.step()
    s.scheduler.step()
    s.optimizer.zero_grad(set_to_none=True)
    total, tokens = _global_sums(acc, total, tokens)
    return total / max(n_global, 1.0), int(tokens)


@torch.no_grad()
def validation_loss(s: Session) -> float | None:
    """Mean loss per loss token over the validation set, sharded over processes, collated as training collates.

    Every process runs the same number of forward passes (FSDP and DDP forwards hold collectives): a short shard is
    padded with sequences whose labels are all -100, which add nothing to the loss or the count.
    """
    if not s.val_data:
        return None
    s.model.eval()
    acc, bs = s.accelerator, s.recipe.train.batch_size
    mine = s.val_data[acc.process_index :: acc.num_processes]
    per_process = -(-len(s.val_data) // acc.num_processes)
    first = s.val_data[0]
    mine = mine + [Encoded(first.input_ids, [IGNORE_INDEX] * len(first.labels))] * (per_process - len(mine))
    loss, count = 0.0, 0
    for i in range(0, per_process, bs):
        batch = {k: v.to(acc.device) for k, v in make_batch(s, mine[i : i + bs]).items()}
        with acc.autocast():
            loss += float(summed_loss(s.model, batch, s.is_seq2seq, s.head, s.recipe.train.loss_chunk_size))
        count += count_loss_tokens(batch, s.is_seq2seq)
    loss, count = _global_sums(acc, loss, count)
    return loss / max(count, 1.0)


def _log(s: Session, record: dict) -> None:
    """A row of metrics.jsonl (the record of the run), then the same row to train.report_to's trackers."""
    if s.accelerator.is_main_process:
        with open(s.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
    tracking.log(s.accelerator, record)


def fit(s: Session) -> list[float]:
    """Run the remaining steps with a progress bar; returns the loss of each step run here."""
    cfg, acc = s.recipe.train, s.accelerator
    bar = tqdm(total=s.total_steps, initial=s.start_step, desc="train", unit="step",
               disable=not acc.is_main_process, dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30.0)  # a log file gets a line every 30 s
    losses: list[float] = []
    window_loss, window_tokens, t0 = [], 0, time.perf_counter()
    for step in range(s.start_step, s.total_steps):
        loss, tokens = train_step(s, step)
        losses.append(loss)
        window_loss.append(loss)
        window_tokens += tokens
        done = step + 1
        if done % cfg.log_every == 0 or done == s.total_steps:
            rate = window_tokens / max(time.perf_counter() - t0, 1e-9)
            mean = sum(window_loss) / len(window_loss)
            bar.set_postfix(loss=f"{mean:.4f}", lr=f"{s.scheduler.get_last_lr()[0]:.2e}", tok_s=f"{rate:,.0f}", refresh=False)
            _log(s, {"step": done, "loss": round(mean, 6), "lr": s.scheduler.get_last_lr()[0], "tokens_per_s": round(rate, 1)})
            window_loss, window_tokens, t0 = [], 0, time.perf_counter()
        if cfg.eval_every and done % cfg.eval_every == 0 and done != s.total_steps:
            _log(s, {"step": done, "val_loss": validation_loss(s)})
        if not math.isfinite(loss):  # before any checkpoint, so a resume never starts from broken weights
            raise InstillError(f"loss became {loss} at step {done}; lower train.lr or use precision=fp32")
        if cfg.save_every and done % cfg.save_every == 0:
            checkpoint.save_checkpoint(acc, s.run_dir, done, {"loss": loss}, cfg.keep_checkpoints)
        bar.update(1)
    bar.close()
    return losses


def train(recipe: Recipe, mixture: Mixture | None = None) -> Path:
    """Train as the recipe says; returns the folder of the final model."""
    s = setup(recipe, mixture)
    try:
        fit(s)
        val = validation_loss(s)
        if val is not None:
            _log(s, {"step": s.total_steps, "val_loss": val})
            if s.accelerator.is_main_process:
                log.info("validation loss %.4f", val)
    finally:  # a failed run's tracker runs are closed too, with what they got
        tracking.finish(s.accelerator)
    out = s.run_dir / "model"
    s.accelerator.wait_for_everyone()
    # every process takes part: under FSDP / ZeRO-3 this gathers the sharded weights
    lora_sharded = s.recipe.train.method == "lora" and is_sharded(s.accelerator)
    state = s.accelerator.get_state_dict(s.model) if s.recipe.train.method == "full" or lora_sharded else None
    if s.accelerator.is_main_process:
        model = s.accelerator.unwrap_model(s.model)
        if lora_sharded:
            model, state = whole_lora_model(state, s.recipe, s.tokenizer, s.is_seq2seq), None
        if any(p.dtype == torch.bfloat16 for p in model.parameters()):  # a bf16 LoRA base: saved in fp32
            model = fp32_lora_base(model, s.recipe, s.tokenizer) if s.recipe.train.lora.merge else model.float()
        checkpoint.save_model(model, s.tokenizer, s.fmt, out, s.recipe.train.lora.merge, state_dict=state)
    s.accelerator.wait_for_everyone()
    return out
