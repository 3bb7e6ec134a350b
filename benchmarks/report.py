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
    and its ``function(results, **arguments)`` that prints the table, the ``results`` JSON it reads (""
    passes the whole ``benchmarks/results`` folder, for tables assembled from several), and
    ``arguments`` as ``(keyword, value)`` pairs (e.g. ``(("sections", ("headline",)),)``: one section's tables)."""

    name: str
    doc: str
    module: str
    function: str
    results: str
    arguments: tuple = ()


REPORTS = (
    Report("readme-models", "README.md", "overview", "print_models", ""),
    Report("readme-comparisons", "README.md", "overview", "print_comparisons", ""),
    Report("readme-retrieval", "README.md", "overview", "print_retrieval", ""),
    Report("backbone-ablation", "docs/baseline.md", "backbone_ablation", "print_tables",
           "backbone_ablation/summary.json", (("sections", ("ablation",)),)),
    Report("backbone-widths", "docs/baseline.md", "backbone_ablation", "print_tables",
           "backbone_ablation/summary.json", (("sections", ("widths",)),)),
    Report("curve-baseline", "docs/baseline.md", "learning_curves", "print_table", "curves/baseline/summary.json"),
    Report("baseline-converged", "docs/baseline.md", "baseline_accuracy", "print_tables", "baseline/summary.json"),
    Report("baseline-recipe", "docs/baseline.md", "backbone_ablation", "print_tables",
           "baseline_recipe/summary.json", (("sections", ("recipe",)),)),
    Report("baseline-recipe-noisy", "docs/baseline.md", "backbone_ablation", "print_tables",
           "baseline_recipe_noisy/summary.json", (("sections", ("recipe",)),)),
    Report("baseline-dropout", "docs/baseline.md", "backbone_ablation", "print_tables",
           "baseline_dropout/summary.json", (("sections", ("recipe",)),)),
    Report("baseline-confidence", "docs/baseline.md", "backbone_ablation", "print_tables",
           "baseline_confidence/summary.json", (("sections", ("recipe",)),)),
    Report("baseline-confidence-v2", "docs/baseline.md", "backbone_ablation", "print_tables",
           "baseline_confidence_v2/summary.json", (("sections", ("recipe",)),)),
    Report("baseline-independent", "docs/baseline.md", "independent_mlp", "print_table", ""),
    Report("training-speed", "docs/speed.md", "bench_training_speed", "print_report",
           "speed/training_2threads.json"),
    Report("siamese-weight", "docs/siamese.md", "siamese_accuracy", "print_tables", "siamese/summary.json",
           (("sections", ("weight",)),)),
    Report("siamese-headline", "docs/siamese.md", "siamese_accuracy", "print_tables", "siamese/summary.json",
           (("sections", ("headline",)),)),
    Report("siamese-ablations", "docs/siamese.md", "siamese_accuracy", "print_tables", "siamese/summary.json",
           (("sections", ("ablations",)),)),
    Report("siamese-protocol1", "docs/siamese.md", "siamese_accuracy", "print_tables", "siamese/summary.json",
           (("sections", ("protocol1",)),)),
    Report("siamese-rotation", "docs/siamese.md", "siamese_accuracy", "print_tables", "siamese/summary.json",
           (("sections", ("rotation",)),)),
    Report("siamese-pairs", "docs/siamese.md", "siamese_accuracy", "print_tables", "siamese/summary.json",
           (("sections", ("pairs",)),)),
    Report("vvipe-hits", "docs/vvipe.md", "vvipe_accuracy", "print_tables", "vvipe/summary.json",
           (("sections", ("hits",)),)),
    Report("vvipe-lifting", "docs/vvipe.md", "vvipe_accuracy", "print_tables", "vvipe/summary.json",
           (("sections", ("lifting",)),)),
    Report("vvipe-kl", "docs/vvipe.md", "vvipe_accuracy", "print_tables", "vvipe/summary.json",
           (("sections", ("kl",)),)),
    Report("vvipe-triplet", "docs/vvipe.md", "vvipe_accuracy", "print_tables", "vvipe/summary.json",
           (("sections", ("triplet",)),)),
    Report("consensus-headline", "docs/consensus.md", "consensus_accuracy", "print_tables", "consensus/summary.json",
           (("sections", ("headline",)),)),
    Report("consensus-group-sizes", "docs/consensus.md", "consensus_accuracy", "print_tables", "consensus/summary.json",
           (("sections", ("group_sizes",)),)),
    Report("consensus-ablations", "docs/consensus.md", "consensus_accuracy", "print_tables", "consensus/summary.json",
           (("sections", ("ablations",)),)),
    Report("consensus-variant", "docs/consensus.md", "consensus_accuracy", "print_tables", "consensus/summary.json",
           (("sections", ("variant",)),)),
    Report("consensus-admm", "docs/consensus.md", "consensus_accuracy", "print_tables", "consensus/summary.json",
           (("sections", ("admm",)),)),
    Report("selfsup-headline", "docs/selfsup.md", "selfsup_accuracy", "print_tables", "selfsup/summary.json",
           (("sections", ("headline",)),)),
    Report("selfsup-views", "docs/selfsup.md", "selfsup_accuracy", "print_tables", "selfsup/summary.json",
           (("sections", ("views",)),)),
    Report("selfsup-choices", "docs/selfsup.md", "selfsup_accuracy", "print_tables", "selfsup/summary.json",
           (("sections", ("stability", "warmup")),)),
    Report("selfsup-pose2sim", "docs/selfsup.md", "selfsup_accuracy", "print_tables", "selfsup/summary.json",
           (("sections", ("pose2sim",)),)),
    Report("selfsup-uncalibrated", "docs/selfsup.md", "selfsup_accuracy", "print_tables", "selfsup/summary.json",
           (("sections", ("uncalibrated",)),)),
    Report("temporal-headline", "docs/temporal.md", "temporal_accuracy", "print_tables", "temporal/summary.json",
           (("sections", ("headline",)),)),
    Report("temporal-variant", "docs/temporal.md", "temporal_accuracy", "print_tables", "temporal/summary.json",
           (("sections", ("variant",)),)),
    Report("temporal-ablations", "docs/temporal.md", "temporal_accuracy", "print_tables", "temporal/summary.json",
           (("sections", ("ablations",)),)),
    Report("temporal-lengths", "docs/temporal.md", "temporal_accuracy", "print_tables", "temporal/summary.json",
           (("sections", ("lengths",)),)),
    Report("default-candidates", "docs/default_model.md", "default_model", "print_table", ""),
    Report("camera-input", "docs/default_model.md", "camera_input", "print_tables", "camera_input/summary.json"),
    Report("camera-input-seeds", "docs/default_model.md", "camera_input", "print_tables",
           "camera_input_seeds/summary.json"),
    Report("temporal-noise", "docs/temporal.md", "temporal_accuracy", "print_tables", "temporal/summary.json",
           (("sections", ("noise",)),)),
)


def render(report: Report) -> str:
    """The block's text: what the script's function prints for the committed JSON."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    function = getattr(importlib.import_module(report.module), report.function)
    results = json.loads((RESULTS / report.results).read_text()) if report.results else RESULTS
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        function(results, **dict(report.arguments))
    return printed.getvalue().strip("\n")


def block_pattern(name: str) -> re.Pattern:
    """The block of ``name``: group 1 the opening marker, 2 the table (may be empty), 3 the closing marker."""
    return re.compile(rf"(<!-- report:{re.escape(name)} -->)\n(.*?)\n?(<!-- /report:{re.escape(name)} -->)", re.S)


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
            docs[path] = f"{text[:match.start()]}{match.group(1)}\n{table}\n{match.group(3)}{text[match.end():]}"
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
