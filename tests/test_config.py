"""Recipes: YAML + `key=value` overrides, validated; every mistake is one InstillError naming the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from instill.config import Recipe, apply_override, load_recipe
from instill.errors import InstillError
from instill.sources import load_source

RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"
# recipes/accelerate/ holds `accelerate launch` configs, not instill recipes (tests/test_train.py reads them)
SHIPPED = sorted(p for p in RECIPES_DIR.rglob("*") if p.suffix in (".yaml", ".yml") and "accelerate" not in p.parts)
SWEEPS = [p for p in SHIPPED if p.stem.endswith("_sweep")]  # `instill sweep` files: a recipe plus points
RECIPES = [p for p in SHIPPED if p not in SWEEPS]


def write_recipe(tmp_path: Path, tree: dict | str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(tree if isinstance(tree, str) else yaml.safe_dump(tree), encoding="utf-8")
    return path


def minimal(**extra) -> dict:
    return {"data": {"train": [{"format": "alpaca", "path": "train.jsonl"}]}, **extra}


def fails(path, overrides=(), *parts) -> str:
    """load_recipe must raise a one-line InstillError containing every part."""
    with pytest.raises(InstillError) as info:
        load_recipe(path, list(overrides))
    msg = str(info.value)
    assert "\n" not in msg, msg
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    return msg


# --- loading and overrides ----------------------------------------------------------------------------------------


def test_valid_recipe_loads_with_defaults(tmp_path):
    path = write_recipe(tmp_path, {
        "run_dir": "runs/x",
        "model": {"name": "tiny", "tiny": {"hidden_size": 64}},
        "data": {"train": [{"format": "alpaca", "path": "a.jsonl", "limit": 10},
                           {"format": "sharegpt", "hub": "org/chats", "split": "train[:1%]"}],
                 "validation_fraction": 0.1},
        "train": {"lr": 1e-3, "betas": [0.8, 0.9]},
    })
    r = load_recipe(path)
    assert isinstance(r, Recipe)
    assert r.run_dir == "runs/x"
    assert r.model.tiny.hidden_size == 64 and r.model.tiny.num_layers == 4  # unset fields keep their defaults
    assert [(s.format, s.path, s.hub, s.limit) for s in r.data.train] == [
        ("alpaca", "a.jsonl", None, 10), ("sharegpt", None, "org/chats", None)]
    assert r.data.train[1].split == "train[:1%]"
    assert r.data.validation_fraction == 0.1
    assert r.train.lr == 1e-3 and r.train.betas == (0.8, 0.9)
    assert r.train.method == "full" and r.train.resume is False and r.chat.template == "auto"


def test_overrides_are_nested_and_yaml_typed(tmp_path):
    path = write_recipe(tmp_path, minimal(train={"lr": 1.0}))
    r = load_recipe(path, ["train.lr=3e-4", "train.resume=true", "train.max_steps=7", "model.tiny.num_layers=2",
                           "run_dir=runs/over", "train.max_grad_norm=null", "train.lora.target_modules=[q_proj, v_proj]"])
    assert isinstance(r.train.lr, float) and r.train.lr == pytest.approx(3e-4)
    assert r.train.resume is True
    assert r.train.max_steps == 7
    assert r.model.tiny.num_layers == 2 and r.model.tiny.hidden_size == 128
    assert r.run_dir == "runs/over"
    assert r.train.max_grad_norm is None
    assert r.train.lora.target_modules == ["q_proj", "v_proj"]


def test_override_values_parse_as_yaml_before_validation():
    tree = {"train": {"lr": 1.0}}
    apply_override(tree, "train.lr=3e-4")  # YAML 1.1 would read '3e-4' as a string
    apply_override(tree, "train.resume=true")
    apply_override(tree, "data.train=[{format: alpaca, path: x.jsonl, limit: 5}]")  # flow mapping, new section
    apply_override(tree, "data.system_prompt=")
    assert tree == {
        "train": {"lr": 3e-4, "resume": True},
        "data": {"train": [{"format": "alpaca", "path": "x.jsonl", "limit": 5}], "system_prompt": ""},
    }
    assert isinstance(tree["train"]["lr"], float)


def test_overrides_without_a_file_and_in_the_file_units(tmp_path):
    r = load_recipe(None, ["data.train=[{format: openai, path: chats.jsonl}]", "train.lr=1e5"])
    assert r.data.train[0].format == "openai" and r.train.lr == 1e5
    # exponent floats written in the recipe file read the same way
    r = load_recipe(write_recipe(tmp_path, "data:\n  train: [{format: alpaca, path: a.jsonl}]\ntrain:\n  lr: 3e-4\n"))
    assert r.train.lr == pytest.approx(3e-4)


def test_bad_override_syntax(tmp_path):
    path = write_recipe(tmp_path, minimal(train={"lr": 0.1}))
    fails(path, ["train.lr"], "train.lr", "key=value")
    fails(path, ["train.lr.x=1"], "'lr' is not a section")


# --- errors -------------------------------------------------------------------------------------------------------


def test_unknown_field_in_yaml_names_file_field_and_suggests(tmp_path):
    path = write_recipe(tmp_path, minimal(train={"lrr": 0.1}))
    msg = fails(path, (), str(path), "unknown field 'train.lrr'", "did you mean 'train.lr'")
    assert msg.startswith(str(path))


def test_unknown_top_level_and_nested_fields(tmp_path):
    fails(write_recipe(tmp_path, minimal(trian={"lr": 0.1})), (), "unknown field 'trian'", "did you mean 'train'")
    fails(write_recipe(tmp_path, minimal(model={"tiny": {"hiden_size": 8}})), (),
          "unknown field 'model.tiny.hiden_size'", "did you mean 'model.tiny.hidden_size'")


def test_unknown_field_via_override(tmp_path):
    path = write_recipe(tmp_path, minimal())
    # the error points at the override that set the field, not at the file
    fails(path, ["train.lrr=3e-4"], "override 'train.lrr=3e-4'", "unknown field 'train.lrr'", "did you mean 'train.lr'")
    fails(None, ["data.train=[{format: alpaca, path: a.jsonl}]", "train.lrr=3e-4"],
          "override 'train.lrr=3e-4'", "unknown field 'train.lrr'", "did you mean 'train.lr'")


def test_typo_inside_a_source_suggests_the_source_field(tmp_path):
    fails(write_recipe(tmp_path, minimal()), ["data.train=[{format: alpaca, path: a.jsonl, limt: 3}]"],
          "unknown field 'data.train.0.limt'", "did you mean 'data.train.limit'")


def test_numbers_given_to_text_fields_stay_text(tmp_path):
    assert load_recipe(write_recipe(tmp_path, minimal()), ["run_dir=2024"]).run_dir == "2024"


def test_unknown_field_without_a_near_key_has_no_hint(tmp_path):
    msg = fails(write_recipe(tmp_path, minimal(zzzzzz=1)), (), "unknown field 'zzzzzz'")
    assert "did you mean" not in msg


@pytest.mark.parametrize("override, field", [
    ("train.batch_size=lots", "train.batch_size"),
    ("train.lr=-1", "train.lr"),
    ("train.method=qlora", "train.method"),
    ("data.max_length=[1]", "data.max_length"),
    ("train.resume=maybe", "train.resume"),
])
def test_wrong_type_names_the_field(tmp_path, override, field):
    path = write_recipe(tmp_path, minimal())
    fails(path, [override], f"override '{override}': {field}:")


def test_bad_source_format_names_the_source(tmp_path):
    path = write_recipe(tmp_path, {"data": {"train": [{"format": "alpacca", "path": "a.jsonl"}]}})
    fails(path, (), f"{path}: data.train.0.format:", "alpaca")


def test_validation_and_validation_fraction_together(tmp_path):
    path = write_recipe(tmp_path, minimal())
    fails(path, ["data.validation=[{format: alpaca, path: v.jsonl}]", "data.validation_fraction=0.1"],
          str(path), "data.validation", "validation_fraction", "not both")
    # each alone is fine
    assert load_recipe(path, ["data.validation=[{format: alpaca, path: v.jsonl}]"]).data.validation[0].path == "v.jsonl"
    assert load_recipe(path, ["data.validation_fraction=0.1"]).data.validation_fraction == 0.1


@pytest.mark.parametrize("source", [
    "{format: alpaca, path: a.jsonl, hub: org/data}",
    "{format: alpaca}",
])
def test_source_needs_exactly_one_of_path_and_hub(tmp_path, source):
    path = write_recipe(tmp_path, minimal())
    fails(path, [f"data.train=[{source}]"], f"override 'data.train=[{source}]': data.train.0:", "exactly one of 'path' or 'hub'")


def test_data_is_required(tmp_path):
    fails(write_recipe(tmp_path, {"run_dir": "x"}), (), "data", "required")
    fails(write_recipe(tmp_path, {"data": {"train": []}}), (), "data.train")


def test_missing_recipe_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    fails(missing, (), str(missing), "not found")
    fails(tmp_path, (), str(tmp_path), "not found")  # a folder is not a recipe


def test_invalid_yaml(tmp_path):
    path = write_recipe(tmp_path, "data:\n  train: [\n    - format: alpaca\n  lr: : :\n")
    fails(path, (), str(path), "invalid YAML")


def test_recipe_must_be_a_mapping(tmp_path):
    fails(write_recipe(tmp_path, "- a\n- b\n"), (), "a recipe must be a mapping")


def test_empty_recipe_file_reports_missing_data(tmp_path):
    fails(write_recipe(tmp_path, ""), (), "no training data", "data.train", "mixture")


# --- the shipped recipes ------------------------------------------------------------------------------------------


def test_recipes_are_found():
    assert RECIPES_DIR / "quickstart.yaml" in RECIPES


@pytest.mark.parametrize("path", RECIPES, ids=[str(p.relative_to(RECIPES_DIR)) for p in RECIPES])
def test_shipped_recipe_validates_and_its_data_is_there(path, tmp_path, write_sni_folder):
    """Each shipped recipe loads, and what it trains on exists: its mixture selects tasks of every held-out cluster
    and renders training rows (SNI recipes on a fixture copy), and its builtin sources load."""
    from instill.mixture import build_mixture

    recipe = load_recipe(path)
    sources = recipe.data.train + recipe.data.validation
    assert recipe.mixture is not None or sources, "a recipe trains on a mixture or on data sources"
    if recipe.mixture is not None:
        sni = sni_path_override(path, write_sni_folder(tmp_path))
        small = load_recipe(path, [*sni, "mixture.max_per_task=2", "mixture.eval_per_task=1", "mixture.size=null",
                                   "mixture.rates={}", "mixture.mixing_cap=2"])
        mix = build_mixture(small.mixture, small.seed)
        assert mix.train and mix.eval and set(mix.held_out_clusters) >= set(recipe.mixture.held_out_clusters)
    for src in sources:
        assert src.path is not None and src.path.startswith("builtin:"), f"{path}: {src} is not shipped"
        records = load_source(format=src.format, path=src.path, subset=src.subset, split=src.split,
                              limit=min(src.limit or 5, 5), train_on=recipe.data.train_on)
        assert 0 < len(records) <= 5, src
    # overrides apply on top of every shipped recipe
    assert load_recipe(path, ["train.lr=3e-4"]).train.lr == pytest.approx(3e-4)


def test_a_recipe_with_a_missing_builtin_source_fails_the_shipped_recipe_check(tmp_path, write_sni_folder):
    """The check above can fail: a recipe naming a builtin file instill does not ship is refused."""
    bad = write_recipe(tmp_path, {"data": {"train": [{"format": "alpaca", "path": "builtin:nope"}]}})
    with pytest.raises(InstillError, match="unknown builtin dataset 'nope'"):
        test_shipped_recipe_validates_and_its_data_is_there(bad, tmp_path, write_sni_folder)


def sni_path_override(recipe_path, folder) -> list[str]:
    """Shipped SNI recipes name the user's clone (`natural-instructions`); tests point them at a fixture copy."""
    recipe = load_recipe(recipe_path)
    if not any(c.kind == "sni" for c in recipe.mixture.collections):
        return []
    return [f"mixture.collections=[{{kind: sni, path: '{folder}', eval_instances: 5}}]"]


@pytest.mark.parametrize("path", SWEEPS, ids=[p.name for p in SWEEPS])
def test_shipped_sweep_points_are_valid_recipes(path, tmp_path, write_sni_folder):
    from instill.mixture import selected_tasks
    from instill.sweep import load_sweep

    sweep = load_sweep(path)
    sni = sni_path_override(sweep.recipe, write_sni_folder(tmp_path))
    assert sweep.points
    for point in sweep.points:
        recipe = load_recipe(sweep.recipe, [*sweep.overrides, *point.overrides, *sni])
        chosen = selected_tasks(recipe.mixture)  # raises when a point selects no task of its held-out cluster
        assert {t.cluster for t in chosen.values()} >= set(recipe.mixture.held_out_clusters)


def test_invalid_yaml_in_an_override_is_one_line(tmp_path):
    fails(write_recipe(tmp_path, minimal()), ["data.train=[{format: alpaca"], "override 'data.train=[{format: alpaca'",
          "invalid YAML value")


def test_tiny_model_heads_must_divide_width(tmp_path):
    fails(write_recipe(tmp_path, minimal()), ["model.tiny.num_heads=5"], "model.tiny", "num_heads (5)")


def test_unmerged_adapter_on_tiny_is_refused(tmp_path):
    fails(write_recipe(tmp_path, minimal()), ["train.method=lora", "train.lora.merge=false"], "train.lora.merge=true")
