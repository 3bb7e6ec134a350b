"""Temporal seq2seq lifter (Hossain & Little) against the baseline trained the same way: the paper's tables.

Every model is trained by the shared recipe (``poselift train KIND``) with the same schedule (epochs,
batch size, learning rate and its 48 decays, frame stride, seed) and evaluated on every test frame
of the benchmark at 50 Hz, each clip seen by each camera lifted as one sequence (the temporal model
with its sliding-window scheme, the baseline frame by frame). Sections (``--sections``):

- ``headline``: Protocol #1/#2, MPJVE and acceleration error with ``gt`` and ``noisy`` 2D, both
  models, ``--seeds`` (3 by default); the temporal / baseline ratio of each (paper, detections:
  51.9 / 62.9 mm = 0.83 for P#1; ground-truth 2D: 39.2 / 45.5 = 0.86).
- ``variant``: the headline rows again with the temporal model changed by ``--variant KEY=VALUE``
  (``--seeds``), to check what an ablation row suggests.
- ``lengths``: the temporal model with T in ``--lengths`` (paper Figure 3), ``--ablation-seeds``.
- ``ablations``: the rows of the paper's Table 4 (``--ablation-input``, ``--ablation-seeds``).
- ``noise``: models trained on ``gt`` 2D tested on ``gt`` + Gaussian noise of ``--sigmas`` px and on
  ``noisy`` 2D, P#2 (paper Table 3), both models, ``--seeds``.
- ``capacity``: both models at the hidden widths ``--widths`` (``--ablation-input``, ``--ablation-seeds``):
  is a gap between them a matter of size?
- ``speed``: inference frames/s of both models on this CPU (``--threads``), lifting the test clips.

    python benchmarks/temporal_accuracy.py --data benchmark.npz --out benchmarks/results/temporal \\
        --epochs 20 --frame-stride 2 --threads 1
    python benchmarks/temporal_accuracy.py --data benchmark.npz --out /tmp/temporal_quick --quick

``--quick`` is a smoke test of the whole pipeline (tiny widths, a few dozen steps, one seed): its
numbers say nothing about the methods. Runs that already hold their evaluation are not trained or
evaluated again, and an interrupted training resumes, so an interrupted sweep can simply be rerun.
Results: ``OUT/summary.json`` (every table) and one folder per run under ``OUT/runs``.
"""

from __future__ import annotations

import argparse
import time

import torch
from sweep import Sweep, add_sweep_arguments, mean_std, open_sweep, print_sections, run_sections, spec, summary_header
from sweep import over_seeds as sweep_over_seeds

from poselift.cli.common import parse_assignments
from poselift.data.datasets import FrameSource
from poselift.evaluate import clip_sequences, lift_clips
from poselift.lift import load_model
from poselift.models.registry import build_config

REPORTED = ("mpjpe", "p_mpjpe", "mpjve", "accel")
# Table 4 of the paper: row name -> temporal config overrides, and the paper's P#1 (mm, detections).
ABLATIONS = {
    "full model": ({}, 51.9),
    "w/o temporal consistency constraint": ({"smoothness_weight": 0.0}, 52.7),
    "w/o recurrent dropout": ({"dropout": 0.0}, 58.3),
    "w/o layer normalized LSTM": ({"layer_norm": False}, 61.1),
    "w/o layer norm and recurrent dropout": ({"layer_norm": False, "dropout": 0.0}, 59.5),
    "w/o residual connections": ({"residual_decoder": False}, 102.4),
}
# Table 3 of the paper (P#2 mm, trained on ground-truth 2D): test input -> (Martinez et al., ours).
PAPER_NOISE = {"gt": (37.10, 31.67), 5.0: (46.65, 37.46), 10.0: (52.84, 49.41), 15.0: (59.97, 61.80),
               20.0: (70.24, 73.65), "detections": (60.52, 62.43)}


def over_seeds(evaluations: list[dict]) -> dict:
    return sweep_over_seeds(evaluations, REPORTED)


def compare(sweep: Sweep, args, temporal_overrides: dict) -> dict:
    """Per 2D input: baseline and temporal (with ``temporal_overrides``) over ``--seeds``, and their ratio."""
    results = {}
    for input_name in args.inputs:
        rows = {kind: over_seeds([sweep.evaluation(spec(kind, input_name, seed, overrides), input_name)
                                  for seed in args.seeds])
                for kind, overrides in (("baseline", {}), ("temporal", temporal_overrides))}
        rows["temporal / baseline"] = {metric: rows["temporal"][metric]["mean"] / rows["baseline"][metric]["mean"]
                                       for metric in REPORTED}
        results[input_name] = rows
    return results


def headline(sweep: Sweep, args) -> dict:
    return compare(sweep, args, {})


def own_or_override(sweep: Sweep, kind: str, field_name: str, value) -> dict:
    """``{field_name: value}``, or ``{}`` when that is the kind's own setting (its headline runs are reused)."""
    return {} if getattr(build_config(kind, sweep.base_config[kind]), field_name) == value else {field_name: value}


def variant(sweep: Sweep, args) -> dict:
    """The headline comparison again with the temporal model changed by ``--variant KEY=VALUE ...``
    (3 seeds): a check of what an ablation row suggests, e.g. ``dropout=0.0``."""
    overrides = parse_assignments(args.variant)
    return {"overrides": overrides, **compare(sweep, args, overrides)}


def lengths(sweep: Sweep, args) -> dict:
    return {str(length): over_seeds([sweep.evaluation(spec("temporal", args.ablation_input, seed,
                                                           own_or_override(sweep, "temporal", "sequence_length",
                                                                           length)), args.ablation_input)
                                     for seed in args.ablation_seeds])
            for length in args.lengths}


def capacity(sweep: Sweep, args) -> dict:
    """Both models at the widths ``--widths`` (baseline hidden_size, temporal LSTM hidden_size); a
    model's own width reuses its headline runs."""
    return {kind: {str(width): over_seeds([sweep.evaluation(spec(kind, args.ablation_input, seed,
                                                                 own_or_override(sweep, kind, "hidden_size", width)),
                                                            args.ablation_input)
                                           for seed in args.ablation_seeds])
                   for width in args.widths}
            for kind in ("baseline", "temporal")}


def ablations(sweep: Sweep, args) -> dict:
    results = {}
    for row, (overrides, paper_mm) in ABLATIONS.items():
        results[row] = over_seeds([sweep.evaluation(spec("temporal", args.ablation_input, seed, overrides),
                                                    args.ablation_input) for seed in args.ablation_seeds])
        results[row]["paper_p1_mm"] = paper_mm
    full = results["full model"]["mpjpe"]["mean"]
    for row in results.values():
        row["delta_p1_mm"] = row["mpjpe"]["mean"] - full
    return results


def noise(sweep: Sweep, args) -> dict:
    tests = [("gt", "gt", 0.0)] + [(f"gt + N(0, {sigma:g} px)", "gt", sigma) for sigma in args.sigmas]
    tests.append(("noisy (simulated detector)", "noisy", 0.0))
    results = {}
    for label, input_name, sigma in tests:
        paper = PAPER_NOISE.get(sigma if sigma else ("detections" if input_name == "noisy" else "gt"))
        results[label] = {kind: over_seeds([sweep.evaluation(spec(kind, "gt", seed, {}), input_name, noise_px=sigma)
                                            for seed in args.seeds]) for kind in ("baseline", "temporal")}
        results[label]["paper_p2_mm"] = {"baseline": paper[0], "temporal": paper[1]} if paper else None
    return results


def speed(sweep: Sweep, args) -> dict:
    """Frames/s lifting every test clip (4 cameras, one sequence each) with the first seed's models."""
    source = FrameSource(sweep.benchmark, "test", args.inputs[0])
    batch = source.batch(torch.arange(len(source)))
    order, sequence_lengths = clip_sequences(batch, sweep.benchmark)
    keypoints, confidence = batch["keypoints_2d"][order], batch["confidence"][order]
    results = {}
    for kind in ("baseline", "temporal"):
        model = load_model(sweep.trained(spec(kind, args.inputs[0], args.seeds[0], {})) / "last.pt")
        model = model.fuse_for_inference()          # as `poselift lift` runs it
        lift_clips(model, keypoints[:256], confidence[:256], torch.tensor([256]))   # warm-up
        started = time.perf_counter()
        lift_clips(model, keypoints, confidence, sequence_lengths)
        seconds = time.perf_counter() - started
        results[kind] = {"frames": len(keypoints), "seconds": seconds, "frames_per_s": len(keypoints) / seconds}
    return results


SECTIONS = {"headline": headline, "variant": variant, "lengths": lengths, "ablations": ablations, "noise": noise, "capacity": capacity,
            "speed": speed}


METRIC_TITLES = {"mpjpe": "P#1 MPJPE mm", "p_mpjpe": "P#2 P-MPJPE mm", "mpjve": "MPJVE mm/frame",
                 "accel": "accel. error mm/frame^2"}
DIGITS = {"mpjpe": 1, "p_mpjpe": 1, "mpjve": 2, "accel": 2}      # the smoothness errors are a few mm


def cells(row: dict) -> str:
    """The REPORTED metrics of a row, as table cells."""
    return " | ".join(mean_std(row[m], DIGITS[m]) for m in REPORTED)


def header(first: tuple, last: tuple = ()) -> str:
    """The markdown header of a table whose columns are ``first``, the REPORTED metrics, then ``last``."""
    columns = [*first, *(METRIC_TITLES[m] for m in REPORTED), *last]
    return "| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|"


def print_comparison(title: str, summary: dict, results: dict) -> None:
    """Baseline, temporal model and their ratio for each 2D input of ``results``."""
    print(f"\n{title}, mean ± std over seeds {summary['seeds']}\n")
    print(header(("2D input", "model")))
    for input_name, rows in ((key, value) for key, value in results.items() if key != "overrides"):
        for kind in ("baseline", "temporal"):
            print(f"| `{input_name}` | {kind} | {cells(rows[kind])} |")
        ratio = rows["temporal / baseline"]
        print(f"| `{input_name}` | temporal / baseline | " + " | ".join(f"{ratio[m]:.2f}" for m in REPORTED) + " |")


def print_headline(summary: dict) -> None:
    print_comparison("Headline, Protocol #1/#2", summary, summary["results"]["headline"])


def print_variant(summary: dict) -> None:
    results = summary["results"]["variant"]
    overrides = " ".join(f"{key}={value}" for key, value in results["overrides"].items())
    print_comparison(f"Variant: temporal with {overrides}, Protocol #1/#2", summary, results)


def print_lengths(summary: dict) -> None:
    rows = summary["results"]["lengths"]
    print(f"\nSequence length T ({summary['ablation_input']} 2D, seeds {summary['ablation_seeds']})\n")
    print("| T | " + " | ".join(rows) + " |\n" + "|---" * (len(rows) + 1) + "|")
    for metric in REPORTED:
        values = [mean_std(row[metric], DIGITS[metric]) for row in rows.values()]
        print(f"| {METRIC_TITLES[metric]} | " + " | ".join(values) + " |")


def print_ablations(summary: dict) -> None:
    print(f"\nTable 4 ablations ({summary['ablation_input']} 2D, seeds {summary['ablation_seeds']}); change: P#1 "
          f"against the full model\n")
    print(header(("row",), ("P#1 change", "paper's change")))
    paper_full = ABLATIONS["full model"][1]
    for row, values in summary["results"]["ablations"].items():
        print(f"| {row} | {cells(values)} | {values['delta_p1_mm']:+.1f} | {values['paper_p1_mm'] - paper_full:+.1f} |")


def print_capacity(summary: dict) -> None:
    print(f"\nWidth ({summary['ablation_input']} 2D, seeds {summary['ablation_seeds']})\n")
    print(header(("model", "width")))
    for kind, rows in summary["results"]["capacity"].items():
        for width, row in rows.items():
            print(f"| {kind} | {width} | {cells(row)} |")


def print_noise(summary: dict) -> None:
    print(f"\nTable 3 robustness: trained on gt 2D, P#2 mm, mean ± std over seeds {summary['seeds']}\n")
    print("| test input | baseline | temporal | paper: baseline | paper: temporal |\n|---|---|---|---|---|")
    for label, values in summary["results"]["noise"].items():
        paper = values["paper_p2_mm"] or {"baseline": None, "temporal": None}
        print(f"| {label} | " + " | ".join(mean_std(values[kind]["p_mpjpe"]) for kind in ("baseline", "temporal"))
              + " | " + " | ".join(f"{paper[kind]:.1f}" if paper[kind] is not None else "-"
                                   for kind in ("baseline", "temporal")) + " |")


def print_speed(summary: dict) -> None:
    print("\nInference on this CPU:\n")
    for kind, values in summary["results"]["speed"].items():
        print(f"- {kind}: {values['frames_per_s']:,.0f} frames/s ({values['frames']:,} frames)")


TABLES = {"headline": print_headline, "variant": print_variant, "lengths": print_lengths, "ablations": print_ablations,
          "capacity": print_capacity, "noise": print_noise, "speed": print_speed}


def print_tables(summary: dict, sections=None) -> None:
    """Print the markdown tables of ``sections`` (default: every section the summary holds)."""
    print_sections(TABLES, summary, sections)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sweep_arguments(parser, SECTIONS,
                        batch_size=64,
                        batch_help="frames (baseline) or windows (temporal) per step",
                        frame_stride=2,
                        frame_stride_help="keep every k-th training frame (baseline) / window start (temporal)",
                        quick_help="smoke test: tiny models, 30 steps, one seed, T in {1, 3, 5}, sigmas {5, 20}")
    parser.add_argument("--ablation-seeds", nargs="+", type=int, default=[0], help="seeds of lengths and ablations")
    parser.add_argument("--ablation-input", choices=["gt", "noisy"], default="noisy")
    parser.add_argument("--lengths", nargs="+", type=int, default=[1, 3, 5, 7, 10])
    parser.add_argument("--variant", nargs="*", default=["dropout=0.0"], metavar="KEY=VALUE",
                        help="temporal config overrides of the variant section")
    parser.add_argument("--widths", nargs="+", type=int, default=[1024], help="hidden sizes of the capacity section")
    parser.add_argument("--sigmas", nargs="+", type=float, default=[5.0, 10.0, 15.0, 20.0])
    parser.add_argument("--temporal-lr", type=float, default=None,
                        help="a different learning rate for the temporal model (the paper's is 1e-5)")
    parser.add_argument("--baseline-set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--temporal-set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.max_steps, args.frame_stride = 1, 30, 4
        args.seeds, args.ablation_seeds, args.lengths, args.sigmas = [0], [0], [1, 3, 5], [5.0, 20.0]
        args.widths = [48]
        args.baseline_set = args.baseline_set + ["hidden_size=64"]
        args.temporal_set = args.temporal_set + ["hidden_size=32"]
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    sweep = open_sweep(args, {"baseline": args.baseline_set, "temporal": args.temporal_set},
                       kind_schedule={"temporal": {"lr": args.temporal_lr}} if args.temporal_lr else {})
    benchmark = sweep.benchmark
    summary = summary_header(args, benchmark, temporal_lr=args.temporal_lr or args.lr,
                             ablation_seeds=args.ablation_seeds, ablation_input=args.ablation_input,
                             baseline_config=sweep.base_config["baseline"],
                             temporal_config=sweep.base_config["temporal"])
    run_sections(SECTIONS, args.sections, sweep, args, summary, print_tables)


if __name__ == "__main__":
    main()
