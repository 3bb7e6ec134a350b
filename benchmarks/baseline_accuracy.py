"""Accuracy of the Martinez baseline on the benchmark: train with several seeds, evaluate, tabulate.

For every (2D input, seed): ``poselift train baseline`` with the given schedule, then Protocol #1/#2
evaluation on the test split with the same 2D input. Prints mean and spread (sample standard
deviation over seeds) of MPJPE, P-MPJPE, PCK@150 and AUC, and writes every run's JSON plus a summary.

    python benchmarks/baseline_accuracy.py --data benchmark.npz --out benchmarks/results/baseline \\
        --inputs gt noisy --seeds 0 1 2 --epochs 20 --frame-stride 2

Runs that already have ``eval.json`` are not trained again (so an interrupted sweep can be rerun).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path

import torch

from poselift.data.benchmark import load_benchmark
from poselift.evaluate import METRIC_TITLES, METRICS, evaluate
from poselift.fileio import write_text_atomic
from poselift.lift import load_model
from poselift.recipes import DataOptions, train_on_benchmark
from poselift.train import TrainConfig


def run_one(args, benchmark, input_name: str, seed: int) -> dict:
    run_dir = args.out / f"{input_name}_seed{seed}"
    eval_path = run_dir / "eval.json"
    if eval_path.exists():
        return json.loads(eval_path.read_text())
    data = DataOptions(input=input_name, frame_stride=args.frame_stride, virtual_cameras=args.virtual_cameras,
                       flip=args.flip)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=seed, num_threads=args.threads)
    train_on_benchmark("baseline", args.data, run_dir, data, config, resume=(run_dir / "last.pt").exists(),
                       quiet=True)
    model = load_model(run_dir / "last.pt")
    result = evaluate(model, benchmark, input=input_name, protocol=1).to_dict()
    result.update(seed=seed, epochs=args.epochs, frame_stride=args.frame_stride)
    write_text_atomic(eval_path, json.dumps(result, indent=1) + "\n")
    return result


def _train_seconds(run_dir: Path) -> float:
    """Training time of a run from its per-epoch log (also right for a run that was resumed)."""
    return sum(row["train_seconds"] for row in json.loads((run_dir / "log.json").read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="benchmark .npz")
    parser.add_argument("--out", type=Path, required=True, help="folder for runs and results")
    parser.add_argument("--inputs", nargs="+", default=["gt", "noisy"], choices=["gt", "noisy"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--frame-stride", type=int, default=2, help="keep every k-th training frame (2 = 25 Hz)")
    parser.add_argument("--virtual-cameras", action="store_true")
    parser.add_argument("--flip", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    benchmark = load_benchmark(args.data)
    summary = {"benchmark": benchmark.version, "device": f"CPU ({platform.machine()}, torch {torch.__version__})",
               "epochs": args.epochs, "frame_stride": args.frame_stride, "batch_size": args.batch_size,
               "virtual_cameras": args.virtual_cameras, "flip": args.flip, "seeds": args.seeds, "results": {}}
    for input_name in args.inputs:
        runs = [run_one(args, benchmark, input_name, seed) for seed in args.seeds]
        summary["results"][input_name] = {
            "mean_2d_input_error_px": runs[0]["info"]["mean_2d_input_error_px"],
            **{metric: {"mean": statistics.mean(run["averages"]["mean_over_actions"][metric] for run in runs),
                        "std": statistics.stdev(run["averages"]["mean_over_actions"][metric] for run in runs)
                        if len(runs) > 1 else 0.0,
                        "per_seed": [run["averages"]["mean_over_actions"][metric] for run in runs]}
               for metric in METRICS},
            "train_seconds_mean": statistics.mean(_train_seconds(args.out / f"{input_name}_seed{seed}")
                                                  for seed in args.seeds),
        }
    write_text_atomic(args.out / "summary.json", json.dumps(summary, indent=1) + "\n")

    print(f"Baseline (Martinez MLP) on {summary['benchmark']}, test split, 4 cameras, Protocol #1/#2; "
          f"{args.epochs} epochs, frames every {args.frame_stride}, batch {args.batch_size}, "
          f"seeds {args.seeds}, mean over actions (± std over seeds)")
    print(f"| 2D input | " + " | ".join(METRIC_TITLES[m] for m in METRICS) + " | training time per run |")
    print("|---" * (len(METRICS) + 2) + "|")
    for input_name, row in summary["results"].items():
        label = f"{input_name} ({row['mean_2d_input_error_px']:.1f} px)"
        print(f"| {label} | " + " | ".join(f"{row[m]['mean']:.1f} ± {row[m]['std']:.1f}" for m in METRICS)
              + f" | {row['train_seconds_mean'] / 60:.0f} min |")


if __name__ == "__main__":
    main()
