"""The GAN doctor's detectors: read a run's logged history and name the classic pitfalls.

Game-independent: every detector reads only what the trainer logs (losses, D's outputs and
accuracies, gradient norms, r_t, D on a training slice and on held-out reals) and the evaluation
metrics a game reports, using only the keys that exist. Thresholds come from the recipe's `doctor:`
section (`textgan.config.DoctorConfig`); windows count logged records, at most half of those the
record's phase is planned to log (at least `MIN_PHASE_RECORDS`), so a short phase is judged too.

| pitfall | fires when |
|---|---|
| `non_finite` | a logged loss or gradient norm is NaN/inf (always critical) |
| `exploding_gradient` | a gradient norm exceeds `grad_spike` × the median of the previous `window` records of the same phase (MLE pre-training, D pre-training, adversarial) and a tenth of that phase's largest such median, or `grad_max`; critical when it exceeds `grad_max`, non-finite values follow, or `grad_spikes` spikes come within a `window` (an isolated spike the run recovers from is a warning) |
| `vanishing_gradient` | D's accuracy on reals and on fakes ≥ `d_acc_saturated` and G's gradient norm ≤ `vanish_ratio` × its peak, in `min_fraction` of a `window` |
| `mode_collapse` | a diversity metric (the game's `diversity` role: modes covered, distinct-n) falls `collapse_drop` (relative) below its baseline, a similarity metric (Self-BLEU) rises `self_bleu_rise` above it, or a spread metric (domain FID) rises `collapse_drop` above it, at two consecutive evaluations and, for n-gram metrics logged at several orders, in at least two orders at once; the baseline is the value at the end of generator pre-training (step 0 of a run started from another's generator; earlier evaluations are not judged), or the best so far in a run without pre-training; or the mode KL (`mode_kl`) ≥ `collapse_mode_kl` with at least one mode covered and no longer falling (above 90% of its earlier low: a G still spreading out early in training is not collapsed); a drop in a diversity metric counts only while the game's fraction of good samples (`high_quality_fraction`) is ≥ `collapse_min_quality` (mode counts of poor samples are noise) |
| `d_overfitting` | D's mean logit on the training slice exceeds that on held-out reals by `overfit_gap` and by half their mean magnitude (records whose mean logits exceed `SANE_LOGIT` in magnitude, a blown-up D, do not count), or r_t (mean sign of D) on the training slice exceeds r_t on held-out reals by `overfit_rt_gap`, in `min_fraction` of a `window` |
| `g_underfitting` | D rejects ≥ `underfit_d_acc` of the fakes over a `window`, G's loss does not fall, and the quality metric improved less than `stall_tol` (relative) over the last `stall_evals` evaluations |
| `oscillation` | the D or G loss, detrended over `osc_window` records, has an autocorrelation peak ≥ `osc_acf` after a dip ≤ -`osc_acf`/2 (a cycle) with amplitude ≥ `osc_amplitude` × its mean magnitude, in `min_fraction` of 5 consecutive windows |
"""  # noqa: E501 - Markdown table rows cannot be wrapped

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from textgan.config import DoctorConfig
from textgan.core import schema
from textgan.core.logging import training_records
from textgan.doctor.remedies import CAUSES, remedy
from textgan.doctor.roles import MetricRoles, roles_of

PITFALLS = ("non_finite", "exploding_gradient", "vanishing_gradient", "d_overfitting", "oscillation",
            "mode_collapse", "g_underfitting")
SEVERITIES = ("critical", "warning", "info")
SANE_LOGIT = 50.0  # |D logit| beyond this is a blown-up D (sigmoid saturated), not an over-fitting signal
# a spike must reach this fraction of the phase's largest typical norm: a jump from gradients that
# have all but vanished (a saturated D's 1e-5) to a still tiny norm is noise, not an explosion
SPIKE_FLOOR = 0.1
# the shortest window a short phase is judged over, in records (see `phase_windows`)
MIN_PHASE_RECORDS = 5


@dataclass
class Finding:
    """One diagnosed pitfall: what, how bad, where in the run, the numbers, and the fix."""

    pitfall: str
    severity: str
    first_step: int
    last_step: int
    evidence: str
    remedy: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def cause(self) -> str:
        return CAUSES[self.pitfall]


@dataclass
class RunContext:
    """What the detectors and remedies know besides the history: the resolved recipe (or {}) and
    its game's metric roles."""

    config: dict[str, Any]

    @functools.cached_property
    def roles(self) -> MetricRoles:
        return roles_of(self.config.get("game"))

    @property
    def phase_steps(self) -> tuple[int, ...]:
        """Steps of the run's three phases: generator pre-training, D pre-training, adversarial."""
        train = self.config.get("train") or {}
        return tuple(int(train.get(k) or 0) for k in ("pretrain_steps", "pretrain_d_steps", "steps"))

    @property
    def quality(self) -> tuple[str, str] | None:
        ev = self.config.get("eval") or {}
        return (ev["metric"], ev.get("mode", "max")) if ev.get("metric") else None


class History:
    """A run's logged records as aligned numeric columns (NaN where a record lacks the key)."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = training_records(records)
        self.steps = np.array([r[schema.STEP] for r in self.records], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.records)

    def column(self, key: str) -> np.ndarray:
        return np.array([_number(r.get(key)) for r in self.records], dtype=np.float64)

    def has(self, key: str) -> bool:
        return any(_is_number(r.get(key)) for r in self.records)

    def rows_with(self, key: str) -> np.ndarray:
        """Indices of the records that carry a number for `key` (evaluation steps for eval metrics)."""
        return np.array([i for i, r in enumerate(self.records) if _is_number(r.get(key))], dtype=np.int64)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any) -> float:
    return float(value) if _is_number(value) else math.nan


def sustained(mask: np.ndarray, window: int | np.ndarray, fraction: float) -> np.ndarray:
    """True at i when `mask` held in at least `fraction` of the full trailing window ending at i;
    `window` is one length for every record or one per record (`phase_windows`)."""
    windows = np.broadcast_to(np.asarray(window, dtype=np.int64), mask.shape)
    counts = np.concatenate([[0], np.cumsum(mask)])
    end = np.arange(1, len(mask) + 1)
    full = end >= windows
    held = counts[end] - counts[np.where(full, end - windows, 0)]
    return full & (held >= np.ceil(fraction * windows - 1e-9))


def phase_windows(h: History, rows: np.ndarray, cfg: DoctorConfig, ctx: RunContext) -> np.ndarray:
    """The trailing window of each of `rows`, in records: `cfg.window`, but at most half the records
    its phase is planned to log (its steps / `train.log_every`) and at least `MIN_PHASE_RECORDS`. A
    short phase (SentiGAN's 100 adversarial epochs, logged every 10) is then judged on its later half
    rather than never; a phase the recipe does not plan keeps `cfg.window`."""
    every = int((ctx.config.get("train") or {}).get("log_every") or 10)
    planned = (np.array(ctx.phase_steps) // every)[_phases(h, ctx)[rows]]
    return np.where(planned > 0, np.minimum(cfg.window, np.maximum(MIN_PHASE_RECORDS, planned // 2)),
                    cfg.window)


def _span(steps: np.ndarray, fired: np.ndarray, mask: np.ndarray,
          window: int | np.ndarray) -> tuple[int, int, int, slice]:
    """(first step, last step, index of the last firing, the window that fired there): the first step
    is where the condition began inside the first window that fired."""
    windows = np.broadcast_to(np.asarray(window, dtype=np.int64), fired.shape)
    idx = np.flatnonzero(fired)
    first, at = int(idx[0]), int(idx[-1])
    start = max(0, first - int(windows[first]) + 1)
    began = start + int(np.argmax(mask[start:first + 1])) if mask[start:first + 1].any() else first
    return int(steps[began]), int(steps[at]), at, slice(at - int(windows[at]) + 1, at + 1)


def trailing_median(values: np.ndarray, window: int, min_count: int = 3) -> np.ndarray:
    """Median of the finite values among the `window` records before each record (NaN with fewer
    than `min_count` of them)."""
    padded = np.concatenate([np.full(window, np.nan), values[:-1] if len(values) else values])
    padded[~np.isfinite(padded)] = np.nan
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)[: len(values)]
    counts = np.isfinite(windows).sum(axis=1)
    out = np.full(len(values), np.nan)
    ok = counts >= min_count
    if ok.any():
        out[ok] = np.nanmedian(windows[ok], axis=1)
    return out


def _fmt(x: float) -> str:
    return f"{x:.3g}"


# ----------------------------------------------------------------------------- detectors
def detect_non_finite(h: History, cfg: DoctorConfig, ctx: RunContext) -> Finding | None:
    bad = [i for i, r in enumerate(h.records) if r.get(schema.NON_FINITE)]
    if not bad:
        return None
    names = sorted({k for i in bad for k in h.records[i][schema.NON_FINITE]})
    first = h.records[bad[0]]
    before = [r for r in h.records[: bad[0]] if not r.get(schema.NON_FINITE)]
    last_ok = ""
    if before:
        norms = {k: before[-1][k] for k in (schema.GRAD_NORM_G, schema.GRAD_NORM_D)
                 if _is_number(before[-1].get(k))}
        last_ok = "; last finite record (step {}): {}".format(
            before[-1][schema.STEP],
            ", ".join(f"{k} {_fmt(v)}" for k, v in norms.items()) or "no gradient norms")
    evidence = (f"non-finite {', '.join(names)} at step {first['step']}"
                f"{f' and {len(bad) - 1} later record(s)' if len(bad) > 1 else ''}{last_ok}")
    return Finding("non_finite", "critical", int(first[schema.STEP]), int(h.records[bad[-1]][schema.STEP]),
                   evidence, remedy("non_finite", ctx.config))


def detect_exploding_gradient(h: History, cfg: DoctorConfig, ctx: RunContext) -> Finding | None:
    hits: list[tuple[int, str, float, float]] = []
    phases = _phases(h, ctx)
    for key in (schema.GRAD_NORM_G, schema.GRAD_NORM_D):
        values = h.column(key)
        median = np.full(len(values), np.nan)  # a phase's gradients are judged against that phase's only
        floor = np.zeros(len(values))
        for phase in np.unique(phases):
            rows = np.flatnonzero(phases == phase)
            median[rows] = trailing_median(values[rows], cfg.window)
            if np.isfinite(median[rows]).any():
                floor[rows] = SPIKE_FLOOR * np.nanmax(median[rows])
        spike = np.isfinite(values) & ((values > cfg.grad_max)
                                       | ((median > 0) & (values > cfg.grad_spike * median)
                                          & (values >= floor)))
        hits.extend((int(i), key, float(values[i]), float(median[i])) for i in np.flatnonzero(spike))
    if not hits:
        return None
    hits.sort()
    worst = max(hits, key=lambda t: t[2] / t[3] if t[3] > 0 else t[2])
    i, key, v, median = worst
    ratio = f" = {_fmt(v / median)}× the median {_fmt(median)} of the previous records" if median > 0 else ""
    diverged = any(h.records[j].get(schema.NON_FINITE) for j in range(hits[0][0], len(h)))
    rows = sorted({row for row, *_ in hits})
    repeated = any(rows[k + cfg.grad_spikes - 1] - rows[k] < cfg.window
                   for k in range(len(rows) - cfg.grad_spikes + 1))
    severity = "critical" if diverged or v > cfg.grad_max or repeated else "warning"
    evidence = (f"{len(hits)} gradient-norm spike(s); largest {key} {_fmt(v)} at step {h.steps[i]}{ratio}"
                f"{'; followed by non-finite values' if diverged else ''}")
    return Finding("exploding_gradient", severity, int(h.steps[hits[0][0]]), int(h.steps[hits[-1][0]]),
                   evidence, remedy("exploding_gradient", ctx.config))


def detect_vanishing_gradient(h: History, cfg: DoctorConfig, ctx: RunContext) -> Finding | None:
    if not (h.has(schema.GRAD_NORM_G) and h.has(schema.D_ACC_REAL) and h.has(schema.G_LOSS)):
        return None
    rows = h.rows_with(schema.G_LOSS)
    acc_r, acc_f = h.column(schema.D_ACC_REAL)[rows], h.column(schema.D_ACC_FAKE)[rows]
    gn = h.column(schema.GRAD_NORM_G)[rows]
    peak = np.fmax.accumulate(np.where(np.isfinite(gn), gn, 0.0))
    mask = (acc_r >= cfg.d_acc_saturated) & (acc_f >= cfg.d_acc_saturated) & (gn <= cfg.vanish_ratio * peak)
    windows = phase_windows(h, rows, cfg, ctx)
    fired = sustained(mask, windows, cfg.min_fraction)
    if not fired.any():
        return None
    first, last, at, w = _span(h.steps[rows], fired, mask, windows)
    ratio = float(np.nanmean(gn[w]) / peak[at]) if peak[at] > 0 else 0.0
    severity = "critical" if ratio < cfg.vanish_ratio / 10 else "warning"
    loss = (ctx.config.get("loss") or {}).get("name")
    evidence = (f"D accuracy real {_fmt(np.nanmean(acc_r[w]))} / fake {_fmt(np.nanmean(acc_f[w]))} "
                f"and G gradient norm {_fmt(np.nanmean(gn[w]))} = {_fmt(ratio)} of its peak "
                f"{_fmt(peak[at])} over steps {h.steps[rows][w][0]}-{h.steps[rows][at]}"
                f"{' with the saturating vanilla loss' if loss == 'vanilla' else ''}")
    return Finding("vanishing_gradient", severity, first, last, evidence,
                   remedy("vanishing_gradient", ctx.config))


def _baseline_step(ctx: RunContext) -> int | None:
    """The step whose evaluation is the diversity baseline: the end of generator pre-training (the
    step-0 evaluation of a run started from another's generator), where the generator is a trained
    model of the data; None for a game trained adversarially from the start (its best so far instead).
    Earlier evaluations are not judged: a pre-training generator losing its random init's diversity
    is learning."""
    train = ctx.config.get("train") or {}
    if train.get("pretrain_steps"):
        return int(train["pretrain_steps"])
    return 0 if train.get("init_from") else None


def _phases(h: History, ctx: RunContext) -> np.ndarray:
    """Per record, its phase: 0 generator pre-training, 1 discriminator pre-training, 2 adversarial
    (G's gradient is an MLE gradient in the first and a GAN gradient in the last: not comparable)."""
    mle, d_steps, _ = ctx.phase_steps
    d_only = mle + d_steps
    return np.where(h.steps <= mle, 0, np.where(h.steps <= d_only, 1, 2))


def _ngram_family(key: str) -> str:
    """distinct_2 -> distinct, self_bleu_4 -> self_bleu; other keys are a family of their own."""
    head, _, order = key.rpartition("_")
    return head if order.isdigit() else key


def _diversity_conditions(h: History, cfg: DoctorConfig,
                          ctx: RunContext) -> list[tuple[np.ndarray, np.ndarray, Callable[[int], str]]]:
    """(eval rows, collapsed mask, evidence at a row) for each diversity signal the run logged. A row
    counts when the drop from the baseline holds there and at the evaluation before it (persists) and,
    for n-gram metrics logged at several orders, in at least two of them at once."""
    baseline = _baseline_step(ctx)
    drops: dict[str, tuple[np.ndarray, np.ndarray, Callable[[int], str]]] = {}

    def add(key: str, collapsed: Callable[[np.ndarray, np.ndarray], np.ndarray], running: Callable,
            word: str, trusted: np.ndarray | None = None) -> None:
        rows = h.rows_with(key)
        v = h.column(key)[rows]
        ok = np.ones(len(rows), dtype=bool) if trusted is None else trusted[rows]
        if baseline is None:
            ref = running(v)
        else:
            before = np.flatnonzero(h.steps[rows] <= baseline)
            if not len(before) or before[-1] == len(rows) - 1:
                return
            b = int(before[-1])
            word = f"value at the end of pre-training (step {int(h.steps[rows[b]])})"
            rows, ref, v, ok = rows[b + 1:], np.full(len(rows) - b - 1, v[b]), v[b + 1:], ok[b + 1:]
        drops[key] = (rows, collapsed(v, ref) & ok,
                      lambda j: f"{key} {_fmt(v[j])} against its {word} {_fmt(ref[j])}")

    roles = ctx.roles
    quality = h.column(roles.quality_fraction) if roles.quality_fraction else np.full(len(h), np.nan)
    trusted = ~(quality < cfg.collapse_min_quality)  # NaN (no quality signal): trusted
    for key in roles.diversity:
        if h.has(key):
            add(key, lambda v, ref: v <= (1 - cfg.collapse_drop) * ref, np.fmax.accumulate, "best", trusted)
    for key in roles.similarity:
        if h.has(key):
            add(key, lambda v, ref: v - ref >= cfg.self_bleu_rise, np.fmin.accumulate, "lowest")
    for key in roles.spread:
        if h.has(key):
            add(key, lambda v, ref: v >= (1 + cfg.collapse_drop) * ref, np.fmin.accumulate, "lowest")

    families: dict[str, list[str]] = {}
    for key in drops:
        families.setdefault(_ngram_family(key), []).append(key)
    out = []
    for keys in families.values():
        votes = np.zeros(len(h), dtype=int)  # per record: how many orders of the family dropped there
        for key in keys:
            rows, mask, _ = drops[key]
            votes[rows] += mask
        for key in keys:
            rows, mask, say = drops[key]
            together = mask & (votes[rows] >= min(2, len(keys)))
            persisted = together & np.concatenate([[False], together[:-1]])
            out.append((rows, persisted, say))
    return out + _mode_kl_condition(h, cfg, roles)


def _mode_kl_condition(h: History, cfg: DoctorConfig,
                       roles: MetricRoles) -> list[tuple[np.ndarray, np.ndarray, Callable[[int], str]]]:
    """The mode histogram's KL from uniform stays high with modes covered and no longer falls."""
    if roles.mode_kl is None:
        return []
    kl_key, covered_key = roles.mode_kl
    rows = h.rows_with(kl_key)
    if len(rows) <= 1 or not h.has(covered_key):
        return []
    kl, covered = h.column(kl_key)[rows], h.column(covered_key)[rows]
    good = h.column(roles.quality_fraction)[rows] if roles.quality_fraction else np.full(len(rows), np.nan)
    previous_low = np.concatenate([[np.inf], np.fmin.accumulate(kl)[:-1]])
    mask = (kl >= cfg.collapse_mode_kl) & (covered >= 1) & (kl >= 0.9 * previous_low)
    return [(rows, mask, lambda j: f"{kl_key} {_fmt(kl[j])} (0 = all modes equally) with "
                                   f"{_fmt(100 * good[j])}% high-quality samples and "
                                   f"{_fmt(covered[j])} modes covered")]


def detect_mode_collapse(h: History, cfg: DoctorConfig, ctx: RunContext) -> Finding | None:
    fired = [(rows, mask, say) for rows, mask, say in _diversity_conditions(h, cfg, ctx) if mask.any()]
    if not fired:
        return None
    first = min(int(h.steps[rows[np.argmax(mask)]]) for rows, mask, _ in fired)
    last = max(int(h.steps[rows[np.flatnonzero(mask)[-1]]]) for rows, mask, _ in fired)
    now = [say(len(mask) - 1) for rows, mask, say in fired if mask[-1]]
    if now:
        severity, evidence = "critical", "at the last evaluation (step {}): {}".format(
            int(h.steps[fired[0][0][-1]]), "; ".join(now))
    else:
        severity = "warning"
        rows, mask, say = fired[0]
        j = int(np.flatnonzero(mask)[-1])
        evidence = f"at step {int(h.steps[rows[j]])}: {say(j)} (recovered by the last evaluation)"
    return Finding("mode_collapse", severity, first, last, evidence, remedy("mode_collapse", ctx.config))


def detect_d_overfitting(h: History, cfg: DoctorConfig, ctx: RunContext) -> Finding | None:
    if not (h.has(schema.D_TRAIN_SLICE) and h.has(schema.D_HELDOUT)):
        return None
    rows = h.rows_with(schema.D_HELDOUT)
    train, held = h.column(schema.D_TRAIN_SLICE)[rows], h.column(schema.D_HELDOUT)[rows]
    gap = train - held
    scale = 0.5 * (np.abs(train) + np.abs(held))
    rt, rt_held = h.column(schema.RT_TRAIN_SLICE)[rows], h.column(schema.RT_HELDOUT)[rows]
    rt_gap = np.where(np.isfinite(rt) & np.isfinite(rt_held), rt - rt_held, 0.0)
    mask = (((gap >= cfg.overfit_gap) & (gap >= 0.5 * scale) & (scale <= SANE_LOGIT))
            | (rt_gap >= cfg.overfit_rt_gap))
    windows = phase_windows(h, rows, cfg, ctx)
    fired = sustained(mask, windows, cfg.min_fraction)
    if not fired.any():
        return None
    first, last, at, w = _span(h.steps[rows], fired, mask, windows)
    mean_gap = float(np.nanmean(gap[w]))
    severity = ("critical" if mean_gap >= 2 * cfg.overfit_gap and np.nanmean(rt_gap[w]) >= cfg.overfit_rt_gap
                else "warning")
    evidence = (f"D's mean logit on training reals exceeds held-out reals by {_fmt(mean_gap)} (threshold "
                f"{_fmt(cfg.overfit_gap)}); r_t {_fmt(np.nanmean(rt[w]))} on the training slice vs "
                f"{_fmt(np.nanmean(rt_held[w]))} on held-out reals, steps "
                f"{h.steps[rows][w][0]}-{h.steps[rows][at]}")
    return Finding("d_overfitting", severity, first, last, evidence, remedy("d_overfitting", ctx.config))


def _quality(h: History, ctx: RunContext) -> tuple[str, str] | None:
    wanted = ctx.quality
    if wanted and h.has(wanted[0]):
        return wanted
    return next(((k, m) for k, m in ctx.roles.quality if h.has(k)), None)


def _stalled_at(h: History, cfg: DoctorConfig, ctx: RunContext) -> tuple[np.ndarray, str]:
    """Per record: the quality metric improved less than `stall_tol` over the last `stall_evals`
    evaluations up to it (False where too few evaluations); and the metric's name."""
    out = np.zeros(len(h), dtype=bool)
    quality = _quality(h, ctx)
    if quality is None:
        return out, ""
    key, mode = quality
    rows = h.rows_with(key)
    v = h.column(key)[rows] * (1 if mode == "max" else -1)
    k = cfg.stall_evals
    for j in range(k, len(rows)):
        before, recent = v[: j - k + 1].max(), v[j - k + 1: j + 1].max()
        gain = (recent - before) / max(abs(before), 1e-12)
        if gain < cfg.stall_tol:
            end = rows[j + 1] if j + 1 < len(rows) else len(h)
            out[rows[j]:end] = True
    return out, key


def detect_g_underfitting(h: History, cfg: DoctorConfig, ctx: RunContext) -> Finding | None:
    if not (h.has(schema.G_LOSS) and h.has(schema.D_ACC_FAKE)):
        return None
    stalled, key = _stalled_at(h, cfg, ctx)
    if not key:
        return None
    rows = h.rows_with(schema.G_LOSS)
    g, acc_f = h.column(schema.G_LOSS)[rows], h.column(schema.D_ACC_FAKE)[rows]
    rejecting = sustained(acc_f >= cfg.underfit_d_acc, cfg.window, cfg.min_fraction)
    half = cfg.window // 2
    not_falling = np.zeros(len(rows), dtype=bool)
    if len(rows) >= cfg.window:
        windows = np.lib.stride_tricks.sliding_window_view(g, cfg.window)
        early, late = (np.nanmean(windows[:, : cfg.window - half], axis=1),
                       np.nanmean(windows[:, -half:], axis=1))
        not_falling[cfg.window - 1:] = late >= early - cfg.stall_tol * np.abs(early)
    mask = rejecting & not_falling & stalled[rows]
    if not mask.any():
        return None
    first, last, at, _ = _span(h.steps[rows], mask, mask, 1)
    w = slice(at - cfg.window + 1, at + 1)
    q = h.column(key)[h.rows_with(key)]
    evidence = (f"D rejects {_fmt(100 * np.nanmean(acc_f[w]))}% of the fakes, G loss "
                f"{_fmt(g[w][0])} -> {_fmt(g[w][-1])} (not falling) and {key} moved less than "
                f"{_fmt(100 * cfg.stall_tol)}% over the last {cfg.stall_evals} evaluations "
                f"({', '.join(_fmt(x) for x in q[-cfg.stall_evals - 1:])})")
    severity = "warning" if mask[-1] else "info"
    return Finding("g_underfitting", severity, first, last, evidence, remedy("g_underfitting", ctx.config))


def cycle_strengths(windows: np.ndarray, min_acf: float) -> tuple[np.ndarray, np.ndarray]:
    """For each row of `windows` (m, n): (autocorrelation at the cycle's period, the period in records)
    of the linearly detrended row, or (0, 0) where there is no cycle: no dip ≤ -min_acf/2 followed by a
    peak within half the window. Autocorrelations via FFT, all rows at once."""
    m, n = windows.shape
    t = np.arange(n) - (n - 1) / 2
    x = windows - windows.mean(axis=1, keepdims=True)
    x = x - np.outer(x @ t / (t @ t), t)
    spectrum = np.fft.rfft(x, 2 * n, axis=1)
    acf = np.fft.irfft(spectrum * spectrum.conj(), 2 * n, axis=1)[:, : n // 2 + 1]
    energy = acf[:, :1]
    acf = np.divide(acf, energy, out=np.zeros_like(acf), where=energy > 0)
    dips = acf <= -min_acf / 2
    has_dip = dips.any(axis=1)
    first_dip = np.argmax(dips, axis=1)
    after = np.where(np.arange(acf.shape[1]) >= first_dip[:, None], acf, -np.inf)
    lag = np.argmax(after, axis=1)
    strength = np.where(has_dip, after[np.arange(m), lag], 0.0)
    return strength, np.where(has_dip, lag, 0)


def detect_oscillation(h: History, cfg: DoctorConfig, ctx: RunContext) -> Finding | None:
    best: tuple[float, str, int, int] | None = None
    span: list[int] = []
    w = cfg.osc_window
    for key in (schema.D_LOSS, schema.G_LOSS):
        rows = h.rows_with(key)
        v = h.column(key)[rows]
        v = v[np.isfinite(v)] if len(v) else v
        if len(v) < w or len(v) != len(rows):
            continue
        windows = np.lib.stride_tricks.sliding_window_view(v, w)
        strength, period = cycle_strengths(windows, cfg.osc_acf)
        level = np.maximum(np.abs(windows).mean(axis=1), 1e-12)
        ok = (strength >= cfg.osc_acf) & (windows.std(axis=1) >= cfg.osc_amplitude * level)
        mask = np.concatenate([np.zeros(w - 1, dtype=bool), ok])
        fired = sustained(mask, 5, cfg.min_fraction)
        if fired.any():
            steps = h.steps[rows]
            first, last, _, _ = _span(steps, fired, mask, w)
            span = [min(span[0], first), max(span[1], last)] if span else [first, last]
            j = int(np.argmax(np.where(ok, strength, -np.inf)))
            if best is None or strength[j] > best[0]:
                best = (float(strength[j]), key, int(period[j]), int(steps[j + w - 1]))
    if not span or best is None:
        return None
    strength, key, period, step = best
    steps_per_record = int(np.median(np.diff(h.steps))) if len(h) > 1 else 1
    evidence = (f"{key} cycles with a period of about {period * steps_per_record} steps (autocorrelation "
                f"{_fmt(strength)} at that lag, window ending at step {step})")
    return Finding("oscillation", "warning", span[0], span[1], evidence, remedy("oscillation", ctx.config))


DETECTORS: dict[str, Callable[[History, DoctorConfig, RunContext], Finding | None]] = {
    "non_finite": detect_non_finite,
    "exploding_gradient": detect_exploding_gradient,
    "vanishing_gradient": detect_vanishing_gradient,
    "d_overfitting": detect_d_overfitting,
    "mode_collapse": detect_mode_collapse,
    "g_underfitting": detect_g_underfitting,
    "oscillation": detect_oscillation,
}


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first; within a severity, root causes (in `PITFALLS` order) before consequences."""
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity),
                                           PITFALLS.index(f.pitfall), f.first_step))


def diagnose_records(records: list[dict[str, Any]], cfg: DoctorConfig | None = None,
                     config: dict[str, Any] | None = None) -> list[Finding]:
    """Run every detector on a run's records (metrics.jsonl lines) and add the pitfalls that the live
    doctor remedied during training (its `doctor_action` records) when the history no longer shows them."""
    cfg = cfg or DoctorConfig()
    ctx = RunContext(config or {})
    history = History(records)
    findings = [f for detect in DETECTORS.values() if (f := detect(history, cfg, ctx)) is not None]
    found = {f.pitfall for f in findings}
    if {"oscillation", "mode_collapse"} <= found:  # a cycling G hops between modes: the cycle comes first
        collapse = next(f for f in findings if f.pitfall == "mode_collapse")
        collapse.severity = "warning"
        collapse.evidence += ("; the losses cycle too (oscillation): the generator is likely hopping "
                              "between modes")
    for r in records:
        pitfall = r.get(schema.PITFALL)
        if schema.DOCTOR_ACTION in r and pitfall in PITFALLS and pitfall not in found:
            found.add(pitfall)
            findings.append(Finding(pitfall, r.get(schema.SEVERITY, "warning"), int(r[schema.STEP]),
                                    int(r[schema.STEP]),
                                    f"{r.get('evidence', '')}; remedied during training at step {r['step']}: "
                                    f"{r.get('detail', r['doctor_action'])}", remedy(pitfall, ctx.config)))
    return sort_findings(findings)


@dataclass
class Diagnosis:
    """`textgan doctor`'s answer for one run folder."""

    run_dir: str
    records: list[dict[str, Any]]
    findings: list[Finding]
    last_step: int
    finished: bool
    # the run's config.yaml ({} when absent or unreadable)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        """The public `--json` object: `{"healthy": bool, "findings": [...]}`, most severe first."""
        return {"healthy": self.healthy, "findings": [f.to_json() for f in self.findings]}


def doctor_config(config: dict[str, Any]) -> DoctorConfig:
    """The thresholds of a run's resolved recipe (`doctor:` section; defaults for keys it lacks)."""
    from textgan.errors import UserError

    section = config.get("doctor") or {}
    known = {k: v for k, v in section.items() if k in DoctorConfig.__dataclass_fields__}
    try:
        cfg = DoctorConfig(**known)
        cfg.validate()
    except (TypeError, UserError):
        return DoctorConfig()
    return cfg


def diagnose_run(run_dir: str | Path) -> Diagnosis:
    """Read a finished or still-running run folder (a torn last line of metrics.jsonl is ignored) and
    diagnose it. UserError when the folder or its metrics are missing or empty."""
    import yaml

    from textgan.core.logging import read_metrics
    from textgan.errors import UserError

    run = Path(run_dir)
    if not run.is_dir():
        raise UserError(f"run folder not found: {run}")
    metrics = run / "metrics.jsonl"
    if not metrics.is_file():
        raise UserError(f"{run} holds no metrics.jsonl: is it a textgan run folder?")
    records = read_metrics(metrics)
    timeline = training_records(records)
    if not timeline:
        raise UserError(f"{metrics} holds no logged steps yet")
    config: dict[str, Any] = {}
    if (run / "config.yaml").is_file():
        try:
            loaded = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
            config = loaded if isinstance(loaded, dict) else {}
        except (yaml.YAMLError, UnicodeDecodeError):
            config = {}
    findings = diagnose_records(records, doctor_config(config), config)
    return Diagnosis(str(run), records, findings, int(timeline[-1][schema.STEP]),
                     (run / "summary.json").is_file(), config)
