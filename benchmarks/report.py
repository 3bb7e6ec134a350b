"""Regenerate every results table of the docs from the committed results JSON.

Each table in the docs sits between two markers::

    <!-- report:NAME -->
    ...the printed output of a benchmark script's table function on its results JSON...
    <!-- /report:NAME -->

and :data:`REPORTS` says, for each NAME, which script's function prints it from which JSON. The
tables are never typed by hand: rerun a benchmark (it writes its JSON), then

    python benchmarks/report.py            # rewrite every block
    python benchmarks/report.py --check    # exit 1 if a doc differs from its JSON (the test suite runs this)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
RESULTS = BENCHMARKS / "results"


@dataclass(frozen=True)
class Report:
    """One generated block: ``doc`` (relative to the repository), the script ``module`` in benchmarks/
    and its ``function(results)`` that prints the table, and the ``results`` JSON it reads."""

    name: str
    doc: str
    module: str
    function: str
    results: str


REPORTS = (
    Report("backbone-ablation", "docs/baseline.md", "backbone_ablation", "print_tables",
           "backbone_ablation/summary.json"),
    Report("curve-baseline", "docs/baseline.md", "learning_curves", "print_table", "curves/baseline/summary.json"),
    Report("baseline-converged", "docs/baseline.md", "baseline_accuracy", "print_tables",
           "baseline/summary.json"),
    Report("training-speed", "docs/speed.md", "bench_training_speed", "print_report",
           "speed/training_2threads.json"),
)


def render(report: Report) -> str:
    """The block's text: what the script's function prints for the committed JSON."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    function = getattr(importlib.import_module(report.module), report.function)
    results = json.loads((RESULTS / report.results).read_text())
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        function(results)
    return printed.getvalue().strip("\n")


def block_pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- report:{re.escape(name)} -->\n)(.*?)(\n<!-- /report:{re.escape(name)} -->)", re.S)


def update(check: bool) -> list[str]:
    """Rewrite (or, with ``check``, only compare) every block; returns the names of blocks that differed."""
    stale = []
    docs: dict[Path, str] = {}
    for report in REPORTS:
        path = ROOT / report.doc
        text = docs.setdefault(path, path.read_text())
        match = block_pattern(report.name).search(text)
        if match is None:
            raise SystemExit(f"{report.doc}: no block <!-- report:{report.name} --> ... <!-- /report:{report.name} -->")
        table = render(report)
        if match.group(2) != table:
            stale.append(f"{report.doc}: {report.name}")
            docs[path] = text[:match.start(2)] + table + text[match.end(2):]
    if not check:
        for path, text in docs.items():
            if text != path.read_text():
                path.write_text(text)
    return stale


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when a doc is stale")
    args = parser.parse_args(argv)
    stale = update(args.check)
    for name in stale:
        print(f"{'stale' if args.check else 'rewrote'}: {name}")
    if args.check and stale:
        raise SystemExit(1)
    if not stale:
        print(f"all {len(REPORTS)} tables match their results JSON")


if __name__ == "__main__":
    main()
