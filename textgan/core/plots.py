"""A run's logged curves, one panel per unit: the trainer's own signals (losses, D's logits and
accuracies, gradient norms, r_t, learning rates, penalties) and the panels the game declares for its
evaluation metrics (`MetricPanel`s: BLEU never shares an axis with an NLL or β). Used by `curves.png`
(written at the end of every run) and by `textgan report`; the doctor's records and steps a rollback
superseded are left out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textgan.core import schema
from textgan.core.logging import read_metrics, training_records
from textgan.errors import UserError
from textgan.storage import atomic_save_figure

MARKERS_BELOW = 40  # a series with fewer points gets markers (single evaluations stay visible)


@dataclass(frozen=True)
class MetricPanel:
    """One panel: its title (naming the unit and which way is better) and the logged keys it plots,
    with every logged key that starts with one of `prefixes` (keys named at run time, such as a
    metric per category)."""

    title: str
    keys: tuple[str, ...]
    log_y: bool = False
    prefixes: tuple[str, ...] = ()


TRAINER_PANELS = (
    MetricPanel("losses", (schema.D_LOSS, schema.G_LOSS, schema.MLE_LOSS)),
    MetricPanel("D logits: training reals, fakes, training slice, held-out reals",
                (schema.D_REAL, schema.D_FAKE, schema.D_TRAIN_SLICE, schema.D_HELDOUT)),
    MetricPanel("D accuracy on reals and fakes (0-1)", (schema.D_ACC_REAL, schema.D_ACC_FAKE)),
    MetricPanel("gradient norm before clipping", (schema.GRAD_NORM_G, schema.GRAD_NORM_D), log_y=True),
    MetricPanel("r_t = E[sign D(x)] (-1 to 1)", (schema.RT, schema.RT_TRAIN_SLICE, schema.RT_HELDOUT)),
    MetricPanel("learning rates", (schema.LR_G, schema.LR_D, schema.LR_PRETRAIN), log_y=True),
    MetricPanel("gradient penalties (GP, R1)", (schema.GP, schema.R1)),
    MetricPanel("instance noise (std)", (schema.INSTANCE_NOISE,)),
)
NOT_PLOTTED = {schema.STEP, schema.STEP_TIME_S, schema.NON_FINITE}


def panel_series(records: list[dict[str, Any]], game_panels: Sequence[MetricPanel]
                 ) -> list[tuple[MetricPanel, dict[str, list[tuple[int, float]]]]]:
    """(panel, {key: [(step, value)]}) for every panel with data; a logged number no panel names gets
    a panel of its own (one unit per axis even for keys nobody declared), except a `*_std` (the spread
    of the metric it is named after)."""
    numeric: dict[str, list[tuple[int, float]]] = {}
    for r in training_records(records):
        for k, v in r.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in NOT_PLOTTED:
                numeric.setdefault(k, []).append((r[schema.STEP], v))
    def with_prefixed(p: MetricPanel) -> MetricPanel:
        found = sorted(k for k in numeric if p.prefixes and k.startswith(p.prefixes) and k not in p.keys)
        return MetricPanel(p.title, p.keys + tuple(found), p.log_y)

    panels = [with_prefixed(p) for p in (*TRAINER_PANELS, *game_panels)]
    named = {k for p in panels for k in p.keys}
    panels += [MetricPanel(k, (k,)) for k in sorted(set(numeric) - named) if not k.endswith("_std")]
    out = []
    for panel in panels:
        series = {k: numeric[k] for k in panel.keys if k in numeric}
        if series:
            out.append((panel, series))
    return out


def run_labels(run_dirs: Sequence[Path]) -> list[str]:
    """A short name per run for legends: the folder's name, or its path where two names clash
    (`UserError` when a folder is named twice)."""
    names = [Path(d).resolve().name for d in run_dirs]
    labels = [n if names.count(n) == 1 else str(d) for n, d in zip(names, run_dirs)]
    if len(set(labels)) < len(labels):
        raise UserError("the same run folder is named twice")
    return labels


def adversarial_start(config: dict[str, Any]) -> int:
    """The step where a run's adversarial phase begins (0: none, or no pre-training before it)."""
    train = config.get("train") or {}
    start = int(train.get("pretrain_steps") or 0) + int(train.get("pretrain_d_steps") or 0)
    return start if start and train.get("steps") else 0


def draw_panel(ax: Any, panel: MetricPanel, series: dict[str, list[tuple[int, float]]], start: int) -> None:
    """One panel's lines (markers on short series), log scale where asked and possible, the
    adversarial start as a dotted line, a legend that fits."""
    for key, points in series.items():
        ax.plot(*zip(*points), label=key, marker="o" if len(points) < MARKERS_BELOW else None, markersize=3)
    if panel.log_y and all(v > 0 for pts in series.values() for _, v in pts):
        ax.set_yscale("log")
    if start:
        ax.axvline(start, color="grey", linestyle=":", linewidth=1, label="adversarial start")
    ax.set_title(panel.title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, loc="best", ncol=2 if len(series) > 3 else 1)


def plot_training_curves(run_dir: Path, game_panels: Sequence[MetricPanel] = ()) -> Path | None:
    """Write `run_dir/curves.png` (two columns of panels sharing the step axis); returns its path, or
    None when nothing was logged yet."""
    import yaml

    run_dir = Path(run_dir)
    panels = panel_series(read_metrics(run_dir / "metrics.jsonl"), game_panels)
    if not panels:
        return None
    config_path = run_dir / "config.yaml"
    start = adversarial_start(yaml.safe_load(config_path.read_text()) or {}) if config_path.is_file() else 0
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = (len(panels) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(12, 2.6 * rows), sharex=True, squeeze=False)
    for ax, (panel, series) in zip(axes.flat, panels):
        draw_panel(ax, panel, series, start)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(schema.STEP, fontsize=8)
    if len(panels) % 2 and rows > 1:  # the last row's empty slot: label the panel above it
        axes[-2][1].xaxis.set_tick_params(labelbottom=True)
        axes[-2][1].set_xlabel(schema.STEP, fontsize=8)
    fig.tight_layout()
    path = run_dir / "curves.png"
    atomic_save_figure(fig, path)
    plt.close(fig)
    return path
