"""`textgan doctor RUN_DIR [--json]` and `textgan report RUN_DIR [--out FILE]`. Registered in `textgan.cli`."""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import TYPE_CHECKING

from textgan.errors import UserError

if TYPE_CHECKING:
    from textgan.core.doctor import Diagnosis


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `doctor` and `report` sub-commands to the `textgan` parser."""
    p = sub.add_parser(
        "doctor", help="diagnose a run: vanishing/exploding gradients, NaN, mode collapse, D over-fitting, ...",
        description="Read a finished or running run folder and name the GAN training pitfalls it shows, with "
                    "the evidence (numbers and steps), the likely cause and the fix as recipe changes; "
                    "prints `healthy` when nothing fired. Thresholds: the run's `doctor:` recipe section.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--json", action="store_true",
                   help='print one JSON object {"healthy": bool, "findings": [...]}, most severe first')
    p.set_defaults(func=run_doctor)

    p = sub.add_parser(
        "report", help="one self-contained HTML page of a run (or several, compared): curves, findings, samples",
        description="Write an HTML page with the run's summary, the doctor's diagnosis, its curves (marked where "
                    "the doctor fired and where adversarial training starts), its temperature sweep, latest "
                    "samples and recipe; several runs: their summaries side by side and their curves together. "
                    "Figures are embedded, so the page is one file.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", metavar="FILE",
                   help="output HTML file (default RUN_DIR/report.html; several runs: ./report-compare.html)")
    p.set_defaults(func=run_report)


def format_diagnosis(d: Diagnosis) -> str:
    """The text table `textgan doctor` prints."""
    head = f"run {d.run_dir}: {len(d.records)} records, last step {d.last_step}" + ("" if d.finished else " (running or stopped)")
    if d.healthy:
        return f"{head}\nhealthy: no pitfall found"
    lines = [head, f"{'pitfall':<20} {'severity':<9} {'steps':<15} evidence"]
    for f in d.findings:
        lines.append(f"{f.pitfall:<20} {f.severity:<9} {f'{f.first_step}-{f.last_step}':<15} {f.evidence}")
        lines.extend(textwrap.wrap(f"cause: {f.cause}", 100, initial_indent=" " * 4, subsequent_indent=" " * 6))
        lines.append(f"    remedy: {f.remedy}")
    return "\n".join(lines)


def run_doctor(args: argparse.Namespace) -> int:
    from textgan.core.doctor import diagnose_run

    diagnosis = diagnose_run(args.run_dir)
    print(json.dumps(diagnosis.to_json()) if args.json else format_diagnosis(diagnosis))
    return 0


def run_report(args: argparse.Namespace) -> int:
    from textgan.core.report import write_report
    from textgan.games import metric_panels
    from textgan.run_folder import refuse_run_file

    if args.out:
        refuse_run_file(args.out)
    try:
        path = write_report(args.run_dirs, args.out, metric_panels)
    except OSError as exc:
        raise UserError(f"cannot write the report: {exc.strerror} ({exc.filename or args.out})") from None
    print(f"written: {path}")
    return 0
