"""What a game's evaluation metrics mean to the doctor, declared by the game's module
(`METRIC_ROLES`), so that the detectors name no game's metric.

For a run whose game is unknown (a folder without config.yaml), the roles of every game are
merged: each metric name means one thing whichever game logs it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricRoles:
    """The roles of a game's metrics.

    `quality`: (key, "min" | "max") in order of preference, the quality metric the stall check
    watches when the recipe names no `eval.metric`. Diversity, in three kinds: `diversity` (higher
    is more diverse; collapse is a relative drop), `similarity` (higher is less diverse, such as
    Self-BLEU; collapse is an absolute rise), `spread` (a distance to the data that grows as modes
    are dropped, such as a domain FID; collapse is a relative rise). `quality_fraction`: the fraction
    of good samples, below which counts of diversity are noise. `mode_kl`: (the KL of the mode
    histogram, the count of modes covered). `continuous_inputs`: whether D reads continuous values
    (images, points), which instance noise, R1 and the gradient penalty act on; token ids are not.
    """

    quality: tuple[tuple[str, str], ...] = ()
    diversity: tuple[str, ...] = ()
    similarity: tuple[str, ...] = ()
    spread: tuple[str, ...] = ()
    quality_fraction: str | None = None
    mode_kl: tuple[str, str] | None = None
    continuous_inputs: bool = True


def merged(roles: list[MetricRoles]) -> MetricRoles:
    """One set of roles holding every game's (for a run whose game is unknown)."""

    def union(name: str) -> tuple:
        return tuple(dict.fromkeys(x for r in roles for x in getattr(r, name)))

    return MetricRoles(
        quality=union("quality"), diversity=union("diversity"), similarity=union("similarity"),
        spread=union("spread"),
        quality_fraction=next((r.quality_fraction for r in roles if r.quality_fraction), None),
        mode_kl=next((r.mode_kl for r in roles if r.mode_kl), None),
        continuous_inputs=all(r.continuous_inputs for r in roles),
    )


def roles_of(game: str | None) -> MetricRoles:
    """The metric roles game `game` declares; every game's merged when `game` is not a known game."""
    from textgan.games import GAME_MODULES, game_module

    if game in GAME_MODULES:
        return game_module(game).METRIC_ROLES
    return merged([game_module(name).METRIC_ROLES for name in GAME_MODULES])
