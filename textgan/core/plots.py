"""The training curves of a run as one PNG: losses, D's outputs on real/fake/held-out data, gradient
norms and the evaluation metrics, read back from `metrics.jsonl` (the doctor's records and steps a
rollback superseded left out)."""

from __future__ import annotations

from pathlib import Path

from textgan.core.checkpoint import atomic_save_figure
from textgan.core.doctor import training_records
from textgan.core.logging import read_metrics

PANELS = (
    ("losses", ("d_loss", "g_loss", "mle_loss")),
    ("D output (logits)", ("d_real", "d_fake", "d_heldout", "d_train_slice")),
    ("gradient norm (before clipping)", ("grad_norm_d", "grad_norm_g")),
)


def plot_training_curves(run_dir: Path) -> Path | None:
    """Write `run_dir/curves.png`; returns its path, or None when nothing was logged yet."""
    records = training_records(read_metrics(Path(run_dir) / "metrics.jsonl"))
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    eval_keys = sorted({k for r in records for k in r} & _eval_metric_names(records))
    panels = [*PANELS, ("evaluation", tuple(eval_keys))] if eval_keys else list(PANELS)
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.4 * len(panels)), sharex=True)
    for ax, (title, keys) in zip(axes, panels):
        for key in keys:
            points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
            if points:
                ax.plot(*zip(*points), label=key, marker="o" if title == "evaluation" else None, markersize=3)
        if title == "gradient norm (before clipping)" and ax.has_data():
            ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        if ax.has_data():
            ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    path = Path(run_dir) / "curves.png"
    atomic_save_figure(fig, path)
    plt.close(fig)
    return path


def _eval_metric_names(records: list[dict]) -> set[str]:
    """Keys that appear only on some records (evaluation steps), excluding the per-step signals."""
    always = set.intersection(*(set(r) for r in records))
    per_step = {k for _, keys in PANELS for k in keys} | {"step", "lr_g", "lr_d", "step_time_s", "rt", "rt_heldout", "rt_train_slice",
                                                          "d_acc_real", "d_acc_fake", "gp", "r1", "instance_noise",
                                                          "non_finite"}
    return {k for r in records for k in r if k not in always and k not in per_step}
