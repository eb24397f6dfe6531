"""The games a recipe can name. Each game module provides `DataConfig`, `ModelConfig` (dataclasses
typing the recipe's `data` and `model` sections), `build_game(recipe, device) -> Game`,
`METRIC_PANELS` (how its evaluation metrics and per-step statistics are plotted), `METRIC_ROLES`
(what its metrics mean to the doctor, `textgan.doctor.roles`) and, when it has remedies of its
own, `doctor_changes(pitfall, config)` (the first rung of the doctor's ladder).

Modules are imported on demand so that a toy run never pays for importing the text stack.

`load_recipe` and `recipe_from_dict` build a validated `Recipe` with the sections of the game it
names: `textgan.config` parses and checks recipes but knows no game, so the game-aware entry points
are here.
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from textgan.config import Recipe, parse_recipe, read_recipe_file
from textgan.errors import UserError

if TYPE_CHECKING:
    import torch

    from textgan.core.game import Game
    from textgan.core.plots import MetricPanel

GAME_MODULES = {
    "toy": "textgan.toy.game",
    "text": "textgan.text.game",
    "image": "textgan.image.game",
}


def game_module(name: str) -> ModuleType:
    """The module implementing game `name`."""
    if name not in GAME_MODULES:
        close = difflib.get_close_matches(name, list(GAME_MODULES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UserError(f"unknown game {name!r} (known: {', '.join(GAME_MODULES)}){hint}")
    return importlib.import_module(GAME_MODULES[name])


def game_config_types(name: str) -> tuple[type, type]:
    """The dataclasses for the recipe's `data` and `model` sections of game `name`."""
    module = game_module(name)
    return module.DataConfig, module.ModelConfig


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read a YAML recipe, apply `key.path=value` overrides, and build the validated `Recipe`. A
    relative file path in the recipe is taken from the recipe's folder when it exists there (a recipe
    copied beside its corpus works from any directory), else as given: a data set name, a hub name or
    a path from the working directory, as paths given with --set always are."""
    path = Path(path)
    return parse_recipe(read_recipe_file(path), game_config_types, overrides, beside=path.parent)


def recipe_from_dict(raw: dict[str, Any], overrides: list[str] | tuple[str, ...] = (),
                     beside: Path | None = None) -> Recipe:
    """Build a `Recipe` from plain data (as read from YAML), applying overrides first; with `beside`,
    the file paths in `raw` that exist relative to that folder become absolute paths there."""
    return parse_recipe(raw, game_config_types, overrides, beside)


def build_game(recipe: Recipe, device: torch.device) -> Game:
    """Instantiate the recipe's game (data, generator, discriminator) on `device`."""
    return game_module(recipe.game).build_game(recipe, device)


def metric_panels(name: str) -> tuple[MetricPanel, ...]:
    """The plot panels game `name` declares for its metrics (none for an unknown game: each logged
    metric then gets a panel of its own)."""
    return game_module(name).METRIC_PANELS if name in GAME_MODULES else ()
