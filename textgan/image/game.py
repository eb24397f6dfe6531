"""The image game: DCGAN / SNGAN on real images (MNIST IDX files, an image folder, numpy arrays or a
`datasets` corpus), with DiffAugment/ADA in D's input path.

Evaluation (every `eval.every` steps, on the EMA generator when EMA is on) writes a sample grid from
a fixed batch of noise to `samples/step_NNNNNNN.png` and reports:
- `domain_fid`, `domain_is_mean`, `domain_is_std`: FID and Inception Score computed with a small CNN
  classifier trained by textgan on the data set's labels (cached on disk; no external weights);
- `is_mean`, `is_std`: with `data.fid: true`, the Inception Score on the FID Inception's logits
  (absent when the network gives none, as a TorchScript pool3-only Inception); without it, the
  domain classifier's (equal to `domain_is_*`);
- `fid`, `kid` (and `kid_std`): with `data.fid: true`, on the FID Inception's pool3 features.
The real side of every metric is `data.n_eval` images of the data set (the same ones whatever the
recipe's seed), its features cached on disk per (data, extractor).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from textgan.config import PATH, Recipe, check_choice, check_non_negative, check_positive
from textgan.core.data import ShuffledBatches
from textgan.core.game import LatentGame
from textgan.core.plots import MetricPanel
from textgan.doctor.remedies import Change, get
from textgan.doctor.roles import MetricRoles
from textgan.errors import UserError
from textgan.image.augment import AdaptiveP, diff_augment, parse_policy
from textgan.image.data import ImageData, load_images, to_unit_range
from textgan.image.grid import save_grid
from textgan.image.models import ARCHITECTURES, build_models

SOURCES = ("idx", "folder", "numpy", "hf")
METRIC_PANELS = (
    MetricPanel("FID, Inception features (lower is better)", ("fid",)),
    MetricPanel("domain FID, the digit classifier's features (lower is better)", ("domain_fid",)),
    MetricPanel("KID, Inception features (lower is better)", ("kid",)),
    MetricPanel("Inception score, Inception and digit classifier (higher is better)",
                ("is_mean", "domain_is_mean")),
    MetricPanel("ADA augmentation probability p (0-1)", ("aug_p",)),
)

METRIC_ROLES = MetricRoles(quality=(("fid", "min"), ("domain_fid", "min")), spread=("domain_fid",))
AUGMENT_STEP = 0.3  # the doctor's rise of a fixed augmentation probability
ADA_TARGET_STEP, ADA_TARGET_MIN = 0.2, 0.1


def doctor_changes(pitfall: str, config: dict[str, Any]) -> list[Change]:
    """The image game's own remedy for D over-fitting: more augmentation of D's inputs. A fixed
    probability rises; under ADA its target r_t falls, so that p settles higher; a recipe without
    augmentation gets DiffAugment with ADA for its next run (switched on mid-run, it cost more than
    it saved on the doctor's bench)."""
    if pitfall != "d_overfitting":
        return []
    if not get(config, "model.augment"):
        why = "DiffAugment with ADA: D sees augmented reals and fakes"
        return [Change("model.augment", "", "color,translation,cutout", why, restart=True),
                Change("model.ada", False, True, why, restart=True)]
    if get(config, "model.ada"):
        target = get(config, "model.ada_target")
        new = round(max(ADA_TARGET_MIN, target - ADA_TARGET_STEP), 6)
        if new >= target:
            return []
        return [Change("model.ada_target", target, new, "ADA aims at a lower r_t: more augmentation")]
    p = get(config, "model.augment_p")
    if p >= 1.0:
        return []
    return [Change("model.augment_p", p, min(1.0, round(p + AUGMENT_STEP, 6)), "more augmentation")]


@dataclass
class DataConfig:
    """Where the images come from and how they are evaluated.

    `source`: `idx` (MNIST's IDX files: the data set `mnist-test`, a folder or an images file, labels
    found next to it),
    `folder` (PNG/JPEG/BMP/WebP under `path`, recursively; unreadable files skipped with a warning),
    `numpy` (.npy, or .npz with `numpy_key` (default `images`) and optional `labels`), `hf` (a
    `datasets` corpus: hub name or saved folder in `path`, `split`, image `column`, `label_column`).
    Images become `channels` (1 or 3) × `image_size`² (resize shorter side, centre crop), [-1, 1];
    `hflip` flips half of each real batch. `n_heldout` images are kept from training for D's
    over-fitting probe. Evaluation: `n_eval` samples; `classifier_steps` trains the domain classifier
    (needs labels; 0 = no domain metrics); `fid: true` adds FID/KID/IS with the FID Inception
    (`inception_weights`: pt_inception file, or `inception_torchscript`: a TorchScript file; neither:
    the usual places, see `textgan.image.features.default_extractor`); `cache_dir` holds the
    classifier and real-feature caches (default: textgan's cache, `$TEXTGAN_CACHE` or ~/.cache/textgan).
    """

    source: str = "idx"
    path: str = field(default="mnist-test", metadata=PATH)
    split: str = "train"
    column: str = "image"
    label_column: str = "label"
    numpy_key: str = ""
    image_size: int = 28
    channels: int = 1
    hflip: bool = False
    max_images: int = 0
    n_heldout: int = 500
    n_eval: int = 2000
    grid_size: int = 64
    classifier_steps: int = 600
    fid: bool = False
    inception_weights: str = ""
    inception_torchscript: str = ""
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    cache_dir: str = ""

    def validate(self) -> None:
        check_choice(self.source, SOURCES, "data.source")
        check_choice(str(self.channels), ("1", "3"), "data.channels")
        for key in ("image_size", "n_heldout", "n_eval", "grid_size", "kid_subsets", "kid_subset_size"):
            check_positive(getattr(self, key), f"data.{key}")
        for key in ("max_images", "classifier_steps"):
            check_non_negative(getattr(self, key), f"data.{key}")
        if not self.path:
            raise UserError("data.path is empty: give an image folder, IDX/numpy file or `datasets` name")
        if self.n_eval < 10:
            raise UserError("data.n_eval must be >= 10 (the Inception Score uses 10 splits), got "
                            f"{self.n_eval}")


@dataclass
class ModelConfig:
    """`arch`: `dcgan` (28/32/64 px, batch norm) or `sngan` (ResNet, 32 px; set
    `train.spectral_norm: true`). `augment`: DiffAugment policy for D's inputs, any of
    `color,translation,cutout` (empty = none), each transform applied per image with probability
    `augment_p`; with `ada: true` that probability starts at 0 and adapts so that
    r_t = E[sign(D(real))] stays near `ada_target`, moving by at most 1 per `ada_images` reals."""

    arch: str = "dcgan"
    z_dim: int = 100
    g_channels: int = 64
    d_channels: int = 64
    augment: str = ""
    augment_p: float = 1.0
    ada: bool = False
    ada_target: float = 0.6
    ada_images: int = 100_000

    def validate(self) -> None:
        check_choice(self.arch, tuple(ARCHITECTURES), "model.arch")
        for key in ("z_dim", "g_channels", "d_channels", "ada_images"):
            check_positive(getattr(self, key), f"model.{key}")
        parse_policy(self.augment)
        if not 0.0 <= self.augment_p <= 1.0:
            raise UserError(f"model.augment_p must be in [0, 1], got {self.augment_p}")
        if not -1.0 <= self.ada_target <= 1.0:
            raise UserError(f"model.ada_target must be in [-1, 1] (a mean of signs), got {self.ada_target}")
        if self.ada and not self.augment:
            raise UserError("model.ada adapts the probability of model.augment, which is empty: "
                            "set e.g. model.augment=color,translation,cutout")


def load_data(cfg: DataConfig) -> ImageData:
    """The recipe's images (uint8, in memory)."""
    return load_images(cfg.source, cfg.path, size=cfg.image_size, channels=cfg.channels, split=cfg.split,
                       column=cfg.column, label_column=cfg.label_column, numpy_key=cfg.numpy_key,
                       limit=cfg.max_images)


class ImageGame(LatentGame):
    """Reals from the data set (shuffled batches, optional flips), fakes from G(z), z ~ N(0, I) drawn
    every step; D sees both through the same augmentation."""

    def __init__(self, recipe: Recipe, device: torch.device) -> None:
        data_cfg: DataConfig = recipe.data
        model: ModelConfig = recipe.model
        self.cfg = data_cfg
        self.device = device
        self.z_dim = model.z_dim
        self.data = load_data(data_cfg)
        n = len(self.data.images)
        if n < data_cfg.n_heldout + recipe.train.batch_size:
            raise UserError(f"{self.data.description}: too few images for data.n_heldout "
                            f"{data_cfg.n_heldout} plus one batch of {recipe.train.batch_size}")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(recipe.seed))
        held, train = order[: data_cfg.n_heldout], order[data_cfg.n_heldout :]
        images = self.data.images.to(device)
        self._heldout = to_unit_range(images[held])
        self._train_slice = to_unit_range(images[train[: data_cfg.n_heldout]])
        fixed = torch.randperm(n, generator=torch.Generator().manual_seed(0))  # the same reals for every seed
        self._eval_reals = self.data.images[fixed[: data_cfg.n_eval]]
        self.batches = ShuffledBatches(images[train], recipe.train.batch_size, recipe.seed)
        self.generator, self.discriminator = build_models(
            model.arch, model.z_dim, data_cfg.image_size, data_cfg.channels,
            model.g_channels, model.d_channels)
        if device.type == "cuda":  # cuDNN's faster NHWC convolutions (weights kept NHWC by .to(device))
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        self.policy = parse_policy(model.augment)
        self.fixed_p = model.augment_p
        self.ada = AdaptiveP(model.ada_target, model.ada_images) if model.ada else None
        self.fixed_z = torch.randn(data_cfg.grid_size, model.z_dim,
                                   generator=torch.Generator().manual_seed(recipe.seed + 12345)).to(device)
        self._real_cache: dict[str, Any] = {}
        self._kid_noted = False
        self.classifier_accuracy: float | None = None
        self.domain = self._domain_extractor()
        self.inception = self._inception_extractor(device)

    # ------------------------------------------------------------------ data and D's input path
    def real_batch(self) -> Tensor:
        x = to_unit_range(self.batches.next())
        if self.cfg.hflip:
            flip = torch.rand(len(x), 1, 1, 1, device=x.device) < 0.5
            x = torch.where(flip, x.flip(-1), x)
        return x

    @property
    def augment_p(self) -> float:
        return self.ada.p if self.ada else self.fixed_p

    def discriminate(self, x: Tensor) -> Tensor:
        """D's logits; while D trains, its inputs (real and fake alike) go through DiffAugment."""
        if self.policy and self.discriminator.training:
            x = diff_augment(x, self.policy, self.augment_p)
        return self.discriminator(x).reshape(-1)

    def after_d_step(self, d_real: Tensor, d_fake: Tensor) -> dict[str, float]:
        """ADA: move p from r_t of the reals D just saw; log the probability in use as `aug_p`."""
        if self.ada:
            self.ada.update(d_real)
        return {"aug_p": self.augment_p} if self.policy else {}

    # ------------------------------------------------------------------ evaluation
    def _domain_extractor(self) -> Any:
        if not self.cfg.classifier_steps or self.data.labels is None:
            if self.cfg.classifier_steps:
                print(f"note: {self.data.description} has no labels: no domain classifier, no domain_fid",
                      file=sys.stderr)
            return None
        from textgan.image.classifier import VERSION, load_or_train
        from textgan.image.features import module_extractor

        model, acc = load_or_train(self.data, self.cfg.classifier_steps, self._cache_dir)
        self.classifier_accuracy = acc
        print(f"domain classifier: {100 * acc:.2f} % accuracy on its held-out 20 % of "
              f"{self.data.description}", file=sys.stderr)
        return module_extractor(model, f"textgan-smallcnn-v{VERSION}")

    def _inception_extractor(self, device: torch.device) -> Any:
        if not self.cfg.fid:
            return None
        from textgan.image.features import default_extractor

        return default_extractor(self.cfg.inception_weights or None,
                                 self.cfg.inception_torchscript or None, device)

    @property
    def _cache_dir(self) -> Path:
        from textgan.image.classifier import default_cache_dir

        return Path(self.cfg.cache_dir) if self.cfg.cache_dir else default_cache_dir()

    def _reals(self, extractor: Any) -> Any:
        """Real-side features of `extractor`: once per run in memory, across runs from the disk cache."""
        if extractor.name not in self._real_cache:
            from textgan.image.features import real_features

            fingerprint = f"{self.data.digest()}|first {len(self._eval_reals)} of permutation seed 0"
            self._real_cache[extractor.name] = real_features(
                extractor, to_unit_range(self._eval_reals), fingerprint, self._cache_dir)
        return self._real_cache[extractor.name]

    def _samples(self, generator: nn.Module, n: int, batch: int = 500) -> Tensor:
        out = [generator(torch.randn(min(batch, n - i), self.z_dim, device=self.device)).clamp(-1, 1).cpu()
               for i in range(0, n, batch)]
        return torch.cat(out)

    def metric_names(self) -> set[str] | None:
        """Known in advance without the Inception extractor (whose logits, and so IS, depend on the
        weights given)."""
        if self.inception is not None:
            return None
        return ({"domain_fid", "domain_is_mean", "domain_is_std", "is_mean", "is_std"} if self.domain
                else set())

    def evaluate(self, generator: nn.Module, step: int, out_dir: Path) -> dict[str, float]:
        from textgan.metrics.fid import fid_from_features, kid_from_features
        from textgan.metrics.inception_score import inception_score

        metrics: dict[str, float] = {}
        fakes = self._samples(generator, self.cfg.n_eval) if (self.domain or self.inception) else None
        if self.domain is not None:
            pool, logits = self.domain.features(fakes)
            metrics["domain_fid"] = fid_from_features(self._reals(self.domain).pool, pool)
            metrics["domain_is_mean"], metrics["domain_is_std"] = inception_score(logits, 10)
            if self.inception is None:
                metrics["is_mean"], metrics["is_std"] = metrics["domain_is_mean"], metrics["domain_is_std"]
        if self.inception is not None:
            pool, logits = self.inception.features(fakes)
            real = self._reals(self.inception).pool
            metrics["fid"] = fid_from_features(real, pool)
            kid, kid_std, note = kid_from_features(real, pool, self.cfg.kid_subsets,
                                                   self.cfg.kid_subset_size, seed=0)
            metrics["kid"], metrics["kid_std"] = kid, kid_std
            if note and not self._kid_noted:
                print(f"note: {note}", file=sys.stderr)
                self._kid_noted = True
            if logits is not None:
                metrics["is_mean"], metrics["is_std"] = inception_score(logits, 10)
        save_grid(generator(self.fixed_z), out_dir / f"step_{step:07d}.png",
                  f"step {step}{_caption(metrics)}")
        return metrics

    # ------------------------------------------------------------------ resume
    def signature(self) -> dict[str, Any]:
        return {"data": self.data.description, "image_size": self.cfg.image_size,
                "channels": self.cfg.channels}

    def set_model_option(self, name: str, value: Any) -> None:
        if name == "augment_p":
            self.fixed_p = value
        elif name == "ada_target" and self.ada:
            self.ada.target = value

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"batches": self.batches.state_dict()}
        if self.ada:
            state["ada"] = self.ada.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batches.load_state_dict(state["batches"])
        if self.ada:
            self.ada.load_state_dict(state["ada"])


def _caption(m: dict[str, float]) -> str:
    parts = [f"{name} {m[name]:.2f}" for name in ("domain_fid", "fid", "is_mean") if name in m]
    return ": " + ", ".join(parts) if parts else ""


def build_game(recipe: Recipe, device: torch.device) -> ImageGame:
    return ImageGame(recipe, device)

