"""Run fieldkit's benchmarks and print one table each.

    python -m benchmarks                 # every benchmark
    python -m benchmarks capabilities    # one (or several) by name
    python -m benchmarks --quick         # smaller sizes, for a smoke run
    python -m benchmarks --json out.json # also write the rows as JSON

A benchmark is a module ``benchmarks/bench_<name>.py`` with ``DESCRIPTION: str`` and
``run(quick: bool) -> list[Row]``; the runner discovers them, so registering is adding the file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from pathlib import Path

from rich.console import Console

from benchmarks._table import Row, print_table, write_json


def discover() -> dict[str, str]:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    return {n.removeprefix("bench_"): f"benchmarks.{n}" for n in names}


def main(argv: list[str] | None = None) -> int:
    available = discover()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(available)})"
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the rows to this JSON file"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    console = Console()
    if args.list:
        for name, mod in available.items():
            console.print(f"{name:14} {importlib.import_module(mod).DESCRIPTION}")
        return 0
    unknown = [n for n in args.names if n not in available]
    if unknown:
        console.print(f"error: unknown benchmark(s) {unknown}; known: {list(available)}")
        return 2
    results: dict[str, list[Row]] = {}
    for name in args.names or list(available):
        module = importlib.import_module(available[name])
        console.print(f"[bold]{name}[/bold]: {module.DESCRIPTION}")
        t0 = time.perf_counter()
        rows: list[Row] = module.run(quick=args.quick)
        results[name] = rows
        print_table(name, rows, console)
        console.print(f"({time.perf_counter() - t0:.1f} s)\n")
    if args.json:
        write_json(args.json, results)
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
