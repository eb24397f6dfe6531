"""`textgan recipes [NAME] [--path]`, and the bundled recipes by name: `bundled_recipe`, `find_recipe`
(shared with `textgan train`, the tests and the benchmarks; the folder is `textgan.storage.RECIPES_DIR`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from textgan.errors import UserError
from textgan.storage import RECIPES_DIR


def bundled_recipe(name: str) -> Path | None:
    """The bundled recipe called `name` (`toy_grid`, `toy_grid.yaml`, `broken/non_finite_toy_grid`), or
    None."""
    path = RECIPES_DIR / (name if name.endswith(".yaml") else f"{name}.yaml")
    return path if path.is_file() and RECIPES_DIR.resolve() in path.resolve().parents else None


def find_recipe(name: str) -> Path:
    """A recipe path as given, or the name of a bundled recipe (`toy_grid` or `toy_grid.yaml`)."""
    path = Path(name)
    if path.is_file():
        return path
    bundled = bundled_recipe(name)
    if bundled is not None:
        return bundled
    raise UserError(f"recipe file not found: {name} (bundled recipes: `textgan recipes`)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `recipes` sub-command to the `textgan` parser."""
    p = sub.add_parser("recipes", help="list the bundled recipes, or print one to copy",
                       description="List the bundled recipes; with NAME print that recipe (`textgan recipes "
                                   "relgan_coco_small > mine.yaml` starts a recipe of your own).")
    p.add_argument("name", nargs="?", metavar="NAME", help="print this bundled recipe's YAML")
    p.add_argument("--path", action="store_true", help="print the folder holding the bundled recipes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import yaml

    if args.path:
        print(RECIPES_DIR)
        return 0
    if args.name:
        path = bundled_recipe(args.name)
        if path is None:
            raise UserError(f"no bundled recipe {args.name!r} (see `textgan recipes`)")
        sys.stdout.write(path.read_text(encoding="utf-8"))
        return 0

    for path in sorted(RECIPES_DIR.rglob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            description = (str(raw.get("description", "")).strip().splitlines()[0] if raw.get("description")
                           else "")
        except (yaml.YAMLError, OSError) as exc:
            description = f"(unreadable: {exc})"
        print(f"{path.relative_to(RECIPES_DIR).with_suffix('')!s:32s} {description}")
    return 0
