"""The one remedy policy: what each pitfall means, and its fix as a list of recipe changes.

`remedy_for(pitfall, config)` reads the run's resolved recipe and returns a `Remedy`: an action
(`apply` the changes, `rollback` to the last good state and apply them, `stop` the run, or `none`)
and its changes (key, old value, new value, why), with real numbers (half the current learning rate,
not "lower the learning rate"). The same list is both the advice `textgan doctor` prints (`--set
key=value ...`) and what the live doctor (`doctor.mode: auto`) applies, so the two cannot disagree.

A remedy escalates along a ladder of rungs, taking the first that applies to the recipe: the game's
own rung first (its module's `doctor_changes`: a higher Gumbel temperature, more augmentation), then
the generic ones. A change that only a new run can make (a wider network, PacGAN packing, EMA) is
marked `restart`: the live doctor records it for the next run and applies the rest; a rung whose
changes all need a restart is kept and the ladder goes on to the next, so a live remedy always
changes the running training when it can.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

CAUSES = {
    "non_finite": "a loss or gradient became NaN/inf: the step size is too large for the loss surface, or a "
                  "division/log hit zero",
    "exploding_gradient": "gradient norms spike far above their usual size: the learning rate is too "
                          "high or the gradients are unclipped",
    "vanishing_gradient": "D separates reals from fakes perfectly, so a saturating G loss gives G "
                          "almost no gradient",
    "d_overfitting": "D memorises its training reals (it scores held-out reals lower): too little "
                     "data or too strong a D",
    "mode_collapse": "G covers only part of the data: its samples lost diversity",
    "g_underfitting": "G does not improve while D keeps rejecting its samples: G learns too slowly or "
                      "is too small",
    "oscillation": "the two players chase each other in cycles instead of converging",
}

# instance noise added per remedy, and the most the remedies raise it to
INSTANCE_NOISE_STEP, INSTANCE_NOISE_MAX = 0.1, 0.3
DROPOUT_STEP, DROPOUT_MAX = 0.1, 0.5
CLIP_NORM = 10.0
DEFAULT_LR_FACTOR = 0.1  # doctor.lr_factor's default


@dataclass(frozen=True)
class Change:
    """One recipe change: `key` (as `--set` writes it) from `old` to `new`, and why."""

    key: str
    old: Any
    new: Any
    why: str
    restart: bool = False  # only a new run can make it (the network's shape, EMA)

    def as_set(self) -> str:
        return f"{self.key}={_show(self.new)}"

    def describe(self) -> str:
        return f"{self.key} {_show(self.old)} -> {_show(self.new)}{' (next run)' if self.restart else ''}"


@dataclass(frozen=True)
class Remedy:
    """A pitfall's remedy: `apply` | `rollback` | `stop` | `none`, and the changes."""

    pitfall: str
    action: str
    changes: tuple[Change, ...]

    def advice(self) -> str:
        """The changes as one command-line fragment: `--set a=1 --set b=2`."""
        return " ".join(f"--set {c.as_set()}" for c in self.changes)


def _show(x: Any) -> str:
    """A value as `--set` takes it: three significant digits, YAML's lower-case booleans."""
    if isinstance(x, bool):
        return str(x).lower()
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def get(config: dict[str, Any], dotted: str) -> Any:
    """`config`'s value at a dotted key (None when any part is missing)."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def scaled_lrs(config: dict[str, Any], factor: float, why: str,
               sections: tuple[str, ...] = ("optim_g", "optim_d")) -> list[Change]:
    """Each named optimiser's learning rate times `factor`."""
    return [Change(f"{s}.lr", lr, round(lr * factor, 12), why) for s in sections
            if isinstance(lr := get(config, f"{s}.lr"), (int, float))]


def _continuous(config: dict[str, Any]) -> bool:
    from textgan.doctor.roles import roles_of

    return roles_of(config.get("game")).continuous_inputs


def _takes_labels(loss: str | None) -> bool:
    from textgan.core.losses import LOSSES

    return loss in LOSSES and LOSSES[loss].takes_labels


def _game_rung(pitfall: str, config: dict[str, Any]) -> list[Change]:
    """The game's own changes for `pitfall` (its module's `doctor_changes`), if it has any."""
    from textgan.games import GAME_MODULES, game_module

    game = config.get("game")
    changes = getattr(game_module(game), "doctor_changes", None) if game in GAME_MODULES else None
    return list(changes(pitfall, config)) if changes else []


def _more_noise(config: dict[str, Any], why: str) -> list[Change]:
    """+0.1 to the std of the noise on D's inputs, held constant from now on (continuous inputs only)."""
    noise = get(config, "loss.instance_noise") or 0.0
    if not _continuous(config) or noise >= INSTANCE_NOISE_MAX:
        return []
    changes = [Change("loss.instance_noise", noise, round(noise + INSTANCE_NOISE_STEP, 6), why)]
    if get(config, "loss.instance_noise_anneal_steps"):
        changes.append(Change("loss.instance_noise_anneal_steps",
                              get(config, "loss.instance_noise_anneal_steps"), 0, "held, not annealed away"))
    return changes


def _divergence(config: dict[str, Any]) -> Iterator[list[Change]]:
    factor = get(config, "doctor.lr_factor") or DEFAULT_LR_FACTOR
    sections = (("optim_g", "optim_d", "optim_pretrain") if get(config, "train.pretrain_steps")
                else ("optim_g", "optim_d"))
    yield scaled_lrs(config, factor, "a smaller step", sections) + [
        Change(f"{s}.clip_norm", get(config, f"{s}.clip_norm") or 0.0, CLIP_NORM, "clip the gradients")
        for s in ("optim_g", "optim_d") if isinstance(get(config, f"{s}.lr"), (int, float))
        and not get(config, f"{s}.clip_norm")]


def _vanishing(config: dict[str, Any]) -> Iterator[list[Change]]:
    loss = get(config, "loss.name")
    if loss in (None, "vanilla"):  # None: a run folder without its recipe
        yield [Change("loss.name", loss or "vanilla", "ns",
                      "non-saturating: strong gradients exactly when D rejects the fakes")]
    if _takes_labels(loss) and not get(config, "loss.label_smoothing"):
        yield [Change("loss.label_smoothing", get(config, "loss.label_smoothing") or 0.0, 0.1,
                      "one-sided label smoothing: D stops short of certainty")]
    yield _more_noise(config, "noise blurs what D separates")
    yield scaled_lrs(config, 0.5, "a slower D", ("optim_d",))


def _overfitting(config: dict[str, Any]) -> Iterator[list[Change]]:
    yield _game_rung("d_overfitting", config)
    p = get(config, "model.d_dropout")
    if isinstance(p, (int, float)) and p < DROPOUT_MAX:  # a D built without dropout layers needs a new run
        yield [Change("model.d_dropout", p, round(min(DROPOUT_MAX, p + DROPOUT_STEP), 6), "more dropout in D",
                      restart=not p)]
    yield _more_noise(config, "noise on every input: D cannot memorise exact reals")
    wd = get(config, "optim_d.weight_decay") or 0.0
    yield [Change("optim_d.weight_decay", wd, max(1e-4, 10 * wd), "weight decay on D")]


def _collapse(config: dict[str, Any]) -> Iterator[list[Change]]:
    yield _game_rung("mode_collapse", config)
    if not _continuous(config):
        return  # R1 and GP act on continuous inputs only: the game's rung or nothing
    loss = get(config, "loss.name")
    if loss == "wgan-gp" or get(config, "loss.gp_weight"):
        gp = get(config, "loss.gp_weight") or 10.0
        changes = [Change("loss.gp_weight", gp, 2 * gp, "a stronger gradient penalty")]
    else:
        r1 = get(config, "loss.r1_weight") or 0.0
        changes = [Change("loss.r1_weight", r1, max(0.1, 10 * r1), "R1 smooths D around the reals")]
    if loss == "vanilla":  # a saturating G loss starves the dropped modes of gradient
        changes.append(Change("loss.name", loss, "ns", "non-saturating: gradient for the dropped modes"))
    yield changes


def _underfitting(config: dict[str, Any]) -> Iterator[list[Change]]:
    changes = [Change(c.key, c.old, c.new, c.why, restart=True)
               for c in scaled_lrs(config, 5.0, "G learns faster", ("optim_g",))]
    n_critic = get(config, "train.n_critic")
    if isinstance(n_critic, int) and n_critic > 1:
        changes.append(Change("train.n_critic", n_critic, max(1, n_critic // 2), "fewer D steps per G step",
                              restart=True))
    for key in ("model.g_hidden", "model.hidden_dim"):
        width = get(config, key)
        if isinstance(width, int):
            changes.append(Change(key, width, 2 * width, "a wider generator", restart=True))
    yield changes


def _oscillation(config: dict[str, Any]) -> Iterator[list[Change]]:
    changes = scaled_lrs(config, 0.5, "smaller steps damp the cycle")
    if not get(config, "train.ema_decay"):
        changes.append(Change("train.ema_decay", get(config, "train.ema_decay") or 0.0, 0.999,
                              "an average of G over the cycle", restart=True))
    yield changes


LADDERS = {"non_finite": ("rollback", _divergence), "exploding_gradient": ("rollback", _divergence),
           "vanishing_gradient": ("apply", _vanishing), "d_overfitting": ("apply", _overfitting),
           "mode_collapse": ("apply", _collapse), "g_underfitting": ("stop", _underfitting),
           "oscillation": ("apply", _oscillation)}


def remedy_for(pitfall: str, config: dict[str, Any]) -> Remedy:
    """The remedy of `pitfall` for a run whose resolved recipe is `config`: the first rung of its
    ladder that changes the running training (after any restart-only rungs before it)."""
    if pitfall not in LADDERS:
        raise ValueError(f"unknown pitfall {pitfall!r}")
    action, ladder = LADDERS[pitfall]
    changes: list[Change] = []
    for rung in ladder(config):
        changes += rung
        if action == "stop" or any(not c.restart for c in rung):
            return Remedy(pitfall, action, tuple(changes))
    return Remedy(pitfall, action if changes or action != "apply" else "none", tuple(changes))


def remedy(pitfall: str, config: dict[str, Any]) -> str:
    """`remedy_for`'s changes as the `--set` advice printed beside a finding."""
    return remedy_for(pitfall, config).advice()
