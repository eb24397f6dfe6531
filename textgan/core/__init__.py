"""The shared adversarial trainer core. It knows nothing of text or images: a model family plugs in
through a `Game` (see `game.py`)."""
