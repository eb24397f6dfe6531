"""The toy game: 2-D Gaussian mixtures (the ring of 8 and the 5×5 grid of PacGAN/VEEGAN) with MLP
generator and discriminator. Small enough to train in minutes on a CPU, and the clearest view of
mode collapse there is.

    game.py      the recipe's `data` and `model` sections, the game, `build_game`, `METRIC_PANELS`
    mixtures.py  the mixtures' centres and samples
    models.py    the MLPs of both players
    plots.py     the scatter of samples over the centres written at each evaluation

Recipes name it `game: toy` (`textgan.games`).
"""
