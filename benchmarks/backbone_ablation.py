"""The backbone ablation: initialisation x input layer x max-norm, chosen on people the test never sees.

Every run is the Martinez baseline trained by the shared recipe (``poselift train baseline
--validation people``): five of the seven training people ("fit"), evaluated with Protocol #1/#2 on
the other two ("val", ``poselift.data.benchmark.VALIDATION_SUBJECTS``). The test split plays no
part: the row with the lowest mean validation P#1 over ``--seeds`` becomes the backbone default of
every model that uses it. Variants (``BackboneConfig`` fields):

- ``init``: "kaiming" (He-normal weights, zero biases: Martinez et al.'s code, poselift's old
  default) or "torch" (PyTorch's default ``nn.Linear`` initialisation);
- ``input_layer``: "dense" (Linear + BatchNorm + ReLU + Dropout, the paper) or "linear" (Linear + ReLU);
- max-norm: "row" (each output unit's weights projected to norm <= 1 after each step: poselift's old
  default), "matrix" (Martinez et al.'s code: each weight matrix clipped to Frobenius norm 1
  inside the forward pass) or "off".

    python benchmarks/backbone_ablation.py --data benchmark.npz --out benchmarks/results/backbone_ablation \\
        --epochs 5 --frame-stride 4 --batch-size 64 --threads 2
    python benchmarks/backbone_ablation.py --data benchmark.npz --out /tmp/ablation_quick --quick

``--quick`` is a smoke test (tiny width, 30 steps, one seed, two variants). Interrupted sweeps resume
(:mod:`sweep`). Results: ``OUT/summary.json`` and one folder per run under ``OUT/runs``.
"""

from __future__ import annotations

import argparse
import itertools

from sweep import add_sweep_arguments, open_sweep, over_seeds, run_sections, spec, summary_header

from poselift.evaluate import METRIC_TITLES

REPORTED = ("mpjpe", "p_mpjpe", "pck150", "auc")
MAX_NORMS = {"row": {"max_norm": 1.0, "max_norm_mode": "row"},
             "matrix": {"max_norm": 1.0, "max_norm_mode": "matrix"},
             "off": {"max_norm": None}}


def variants(quick: bool) -> list[dict]:
    """Every combination of init, input layer and max-norm (two of them with ``--quick``)."""
    rows = [{"init": init, "input_layer": layer, **MAX_NORMS[norm]}
            for init, layer, norm in itertools.product(("kaiming", "torch"), ("dense", "linear"), MAX_NORMS)]
    return rows[:1] + rows[-1:] if quick else rows


def label(variant: dict) -> str:
    norm = "off" if variant["max_norm"] is None else variant["max_norm_mode"]
    return f"init={variant['init']} input={variant['input_layer']} max-norm={norm}"


def ablation(sweep, args) -> dict:
    """Validation P#1/P#2/PCK/AUC of every variant over the seeds."""
    rows = {}
    for variant in variants(args.quick):
        runs = [spec("baseline", args.inputs[0], seed, variant, {"validation": "people"}) for seed in args.seeds]
        rows[label(variant)] = {"config": variant,
                                **over_seeds([sweep.evaluation(run, split="val") for run in runs], REPORTED)}
    return rows


WIDTH_VARIANTS = ({"init": "torch", "input_layer": "dense", **MAX_NORMS["matrix"]},
                  {"init": "torch", "input_layer": "dense", **MAX_NORMS["row"]},
                  {"init": "torch", "input_layer": "linear", **MAX_NORMS["off"]})


def widths(sweep, args) -> dict:
    """The whole-matrix clip bounds the linear head's output by the norm of its input features, which
    grows with the width: the top variants again at narrower widths (``--widths``)."""
    rows = {}
    for width in args.widths:
        for variant in WIDTH_VARIANTS:
            config = {**variant, "hidden_size": width}
            runs = [spec("baseline", args.inputs[0], seed, config, {"validation": "people"}) for seed in args.seeds]
            rows[f"width {width}: {label(variant)}"] = {
                "config": config, **over_seeds([sweep.evaluation(run, split="val") for run in runs], REPORTED)}
    return rows


SECTIONS = {"ablation": ablation, "widths": widths}


def print_tables(summary: dict, sections=None) -> None:
    for name in ("ablation", "widths"):
        if name in summary["results"] and (sections is None or name in sections):
            print_rows(summary, summary["results"][name], name)


def print_rows(summary: dict, rows: dict, section: str) -> None:
    if section == "widths":
        print("\nThe top variants at narrower widths (the width is the baseline's hidden_size), same schedule\n")
    else:
        print(f"\nBackbone ablation on {summary['benchmark']}: baseline trained on the 5 'fit' training people, "
              f"evaluated on the 2 'val' people (Protocol #1/#2, all cameras, mean over actions), "
              f"{summary['inputs'][0]} 2D; {summary['epochs']} epochs, frames every {summary['frame_stride']}, "
              f"batch {summary['batch_size']}; seeds {summary['seeds']} (mean ± std); device {summary['device']}\n")
    print("| variant | " + " | ".join(METRIC_TITLES[m] for m in REPORTED) + " |")
    print("|---" * (len(REPORTED) + 1) + "|")
    ordered = sorted(rows.items(), key=lambda item: item[1]["mpjpe"]["mean"]) if section == "ablation" else rows.items()
    for name, row in ordered:
        print(f"| {name} | " + " | ".join(f"{row[m]['mean']:.1f} ± {row[m]['std']:.1f}" for m in REPORTED) + " |")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sweep_arguments(parser, SECTIONS, batch_size=64, frame_stride=4)
    parser.add_argument("--baseline-set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="baseline config overrides shared by every run")
    parser.add_argument("--widths", nargs="+", type=int, default=[128, 256], help="hidden sizes of the widths section")
    args = parser.parse_args(argv)
    args.inputs = args.inputs[:1]
    if args.quick:
        args.seeds, args.max_steps, args.baseline_set = args.seeds[:1], 30, ["hidden_size=64", *args.baseline_set]
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    sweep = open_sweep(args, {"baseline": args.baseline_set})
    summary = summary_header(args, sweep.benchmark, inputs=args.inputs, baseline_config=sweep.base_config["baseline"])
    run_sections(SECTIONS, args.sections, sweep, args, summary, print_tables)


if __name__ == "__main__":
    main()
