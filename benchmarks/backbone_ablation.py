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

from sweep import add_sweep_arguments, mean_std, open_sweep, over_seeds, run_sections, spec, summary_header

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


# The converged recipe's other choices, one changed at a time (section "recipe"): (label, model config,
# schedule overrides). Run with the converged schedule as the sweep's (--epochs 32 --frame-stride 2
# --batch-size 256): batch 64 then takes 4 times the steps on the same samples.
RECIPE_VARIANTS = (
    ("converged recipe: batch 256, lr 1e-3, dropout 0.5, matrix clip, pixels z-scored", {}, {}),
    ("batch 64", {}, {"batch_size": 64}),
    ("lr 2e-3", {}, {"lr": 2e-3}),
    ("lr annealed to 1e-5 (48 decays of x0.908, not x0.96)", {}, {"lr_decay": round(0.01 ** (1 / 48), 6)}),
    ("input layer linear, max-norm off (the issue's plain prototype)", {"input_layer": "linear", "max_norm": None}, {}),
    ("max-norm off", {"max_norm": None}, {}),
    ("input: per-pose normalisation", {"input_normalization": "pose"}, {}),
    ("dropout 0.25", {"dropout": 0.25}, {}),
    ("lr 5e-4", {}, {"lr": 5e-4}),
    ("dropout 0.1", {"dropout": 0.1}, {}),
    ("each joint's confidence as input", {"confidence_input": True}, {}),
)


def recipe(sweep, args) -> dict:
    """Validation P#1/P#2/PCK/AUC of the converged recipe and of one change at a time, per input."""
    rows = {}
    chosen = RECIPE_VARIANTS[:2] if args.quick else RECIPE_VARIANTS
    if args.recipe_variants:
        chosen = [chosen[index] for index in args.recipe_variants]
    for name, config, schedule in chosen:
        for input_name in args.inputs:
            runs = [spec("baseline", input_name, seed, config, {"validation": "people"}, schedule)
                    for seed in args.seeds]
            rows[f"{name} ({input_name})"] = {"config": config, "schedule": schedule, "input": input_name,
                                              **over_seeds([sweep.evaluation(run, split="val") for run in runs],
                                                           REPORTED)}
    return rows


SECTIONS = {"ablation": ablation, "widths": widths, "recipe": recipe}


def print_tables(summary: dict, sections=None) -> None:
    for name in ("ablation", "widths", "recipe"):
        if name in summary["results"] and (sections is None or name in sections):
            print_rows(summary, summary["results"][name], name)


def print_rows(summary: dict, rows: dict, section: str) -> None:
    if section == "widths":
        print("\nThe top variants at narrower widths (the width is the baseline's hidden_size), same schedule\n")
    elif section == "recipe":
        print(f"\nThe converged recipe and one change at a time on {summary['benchmark']}: trained on the 5 'fit' "
              f"people, validation on the 2 'val' people (Protocol #1/#2, all cameras, mean over actions); "
              f"{summary['epochs']} epochs, frames every {summary['frame_stride']}, batch {summary['batch_size']} "
              f"unless the row says otherwise; seeds {summary['seeds']}; device {summary['device']}\n")
    else:
        print(f"\nBackbone ablation on {summary['benchmark']}: baseline trained on the 5 'fit' training people, "
              f"evaluated on the 2 'val' people (Protocol #1/#2, all cameras, mean over actions), "
              f"{summary['inputs'][0]} 2D; {summary['epochs']} epochs, frames every {summary['frame_stride']}, "
              f"batch {summary['batch_size']}; seeds {summary['seeds']} (mean ± std); device {summary['device']}\n")
    print("| variant | " + " | ".join(METRIC_TITLES[m] for m in REPORTED) + " |")
    print("|---" * (len(REPORTED) + 1) + "|")
    ordered = sorted(rows.items(), key=lambda item: item[1]["mpjpe"]["mean"]) if section == "ablation" else rows.items()
    for name, row in ordered:
        print(f"| {name} | " + " | ".join(mean_std(row[m]) for m in REPORTED) + " |")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sweep_arguments(parser, SECTIONS, batch_size=64, frame_stride=4)
    parser.add_argument("--baseline-set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="baseline config overrides shared by every run")
    parser.add_argument("--widths", nargs="+", type=int, default=[128, 256], help="hidden sizes of the widths section")
    parser.add_argument("--recipe-variants", nargs="*", type=int, default=None,
                        help="indices of RECIPE_VARIANTS to run in the recipe section (default: all)")
    args = parser.parse_args(argv)
    if "recipe" not in args.sections:
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
