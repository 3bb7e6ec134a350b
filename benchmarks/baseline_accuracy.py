"""Accuracy of the Martinez baseline on the benchmark at its converged schedule: seeds x 2D inputs.

Every run is ``poselift train baseline --validation none`` (all seven training people; nothing is
chosen on the test split) with the given schedule, evaluated with Protocol #1/#2 on every test
frame with the 2D input it was trained on. Prints the mean and sample standard deviation over seeds
of P#1, P#2, PCK@150 and AUC, and writes every run's logs and evaluations plus ``summary.json``.

    python benchmarks/baseline_accuracy.py --data benchmark.npz --out benchmarks/results/baseline \\
        --epochs E --batch-size B --frame-stride 1 --threads 2

(``E`` and ``B``: the converged schedule of ``benchmarks/learning_curves.py``, the defaults of
``poselift train``; docs/baseline.md gives the command that made the committed table.) Runs that
hold their evaluation are not trained again, and an interrupted run resumes (:mod:`sweep`).
"""

from __future__ import annotations

import argparse

from sweep import add_sweep_arguments, open_sweep, over_seeds, run_sections, spec, summary_header

from poselift.evaluate import METRIC_TITLES, METRICS


def headline(sweep, args) -> dict:
    rows = {}
    for input_name in args.inputs:
        runs = [spec("baseline", input_name, seed, data={"validation": "none"}) for seed in args.seeds]
        evaluations = [sweep.evaluation(run) for run in runs]
        rows[input_name] = {"mean_2d_input_error_px": sweep.evaluation_info(runs[0])["mean_2d_input_error_px"],
                            "train_seconds": [sweep.train_seconds(run) for run in runs],
                            **over_seeds(evaluations, METRICS)}
    return rows


SECTIONS = {"headline": headline}


def print_tables(summary: dict) -> None:
    rows = summary["results"]["headline"]
    print(f"Baseline (Martinez MLP, {summary['baseline_config'] or 'default config'}) on {summary['benchmark']}, "
          f"test split, 4 cameras, Protocol #1/#2, mean over actions (± std over seeds {summary['seeds']}); "
          f"trained on all 7 training people, {summary['epochs']} epochs, frames every {summary['frame_stride']}, "
          f"batch {summary['batch_size']}, lr {summary['lr']:g}; device {summary['device']}\n")
    print("| 2D input | " + " | ".join(METRIC_TITLES[m] for m in METRICS) + " | training time per run |")
    print("|---" * (len(METRICS) + 2) + "|")
    for input_name, row in rows.items():
        minutes = sum(row["train_seconds"]) / len(row["train_seconds"]) / 60
        print(f"| {input_name} ({row['mean_2d_input_error_px']:.1f} px) | "
              + " | ".join(f"{row[m]['mean']:.1f} ± {row[m]['std']:.1f}" for m in METRICS) + f" | {minutes:.0f} min |")
    print("\nPer seed, P#1: " + "; ".join(f"{name} " + ", ".join(f"{value:.1f}" for value in row["mpjpe"]["per_seed"])
                                       for name, row in rows.items()))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sweep_arguments(parser, SECTIONS, batch_size=256, frame_stride=1,
                        frame_stride_help="keep every k-th training frame (1 = all, 50 Hz)")
    parser.add_argument("--baseline-set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="baseline config overrides shared by every run")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.max_steps, args.baseline_set = args.seeds[:1], 30, ["hidden_size=64", *args.baseline_set]
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    sweep = open_sweep(args, {"baseline": args.baseline_set})
    summary = summary_header(args, sweep.benchmark, baseline_config=sweep.base_config["baseline"])
    run_sections(SECTIONS, args.sections, sweep, args, summary, print_tables)


if __name__ == "__main__":
    main()
