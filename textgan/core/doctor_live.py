"""The doctor inside the training loop (`doctor.mode: warn | auto`).

Every `doctor.every` logged records the trainer hands the doctor its in-memory history; the doctor
runs the same detectors as `textgan doctor` on the records since its last action. `warn` prints each
newly active pitfall and logs a `doctor_finding` record; `auto` also applies the remedy and logs a
`doctor_action` record (step, pitfall, evidence, what changed) — nothing is changed silently:

| pitfall | automatic remedy |
|---|---|
| `non_finite`, `exploding_gradient` (critical) | roll back to the last good state (weights, optimisers, RNG; taken at each healthy check) and multiply every learning rate by `doctor.lr_factor`; an isolated gradient spike (a warning) is logged as a finding only |
| `vanishing_gradient` | saturating `vanilla` loss -> non-saturating `ns`; else one-sided label smoothing 0.1; else +0.1 instance noise |
| `d_overfitting` | the game's hook (e.g. a higher augmentation probability); else +0.1 dropout in D; else +0.1 instance noise (continuous inputs, up to 0.3); else D weight decay |
| `mode_collapse` | the game's hook (e.g. a higher Gumbel temperature); else 10x R1 weight (min 0.1), or 2x GP weight; a saturating `vanilla` loss also becomes `ns` |
| `g_underfitting` | stop early (best.pt, when `eval.metric` is set, keeps the best generator) |
| `oscillation` | halve every learning rate |

Each pitfall is remedied at most `doctor.max_actions` times; after that a divergence ends the run as
in `off` mode. The doctor's state (scales, changes, counters, history) is part of every checkpoint.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from textgan.core.doctor import diagnose_records, training_records
from textgan.core.losses import get_loss
from textgan.core.remedies import INSTANCE_NOISE_MAX, INSTANCE_NOISE_STEP

if TYPE_CHECKING:
    from textgan.core.doctor import Finding
    from textgan.core.logging import MetricsLog
    from textgan.core.trainer import Trainer

HISTORY_LIMIT = 5000
RECOVERABLE = ("non_finite", "exploding_gradient")


def detached_copy(obj: Any) -> Any:
    """A deep copy of a (nested) state dict with every tensor cloned to the CPU."""
    if isinstance(obj, Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: detached_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(detached_copy(v) for v in obj)
    return obj


def non_finite_tensors(state: dict[str, Any], parts: tuple[str, ...] = ("generator", "discriminator", "ema")) -> list[str]:
    """Names of the floating-point tensors in `state[part]` that hold NaN or inf."""
    bad = []
    for part in parts:
        for name, value in _tensors(state.get(part), part):
            if value.is_floating_point() and not torch.isfinite(value).all():
                bad.append(name)
    return bad


def _tensors(obj: Any, prefix: str) -> list[tuple[str, Tensor]]:
    if isinstance(obj, Tensor):
        return [(prefix, obj)]
    if isinstance(obj, dict):
        return [t for k, v in obj.items() for t in _tensors(v, f"{prefix}.{k}")]
    return []


class LiveDoctor:
    """Watches a training run; see the module docstring for what each mode does."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.cfg = trainer.recipe.doctor
        self.auto = self.cfg.mode == "auto"
        self.history: list[dict[str, Any]] = []
        self.since = -1  # detection looks only at records after the last action
        self.last_check = -1
        self.active: list[str] = []
        self.counts: dict[str, int] = {}
        self.lr_scale = 1.0
        self.overrides: dict[str, Any] = {}
        self.snapshot: dict[str, Any] | None = None
        self.snapshot_lr_scale = 1.0

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history), "since": self.since, "last_check": self.last_check,
                "active": list(self.active), "counts": dict(self.counts), "lr_scale": self.lr_scale,
                "overrides": dict(self.overrides)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = list(state["history"])
        self.since, self.last_check = state["since"], state["last_check"]
        self.active, self.counts = list(state["active"]), dict(state["counts"])
        self.lr_scale, self.overrides = state["lr_scale"], dict(state["overrides"])
        self._apply_overrides()

    def take_snapshot(self) -> None:
        """Remember the trainer's current state as the last good one (only when its weights are finite)."""
        state = self.trainer.state_dict()
        state.pop("doctor", None)
        if not non_finite_tensors(state):
            self.snapshot, self.snapshot_lr_scale = detached_copy(state), self.lr_scale

    # ------------------------------------------------------------------ hooks called by the trainer
    def after_log(self, record: dict[str, Any], log: MetricsLog) -> bool:
        """Record a logged step; every `every` records run the detectors. True: stop training now."""
        self.history.append(dict(record))
        del self.history[:-HISTORY_LIMIT]
        if len(training_records(self.history)) % self.cfg.every:
            return False
        return self.check(log)

    def check(self, log: MetricsLog) -> bool:
        step = self.trainer.step
        records = [r for r in self.history if r["step"] > self.since and "doctor_action" not in r]
        findings = [f for f in diagnose_records(records, self.cfg, self.trainer.recipe.to_dict())
                    if f.last_step > self.last_check]
        self.last_check = step
        new = [f for f in findings if f.pitfall not in self.active]
        self.active = [f.pitfall for f in findings]
        stop = False
        for finding in new if not self.auto else findings:
            # an isolated gradient spike (a warning) is one the run got over: worth a note, not a rollback
            acts = self.auto and not (finding.pitfall == "exploding_gradient" and finding.severity != "critical")
            if not acts:
                if finding in new:
                    self._emit(log, {"step": step, "doctor_finding": finding.pitfall, "severity": finding.severity,
                                     "evidence": finding.evidence, "remedy": finding.remedy})
            elif self.counts.get(finding.pitfall, 0) < self.cfg.max_actions:
                stop = self._remedy(finding, log) or stop
                break  # one remedy per check: the next check sees its effect
        if self.auto and not any(f.pitfall in RECOVERABLE for f in findings):
            self.take_snapshot()
        return stop

    def recover(self, values: dict[str, float], message: str, log: MetricsLog) -> bool:
        """A loss or gradient became non-finite. In auto mode roll back and lower the learning rates
        (True), unless there is no good state or the remedy was used up (False: the run ends)."""
        if not self.auto or self.snapshot is None or self.counts.get("non_finite", 0) >= self.cfg.max_actions:
            return False
        names = ", ".join(f"{k}={v:.3g}" for k, v in values.items())
        self._rollback("non_finite", "critical", f"non-finite values at step {self.trainer.step}: {names}", log)
        return True

    # ------------------------------------------------------------------ remedies
    def _emit(self, log: MetricsLog, record: dict[str, Any]) -> None:
        log.write(record)
        self.history.append(record)
        kind = "action" if "doctor_action" in record else "finding"
        what = record.get("detail") or record.get("remedy", "")
        print(f"doctor {kind} at step {record['step']}: {record.get('pitfall', record.get('doctor_finding'))} "
              f"({record['severity']}) - {record['evidence']} -> {what}", file=sys.stderr)

    def _act(self, pitfall: str, severity: str, evidence: str, action: str, detail: str,
             changes: dict[str, Any], log: MetricsLog, step: int | None = None) -> None:
        """Count and log an applied remedy (at `step`, default now); detection restarts after it."""
        self.counts[pitfall] = self.counts.get(pitfall, 0) + 1
        self.since = self.last_check = self.trainer.step
        self._emit(log, {"step": self.trainer.step if step is None else step, "doctor_action": action,
                         "pitfall": pitfall, "severity": severity, "evidence": evidence, "detail": detail,
                         "changes": changes})

    def _remedy(self, f: Finding, log: MetricsLog) -> bool:
        if f.pitfall in RECOVERABLE:
            if self.snapshot is not None:
                self._rollback(f.pitfall, f.severity, f.evidence, log)
            else:
                self._scale_lr(self.cfg.lr_factor)
                self._act(f.pitfall, f.severity, f.evidence, "lower_lr",
                          f"learning rates x{self.cfg.lr_factor} (no good state to roll back to yet)",
                          {"lr_scale": self.lr_scale}, log)
            return False
        if f.pitfall == "g_underfitting":
            self._act(f.pitfall, f.severity, f.evidence, "stop_early",
                      "stopped early: the generator has stalled; best.pt keeps the best generator", {}, log)
            return True
        if f.pitfall == "oscillation":
            self._scale_lr(0.5)
            self._act(f.pitfall, f.severity, f.evidence, "lower_lr", "learning rates x0.5",
                      {"lr_scale": self.lr_scale}, log)
            return False
        hook = self.trainer.game.apply_remedy(f.pitfall)
        if hook:
            self._act(f.pitfall, f.severity, f.evidence, "game_remedy", hook, {}, log)
            return False
        action, detail, changes = {"vanishing_gradient": self._desaturate, "d_overfitting": self._regularise_d,
                                   "mode_collapse": self._strengthen_penalty}[f.pitfall]()
        self._act(f.pitfall, f.severity, f.evidence, action, detail, changes, log)
        return False

    def _rollback(self, pitfall: str, severity: str, evidence: str, log: MetricsLog) -> None:
        assert self.snapshot is not None
        t = self.trainer
        failed_step = t.step
        t.load_state_dict(detached_copy(self.snapshot))
        self._scale_lr(self.cfg.lr_factor, relative_to=self.snapshot_lr_scale)
        self._apply_overrides()
        self.history = [r for r in self.history if r["step"] <= t.step]
        self._act(pitfall, severity, evidence, "rollback",
                  f"rolled back from step {failed_step} to step {t.step} and multiplied the learning rates by "
                  f"{self.cfg.lr_factor} (now x{self.lr_scale:.3g} of the recipe's)",
                  {"rollback_to": t.step, "lr_scale": self.lr_scale}, log, step=failed_step)

    def _scale_lr(self, factor: float, relative_to: float | None = None) -> None:
        """Scale every learning rate (and its schedule's base) by `factor`; after a rollback to a state
        taken at scale `relative_to`, bring it to the new cumulative scale."""
        self.lr_scale *= factor
        ratio = self.lr_scale / relative_to if relative_to is not None else factor
        t = self.trainer
        for opt, sched in ((t.opt_g, t.sched_g), (t.opt_d, t.sched_d), (t.opt_pretrain, t.sched_pretrain)):
            for group in opt.param_groups:
                group["lr"] *= ratio
            sched.base_lrs = [lr * ratio for lr in sched.base_lrs]

    def _set(self, key: str, value: Any) -> tuple[Any, Any]:
        section, name = key.split(".")
        old = getattr(getattr(self.trainer.recipe, section), name)
        self.overrides[key] = value
        self._apply_overrides()
        return old, value

    def _apply_overrides(self) -> None:
        """Re-apply the recipe changes made so far (after a rollback or a resume)."""
        t = self.trainer
        for key, value in self.overrides.items():
            section, name = key.split(".")
            if section == "d_dropout":
                for m in t.game.discriminator.modules():
                    if isinstance(m, nn.Dropout):
                        m.p = value
            else:
                setattr(getattr(t.recipe, section), name, value)
        t.loss = get_loss(t.recipe.loss.name)
        t.gp_weight = t.recipe.loss.effective_gp_weight

    def _desaturate(self) -> tuple[str, str, dict[str, Any]]:
        loss = self.trainer.recipe.loss
        if loss.name == "vanilla":
            return "switch_loss", "loss vanilla -> ns (non-saturating)", {"loss.name": self._set("loss.name", "ns")}
        if not loss.label_smoothing and loss.name not in ("wgan", "wgan-gp", "hinge"):
            return ("label_smoothing", "one-sided label smoothing 0 -> 0.1",
                    {"loss.label_smoothing": self._set("loss.label_smoothing", 0.1)})
        return self._add_instance_noise()

    def _continuous_inputs(self) -> bool:
        """Whether D reads continuous inputs (images, points), which noise and R1/GP act on; token ids are not."""
        return self.trainer.game.train_slice().is_floating_point()

    def _add_instance_noise(self) -> tuple[str, str, dict[str, Any]]:
        """+0.1 to the std of the Gaussian noise on D's inputs, held constant from now on."""
        loss = self.trainer.recipe.loss
        new = round(loss.instance_noise + INSTANCE_NOISE_STEP, 6)
        self._set("loss.instance_noise_anneal_steps", 0)
        return ("instance_noise", f"instance noise {loss.instance_noise} -> {new}",
                {"loss.instance_noise": self._set("loss.instance_noise", new)})

    def _regularise_d(self) -> tuple[str, str, dict[str, Any]]:
        drops = [m for m in self.trainer.game.discriminator.modules() if isinstance(m, nn.Dropout)]
        if drops and drops[0].p < 0.5:
            old = drops[0].p
            new = round(min(0.5, old + 0.1), 6)
            self.overrides["d_dropout.p"] = new
            self._apply_overrides()
            return "dropout", f"D dropout {old} -> {new}", {"d_dropout": [old, new]}
        if self._continuous_inputs() and self.trainer.recipe.loss.instance_noise < INSTANCE_NOISE_MAX:
            return self._add_instance_noise()  # noise on every input D sees: it cannot memorise exact points
        groups = self.trainer.opt_d.param_groups
        old = groups[0]["weight_decay"]
        new = max(1e-4, 10 * old)
        for group in groups:
            group["weight_decay"] = new
        return "weight_decay", f"D weight decay {old:g} -> {new:g}", {"optim_d.weight_decay": [old, new]}

    def _strengthen_penalty(self) -> tuple[str, str, dict[str, Any]]:
        loss = self.trainer.recipe.loss
        if not self._continuous_inputs():
            reason = "no generic remedy: D's inputs are discrete, so R1/GP do not apply, and the game has none"
            return "none", reason, {}
        if loss.name == "wgan-gp" or loss.gp_weight:
            new = 2 * self.trainer.gp_weight
            return "gp_weight", f"gradient penalty weight -> {new:g}", {"loss.gp_weight": self._set("loss.gp_weight", new)}
        new = max(0.1, 10 * loss.r1_weight)
        detail, changes = f"R1 weight {loss.r1_weight:g} -> {new:g}", {"loss.r1_weight": self._set("loss.r1_weight", new)}
        if loss.name == "vanilla":  # a saturating G loss starves the dropped modes of gradient
            detail += ", loss vanilla -> ns (non-saturating)"
            changes["loss.name"] = self._set("loss.name", "ns")
        return "r1_weight", detail, changes
