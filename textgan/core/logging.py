"""Run logging: `metrics.jsonl` (one JSON object per logged step), `summary.json`, optional
TensorBoard. Non-finite numbers are written as null and flagged, so the file stays valid JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from textgan.core import schema
from textgan.errors import UserError
from textgan.storage import atomic_write_text


def clean_record(record: dict[str, Any]) -> dict[str, Any]:
    """Replace NaN/inf by None and add `non_finite: [names]` when any value was not finite."""
    out: dict[str, Any] = {}
    bad = []
    for key, value in record.items():
        if isinstance(value, float) and not math.isfinite(value):
            bad.append(key)
            value = None
        out[key] = value
    if bad:
        out[schema.NON_FINITE] = bad
    return out


class MetricsLog:
    """Append-only `metrics.jsonl`, flushed per line so a killed run keeps what it logged."""

    def __init__(self, path: Path, tensorboard_dir: Path | None = None) -> None:
        self.path = Path(path)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - open for the whole run, closed by close()
        self._tb = None
        if tensorboard_dir is not None:  # installed: TrainConfig.validate checked before the run began
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(tensorboard_dir))

    def write(self, record: dict[str, Any]) -> None:
        record = clean_record(record)
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()
        if self._tb is not None:
            for key, value in record.items():
                if key != schema.STEP and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._tb.add_scalar(key, value, record[schema.STEP])

    def close(self) -> None:
        self._fh.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """All records of a `metrics.jsonl`; a torn last line (killed writer) is ignored. A file that is not
    UTF-8 text, or holds a line that is not a record (a JSON object with a numeric `step`), is a
    `UserError` naming the line."""
    records: list[dict[str, Any]] = []
    path = Path(path)
    if not path.exists():
        return records
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not a metrics file (not UTF-8 text at byte {exc.start})") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break  # torn by a killed writer
            raise UserError(f"{path}, line {number}: not JSON") from None
        if not isinstance(record, dict) or not isinstance(record.get(schema.STEP), (int, float)):
            raise UserError(f"{path}, line {number}: not a metrics record (a JSON object with a "
                            "numeric step)")
        records.append(record)
    return records


def truncate_metrics(path: Path, last_step: int) -> None:
    """Keep only the records up to `last_step` (used when a run resumes from a checkpoint)."""
    kept = [r for r in read_metrics(path) if r.get(schema.STEP, 0) <= last_step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    """`summary.json`: flat `name: number` of the final metrics."""
    atomic_write_text(path, json.dumps(clean_record(summary), indent=2, sort_keys=True) + "\n")


def training_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-step records of a metrics log on the run's final timeline: without the live doctor's
    own records, and without the records a rollback superseded (a later record with a lower or
    equal step cuts everything logged from that step on before it)."""
    kept: list[dict[str, Any]] = []
    floor = math.inf
    for r in reversed(records):
        step = r.get(schema.STEP)
        if isinstance(step, int) and not any(k in r for k in schema.DOCTOR_KEYS) and step < floor:
            kept.append(r)
            floor = step
    return kept[::-1]
