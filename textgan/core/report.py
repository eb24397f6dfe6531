"""`textgan report`: one self-contained HTML page for a run.

Curves over steps (losses, D's logits and accuracies on reals/fakes/held-out reals, gradient norms,
r_t, learning rates, diversity and the other evaluation metrics) with the doctor's findings and
actions marked, the doctor's diagnosis, and the latest samples (the last `samples/*.txt` for text, the
last `samples/*.png` for images and toys). Every figure is a PNG embedded as a base64 data URI, so the
page references no other file; it is written atomically.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from textgan.core.checkpoint import atomic_write_text
from textgan.core.doctor import DIVERSITY_DOWN, DIVERSITY_UP, Diagnosis, diagnose_run, training_records

SAMPLE_LINES = 40
PANELS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("losses", ("d_loss", "g_loss", "mle_loss"), False),
    ("D logits: D(x) on training batches, D(G(z)), training slice, held-out reals",
     ("d_real", "d_fake", "d_train_slice", "d_heldout"), False),
    ("D accuracy on reals and fakes", ("d_acc_real", "d_acc_fake"), False),
    ("gradient norm before clipping", ("grad_norm_g", "grad_norm_d"), True),
    ("r_t = E[sign D(x)]", ("rt", "rt_train_slice", "rt_heldout"), False),
    ("learning rates", ("lr_g", "lr_d", "lr_pretrain"), True),
)
DIVERSITY = (*DIVERSITY_UP, *DIVERSITY_DOWN, "mode_kl", "domain_fid")
SEVERITY_COLOURS = {"critical": "tab:red", "warning": "tab:orange", "info": "tab:gray"}
NOT_EVAL = {k for _, keys, _ in PANELS for k in keys} | {"step", "step_time_s", "gp", "r1", "instance_noise",
                                                         "non_finite", "beta", "aug_p"}


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figures(diagnosis: Diagnosis) -> list[tuple[str, str]]:
    """(title, data URI) for each panel with data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = training_records(diagnosis.records)
    numeric = {k for r in records for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    per_step_extra = sorted(numeric & {"beta", "aug_p", "instance_noise"})
    eval_keys = sorted(numeric - NOT_EVAL)
    panels = [*PANELS, ("schedules and adaptive knobs", tuple(per_step_extra), False),
              ("diversity", tuple(k for k in DIVERSITY if k in numeric), False),
              ("evaluation metrics", tuple(k for k in eval_keys if k not in DIVERSITY), False)]
    marks = [(f.first_step, SEVERITY_COLOURS[f.severity], f.pitfall) for f in diagnosis.findings]
    actions = [(int(r["step"]), str(r["doctor_action"])) for r in diagnosis.records if "doctor_action" in r]
    out = []
    for title, keys, log_y in panels:
        series = {k: [(r["step"], r[k]) for r in records if isinstance(r.get(k), (int, float))] for k in keys}
        series = {k: v for k, v in series.items() if v}
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(8, 2.6))
        for key, points in series.items():
            ax.plot(*zip(*points), label=key, marker="o" if len(points) < 30 else None, markersize=3)
        if log_y:
            positive = all(v > 0 for pts in series.values() for _, v in pts)
            ax.set_yscale("log") if positive else ax.set_yscale("symlog", linthresh=1e-3)
        for step, colour, name in marks:
            ax.axvline(step, color=colour, lw=1.2, alpha=0.8, label=f"doctor: {name}")
        for step, name in actions:
            ax.axvline(step, color="tab:purple", lw=1, ls="--", alpha=0.8, label=f"action: {name}")
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        ax.legend(unique.values(), unique.keys(), fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
        out.append((title, _png(fig)))
        plt.close(fig)
    return out


def _latest_samples(run_dir: Path) -> str:
    samples = run_dir / "samples"
    texts = sorted(samples.glob("*.txt")) if samples.is_dir() else []
    images = sorted(samples.glob("*.png")) if samples.is_dir() else []
    parts = []
    if texts:
        lines = texts[-1].read_text(encoding="utf-8", errors="replace").splitlines()[:SAMPLE_LINES]
        parts.append(f"<p>{html.escape(texts[-1].name)} (first {len(lines)} lines)</p><pre>"
                     + html.escape("\n".join(lines)) + "</pre>")
    if images:
        data = base64.b64encode(images[-1].read_bytes()).decode("ascii")
        parts.append(f"<p>{html.escape(images[-1].name)}</p>"
                     f'<img alt="latest samples" src="data:image/png;base64,{data}">')
    return "".join(parts) or "<p>no samples written yet</p>"


def _findings_html(diagnosis: Diagnosis) -> str:
    if diagnosis.healthy:
        return '<p class="healthy">healthy: no pitfall found</p>'
    rows = "".join(
        f'<tr class="{f.severity}"><td>{f.pitfall}</td><td>{f.severity}</td><td>{f.first_step}-{f.last_step}</td>'
        f"<td>{html.escape(f.evidence)}<br><i>{html.escape(f.cause)}</i></td><td><code>{html.escape(f.remedy)}</code></td></tr>"
        for f in diagnosis.findings)
    return ("<table><tr><th>pitfall</th><th>severity</th><th>steps</th><th>evidence and likely cause</th>"
            f"<th>remedy</th></tr>{rows}</table>")


def _actions_html(records: list[dict[str, Any]]) -> str:
    acts = [r for r in records if "doctor_action" in r or "doctor_finding" in r]
    if not acts:
        return ""
    items = "".join(
        f"<li>step {r['step']}: {html.escape(str(r.get('pitfall', r.get('doctor_finding'))))} - "
        f"{html.escape(str(r.get('detail') or r.get('remedy', '')))}</li>" for r in acts)
    return f"<h2>Doctor during training</h2><ul>{items}</ul>"


STYLE = """body{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top}
tr.critical td:nth-child(2){color:#b00;font-weight:bold}tr.warning td:nth-child(2){color:#c60}
.healthy{color:#080;font-weight:bold}pre{background:#f6f6f6;padding:6px;font-size:12px;overflow-x:auto}
img{max-width:100%}"""


def render_report(run_dir: str | Path) -> str:
    """The HTML page for a run folder (UserError when it holds no logged steps)."""
    run = Path(run_dir)
    diagnosis = diagnose_run(run)
    status = "finished" if diagnosis.finished else "running or stopped"
    figures = "".join(f'<h3>{html.escape(t)}</h3><img alt="{html.escape(t)}" src="{uri}">'
                      for t, uri in _figures(diagnosis))
    title = html.escape(f"textgan report: {run.resolve().name}")
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title><style>{STYLE}</style>'
            f"</head><body><h1>{title}</h1><p>{html.escape(str(run))}: last logged step "
            f"{diagnosis.last_step} ({status}).</p><h2>Diagnosis</h2>{_findings_html(diagnosis)}"
            f"{_actions_html(diagnosis.records)}<h2>Curves</h2>{figures}<h2>Latest samples</h2>"
            f"{_latest_samples(run)}</body></html>\n")


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report (default RUN_DIR/report.html) atomically and return its path."""
    path = Path(out) if out else Path(run_dir) / "report.html"
    page = render_report(run_dir)
    atomic_write_text(path, page)
    return path
