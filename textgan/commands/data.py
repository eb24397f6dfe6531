"""`textgan data list` and `textgan data get NAME [--from PATH]`: the data sets the recipes name."""

from __future__ import annotations

import argparse
from typing import Any


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def run_list(args: argparse.Namespace) -> int:
    from textgan.data import DATASETS, locate

    for name, ds in DATASETS.items():
        found = locate(name)
        if found is None:
            status = f"absent: `textgan data get {name}`"
        else:
            folders = sorted({str(p.parent) for p in found.paths.values()})
            status = f"present ({found.where}: {folders[0]}{' ...' if len(folders) > 1 else ''})"
        print(f"{name:16s} {_size(ds.size):>8s}  {status}")
        print(f"{'':16s} {ds.description}; licence: {ds.licence}")
    return 0


def run_get(args: argparse.Namespace) -> int:
    from textgan.data import get

    found, placed = get(args.name, args.from_path)
    where = min(str(p.parent) for p in found.paths.values())
    if placed:
        print(f"{args.name}: checked and placed in {where}")
    else:
        print(f"{args.name}: already present ({found.where}: {where})")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("data", help="list or get the data sets recipes name",
                       description="Data sets by name: bundled ones, and ones `get` downloads or imports "
                                   "(checked by sha256) into the cache ($TEXTGAN_CACHE or ~/.cache/textgan).")
    actions = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    q = actions.add_parser("list", help="every data set: size, licence, present or not and where",
                           description="List every data set: size, whether it is present and where, licence.")
    q.set_defaults(func=run_list)
    q = actions.add_parser("get", help="download a data set (or import it with --from)",
                           description="Download a data set into the cache, checking its sha256; --from "
                                       "imports the published file you already have (a folder for sets of "
                                       "several files) with the same checks.")
    q.add_argument("name", help="data set name (see `textgan data list`)")
    q.add_argument("--from", dest="from_path", metavar="PATH",
                   help="the published file (or a folder holding the files) instead of downloading")
    q.set_defaults(func=run_get)
