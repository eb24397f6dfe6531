"""What each pitfall usually means, and its fix as concrete recipe changes (`--set key=value ...`).

The changes are computed from the run's resolved recipe (`config.yaml`), so they name real numbers
(half the current learning rate, not "lower the learning rate"), and they only name keys the recipe
has: a game-specific knob (Gumbel `model.beta_max`, PacGAN `model.pack`, `model.d_dropout`, an image
game's DiffAugment/ADA `model.augment`) is suggested only when the run's recipe carries it.
"""

from __future__ import annotations

from typing import Any

CAUSES = {
    "non_finite": "a loss or gradient became NaN/inf: the step size is too large for the loss surface, or a "
                  "division/log hit zero",
    "exploding_gradient": "gradient norms spike far above their usual size: the learning rate is too high or the "
                          "gradients are unclipped",
    "vanishing_gradient": "D separates reals from fakes perfectly, so a saturating G loss gives G almost no gradient",
    "d_overfitting": "D memorises its training reals (it scores held-out reals lower): too little data or too "
                     "strong a D",
    "mode_collapse": "G covers only part of the data: its samples lost diversity",
    "g_underfitting": "G does not improve while D keeps rejecting its samples: G learns too slowly or is too small",
    "oscillation": "the two players chase each other in cycles instead of converging",
}

# instance noise added per remedy, and the most the over-fitting remedy raises it to
INSTANCE_NOISE_STEP, INSTANCE_NOISE_MAX = 0.1, 0.3


def _get(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _num(x: float) -> str:
    return f"{x:.3g}"


def _lr_changes(config: dict[str, Any], factor: float) -> list[str]:
    out = []
    for net in ("optim_g", "optim_d"):
        lr = _get(config, f"{net}.lr")
        out.append(f"{net}.lr={_num(lr * factor)}" if isinstance(lr, (int, float)) else f"{net}.lr=<{factor}x current>")
    return out


def _clip_changes(config: dict[str, Any], norm: float = 10.0) -> list[str]:
    return [f"{net}.clip_norm={_num(norm)}" for net in ("optim_g", "optim_d") if not _get(config, f"{net}.clip_norm")]


def remedy_changes(pitfall: str, config: dict[str, Any]) -> list[str]:
    """The recipe changes (`key=value`) that address `pitfall` for a run with resolved recipe `config`."""
    loss = _get(config, "loss.name")
    if pitfall in ("non_finite", "exploding_gradient"):
        return _lr_changes(config, 0.1) + _clip_changes(config) + ["doctor.mode=auto"] * (pitfall == "non_finite")
    if pitfall == "vanishing_gradient":
        changes = ["loss.name=ns"] if loss in (None, "vanilla") else []
        if loss not in ("wgan", "wgan-gp", "hinge") and not _get(config, "loss.label_smoothing"):
            changes.append("loss.label_smoothing=0.1")
        if not _get(config, "loss.instance_noise"):
            changes.append("loss.instance_noise=0.1")
        lr_d = _get(config, "optim_d.lr")
        if isinstance(lr_d, (int, float)):
            changes.append(f"optim_d.lr={_num(lr_d / 2)}")
        return changes
    if pitfall == "d_overfitting":
        changes = []
        augment = _get(config, "model.augment")
        if augment == "":
            changes += ["model.augment=color,translation,cutout", "model.ada=true"]
        elif isinstance(augment, str) and not _get(config, "model.ada"):
            changes.append("model.ada=true")
        p = _get(config, "model.d_dropout")
        if isinstance(p, (int, float)):
            changes.append(f"model.d_dropout={_num(min(0.5, p + 0.2))}")
        noise = _get(config, "loss.instance_noise") or 0.0
        if _get(config, "model.signal") is None and noise < INSTANCE_NOISE_MAX:  # continuous inputs (not text)
            changes.append(f"loss.instance_noise={_num(noise + INSTANCE_NOISE_STEP)}")
        wd = _get(config, "optim_d.weight_decay") or 0.0
        changes.append(f"optim_d.weight_decay={_num(max(1e-4, 10 * wd))}")
        return changes
    if pitfall == "mode_collapse":
        signal = _get(config, "model.signal")
        if signal is not None:  # a text game: D's inputs are discrete, so no R1/GP
            beta = _get(config, "model.beta_max") or 1.0
            return [f"model.beta_max={_num(max(100.0, 10 * beta))}"] if signal == "gumbel" else _lr_changes(config, 0.5)
        changes = []
        if _get(config, "model.pack") == 1:
            changes.append("model.pack=4")
        if loss == "wgan-gp":
            changes.append(f"loss.gp_weight={_num(2 * (_get(config, 'loss.gp_weight') or 10.0))}")
        else:
            changes.append(f"loss.r1_weight={_num(max(0.1, 10 * (_get(config, 'loss.r1_weight') or 0.0)))}")
        if loss == "vanilla":
            changes.append("loss.name=ns")
        return changes
    if pitfall == "g_underfitting":
        lr_g = _get(config, "optim_g.lr")
        changes = [f"optim_g.lr={_num(lr_g * 5)}"] if isinstance(lr_g, (int, float)) else ["optim_g.lr=<5x current>"]
        n_critic = _get(config, "train.n_critic")
        if isinstance(n_critic, int) and n_critic > 1:
            changes.append(f"train.n_critic={max(1, n_critic // 2)}")
        for key in ("model.g_hidden", "model.hidden_dim"):
            width = _get(config, key)
            if isinstance(width, int):
                changes.append(f"{key}={2 * width}")
        return changes
    if pitfall == "oscillation":
        changes = _lr_changes(config, 0.5)
        if not _get(config, "train.ema_decay"):
            changes.append("train.ema_decay=0.999")
        return changes
    raise ValueError(f"unknown pitfall {pitfall!r}")


def remedy(pitfall: str, config: dict[str, Any]) -> str:
    """`remedy_changes` as one command-line fragment: `--set a=1 --set b=2`."""
    return " ".join(f"--set {c}" for c in remedy_changes(pitfall, config))
