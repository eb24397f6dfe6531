"""The README's recipe reference is the generated one: a key added to a config dataclass without
regenerating it fails here (`python -m textgan.recipe_reference --update README.md`)."""

import dataclasses
from pathlib import Path

from textgan.config import TrainConfig
from textgan.games import game_config_types
from textgan.recipe_reference import BEGIN, END, reference

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_holds_the_generated_reference():
    text = README.read_text(encoding="utf-8")
    assert text.split(BEGIN, 1)[1].split(END, 1)[0].strip() == reference().strip()


def test_every_key_of_every_section_is_listed():
    text = reference()
    classes = [TrainConfig, *(cls for game in ("toy", "text", "image") for cls in game_config_types(game))]
    for cls in classes:
        for f in dataclasses.fields(cls):
            assert f"`{f.name}` " in text, (cls.__name__, f.name)
