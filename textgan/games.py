"""The games a recipe can name. Each game module provides `DataConfig`, `ModelConfig` (dataclasses
typing the recipe's `data` and `model` sections), `build_game(recipe, device) -> Game` and
`METRIC_PANELS` (how its evaluation metrics and per-step statistics are plotted).

Modules are imported on demand so that a toy run never pays for importing the text stack.
"""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from textgan.errors import UserError

if TYPE_CHECKING:
    import torch

    from textgan.config import Recipe
    from textgan.core.game import Game
    from textgan.core.plots import MetricPanel

GAME_MODULES = {
    "toy": "textgan.image.toy",
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


def build_game(recipe: Recipe, device: torch.device) -> Game:
    """Instantiate the recipe's game (data, generator, discriminator) on `device`."""
    return game_module(recipe.game).build_game(recipe, device)


def metric_panels(name: str) -> tuple[MetricPanel, ...]:
    """The plot panels game `name` declares for its metrics (none for an unknown game: each logged
    metric then gets a panel of its own)."""
    return game_module(name).METRIC_PANELS if name in GAME_MODULES else ()
