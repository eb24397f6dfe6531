from pathlib import Path

import pytest
import yaml

from textgan.config import save_recipe
from textgan.errors import UserError
from textgan.games import load_recipe, recipe_from_dict
from textgan.storage import RECIPES_DIR

BASE = {"game": "toy", "data": {"mixture": "ring"}, "train": {"steps": 10}}


def test_defaults_and_overrides():
    recipe = recipe_from_dict(BASE, ["train.steps=20", "optim_g.lr=1e-3",
                                     "optim_d.betas=[0.0, 0.9]", "loss.name=hinge"])
    assert recipe.train.steps == 20
    assert recipe.optim_g.lr == 1e-3 and isinstance(recipe.optim_g.lr, float)
    assert recipe.optim_d.betas == (0.0, 0.9)
    assert recipe.loss.name == "hinge"
    assert recipe.data.mixture == "ring" and recipe.model.z_dim == 2


def test_wgan_gp_defaults_to_penalty_weight_10():
    assert recipe_from_dict(BASE, ["loss.name=wgan-gp"]).loss.effective_gp_weight == 10.0
    assert recipe_from_dict(BASE, ["loss.name=wgan-gp", "loss.gp_weight=1"]).loss.effective_gp_weight == 1.0
    assert recipe_from_dict(BASE).loss.effective_gp_weight == 0.0


@pytest.mark.parametrize(
    "override,message",
    [
        ("train.setps=5", "unknown recipe key 'train.setps'; did you mean train.steps?"),
        ("optim_g.lrr=0.1", "did you mean optim_g.lr?"),
        ("model.z_dims=3", "did you mean model.z_dim?"),
        ("trian.steps=5", "did you mean train?"),
        ("train.steps=ten", "recipe key 'train.steps' expects int, got str 'ten'"),
        ("train.steps=2.5", "expects int"),
        ("train.spectral_norm=3", "expects bool"),
        ("optim_g.betas=0.5", "expects a list"),
        ("optim_g.betas=[0.5]", "expects 2 values"),
        ("optim_g.lr=.nan", "must be a finite number"),
        ("optim_g.lr=-1", "optim_g.lr must be > 0"),
        ("loss.name=hinj", "did you mean 'hinge'?"),
        ("train=5", "train must be a mapping"),
        ("nosuchthing", "--set expects key.path=value"),
    ],
)
def test_config_errors_name_the_key(override, message):
    with pytest.raises(UserError) as info:
        recipe_from_dict(BASE, [override])
    assert message in str(info.value)


def test_unknown_game_and_missing_game():
    with pytest.raises(UserError, match="unknown game 'toi'.*did you mean 'toy'"):
        recipe_from_dict({"game": "toi"})
    with pytest.raises(UserError, match="must name its game"):
        recipe_from_dict({"train": {}})


def test_label_smoothing_refused_where_meaningless():
    with pytest.raises(UserError, match="no meaning for the hinge loss"):
        recipe_from_dict(BASE, ["loss.name=hinge", "loss.label_smoothing=0.1"])


def test_load_errors(tmp_path: Path):
    with pytest.raises(UserError, match="recipe file not found"):
        load_recipe(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("game: [toy\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_recipe(bad)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("description: caf\xe9\ngame: toy\n".encode("latin-1"))
    with pytest.raises(UserError, match="not UTF-8"):
        load_recipe(latin)
    listing = tmp_path / "list.yaml"
    listing.write_text("- game\n")
    with pytest.raises(UserError, match="must be a YAML mapping"):
        load_recipe(listing)
    code = tmp_path / "code.yaml"
    code.write_text("game: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_recipe(code)


def test_saved_recipe_round_trips(tmp_path: Path):
    recipe = recipe_from_dict(BASE, ["optim_d.lr=3e-4", "model.pack=2", "train.batch_size=32"])
    save_recipe(recipe, tmp_path / "config.yaml")
    again = load_recipe(tmp_path / "config.yaml")
    assert again == recipe
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["optim_d"]["lr"] == 3e-4


def test_bundled_recipes_all_load():
    paths = sorted(RECIPES_DIR.rglob("*.yaml"))
    assert len(paths) >= 20  # the bundled recipes, broken ones included
    for path in paths:
        load_recipe(path)


def test_relative_paths_are_taken_from_the_recipe_folder_when_they_exist_there(tmp_path: Path, monkeypatch):
    home = tmp_path / "project"
    (home / "data").mkdir(parents=True)
    (home / "data" / "train.txt").write_text("a b c\n")
    recipe = home / "mine.yaml"
    recipe.write_text(yaml.safe_dump({"game": "text", "data": {
        "source": "files", "train_files": ["data/train.txt"], "test_files": "coco",
        "tokenizer_path": "missing/dir"}}))
    monkeypatch.chdir(tmp_path)  # elsewhere: the recipe still finds its corpus
    data = load_recipe(recipe).data
    assert data.train_files == [str(home / "data" / "train.txt")]
    # as given: not beside the recipe
    assert data.test_files == "coco" and data.tokenizer_path == "missing/dir"
    # --set: from the working directory
    given = load_recipe(recipe, ["data.train_files=[data/train.txt]"]).data
    assert given.train_files == ["data/train.txt"]
