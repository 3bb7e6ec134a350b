"""Learning curves to convergence: validation P#1 against samples seen, each point a complete run.

For a model kind, one training run per budget (``--epochs-list``, doubling: 1, 2, 4, ... epochs of the
training source), each a complete schedule of the shared recipe (``poselift train KIND --validation
people``: trained on the five "fit" training people, the learning rate's 48 decays spread over that
run), evaluated with Protocol #1/#2 on the two "val" training people. The test split plays no part.
An input stops after the first doubling that gains less than ``--tolerance`` (1 %) of its validation
P#1: the budget before that doubling is its converged budget (training longer gains less than 1 %).
V-VIPE (``--kind vvipe``) is measured by its own metric, Hit@1 on the validation people's distinct
poses across every ordered pair of cameras (the protocol of ``vvipe_accuracy.py``; higher is better),
each budget training both stages (the stage-1 VAE on the same people and budget, then the 2D mapping).
The **converged schedule** is the longest converged budget over the inputs; it becomes the recipe's
default.

    python benchmarks/learning_curves.py --kind baseline --data benchmark.npz \\
        --out benchmarks/results/curves/baseline --batch-size 256 --threads 2 --figure docs/images/curve_baseline.png
    python benchmarks/learning_curves.py --kind baseline --data benchmark.npz --out /tmp/curve_quick --quick

Every run is cached and resumable (:mod:`sweep`: ``OUT/epochs_E/runs/<name>``); ``OUT/summary.json``
holds the curve (samples seen, steps, validation P#1/P#2 per budget and input), the converged budget
and the device. ``--quick``: tiny width, 30 steps per run, two budgets; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch
from sweep import Sweep, spec

from poselift.cli.common import parse_assignments
from poselift.data.benchmark import load_benchmark
from poselift.fileio import write_text_atomic
from poselift.recipes import DataOptions, model_source, training_sources

REPORTED = ("mpjpe", "p_mpjpe")
HIT_REPORTED = ("hit@1", "hit@10")                # V-VIPE's curve, % (higher is better)
LABELS = {"mpjpe": "P#1", "p_mpjpe": "P#2", "hit@1": "Hit@1 %", "hit@10": "Hit@10 %"}


def converged_index(values: list[float], tolerance: float, higher_is_better: bool = False) -> int | None:
    """Index of the first budget whose doubling gained less than ``tolerance`` (a fraction), or None.

    ``values[i + 1]`` is the metric after twice the budget of ``values[i]`` (an error, lower is better,
    or with ``higher_is_better`` a rate such as Hit@1).
    """
    for index in range(len(values) - 1):
        if higher_is_better and values[index + 1] < values[index] * (1.0 + tolerance):
            return index
        if not higher_is_better and values[index + 1] > values[index] * (1.0 - tolerance):
            return index
    return None


def samples_per_epoch(args, benchmark, kind: str, config: dict) -> int:
    source_kind, sequence_length = model_source(kind, config)
    options = DataOptions(validation="people", frame_stride=args.frame_stride)
    return len(training_sources(benchmark, options, source_kind, sequence_length)[0])


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    metric = summary.get("reported", REPORTED)[0]
    for input_name, points in summary["curves"].items():
        samples = [point["samples"] for point in points]
        axis.plot(samples, [point[metric] for point in points], "o-", label=f"{input_name} 2D")
    converged = summary.get("converged")
    if converged:
        axis.axvline(converged["samples"], color="grey", linestyle="--",
                     label=f"converged: {converged['epochs']} epochs ({converged['steps']:,} steps)")
    axis.set_xscale("log")
    axis.set_xlabel("training samples seen (one complete run per point)")
    axis.set_ylabel("validation Hit@1 (%)" if metric == "hit@1" else "validation P#1 MPJPE (mm)")
    axis.set_title(f"{summary['kind']}: batch {summary['batch_size']}, lr {summary['lr']:g}, "
                   f"validated on {'+'.join(summary['validation_people'])}", fontsize=9)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def print_table(summary: dict) -> None:
    reported = tuple(summary.get("reported", REPORTED))
    measured = ("Hit@1 / Hit@10 % across cameras" if reported == HIT_REPORTED
                else "P#1 / P#2 mm (mean over actions)")
    print(f"\nLearning curve of {summary['kind']} on {summary['benchmark']}: trained on the 'fit' people, "
          f"validation {measured} on {'+'.join(summary['validation_people'])}; batch "
          f"{summary['batch_size']}, lr {summary['lr']:g} with 48 decays per run, frames every "
          f"{summary['frame_stride']}, seed {summary['seed']}; device {summary['device']}\n")
    inputs = list(summary["curves"])
    print("| epochs | steps | samples seen | "
          + " | ".join(f"{name} {LABELS[metric]}" for name in inputs for metric in reported) + " |")
    print("|---:|---:|---:|" + "---:|---:|" * len(inputs))
    longest = max(summary["curves"].values(), key=len)
    for index, point in enumerate(longest):
        cells = []
        for name in inputs:
            row = summary["curves"][name][index] if index < len(summary["curves"][name]) else None
            cells += [f"{row[metric]:.1f}" for metric in reported] if row else ["-"] * len(reported)
        print(f"| {point['epochs']} | {point['steps']:,} | {point['samples']:,} | " + " | ".join(cells) + " |")
    converged = summary.get("converged")
    by_input = ", ".join(f"{name} at {epochs} epochs" for name, epochs in summary.get("converged_by_input", {}).items())
    print(f"\nconverged schedule: {converged['epochs']} epochs = {converged['steps']:,} steps of batch "
          f"{summary['batch_size']} ({converged['samples']:,} samples; doubling gains < "
          f"{100 * summary['tolerance']:g} %: {by_input})" if converged
          else "\nnot converged within the budgets run: extend --epochs-list")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="baseline")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--inputs", nargs="+", default=["gt", "noisy"], choices=["gt", "noisy"])
    parser.add_argument("--epochs-list", nargs="+", type=int, default=[1, 2, 4, 8, 16, 32, 64, 128])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--frame-stride", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=0.01, help="a doubling gaining less converges")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="model config overrides")
    parser.add_argument("--per-epoch-set", nargs="*", default=[], metavar="KEY=FRACTION",
                        help="config fields counted in epochs that scale with each budget: KEY = FRACTION x the "
                             "budget's epochs (e.g. selfsup's pretrain_epochs=0.0625, the paper's 20 of 320)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--vae-set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="with --kind vvipe: stage-1 (vvipe_vae) config overrides")
    parser.add_argument("--val-stride", type=int, default=2,
                        help="with --kind vvipe: keep every k-th validation frame before removing near-duplicates")
    parser.add_argument("--figure", type=Path, help="write the curve as a PNG here")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny model, 30 steps, two budgets")
    args = parser.parse_args(argv)
    config, vae_config = parse_assignments(args.set), parse_assignments(args.vae_set)
    per_epoch = {key: float(value) for key, value in parse_assignments(args.per_epoch_set).items()}
    max_steps = None
    is_vvipe = args.kind == "vvipe"
    reported = HIT_REPORTED if is_vvipe else REPORTED
    if args.quick:
        args.epochs_list, max_steps, config = args.epochs_list[:2], 30, {"hidden_size": 32, **config}
        vae_config, args.val_stride = {"hidden_size": 32, **vae_config}, 20
    if args.threads:
        torch.set_num_threads(args.threads)
    from poselift.data.benchmark import VALIDATION_SUBJECTS

    benchmark = load_benchmark(args.data)
    epoch_samples = samples_per_epoch(args, benchmark, args.kind, config)
    steps_per_epoch = epoch_samples // args.batch_size
    summary = {"kind": args.kind, "benchmark": benchmark.version, "data": str(args.data), "quick": args.quick,
               "device": f"{'CUDA' if args.device != 'cpu' and torch.cuda.is_available() else 'CPU'} "
                         f"({platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__})",
               "batch_size": args.batch_size, "lr": args.lr, "frame_stride": args.frame_stride, "seed": args.seed,
               "config": config, "tolerance": args.tolerance, "validation_people": list(VALIDATION_SUBJECTS),
               "per_epoch_config": per_epoch, "samples_per_epoch": epoch_samples, "reported": list(reported),
               "curves": {name: [] for name in args.inputs}, "converged": None}
    if is_vvipe:
        from vvipe_accuracy import VvipeSweep, distinct_test_poses, mapping_spec, model_hits

        validation_poses = distinct_test_poses(benchmark, args.out, args.val_stride, split="val")
        summary.update(vae_config=vae_config, validation_poses=validation_poses["stats"])
    converged_at: dict[str, int] = {}                         # input -> index of its converged budget
    for epochs in args.epochs_list:
        active = [name for name in args.inputs if name not in converged_at]
        if not active:
            break
        schedule = dict(epochs=epochs, batch_size=args.batch_size, lr=args.lr, num_threads=args.threads,
                        max_steps=max_steps, device=args.device)
        budget_config = {**config, **{key: fraction * epochs for key, fraction in per_epoch.items()}}
        sweep_class, base_config = (VvipeSweep, {"vvipe": budget_config, "vvipe_vae": vae_config}) if is_vvipe \
            else (Sweep, {args.kind: budget_config})
        sweep = sweep_class(args.data, benchmark, args.out / f"epochs_{epochs}", schedule,
                            data={"frame_stride": args.frame_stride}, base_config=base_config)
        for input_name in active:                             # an input stops once a doubling gained < tolerance
            if is_vvipe:
                run = mapping_spec(input_name, args.seed, data={"validation": "people"})
                evaluation = model_hits(sweep, run, validation_poses, input_name)
            else:
                run = spec(args.kind, input_name, args.seed, data={"validation": "people"})
                evaluation = sweep.evaluation(run, split="val")
            steps = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
            points = summary["curves"][input_name]
            points.append({"epochs": epochs, "steps": steps, "samples": steps * args.batch_size,
                           **{metric: evaluation[metric] for metric in reported}})
            index = converged_index([point[reported[0]] for point in points], args.tolerance, is_vvipe)
            if index is not None:
                converged_at[input_name] = index
        write_text_atomic(args.out / "summary.json", json.dumps(summary, indent=1) + "\n")
    if len(converged_at) == len(args.inputs):                 # every input converged: the longest of their budgets
        name, index = max(converged_at.items(), key=lambda item: summary["curves"][item[0]][item[1]]["samples"])
        summary["converged"] = {key: summary["curves"][name][index][key] for key in ("epochs", "steps", "samples")}
        summary["converged_by_input"] = {name: summary["curves"][name][index]["epochs"]
                                         for name, index in converged_at.items()}
    write_text_atomic(args.out / "summary.json", json.dumps(summary, indent=1) + "\n")
    if args.figure:
        plot(summary, args.figure)
        print(f"wrote {args.figure}")
    print_table(summary)


if __name__ == "__main__":
    main()
