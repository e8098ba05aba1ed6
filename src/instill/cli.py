"""The `instill` command. Each subcommand parses its arguments, builds a config and calls one library function."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Optional

import typer

from instill.errors import InstillError
from instill.formats import PROMPT_FORMATS
from instill.inference.sampling import default as sampling_default

app = typer.Typer(
    help="instill: turn a base language model into one that follows instructions.\n\n"
    "Typical flow: `instill run recipes/quickstart.yaml` (data, training, base vs tuned evaluation, report), then "
    "`instill generate --model runs/quickstart/model \"What is the capital of France?\"`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Task cards, mixtures, and training data the way the model sees it.", no_args_is_help=True)
app.add_typer(data_app, name="data")
si_app = typer.Typer(help="Self-Instruct: grow an instruction set from seed tasks with a language model.",
                     no_args_is_help=True)
app.add_typer(si_app, name="selfinstruct")

MODEL_HELP = ("A model folder (from `instill train`), a .gguf file (converted once), a named offline model "
              "(gemma-3-270m, with the gemma extra) or a hub id.")


@app.command()
def train(
    recipe: str = typer.Argument(..., help="YAML recipe, e.g. recipes/quickstart.yaml."),
    overrides: Optional[list[str]] = typer.Argument(
        None, help="key=value overrides of recipe fields, e.g. train.lr=3e-4 model.name=gpt2 run_dir=runs/x."
    ),
) -> None:
    """Fine-tune a model on instruction data (loss on responses only).

    Writes run_dir/config.yaml (the resolved recipe), metrics.jsonl, checkpoints/ and model/ (a folder that transformers loads as is).

    Multi-process: `accelerate launch -m instill.cli train RECIPE` or `torchrun --nproc_per_node N -m instill.cli train RECIPE`.
    """
    from instill.config import load_recipe
    from instill.train.loop import train as run_training

    cfg = load_recipe(recipe, overrides or [])
    out = run_training(cfg)
    if os.environ.get("RANK", "0") == "0":  # one line, not one per process
        typer.echo(f"model saved to {out}")


PRECISION_HELP = ("Weights for inference: auto (bf16 on a GPU or a CPU with AMX, else fp32), "
                  "fp32 or bf16.")


def _precision(value: str) -> str:
    from typing import get_args

    from instill.precision import Precision

    if value not in get_args(Precision):
        raise InstillError(f"--precision {value}: expected one of {', '.join(get_args(Precision))}")
    return value


SAMPLING_FLAGS = {"max_tokens": "--max-new-tokens", "temperature": "--temperature", "top_p": "--top-p"}
MAX_NEW_TOKENS_HELP = "Longest reply, in tokens."
TEMPERATURE_HELP = "0 = greedy decoding; above 0 samples (at most 2)."
TOP_P_HELP = "Nucleus sampling mass (with temperature > 0); there is never a top-k cut."


def _params(max_new_tokens: int, temperature: float, top_p: float, seed: Optional[int]):
    """The options as SamplingParams, the one meaning every door shares; an error names the flag."""
    from instill.inference.sampling import SamplingParams

    try:
        return SamplingParams(max_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed)
    except InstillError as e:
        field = str(e).split(" ", 1)[0]
        raise InstillError(str(e).replace(field, SAMPLING_FLAGS.get(field, field), 1)) from None


@app.command()
def generate(
    prompt: str = typer.Argument(..., help="The instruction (or, with --raw, the text to continue)."),
    model: str = typer.Option(..., "--model", "-m", help=MODEL_HELP),
    system: str = typer.Option("", help="A system prompt to put before the instruction."),
    raw: bool = typer.Option(False, "--raw", help="Continue the text as is, without the chat template (as a base model is used)."),
    max_new_tokens: int = typer.Option(sampling_default("max_tokens"), help=MAX_NEW_TOKENS_HELP),
    temperature: float = typer.Option(sampling_default("temperature"), help=TEMPERATURE_HELP),
    top_p: float = typer.Option(sampling_default("top_p"), help=TOP_P_HELP),
    seed: Optional[int] = typer.Option(sampling_default("seed"), help="Seed for sampling."),
    stream_out: bool = typer.Option(True, "--stream/--no-stream", help="Print tokens as they come."),
    precision: str = typer.Option("auto", help=PRECISION_HELP),
) -> None:
    """Answer one instruction with a model, streaming the reply.

    `--raw` continues plain text as a base model does: `instill generate -m gemma-3-270m --raw "The capital of France is"`.
    """
    from instill.inference.chat_model import load_chat_model
    from instill.inference.engine import generate as run_generate

    params = _params(max_new_tokens, temperature, top_p, seed)
    cm = load_chat_model(model, precision=_precision(precision))
    system_turn = [{"role": "system", "content": system}] if system else []
    ids = cm.raw_ids(prompt) if raw else cm.chat_ids(system_turn + [{"role": "user", "content": prompt}])
    if not stream_out:
        typer.echo(run_generate(cm, ids, params).text.strip())
        return
    run_generate(cm, ids, params, on_text=lambda piece: typer.echo(piece, nl=False))
    typer.echo()


@app.command()
def chat(
    model: Optional[str] = typer.Option(
        None, "--model", "-m",
        help=MODEL_HELP + " With --base-url: the served model's name (default: the server's first model).",
    ),
    base_url: Optional[str] = typer.Option(
        None, "--base-url",
        help="Talk to an OpenAI-compatible server instead of loading a model, e.g. http://127.0.0.1:8000/v1 "
        "(`instill serve`, vLLM, llama.cpp, a hosted API).",
    ),
    api_key: Optional[str] = typer.Option(
        None, "--api-key", envvar="INSTILL_API_KEY", help="With --base-url: the server's API key.", show_default=False
    ),
    system: str = typer.Option("", help="A system prompt for the whole chat."),
    max_new_tokens: int = typer.Option(sampling_default("max_tokens"), help=MAX_NEW_TOKENS_HELP),
    temperature: float = typer.Option(sampling_default("temperature"), help=TEMPERATURE_HELP),
    top_p: float = typer.Option(sampling_default("top_p"), help=TOP_P_HELP),
    seed: Optional[int] = typer.Option(sampling_default("seed"), help="Seed for sampling."),
    precision: str = typer.Option("auto", help=PRECISION_HELP),
) -> None:
    """Talk to a model in the terminal: multi-turn, streamed; /reset clears the history, /exit quits.

    `instill chat --model DIR` loads the model here; `instill chat --base-url URL` talks to a server.
    """
    from instill.chat import chat_loop, local_reply

    params = _params(max_new_tokens, temperature, top_p, seed)
    if base_url is None:
        if model is None:
            raise InstillError("give --model DIR (a model folder) or --base-url URL (a server)")
        from instill.inference.chat_model import load_chat_model

        chat_loop(local_reply(load_chat_model(model, precision=_precision(precision)), params), system_prompt=system)
        return
    from instill.llm.openai import OpenAIBackend

    backend = OpenAIBackend(base_url, model or "", api_key, max_retries=2)
    if model is None:
        names = backend.models()
        if not names:
            raise InstillError(f"{base_url} offers no models; name one with --model")
        backend.model = names[0]

    def served_reply(history: list[dict[str, str]], on_text: Any) -> None:
        for piece in backend.stream_chat(history, params):
            on_text(piece)

    chat_loop(served_reply, system_prompt=system)


def _eval_default(name: str, schema: str = "EvalConfig") -> Any:
    """A default of `instill eval`'s schemas (EvalConfig: how a model is asked; MixtureConfig: eval_format and
    eval_per_task, how items are rendered), so a flag and the recipe field cannot disagree."""
    from instill import config

    return getattr(config, schema).model_fields[name].default


def _serve_default(name: str) -> Any:
    """A default of the server's settings, so the flag and ServeSettings cannot disagree."""
    import dataclasses

    from instill.serve.settings import ServeSettings

    return next(f.default for f in dataclasses.fields(ServeSettings) if f.name == name)


@app.command()
def serve(
    model: str = typer.Option(..., "--model", "-m", help=MODEL_HELP),
    host: str = typer.Option(
        "127.0.0.1", help="Address to listen on. The default takes local connections only; 0.0.0.0 opens the "
        "server to the network (set --api-key then)."
    ),
    port: int = typer.Option(8000, help="Port to listen on; 0 picks a free one (the address is printed)."),
    api_key: Optional[str] = typer.Option(
        None, "--api-key", envvar="INSTILL_API_KEY", show_default=False,
        help="Require `Authorization: Bearer KEY` on every /v1 request (/health stays open). Prefer the "
        "INSTILL_API_KEY environment variable: a flag shows in the process list.",
    ),
    name: Optional[str] = typer.Option(
        None, help="The model name clients pass as `model` (default: the --model value)."
    ),
    max_batch_size: int = typer.Option(_serve_default("max_batch_size"),
                                       help="Sequences generated together; 1 turns batching off."),
    max_wait_ms: float = typer.Option(_serve_default("max_wait_ms"),
                                      help="How long a request waits for others to share its batch."),
    max_queue: int = typer.Option(_serve_default("max_queue"),
                                  help="Requests allowed to wait; past it the server answers 429."),
    timeout: float = typer.Option(_serve_default("timeout_s"),
                                  help="Seconds a request may take, waiting included; past it: 504."),
    default_max_tokens: int = typer.Option(_serve_default("default_max_tokens"),
                                           help="Reply length for chat requests that give no max_tokens."),
    device: str = typer.Option("auto", help="auto (cuda when there is one), cpu, cuda, cuda:1, ..."),
    threads: Optional[int] = typer.Option(
        None, help="CPU threads for the model (default: torch's, one per core). A small model on a busy CPU can "
        "run many times faster with 1."
    ),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log one line per request."),
    max_body_mb: float = typer.Option(_serve_default("max_body_mb"), help="Largest request body in MB; larger "
                                      "ones are answered 413 at once."),
    precision: str = typer.Option("auto", help=PRECISION_HELP),
) -> None:
    """Serve a model over an OpenAI-compatible HTTP API.

    Endpoints: GET /v1/models, POST /v1/completions, POST /v1/chat/completions (`"stream": true` for server-sent events), GET /health. Chat requests use the model's chat template, encoded exactly as in training.

    Concurrent requests are batched onto the model: a request waits up to --max-wait-ms for others, and up to --max-batch-size sequences are generated together.

    Try it: `instill serve --model runs/quickstart/model`, then `instill chat --base-url http://127.0.0.1:8000/v1`, or any OpenAI client with base_url http://127.0.0.1:8000/v1.
    """
    from instill.inference.chat_model import load_chat_model
    from instill.serve.server import run_server
    from instill.serve.settings import ServeSettings

    for flag, value in [("--max-batch-size", max_batch_size), ("--max-queue", max_queue), ("--max-body-mb", max_body_mb),
                        ("--timeout", timeout), ("--default-max-tokens", default_max_tokens)]:
        if value <= 0:
            raise InstillError(f"{flag} must be positive (got {value:g})")
    if max_wait_ms < 0:
        raise InstillError(f"--max-wait-ms must be >= 0 (got {max_wait_ms:g})")
    if threads is not None:
        if threads <= 0:
            raise InstillError(f"--threads must be positive (got {threads})")
        import torch

        torch.set_num_threads(threads)  # before the worker thread starts; it inherits the setting
    cm = load_chat_model(model, precision=_precision(precision))
    cm.model.to(_device(device))
    settings = ServeSettings(model_name=name or model, api_key=api_key or None, max_batch_size=max_batch_size,
                             max_wait_ms=max_wait_ms, max_queue=max_queue, timeout_s=timeout,
                             default_max_tokens=default_max_tokens, max_body_mb=max_body_mb)
    run_server(cm, settings, host, port, access_log=access_log)


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InstillError(f"--device: unknown device '{name}' (auto, cpu, cuda, cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InstillError("--device cuda: no CUDA device is available")
    return device


@data_app.command("preview")
def data_preview(
    recipe: str = typer.Argument(..., help="YAML recipe whose training data to show."),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides."),
    n: int = typer.Option(2, "-n", help="How many conversations to show."),
) -> None:
    """Show how conversations are tokenized: text that carries loss is wrapped in [[ ]]."""
    from instill.config import load_recipe
    from instill.preview import preview

    typer.echo(preview(load_recipe(recipe, overrides or []), n))


@data_app.command("tasks")
def data_tasks(
    cards: Optional[list[str]] = typer.Option(None, "--cards", help="Extra task cards: a YAML file or a folder of them (repeatable)."),
    cluster: Optional[str] = typer.Option(None, help="Only tasks of this cluster."),
    builtin: bool = typer.Option(True, "--builtin/--no-builtin", help="Include the task cards instill ships."),
    sizes: bool = typer.Option(False, "--sizes", help="Also count instances per split (generates or reads them)."),
) -> None:
    """List task cards: name, cluster, templates (inverted ones in brackets), options, chain of thought.

    A task is a YAML card (see src/instill/tasks/cards/ for examples); add your own with --cards my_cards/.
    """
    from instill.tasks import load_tasks

    tasks = load_tasks(cards or [], builtin=builtin)
    rows = sorted((t for t in tasks.values() if cluster is None or t.cluster == cluster), key=lambda t: (t.cluster, t.name))
    if not rows:
        raise InstillError(f"no tasks in cluster '{cluster}'" if cluster else "no tasks")
    head = f"{'task':32} {'cluster':26} {'templates':>9}  {'options':8} {'cot':4}"
    typer.echo(head + ("  train/validation/test" if sizes else ""))
    for t in rows:
        inv = sum(tpl.inverted for tpl in t.templates)
        line = (f"{t.name:32} {t.cluster:26} {len(t.templates):>5} ({inv})  {'yes' if t.has_options else '-':8} "
                f"{'yes' if t.has_cot else '-':4}")
        if sizes:
            line += "  " + "/".join(str(len(t.split(s))) for s in ("train", "validation", "test"))
        typer.echo(line)
    clusters = {t.cluster for t in rows}
    typer.echo(f"{len(rows)} tasks in {len(clusters)} clusters, {sum(len(t.templates) for t in rows)} templates")


@data_app.command("build")
def data_build(
    recipe: str = typer.Argument(..., help="YAML recipe with a 'mixture' section, e.g. recipes/quickstart.yaml."),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides, e.g. mixture.held_out_clusters=[nli]."),
    plot: bool = typer.Option(True, "--plot/--no-plot", help="Draw composition.png."),
) -> None:
    """Build the recipe's task mixture: run_dir/data/{train,validation,eval}.jsonl, stats.json, composition.png.

    Tasks are rendered through their templates in the recipe's formats, mixed examples-proportionally with a cap,
    and held-out clusters go to eval.jsonl only; the build refuses a mixture that leaks into evaluation.
    """
    from instill.build import build
    from instill.config import load_recipe

    mix, paths = build(load_recipe(recipe, overrides or []), plot=plot)
    s = mix.stats
    held = set(mix.held_out_tasks)
    n_held = sum(1 for c in mix.eval if c.task in held)
    typer.echo(f"{s['examples']} training examples from {len(s['tasks'])} tasks in {len(s['clusters'])} clusters "
               f"({s['tokens']['prompt']} prompt + {s['tokens']['target']} target tokens); "
               f"{len(mix.validation)} validation; {len(mix.eval)} eval rows: {n_held} from "
               f"{len(mix.held_out_tasks)} held-out tasks (clusters: {', '.join(mix.held_out_clusters) or 'none'}), "
               f"{len(mix.eval) - n_held} unseen instances of seen tasks")
    typer.echo("formats: " + ", ".join(f"{k} {v}" for k, v in s["formats"].items()))
    typer.echo(f"wrote {paths['train'].parent}/: " + ", ".join(p.name for p in paths.values()))


def _print_summary(result: dict, level: str = "clusters") -> None:
    metrics = ("score", "exact_match", "rouge_l", "accuracy")
    typer.echo(f"{level[:-1]:<36} {'n':>5} " + " ".join(f"{m:>11}" for m in metrics))
    for name, r in [*result[level].items(), ("overall", result["overall"])]:
        typer.echo(f"{name:<36} {r['n']:>5} " + " ".join(f"{r[m]:>11.2f}" if m in r else f"{'-':>11}" for m in metrics))


@app.command("eval")
def eval_cmd(
    model: str = typer.Option(..., "--model", "-m", help=MODEL_HELP),
    data: Optional[str] = typer.Option(None, help="An eval set: one evaluation row per line, as `instill data build` writes run_dir/data/eval.jsonl."),
    tasks: Optional[list[str]] = typer.Option(None, "--tasks", "-t", help="Task names or globs (repeatable); see `instill data tasks`."),
    clusters: Optional[list[str]] = typer.Option(None, "--clusters", "-c", help="Whole clusters (repeatable)."),
    cards: Optional[list[str]] = typer.Option(None, "--cards", help="Extra task cards: YAML files or folders."),
    sni: Optional[str] = typer.Option(None, help="A Super-NaturalInstructions folder (tasks/ and splits/default/)."),
    sni_split: str = typer.Option("test", help="SNI tasks to evaluate: test (the benchmark: first 100 instances each), train or all."),
    fmt: str = typer.Option(_eval_default("eval_format", "MixtureConfig"), "--format", help="Prompt format: " + ", ".join(PROMPT_FORMATS) + "."),
    per_task: int = typer.Option(_eval_default("eval_per_task", "MixtureConfig"), help="Items per task (from its test split)."),
    options: str = typer.Option(_eval_default("options"), help="Tasks with options: rank (log-likelihood of each option) or generate."),
    normalize: str = typer.Option(_eval_default("normalize"), help="Ranking: none (summed log-prob), chars (per character, lm_eval's acc_norm) or tokens."),
    prompt_style: str = typer.Option(_eval_default("prompt_style"), help="chat: the chat template, as instill trains; raw: plain text (a base model)."),
    max_new_tokens: int = typer.Option(_eval_default("max_new_tokens"), help="Longest generated answer (chain of thought: --cot-max-new-tokens)."),
    cot_max_new_tokens: int = typer.Option(_eval_default("cot_max_new_tokens"), help="Longest generated chain of thought."),
    batch_size: int = typer.Option(_eval_default("batch_size"), help="Prompts generated together."),
    out: str = typer.Option("eval_out", help="Folder for predictions.jsonl and metrics.json."),
    per_task_table: bool = typer.Option(False, "--show-tasks", help="Print the per-task table too."),
    precision: str = typer.Option(_eval_default("precision"), help=PRECISION_HELP),
) -> None:
    """Evaluate a model zero-shot (or few-shot, or with chain of thought) and write every prediction.

    Items come from --data, or are rendered from --tasks/--clusters, or from an SNI folder with --sni. Tasks with
    options are ranked by log-likelihood; others are generated greedily and scored by exact match and ROUGE-L as
    Super-NaturalInstructions defines them (x100).

    Example: `instill eval -m runs/quickstart/model --clusters nli --clusters paraphrase`.
    """
    from pydantic import ValidationError

    from instill.config import EvalConfig
    from instill.evaluate.items import read_eval_jsonl, task_items
    from instill.evaluate.runner import evaluate_model

    if fmt not in PROMPT_FORMATS:
        raise InstillError(f"--format {fmt}: expected one of {', '.join(PROMPT_FORMATS)}")
    try:
        cfg = EvalConfig(options=options, normalize=normalize, prompt_style=prompt_style, max_new_tokens=max_new_tokens,
                         cot_max_new_tokens=cot_max_new_tokens, batch_size=batch_size, precision=precision)
    except ValidationError as e:
        first = e.errors()[0]
        raise InstillError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None
    if data and (tasks or clusters or sni):
        raise InstillError("give --data, or --tasks/--clusters/--sni, not both")
    if data:
        items = read_eval_jsonl(data)
    else:
        patterns = list(tasks or []) + [f"cluster:{c}" for c in clusters or []]
        items = task_items(patterns, fmt=fmt, per_task=per_task, cards=cards or [], sni=sni, sni_split=sni_split)
    result = evaluate_model(model, items, cfg, out)
    _print_summary(result, "clusters")
    if per_task_table:
        _print_summary(result, "tasks")
    typer.echo(f"wrote {out}/predictions.jsonl and {out}/metrics.json ({result['seconds']:.1f} s)")


@app.command("run")
def run_cmd(
    recipe: str = typer.Argument(..., help="YAML recipe with a 'mixture' section, e.g. recipes/quickstart.yaml."),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides, e.g. run_dir=runs/x train.epochs=1."),
) -> None:
    """The whole pipeline in one folder: data -> train -> evaluate base and tuned -> report.

    Held-out clusters (and unseen instances of seen tasks, with mixture.eval_seen_tasks=true) are evaluated on the
    base model and on the tuned one; run_dir/report.md compares them per cluster and per task, with sample answers
    and plots. Run it again to resume: finished stages are skipped, a cut-short training continues from its last
    checkpoint, and a stage whose recipe fields changed is refused.
    """
    from instill.config import load_recipe
    from instill.run import run

    report = run(load_recipe(recipe, overrides or []))
    typer.echo(f"report: {report}")


@app.command("sweep")
def sweep_cmd(
    sweep_file: str = typer.Argument(..., help="A sweep file, e.g. recipes/cluster_sweep.yaml or recipes/size_sweep.yaml."),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides applied to every point."),
) -> None:
    """Several `instill run`s that differ in a few fields (clusters trained on, model size) and one plot of the
    held-out score across them: run_dir/sweep.md, sweep.json, sweep.png. Resumable like `instill run`."""
    from instill.sweep import load_sweep, run_sweep

    typer.echo(f"sweep: {run_sweep(load_sweep(sweep_file), overrides or [])}")


@si_app.command("generate")
def selfinstruct_generate(
    out: str = typer.Option(..., "--out", "-o", help="Run folder: store.jsonl (append-only), then pool.jsonl, "
                            "conversations.jsonl, alpaca_data.json. Run again on the same folder to resume."),
    overrides: Optional[list[str]] = typer.Argument(
        None, help="key=value overrides of config fields, e.g. filters.novelty_threshold=0.6 instructions.temperature=1.0."),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="YAML config (any fields of SelfInstructConfig)."),
    backend: Optional[str] = typer.Option(None, help="openai (any OpenAI-compatible server) or local (a model folder)."),
    base_url: Optional[str] = typer.Option(None, help="With --backend openai: the API root, e.g. http://127.0.0.1:8000/v1."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="The served model's name, or the local model folder."),
    api_key: Optional[str] = typer.Option(
        None, "--api-key", envvar="INSTILL_API_KEY", show_default=False,
        help="With --backend openai: the server's API key (as `instill serve --api-key`), sent instead of the "
        "config's api_key_env variable (OPENAI_API_KEY); never written to --out. Prefer the INSTILL_API_KEY "
        "environment variable: a flag shows in the process list."),
    api: Optional[str] = typer.Option(None, help="completion (plain prompts, as the paper) or chat (one user turn)."),
    seeds: Optional[str] = typer.Option(None, help="Seed tasks JSONL (id, name, instruction, instances, "
                                        "is_classification); default: the 175 instill ships."),
    target: Optional[int] = typer.Option(None, help="Machine-made instructions to keep [default: 100]."),
    style: Optional[str] = typer.Option(None, help="self-instruct (the paper's loop) or alpaca (3 seeds, 20 whole tasks per call)."),
    concurrency: Optional[int] = typer.Option(None, help="Requests in flight at once [default: 8]."),
    seed: Optional[int] = typer.Option(None, help="Seed for prompt sampling (and sampling, where the backend allows) [default: 0]."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
) -> None:
    """Run Self-Instruct until --target instructions are kept, each with its instances.

    Every filter of the paper applies (length, blacklist, bad starts, ROUGE-L > 0.7 against seeds and kept
    instructions, instance validity, conflicting outputs, duplicates); all prompts, constants and filters can be
    changed in --config or as key=value. A killed run continues where it stopped when started again on --out.

    Example: `instill selfinstruct generate --backend openai --base-url http://127.0.0.1:8000/v1 --model tiny --target 50 --out runs/si`.
    """
    from instill.selfinstruct import export, generate, load_config
    from instill.selfinstruct.stats import summary, write_stats

    spec = {k: v for k, v in {"backend": backend, "base_url": base_url, "model": model}.items() if v is not None}
    if backend is None and spec:
        raise InstillError("--base-url and --model need --backend openai or --backend local")
    cfg = load_config(config, overrides or [], out_dir=out, backend=spec or None, api=api, seeds=seeds,
                      target=target, style=style, concurrency=concurrency, seed=seed)
    counts = generate(cfg, progress=progress, api_key=api_key or None)
    paths = export(cfg.out_dir)
    stats, _ = write_stats(cfg.out_dir, plots=False)
    typer.echo(summary(stats))
    typer.echo(f"wrote {cfg.out_dir}/: store.jsonl, " + ", ".join(p.name for p in paths.values()))
    if counts.kept < cfg.target:
        typer.echo(f"stopped before the target: {counts.kept} of {cfg.target} kept (max_requests or give_up_after)")


@si_app.command("stats")
def selfinstruct_stats(
    folder: str = typer.Argument(..., help="A run folder of `instill selfinstruct generate`."),
    plot: bool = typer.Option(True, "--plot/--no-plot", help="Draw similarity.png, lengths.png, verbs.png."),
) -> None:
    """Counts, rejections by filter, the ROUGE-L histogram against the seeds, lengths, leading verbs.

    Writes FOLDER/stats/stats.json (and the plots). Leading verbs use a simple heuristic: the first word.
    """
    from instill.selfinstruct.stats import summary, write_stats

    stats, paths = write_stats(folder, plots=plot)
    typer.echo(summary(stats))
    typer.echo(f"wrote {folder}/stats/: stats.json" + "".join(f", {p.name}" for p in paths))


@si_app.command("export")
def selfinstruct_export(
    folder: str = typer.Argument(..., help="A run folder of `instill selfinstruct generate`."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Where to write (default: the run folder)."),
) -> None:
    """Write pool.jsonl (instructions with their most similar neighbours and scores), conversations.jsonl (instill
    records for `instill train`) and alpaca_data.json."""
    from instill.selfinstruct import export

    paths = export(folder, out)
    typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))


def main() -> None:
    """Entry point: user mistakes print one line and exit 1; anything else is a bug and keeps its traceback."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "accelerate"):  # per-file checkpoint lines; their warnings still show
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("accelerate.utils.other").addFilter(lambda r: "Removed shared tensor" not in r.getMessage())
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars on every tiny load
    try:
        app()
    except InstillError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
