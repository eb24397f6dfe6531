"""`textgan doctor RUN_DIR [--json]`: name the GAN training pitfalls a run folder shows
(`textgan.doctor.detect`), as a table (`format_diagnosis`) or one JSON object. Registered in `textgan.cli`
(via `textgan.commands`)."""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textgan.doctor.detect import Diagnosis


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `doctor` sub-command to the `textgan` parser."""
    p = sub.add_parser(
        "doctor", help="diagnose a run: vanishing/exploding gradients, NaN, mode collapse, "
                       "D over-fitting, ...",
        description="Read a finished or running run folder and name the GAN training pitfalls it shows, with "
                    "the evidence (numbers and steps), the likely cause and the fix as recipe changes; "
                    "prints `healthy` when nothing fired. Thresholds: the run's `doctor:` recipe section.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--json", action="store_true",
                   help='print one JSON object {"healthy": bool, "findings": [...]}, most severe first')
    p.set_defaults(func=run)


def format_diagnosis(d: Diagnosis) -> str:
    """The text table `textgan doctor` prints."""
    head = (f"run {d.run_dir}: {len(d.records)} records, last step {d.last_step}"
            + ("" if d.finished else " (running or stopped)"))
    if d.healthy:
        return f"{head}\nhealthy: no pitfall found"
    lines = [head, f"{'pitfall':<20} {'severity':<9} {'steps':<15} evidence"]
    for f in d.findings:
        lines.append(f"{f.pitfall:<20} {f.severity:<9} {f'{f.first_step}-{f.last_step}':<15} {f.evidence}")
        lines.extend(textwrap.wrap(f"cause: {f.cause}", 100, initial_indent=" " * 4,
                                   subsequent_indent=" " * 6))
        lines.append(f"    remedy: {f.remedy}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from textgan.doctor.detect import diagnose_run

    diagnosis = diagnose_run(args.run_dir)
    print(json.dumps(diagnosis.to_json()) if args.json else format_diagnosis(diagnosis))
    return 0
