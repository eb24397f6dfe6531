"""The image game: model shapes, and tiny `textgan train` runs on small synthetic IDX digits that write
sample grids, domain metrics, aug_p and summary.json; bad input exits 2 with one `error:` line."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import write_digits_idx
from textgan.cli import main
from textgan.core.regularizers import apply_spectral_norm, init_weights
from textgan.errors import UserError
from textgan.image.models import build_models

TINY = """\
name: tiny_image
game: image
seed: 1
data: {source: idx, path: DIGITS, max_images: 400, n_heldout: 40, n_eval: 60, grid_size: 16,
       classifier_steps: 15, cache_dir: CACHE}
model: {arch: dcgan, z_dim: 16, g_channels: 8, d_channels: 8, augment: "color,translation,cutout", ada: true,
        ada_images: 500}
train: {steps: 6, batch_size: 32, init: normal, log_every: 1, checkpoint_every: 3, progress: false}
optim_g: {name: adam, lr: 2.0e-4, betas: [0.5, 0.999]}
optim_d: {name: adam, lr: 2.0e-4, betas: [0.5, 0.999]}
eval: {every: 3}
"""


@pytest.mark.parametrize("arch,size,channels", [("dcgan", 28, 1), ("dcgan", 32, 3),
                                                ("dcgan", 64, 3), ("sngan", 32, 3)])
def test_model_shapes(arch, size, channels):
    G, D = build_models(arch, 12, size, channels, 8, 8)
    init_weights(G, "normal")
    if arch == "sngan":
        apply_spectral_norm(D)
        assert any("parametrizations" in name for name, _ in D.named_parameters())
    images = G(torch.randn(5, 12))
    assert images.shape == (5, channels, size, size) and images.abs().max() <= 1
    assert D(images).shape == (5,)


def test_unsupported_sizes_are_user_errors():
    with pytest.raises(UserError, match="28, 32, 64"):
        build_models("dcgan", 12, 48, 1, 8, 8)
    with pytest.raises(UserError, match="32 px"):
        build_models("sngan", 12, 64, 3, 8, 8)


def _recipe(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    digits = write_digits_idx(tmp_path / "digits")
    path.write_text(TINY.replace("CACHE", str(tmp_path / "cache")).replace("DIGITS", str(digits)))
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, Path]:
    """A 6-step run (evaluated at 3 and 6) shared by the tests below: (recipe, run folder)."""
    recipe = _recipe(tmp_path_factory.mktemp("image"))
    assert main(["train", str(recipe), "--out", str(recipe.parent / "run")]) == 0
    return recipe, recipe.parent / "run"


def test_tiny_run_writes_grids_metrics_and_summary(tiny_run):
    _, out = tiny_run
    for step in (3, 6):
        assert (out / "samples" / f"step_{step:07d}.png").read_bytes().startswith(b"\x89PNG")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 7))
    assert {"domain_fid", "is_mean", "is_std", "domain_is_mean"} <= set(records[2])
    assert all(0.0 <= r["aug_p"] <= 1.0 for r in records) and {"rt", "d_heldout"} <= set(records[0])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["domain_fid"] > 0 and 1.0 <= summary["is_mean"] <= 10.0


def test_second_run_reuses_the_cached_classifier_and_resumes(tiny_run):
    recipe, out = tiny_run
    cache = recipe.parent / "cache"
    before = {p.name: p.stat().st_mtime_ns for p in cache.glob("classifier_*.pt")}
    assert len(before) == 1
    assert main(["train", str(recipe), "--out", str(out), "--resume", "--set", "train.steps=9"]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in cache.glob("classifier_*.pt")} == before
    assert json.loads((out / "summary.json").read_text())["steps"] == 9


def test_grid_uses_fixed_noise(tiny_run, tmp_path: Path, monkeypatch):
    """The grid's images come from fixed noise (its caption's metrics use fresh noise and may differ)."""
    from textgan.games import load_recipe
    from textgan.image import game as image_game

    drawn = []
    monkeypatch.setattr(image_game, "save_grid", lambda images, path, title: drawn.append(images.clone()))
    recipe, _ = tiny_run
    game = image_game.build_game(load_recipe(recipe), torch.device("cpu"))
    game.generator.eval()
    with torch.no_grad():
        torch.manual_seed(0)
        game.evaluate(game.generator, 1, tmp_path / "a")
        torch.manual_seed(1)  # other noise for the metrics; the grid must not change
        game.evaluate(game.generator, 1, tmp_path / "b")
    assert len(drawn) == 2 and torch.equal(drawn[0], drawn[1])


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["data.source=folder", "data.path=EMPTY"], "no images"),
        (["data.channels=2"], "data.channels must be one of 1, 3"),
        (["model.augment=colour"], "unknown augmentation 'colour'"),
        (["model.augment=", "model.ada=true"], "model.ada adapts"),
        (["data.image_size=48"], "28, 32, 64"),
        (["data.path=nowhere/digits"], "idx data not found"),
        (["data.path=mnist-tset"], "did you mean the data set mnist-test?"),
    ],
)
def test_bad_input_exits_2_with_one_error_line(tmp_path: Path, capsys, overrides, message):
    (tmp_path / "empty").mkdir()
    sets = [x for o in overrides for x in ("--set", o.replace("EMPTY", str(tmp_path / "empty")))]
    assert main(["train", str(_recipe(tmp_path)), "--out", str(tmp_path / "o"), *sets]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


@pytest.mark.parametrize("name", ["dcgan_mnist", "dcgan_cifar10", "sngan_cifar10"])
def test_bundled_recipes_validate(name):
    from textgan.games import load_recipe
    from textgan.storage import RECIPES_DIR

    recipe = load_recipe(RECIPES_DIR / f"{name}.yaml")
    assert recipe.game == "image" and recipe.description


def test_sngan_recipe_runs_on_a_labelled_npz(tmp_path: Path):
    rng = np.random.RandomState(0)
    np.savez(tmp_path / "tiny.npz", images=rng.randint(0, 256, (120, 32, 32, 3), dtype=np.uint8),
             labels=rng.randint(0, 3, 120))
    sets = ["data.source=numpy", f"data.path={tmp_path / 'tiny.npz'}", "data.n_heldout=16", "data.n_eval=20",
            "data.grid_size=4", "data.classifier_steps=2", f"data.cache_dir={tmp_path / 'cache'}",
            "model.g_channels=8", "model.d_channels=8", "train.steps=2", "train.n_critic=2",
            "train.batch_size=8", "eval.every=2", "train.progress=false"]
    args = (["train", "sngan_cifar10", "--out", str(tmp_path / "run")]
            + [x for s in sets for x in ("--set", s)])
    assert main(args) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 2 and "domain_fid" in summary


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_fid_and_kid_through_a_torchscript_network(tmp_path: Path):
    """`data.fid: true` with a (tiny, random) TorchScript pool-feature network: fid and kid are logged;
    it gives no logits, so is_mean is absent while the domain IS remains."""
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 5, stride=16), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten())
    torch.jit.script(net).save(str(tmp_path / "net.pt"))
    sets = ["data.fid=true", f"data.inception_torchscript={tmp_path / 'net.pt'}", "data.kid_subsets=5",
            "model.augment=", "model.ada=false", "train.steps=3"]
    out = tmp_path / "run"
    assert main(["train", str(_recipe(tmp_path)), "--out", str(out)]
                + [x for s in sets for x in ("--set", s)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fid"] > 0 and "kid" in summary and "kid_std" in summary
    assert "is_mean" not in summary and "domain_is_mean" in summary


def test_a_corrupt_classifier_cache_is_retrained(tmp_path: Path, capsys):
    from textgan.image.classifier import cache_key, load_or_train
    from textgan.image.data import load_images

    data = load_images("idx", str(write_digits_idx(tmp_path / "digits")), size=28, channels=1, limit=200)
    (tmp_path / f"classifier_{cache_key(data, 3)}.pt").write_bytes(b"not a checkpoint")
    _, acc = load_or_train(data, 3, tmp_path)
    assert "ignoring unreadable classifier cache" in capsys.readouterr().err and 0.0 <= acc <= 1.0
    _, acc_again = load_or_train(data, 3, tmp_path)
    assert acc_again == acc and capsys.readouterr().err == ""


@pytest.mark.parametrize("overrides,changes", [
    ([], {"model.ada_target": (0.6, 0.4, False)}),  # ADA aims lower: p settles higher
    (["model.ada=false", "model.augment_p=0.2"], {"model.augment_p": (0.2, 0.5, False)}),
    (["model.augment=", "model.ada=false"], {"model.augment": ("", "color,translation,cutout", True),
                                             "model.ada": (False, True, True)}),  # for the next run
])
def test_overfitting_rung_raises_the_recipes_augmentation(tiny_run, overrides, changes):
    from textgan.games import build_game, load_recipe
    from textgan.image.game import doctor_changes

    recipe, _ = tiny_run
    loaded = load_recipe(recipe, overrides)
    config = loaded.to_dict()
    assert doctor_changes("mode_collapse", config) == []
    proposed = doctor_changes("d_overfitting", config)
    assert {c.key: (c.old, c.new, c.restart) for c in proposed} == changes
    game = build_game(loaded, torch.device("cpu"))
    for c in proposed:
        if not c.restart:
            game.set_model_option(c.key.split(".")[1], c.new)
    assert game.augment_p == (0.5 if "model.augment_p=0.2" in overrides else 0.0 if game.ada else 1.0)
    if game.ada:
        assert game.ada.target == 0.4
