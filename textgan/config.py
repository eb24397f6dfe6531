"""Typed recipes: dataclasses, YAML loading with `yaml.safe_load`, `--set a.b=c` overrides, validation.

A recipe is plain YAML. Its sections map onto the dataclasses below; `data` and `model` are typed by
the game the recipe names, which the caller resolves: `parse_recipe` takes a function from a game's
name to its `data` and `model` dataclasses, so that this module imports no game (the game-aware
`load_recipe` and `recipe_from_dict` are in `textgan.games`). Every mistake (unknown key, wrong type,
bad value) raises `UserError` naming the key, and unknown keys suggest the nearest valid one.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import math
import os
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from textgan.errors import UserError
from textgan.storage import atomic_write_text

OPTIMIZERS = ("adam", "adamw", "rmsprop", "adagrad", "adadelta", "sgd")
SCHEDULES = ("constant", "linear", "cosine", "step", "exponential")
INITS = ("default", "xavier", "orthogonal", "normal")
_FLOAT_LITERAL = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
PATH = {"path": True}  # field metadata: a value that may name a file or folder (resolved beside the recipe)
SectionTypes = Callable[[str], tuple[type, type]]  # a game's name -> its (DataConfig, ModelConfig)


@dataclass
class OptimConfig:
    """One network's optimiser (TTUR = different `lr` for G and D) and its gradient clipping."""

    name: str = "adam"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    step_size: int = 1000
    gamma: float = 0.5
    clip_norm: float = 0.0
    clip_value: float = 0.0

    def validate(self, where: str) -> None:
        check_choice(self.name, OPTIMIZERS, f"{where}.name")
        check_choice(self.schedule, SCHEDULES, f"{where}.schedule")
        check_positive(self.lr, f"{where}.lr")
        for key in ("weight_decay", "clip_norm", "clip_value"):
            check_non_negative(getattr(self, key), f"{where}.{key}")


@dataclass
class PretrainOptimConfig(OptimConfig):
    """The generator's optimiser for MLE pre-training: Adam with its usual betas (RelGAN: lr 1e-2)."""

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass
class LossConfig:
    """The adversarial loss and the regularisers that act on D's inputs and outputs."""

    name: str = "ns"
    label_smoothing: float = 0.0
    instance_noise: float = 0.0
    instance_noise_anneal_steps: int = 0
    gp_weight: float | None = None
    r1_weight: float = 0.0
    wgan_clip: float = 0.01

    def validate(self) -> None:
        from textgan.core.losses import LOSSES  # the loss table; torch only once a recipe is checked

        check_choice(self.name, tuple(LOSSES), "loss.name")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise UserError(f"loss.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.label_smoothing and not LOSSES[self.name].takes_labels:
            raise UserError(f"loss.label_smoothing has no meaning for the {self.name} loss; set it to 0")
        for key in ("instance_noise", "instance_noise_anneal_steps", "r1_weight", "wgan_clip"):
            check_non_negative(getattr(self, key), f"loss.{key}")
        if self.gp_weight is not None:
            check_non_negative(self.gp_weight, "loss.gp_weight")

    @property
    def effective_gp_weight(self) -> float:
        """WGAN-GP's penalty weight defaults to 10 (Gulrajani et al.); other losses default to none."""
        if self.gp_weight is not None:
            return self.gp_weight
        return 10.0 if self.name == "wgan-gp" else 0.0


@dataclass
class TrainConfig:
    """The loop: how many iterations, batch size, D and G steps per iteration, EMA, logging cadence.

    A run goes through up to three phases on one step counter: `pretrain_steps` generator MLE steps,
    `pretrain_d_steps` discriminator steps (real versus generated), then `steps` adversarial
    iterations. `steps: 0` makes an MLE-only run. `mle_every` > 0 interleaves `mle_steps` generator MLE
    steps into every `mle_every`-th adversarial iteration (LeakGAN's schedule). `init_from`: a run
    folder (its `checkpoints/last.pt`) or checkpoint whose generator and EMA (LeakGAN's: and the D it
    reads) this run starts from, for the same game, data and model shape (`textgan train
    --init-from` sets it together with `pretrain_steps: 0`).
    """

    steps: int = 1000
    pretrain_steps: int = 0
    pretrain_d_steps: int = 0
    batch_size: int = 64
    n_critic: int = 1
    g_steps: int = 1
    mle_every: int = 0
    mle_steps: int = 0
    accumulate: int = 1
    ema_decay: float = 0.0
    ema_start: int = 0
    init: str = "default"
    spectral_norm: bool = False
    amp: bool = False
    compile: bool = False
    log_every: int = 10
    checkpoint_every: int = 500
    tensorboard: bool = False
    progress: bool = True
    init_from: str = field(default="", metadata=PATH)

    def validate(self) -> None:
        for key in ("batch_size", "n_critic", "accumulate", "log_every", "checkpoint_every"):
            check_positive(getattr(self, key), f"train.{key}")
        for key in ("steps", "pretrain_steps", "pretrain_d_steps"):
            check_non_negative(getattr(self, key), f"train.{key}")
        if not self.total_steps:
            raise UserError("train.steps, train.pretrain_steps and train.pretrain_d_steps are all 0: "
                            "nothing to train")
        for key in ("g_steps", "mle_every", "mle_steps"):
            check_non_negative(getattr(self, key), f"train.{key}")
        if self.mle_every and not self.mle_steps:
            raise UserError("train.mle_every interleaves train.mle_steps MLE steps: set mle_steps above 0")
        check_non_negative(self.ema_start, "train.ema_start")
        if not 0.0 <= self.ema_decay < 1.0:
            raise UserError(f"train.ema_decay must be in [0, 1) (0 = off), got {self.ema_decay}")
        check_choice(self.init, INITS, "train.init")
        if self.tensorboard and importlib.util.find_spec("tensorboard") is None:
            raise UserError("train.tensorboard is on but tensorboard is not installed "
                            "(pip install tensorboard)")

    @property
    def adversarial_start(self) -> int:
        """The step after which adversarial training begins (0 without pre-training)."""
        return self.pretrain_steps + self.pretrain_d_steps

    @property
    def total_steps(self) -> int:
        """Steps of all phases together: the length of the run's one step counter."""
        return self.adversarial_start + self.steps


@dataclass
class EvalConfig:
    """Evaluation every `every` steps (every `every_adversarial` steps counted from the adversarial
    phase's start, when set: a short adversarial phase after long pre-training then gets a curve of its
    own); early stopping on `metric` with `patience` evaluations."""

    every: int = 500
    every_adversarial: int = 0
    metric: str = ""
    mode: str = "max"
    patience: int = 0

    def validate(self) -> None:
        check_positive(self.every, "eval.every")
        check_non_negative(self.every_adversarial, "eval.every_adversarial")
        check_choice(self.mode, ("min", "max"), "eval.mode")
        check_non_negative(self.patience, "eval.patience")
        if self.patience and not self.metric:
            raise UserError("eval.patience needs eval.metric: the metric early stopping watches")


DOCTOR_MODES = ("off", "warn", "auto")


@dataclass
class DoctorConfig:
    """The GAN doctor's thresholds (see `textgan.doctor.detect`) and what it does while training:
    `off` (default) nothing, `warn` prints and logs findings, `auto` also applies the remedies.

    Windows count logged records (one per `train.log_every` steps); a trailing-window condition
    fires when it holds in at least `min_fraction` of the window. A window is at most half the
    records its phase is planned to log (and at least 5), so a short phase is judged too.
    """

    mode: str | bool = "off"  # YAML 1.1 reads a bare `off` as false
    every: int = 5
    window: int = 20
    min_fraction: float = 0.8
    d_acc_saturated: float = 0.95
    vanish_ratio: float = 0.05
    grad_spike: float = 50.0
    grad_max: float = 1.0e5
    grad_spikes: int = 3
    collapse_drop: float = 0.25
    collapse_mode_kl: float = 0.5
    collapse_min_quality: float = 0.5
    self_bleu_rise: float = 0.15
    overfit_gap: float = 0.4
    overfit_rt_gap: float = 0.25
    stall_evals: int = 3
    stall_tol: float = 0.02
    underfit_d_acc: float = 0.9
    osc_window: int = 60
    osc_acf: float = 0.45
    osc_amplitude: float = 0.12
    lr_factor: float = 0.1
    max_actions: int = 5

    def validate(self) -> None:
        if self.mode is False:
            self.mode = "off"
        check_choice(str(self.mode), DOCTOR_MODES, "doctor.mode")
        for key in ("every", "window", "stall_evals", "osc_window", "max_actions", "grad_spike", "grad_max",
                    "grad_spikes"):
            check_positive(getattr(self, key), f"doctor.{key}")
        for key in ("min_fraction", "d_acc_saturated", "vanish_ratio", "collapse_drop",
                    "collapse_min_quality", "underfit_d_acc", "osc_acf", "lr_factor"):
            value = getattr(self, key)
            if not 0.0 < value <= 1.0:
                raise UserError(f"doctor.{key} must be in (0, 1], got {value}")
        for key in ("collapse_mode_kl", "self_bleu_rise", "overfit_gap", "overfit_rt_gap",
                    "stall_tol", "osc_amplitude"):
            check_non_negative(getattr(self, key), f"doctor.{key}")


@dataclass
class Recipe:
    """A whole experiment. `data` and `model` are the game's own dataclasses."""

    game: str
    data: Any
    model: Any
    name: str = ""
    description: str = ""
    seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim_g: OptimConfig = field(default_factory=OptimConfig)
    optim_d: OptimConfig = field(default_factory=OptimConfig)
    optim_pretrain: PretrainOptimConfig = field(default_factory=PretrainOptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    doctor: DoctorConfig = field(default_factory=DoctorConfig)

    def validate(self) -> None:
        self.train.validate()
        self.loss.validate()
        self.optim_g.validate("optim_g")
        self.optim_d.validate("optim_d")
        self.optim_pretrain.validate("optim_pretrain")
        self.eval.validate()
        self.doctor.validate()
        for section in (self.data, self.model):
            if hasattr(section, "validate"):
                section.validate()

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(dataclasses.asdict(self))


def read_recipe_file(path: str | Path) -> dict[str, Any]:
    """The YAML mapping a recipe file holds (not yet checked against the dataclasses); UserError when
    the file is missing, not UTF-8, not YAML or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"recipe file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UserError(f"recipe {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise UserError(f"recipe {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise UserError(f"recipe {path} must be a YAML mapping of sections, got {type(raw).__name__}")
    return raw


def parse_recipe(raw: dict[str, Any], section_types: SectionTypes,
                 overrides: list[str] | tuple[str, ...] = (), beside: Path | None = None) -> Recipe:
    """Build a `Recipe` from plain data (as read from YAML), applying overrides first; with `beside`,
    the file paths in `raw` that exist relative to that folder become absolute paths there.
    `section_types(game)` gives the `data` and `model` dataclasses of the game the recipe names
    (`textgan.games.game_config_types`); it is asked again after the overrides, which may name
    another game."""
    raw = _deep_copy(raw)
    if beside is not None and isinstance(raw.get("game"), str):
        data_cls, model_cls = section_types(raw["game"])
        for section, cls in (("train", TrainConfig), ("data", data_cls), ("model", model_cls)):
            _paths_beside(raw.get(section), cls, beside)
    for item in overrides:
        _apply_override(raw, item)
    game = raw.get("game")
    if not isinstance(game, str):
        raise UserError("recipe must name its game, e.g. `game: toy`")
    data_cls, model_cls = section_types(game)
    types_by_section = {"data": data_cls, "model": model_cls}
    recipe = _build(Recipe, raw, "", types_by_section)
    recipe.validate()
    return recipe


def save_recipe(recipe: Recipe, path: Path) -> None:
    """Write the fully resolved recipe as YAML (atomically)."""
    atomic_write_text(path, yaml.safe_dump(recipe.to_dict(), sort_keys=False))


def _paths_beside(section: Any, cls: type, base: Path) -> None:
    """Rewrite, in place, the section's path values that exist relative to `base` as absolute paths."""
    if not isinstance(section, dict):
        return

    def beside(value: Any) -> Any:
        if isinstance(value, str) and value and not Path(value).is_absolute() and (base / value).exists():
            return os.path.abspath(base / value)
        return value

    for f in dataclasses.fields(cls):
        if f.metadata.get("path") and f.name in section:
            section[f.name] = _map_paths(section[f.name], beside)


def _map_paths(value: Any, beside: Callable[[Any], Any]) -> Any:
    """`beside` applied to a path value, to each item of a list, or to each value of a mapping (one
    file or list of files per key, as `data.label_files`)."""
    if isinstance(value, list):
        return [beside(v) for v in value]
    if isinstance(value, dict):
        return {k: _map_paths(v, beside) for k, v in value.items()}
    return beside(value)


def _apply_override(raw: dict[str, Any], item: str) -> None:
    if "=" not in item:
        raise UserError(f"--set expects key.path=value, got {item!r}")
    key, _, text = item.partition("=")
    parts = key.strip().split(".")
    if not all(parts):
        raise UserError(f"--set key {key!r} is not a dotted path like train.steps")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"--set {key}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _build(cls: type, raw: Any, where: str, section_types: dict[str, type]) -> Any:
    """Instantiate dataclass `cls` from a mapping, checking keys and types recursively."""
    label = where or "recipe"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"{label} must be a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in raw:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.5)
            hint = f"; did you mean {_join(where, close[0])}?" if close else ""
            raise UserError(f"unknown recipe key {_join(where, str(key))!r}{hint}")
    kwargs = {}
    for name, f in fields.items():
        key = _join(where, name)
        hint = section_types.get(name) if not where else None
        hint = hint or hints[name]
        if name in raw:
            kwargs[name] = _coerce(raw[name], hint, key, section_types)
        elif dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, {}, key, section_types)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise UserError(f"recipe key {key!r} is required")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, key: str, section_types: dict[str, type]) -> Any:
    """Check `value` against a type hint; ints are accepted where floats are expected."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key, section_types)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, key, section_types)
            except UserError as exc:
                errors.append(str(exc))
        raise UserError(errors[0])
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise UserError(f"recipe key {key!r} expects a list, got {_describe(value)}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise UserError(f"recipe key {key!r} expects {len(args)} values, got {len(value)}")
            return tuple(_coerce(v, a, key, section_types) for v, a in zip(value, args))
        item = args[0] if args else Any
        items = [_coerce(v, item, key, section_types) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, str) and _FLOAT_LITERAL.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads `1e-3` (no dot) as a string
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise UserError(f"recipe key {key!r} must be a finite number, got {value}")
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise UserError(f"recipe key {key!r} expects {hint.__name__}, got {_describe(value)}")


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def check_choice(value: str, choices: tuple[str, ...], key: str) -> None:
    """UserError unless `value` is one of `choices` (suggesting the nearest)."""
    if value not in choices:
        close = difflib.get_close_matches(value, choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UserError(f"{key} must be one of {', '.join(choices)}; got {value!r}{hint}")


def check_positive(value: float, key: str) -> None:
    """UserError unless `value` > 0."""
    if not value > 0:
        raise UserError(f"{key} must be > 0, got {value}")


def check_non_negative(value: float, key: str) -> None:
    """UserError unless `value` >= 0."""
    if not value >= 0:
        raise UserError(f"{key} must be >= 0, got {value}")


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value
