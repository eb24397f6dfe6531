"""`textgan report RUN_DIR [RUN_DIR ...] [--out FILE]`: one self-contained HTML page of a run, or of
several compared (`textgan.doctor.report`). Registered in `textgan.cli` (via `textgan.commands`)."""

from __future__ import annotations

import argparse

from textgan.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `report` sub-command to the `textgan` parser."""
    p = sub.add_parser(
        "report", help="one self-contained HTML page of a run (or several, compared): curves, "
                       "findings, samples",
        description="Write an HTML page with the run's summary, the doctor's diagnosis, its curves "
                    "(marked where the doctor fired and where adversarial training starts), its temperature "
                    "sweep, latest samples and recipe; several runs: their summaries side by side and their "
                    "curves together. Figures are embedded, so the page is one file.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", metavar="FILE",
                   help="output HTML file (default RUN_DIR/report.html; several runs: ./report-compare.html)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from textgan.doctor.report import write_report
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
