"""The doctor inside the training loop (`doctor.mode: warn | auto`).

Every `doctor.every` logged records the trainer hands the doctor its record; the doctor runs the
same detectors as `textgan doctor` on the records since its last action. `warn` prints each newly
active pitfall and logs a `doctor_finding` record; `auto` also carries out the pitfall's remedy
(`remedies.remedy_for`, the very changes `textgan doctor` prints) and logs a `doctor_action` record
(step, pitfall, evidence, what changed) — nothing is changed silently:

| action | what the live doctor does |
|---|---|
| `rollback` (`non_finite`; a critical `exploding_gradient`) | restore the last good state (weights, optimisers, RNG; taken at each healthy check), then apply the changes (learning rates × `doctor.lr_factor`, gradient clipping); an isolated gradient spike (a warning) is logged as a finding only |
| `apply` | apply the changes through the trainer's public interface (`Trainer.apply_change`) |
| `stop` (`g_underfitting`) | stop early (best.pt, when `eval.metric` is set, keeps the best generator); the changes are for the next run |

A change marked for a new run (a wider network, EMA) is logged, not applied. Every applied change is
kept in `overrides` and applied again after a rollback or a resume. Each pitfall is remedied at
most `doctor.max_actions` times; after that a divergence ends the run as in `off` mode. The doctor's
state (changes, counters, history) is part of every checkpoint.
"""  # noqa: E501 - Markdown table rows cannot be wrapped

from __future__ import annotations

import sys
from typing import Any

from torch import Tensor

from textgan.core import distributed as dist
from textgan.core import schema
from textgan.core.checkpoint import non_finite_tensors
from textgan.core.logging import MetricsLog, training_records
from textgan.core.trainer import Trainer
from textgan.doctor.detect import Finding, diagnose_records
from textgan.doctor.remedies import Remedy, remedy_for
from textgan.errors import UserError

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


def attach_doctor(trainer: Trainer) -> LiveDoctor | None:
    """Give `trainer` the live doctor its recipe asks for (`doctor.mode` warn or auto; rank 0 only).
    Attach before `resume`, so that the doctor's state comes back with the checkpoint."""
    mode = trainer.recipe.doctor.mode
    if mode == "auto" and dist.world_size() > 1:
        raise UserError("doctor.mode auto (rollbacks, live remedies) runs in a single process; use warn "
                        "under torchrun")
    if mode == "off" or not dist.is_main():
        return None
    trainer.monitor = LiveDoctor(trainer)
    return trainer.monitor


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
        self.overrides: dict[str, Any] = {}  # every change applied so far, by recipe key
        self.snapshot: dict[str, Any] | None = None

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history), "since": self.since, "last_check": self.last_check,
                "active": list(self.active), "counts": dict(self.counts), "overrides": dict(self.overrides)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = list(state["history"])
        self.since, self.last_check = state["since"], state["last_check"]
        self.active, self.counts = list(state["active"]), dict(state["counts"])
        self.overrides = dict(state["overrides"])
        self._apply_overrides()

    def take_snapshot(self) -> None:
        """Remember the trainer's current state as the last good one (only when its weights are finite)."""
        state = self.trainer.state_dict()
        state.pop("doctor", None)
        if not non_finite_tensors(state):
            self.snapshot = detached_copy(state)

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
        records = [r for r in self.history if r[schema.STEP] > self.since and schema.DOCTOR_ACTION not in r]
        findings = [f for f in diagnose_records(records, self.cfg, self.trainer.recipe.to_dict())
                    if f.last_step > self.last_check]
        self.last_check = step
        new = [f for f in findings if f.pitfall not in self.active]
        self.active = [f.pitfall for f in findings]
        stop = False
        for finding in new if not self.auto else findings:
            # an isolated gradient spike (a warning) is one the run got over: worth a note, not a rollback
            acts = self.auto and not (finding.pitfall == "exploding_gradient"
                                      and finding.severity != "critical")
            if not acts:
                if finding in new:
                    self._emit(log, {schema.STEP: step, schema.DOCTOR_FINDING: finding.pitfall,
                                     schema.SEVERITY: finding.severity, schema.EVIDENCE: finding.evidence,
                                     schema.REMEDY: finding.remedy})
            elif self.counts.get(finding.pitfall, 0) < self.cfg.max_actions:
                stop = self.carry_out(finding, log) or stop
                break  # one remedy per check: the next check sees its effect
        if self.auto and not any(f.pitfall in RECOVERABLE for f in findings):
            self.take_snapshot()
        return stop

    def recover(self, values: dict[str, float], message: str, log: MetricsLog) -> bool:
        """A loss or gradient became non-finite. In auto mode roll back and apply the divergence
        remedy (True), unless there is no good state or the remedy was used up (False: the run ends)."""
        if not self.auto or self.snapshot is None or self.counts.get("non_finite", 0) >= self.cfg.max_actions:
            return False
        names = ", ".join(f"{k}={v:.3g}" for k, v in values.items())
        finding = Finding("non_finite", "critical", self.trainer.step, self.trainer.step,
                          f"non-finite values at step {self.trainer.step}: {names}", "")
        self.carry_out(finding, log)
        return True

    # ------------------------------------------------------------------ remedies
    def remedy(self, pitfall: str) -> Remedy:
        """The remedy for `pitfall` given the recipe as it now stands (with every change so far)."""
        return remedy_for(pitfall, self.trainer.recipe.to_dict())

    def carry_out(self, finding: Finding, log: MetricsLog) -> bool:
        """Carry out the remedy of `finding` and log it; True when it stops the run."""
        t, remedy = self.trainer, self.remedy(finding.pitfall)
        failed_step = t.step
        rolled_back = remedy.action == "rollback" and self.snapshot is not None
        if rolled_back:
            t.load_state_dict(detached_copy(self.snapshot))
            self._apply_overrides()
            self.history = [r for r in self.history if r[schema.STEP] <= t.step]
        applied = [c for c in remedy.changes if not c.restart and remedy.action != "stop"]
        for change in applied:
            self.overrides[change.key] = change.new
            t.apply_change(change.key, change.new)
        detail = "; ".join(c.describe() for c in remedy.changes) or "no remedy applies to this recipe"
        if rolled_back:
            detail = f"rolled back from step {failed_step} to step {t.step}; {detail}"
        if remedy.action == "stop":
            detail = f"stopped early (best.pt keeps the best generator); for the next run: {detail}"
        self.counts[finding.pitfall] = self.counts.get(finding.pitfall, 0) + 1
        self.since = self.last_check = t.step
        # a rollback with no good state yet to go back to only applies the changes
        action = "apply" if remedy.action == "rollback" and not rolled_back else remedy.action
        self._emit(log, {schema.STEP: failed_step, schema.DOCTOR_ACTION: action,
                         schema.PITFALL: finding.pitfall, schema.SEVERITY: finding.severity,
                         schema.EVIDENCE: finding.evidence, schema.DETAIL: detail,
                         schema.CHANGES: {c.key: [c.old, c.new] for c in remedy.changes},
                         "rollback_to": t.step if rolled_back else None})
        return remedy.action == "stop"

    def _apply_overrides(self) -> None:
        """Apply the changes made so far again (after a rollback or a resume restored older values)."""
        for key, value in self.overrides.items():
            self.trainer.apply_change(key, value)

    def _emit(self, log: MetricsLog, record: dict[str, Any]) -> None:
        record = {k: v for k, v in record.items() if v is not None}
        log.write(record)
        self.history.append(record)
        kind = "action" if schema.DOCTOR_ACTION in record else "finding"
        what = record.get(schema.DETAIL) or record.get(schema.REMEDY, "")
        print(f"doctor {kind} at step {record[schema.STEP]}: "
              f"{record.get(schema.PITFALL, record.get(schema.DOCTOR_FINDING))} "
              f"({record[schema.SEVERITY]}) - {record[schema.EVIDENCE]} -> {what}", file=sys.stderr)
