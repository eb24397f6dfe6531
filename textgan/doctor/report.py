"""`textgan report`: one self-contained HTML page for a run.

The summary (summary.json), the doctor's diagnosis, the curves over steps one unit per panel (the
trainer's signals and the game's metric panels, `textgan.core.plots`) with the doctor's findings and
actions and the adversarial start marked, the temperature sweep when there is one, the latest
samples (the last `samples/*.txt` for text, the last `samples/*.png` for images and toys) and the
recipe; or, for several runs, their summaries side by side and every panel with all their curves.
Every figure is a PNG embedded as a base64 data URI, so the page references no other file; it is
written atomically.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from textgan.core import schema
from textgan.core.plots import (
    MARKERS_BELOW,
    MetricPanel,
    adversarial_start,
    draw_panel,
    panel_series,
    run_labels,
)
from textgan.doctor.detect import Diagnosis, diagnose_run
from textgan.storage import atomic_write_text

SAMPLE_LINES = 40
PanelsOf = Callable[[str], Sequence[MetricPanel]]
SEVERITY_COLOURS = {"critical": "tab:red", "warning": "tab:orange", "info": "tab:gray"}


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figures(diagnosis: Diagnosis, game_panels: Sequence[MetricPanel], start: int) -> list[tuple[str, str]]:
    """(title, data URI) for each panel with data, the doctor's findings and actions marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    marks = [(f.first_step, SEVERITY_COLOURS[f.severity], f.pitfall) for f in diagnosis.findings]
    actions = [(int(r[schema.STEP]), f"{r.get(schema.PITFALL, '')} ({r[schema.DOCTOR_ACTION]})".strip())
               for r in diagnosis.records if schema.DOCTOR_ACTION in r]
    out = []
    for panel, series in panel_series(diagnosis.records, game_panels):
        fig, ax = plt.subplots(figsize=(8, 2.6))
        draw_panel(ax, panel, series, start)
        for step, colour, name in marks:
            ax.axvline(step, color=colour, lw=1.2, alpha=0.8, label=f"doctor: {name}")
        for step, name in actions:
            ax.axvline(step, color="tab:purple", lw=1, ls="--", alpha=0.8, label=f"action: {name}")
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        ax.legend(unique.values(), unique.keys(), fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        ax.set_xlabel("step", fontsize=8)
        out.append((panel.title, _png(fig)))
        plt.close(fig)
    return out


def _summary(run_dir: Path) -> dict[str, Any]:
    """summary.json ({} when the run has not finished or the file is not a JSON object)."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def _summary_html(run_dir: Path) -> str:
    """summary.json as a table (the run's final evaluation, best value and wall time)."""
    summary = _summary(run_dir)
    if not summary:
        return "<p>no summary.json (the run has not finished)</p>"
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{_shown(v)}</td></tr>"
                   for k, v in sorted(summary.items()))
    return f"<table><tr><th>key</th><th>value</th></tr>{rows}</table>"


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))


def _sweep_html(run_dir: Path) -> str:
    """The run's temperature sweep (`textgan sweep`: RUN/sweep/sweep.png and sweep.txt), when it has one."""
    folder = run_dir / "sweep"
    parts = []
    try:
        if (folder / "sweep.png").is_file():
            data = base64.b64encode((folder / "sweep.png").read_bytes()).decode("ascii")
            parts.append(f'<img alt="temperature sweep" src="data:image/png;base64,{data}">')
        if (folder / "sweep.txt").is_file():
            parts.append(
                f"<pre>{html.escape((folder / 'sweep.txt').read_text(encoding='utf-8', errors='replace'))}"
                "</pre>")
    except OSError as exc:
        parts.append(f"<p>cannot read the sweep: {html.escape(exc.strerror or str(exc))}</p>")
    return "<h2>Temperature sweep</h2>" + "".join(parts) if parts else ""


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
        f'<tr class="{f.severity}"><td>{f.pitfall}</td><td>{f.severity}</td>'
        f"<td>{f.first_step}-{f.last_step}</td>"
        f"<td>{html.escape(f.evidence)}<br><i>{html.escape(f.cause)}</i></td>"
        f"<td><code>{html.escape(f.remedy)}</code></td></tr>"
        for f in diagnosis.findings)
    return ("<table><tr><th>pitfall</th><th>severity</th><th>steps</th><th>evidence and likely cause</th>"
            f"<th>remedy</th></tr>{rows}</table>")


def _actions_html(records: list[dict[str, Any]]) -> str:
    acts = [r for r in records if schema.DOCTOR_ACTION in r or schema.DOCTOR_FINDING in r]
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


def render_report(run_dir: str | Path, panels_of: PanelsOf = lambda game: ()) -> str:
    """The HTML page for a run folder (UserError when it holds no logged steps); `panels_of(game)`
    gives the metric panels of the run's game."""
    run = Path(run_dir)
    diagnosis = diagnose_run(run)
    game_panels = panels_of(str(diagnosis.config.get("game", "")))
    status = "finished" if diagnosis.finished else "running or stopped"
    start = adversarial_start(diagnosis.config)
    where = f" The dotted line marks the adversarial start (step {start})." if start else ""
    figures = "".join(f'<h3>{html.escape(t)}</h3><img alt="{html.escape(t)}" src="{uri}">'
                      for t, uri in _figures(diagnosis, game_panels, start))
    recipe = yaml.safe_dump(diagnosis.config, sort_keys=False) if diagnosis.config else "(no config.yaml)"
    title = html.escape(f"textgan report: {run.resolve().name}")
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title><style>{STYLE}</style>'
            f"</head><body><h1>{title}</h1><p>{html.escape(str(run))}: last logged step "
            f"{diagnosis.last_step} ({status}).</p><h2>Summary</h2>{_summary_html(run)}"
            f"<h2>Diagnosis</h2>{_findings_html(diagnosis)}"
            f"{_actions_html(diagnosis.records)}<h2>Curves</h2><p>One unit per panel.{where}</p>{figures}"
            f"{_sweep_html(run)}<h2>Latest samples</h2>{_latest_samples(run)}"
            f"<h2>Recipe (config.yaml)</h2><pre>{html.escape(recipe)}</pre></body></html>\n")


def _comparison_figures(diagnoses: dict[str, Diagnosis], panels_of: PanelsOf) -> list[tuple[str, str]]:
    """(title, data URI) per panel any run has data for: a colour per run, a line style per key."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_run = {label: {p.title: (p, series) for p, series in
                       panel_series(d.records, panels_of(str(d.config.get("game", ""))))}
               for label, d in diagnoses.items()}
    fullest = max(per_run.values(), key=len)  # its panel order (trainer's, then the game's) leads
    titles = list(dict.fromkeys([*fullest, *(t for panels in per_run.values() for t in panels)]))
    styles = ("-", "--", ":", "-.")
    out = []
    for title in titles:
        fig, ax = plt.subplots(figsize=(8, 2.6))
        for i, (label, panels) in enumerate(per_run.items()):
            if title not in panels:
                continue
            panel, series = panels[title]
            for j, (key, points) in enumerate(series.items()):
                ax.plot(*zip(*points), color=f"C{i}", linestyle=styles[j % len(styles)],
                        label=f"{label}: {key}", marker="o" if len(points) < MARKERS_BELOW else None,
                        markersize=3)
            if panel.log_y and all(v > 0 for pts in series.values() for _, v in pts):
                ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        out.append((title, _png(fig)))
        plt.close(fig)
    return out


def render_comparison(run_dirs: Sequence[str | Path], panels_of: PanelsOf = lambda game: ()) -> str:
    """One HTML page comparing runs: their summaries side by side, each run's diagnosis in a line, and
    every panel with all runs' curves (the runs named by their folders)."""
    runs = [Path(d) for d in run_dirs]
    labels = run_labels(runs)
    diagnoses = {label: diagnose_run(run) for label, run in zip(labels, runs)}
    summaries = {label: _summary(run) for label, run in zip(labels, runs)}
    keys = sorted({k for s in summaries.values() for k in s})
    head = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
    rows = "".join(f"<tr><td>{html.escape(k)}</td>" + "".join(f"<td>{_shown(summaries[label][k])}</td>"
                                                              if k in summaries[label] else "<td>-</td>"
                                                              for label in labels)
                   + "</tr>" for k in keys)
    verdicts = "".join(
        f"<li>{html.escape(label)}: " + ("healthy" if d.healthy else html.escape(
            ", ".join(f"{f.pitfall} ({f.severity}, steps {f.first_step}-{f.last_step})" for f in d.findings)))
        + "</li>" for label, d in diagnoses.items())
    figures = "".join(f'<h3>{html.escape(t)}</h3><img alt="{html.escape(t)}" src="{uri}">'
                      for t, uri in _comparison_figures(diagnoses, panels_of))
    title = html.escape("textgan report: " + ", ".join(labels))
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title><style>{STYLE}</style>'
            f"</head><body><h1>{title}</h1><h2>Summaries</h2><table><tr><th>key</th>{head}</tr>{rows}</table>"
            f"<h2>Diagnoses</h2><ul>{verdicts}</ul><h2>Curves</h2><p>One unit per panel; a colour "
            f"per run.</p>{figures}</body></html>\n")


def write_report(run_dirs: Sequence[str | Path], out: str | Path | None = None,
                 panels_of: PanelsOf = lambda game: ()) -> Path:
    """Write the report of one run (default RUN_DIR/report.html) or the comparison of several
    (default ./report-compare.html) atomically and return its path."""
    if len(run_dirs) == 1:
        path = Path(out) if out else Path(run_dirs[0]) / "report.html"
        page = render_report(run_dirs[0], panels_of)
    else:
        path = Path(out) if out else Path("report-compare.html")
        page = render_comparison(run_dirs, panels_of)
    atomic_write_text(path, page)
    return path
