"""Deep pose consensus (Cha et al.) against the baseline trained the same way: Tables 1 and 5, ADMM speed.

Every model is trained by the shared recipe (``poselift train KIND``: the same epochs, batch size,
learning rate with its 48 decays, frame stride and seed for both kinds; the recipe draws the
consensus model's joint groups from the training motion) through :mod:`sweep`, and evaluated on
every test frame of the benchmark with Protocol #1/#2. Sections (``--sections``):

- ``headline``: P#1/P#2 with ``gt`` and ``noisy`` 2D, consensus and baseline, ``--seeds``
  (3 by default), and the consensus / baseline ratio of each (paper, H36M: ground-truth 2D P#1
  40.9 / 45.5 = 0.90; detections P#1 58.8 / 62.9 = 0.93, P#2 45.7 / 47.7 = 0.96).
- ``group_sizes``: joints per group n_g in ``--group-sizes`` (paper Table 1, ground-truth 2D), plus
  n_g = 17 with a single group (Table 1's last row) and the baseline, on ``--table1-input``,
  ``--ablation-seeds``.
- ``ablations``: the rows of the paper's Table 5 that apply without a heatmap network (the
  end-to-end rows need a 2D detector): learned vs random groups, with vs without L_aggre, l1
  instead of l2,1 aggregation, plus plain least-squares (l2) aggregation; each row's P#1 and its
  difference to the full model. Aggregation is an inference-time choice, so the l1 and l2 rows
  evaluate the full model's checkpoints with that solver (cached in the run's ``evals.json`` under
  ``<input>+0px+aggregation=<norm>``); the other rows are trained. ``--ablation-input`` (the
  paper's Table 5 is on detections), ``--ablation-seeds``.
- ``variant``: the headline comparison again for consensus runs with ``--variant`` overrides (default
  ``aggregation_weight=0.0``: without L_aggre, which the ablation found to cost the most), ``--seeds``.
- ``admm``: the aggregation on this CPU (``--threads``): partial poses of the first headline model
  on up to 4096 test frames (and their error, centred per group, before and after aggregation); poses/s and iterations to the tolerance of the l2,1, l1 and l2 solvers
  at batch 4096 and one pose at a time, and the lifting throughput (network + aggregation) of the
  consensus model against the baseline's.

Each consensus run's number of joint groups n_t is reported (it follows from n_g, m_g, lambda and
the training trajectories; the learned groups need more groups than random ones to cover every
joint m_g times, because distant joints are drawn less often); it is read from the checkpoint
once and kept in the run's ``groups.json``.

    python benchmarks/consensus_accuracy.py --data benchmark.npz --out benchmarks/results/consensus \\
        --epochs 20 --frame-stride 2 --consensus-set hidden_size=256
    python benchmarks/consensus_accuracy.py --data benchmark.npz --out /tmp/consensus_quick --quick

Cost: the paper's lifters (1024 wide) are ~4.3 M parameters EACH, times n_t groups (~20-65), so
full-width runs want a GPU; ``--consensus-set hidden_size=...`` narrows them. ``--quick`` is a smoke
test of the whole pipeline (tiny widths, 30 steps, one seed): its numbers say nothing about the
methods. Runs that already hold their evaluation are not trained or evaluated again, and an
interrupted training resumes, so an interrupted sweep can simply be rerun. Results:
``OUT/summary.json`` (every table) and one folder per run under ``OUT/runs``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace

import torch
from sweep import Sweep, add_sweep_arguments, mean_std, open_sweep, over_seeds
from sweep import print_sections, run_sections, spec, summary_header

from poselift.checkpoint import load_checkpoint
from poselift.cli.common import parse_assignments
from poselift.data.datasets import FrameSource
from poselift.evaluate import evaluate
from poselift.fileio import write_text_atomic
from poselift.lift import load_model
from poselift.models.registry import build_config

REPORTED = ("mpjpe", "p_mpjpe")
# Table 1 of the paper (ground-truth 2D, P#1 mm): n_g -> paper value; "17, n_t=1" is one full-body group.
PAPER_GROUP_SIZES = {8: 43.4, 10: 40.9, 13: 41.5, 15: 42.6, 17: 42.6}
PAPER_SINGLE_GROUP = 43.3
PAPER_BASELINE_GT = 45.5
# Table 5 of the paper (detections, P#1 mm): row -> (trained config overrides, aggregation at test, paper).
ABLATIONS = {
    "full model": ({}, None, 58.8),
    "w/o l2,1 (l1 aggregation)": ({}, "l1", 58.9),
    "l2 aggregation (least squares)": ({}, "l2", None),
    "w/o L_aggre": ({"aggregation_weight": 0.0}, None, 59.4),
    "random selection": ({"group_selection": "random"}, None, 62.3),
}


def consensus_spec(sweep: Sweep, input_name: str, seed: int, overrides: dict | None = None):
    """A consensus run; overrides equal to the base config (``--consensus-set`` over the paper's
    defaults) are dropped, so the same model is never trained twice under two names."""
    base = build_config("consensus", sweep.base_config["consensus"])
    kept = {key: value for key, value in (overrides or {}).items() if getattr(base, key) != value}
    return spec("consensus", input_name, seed, kept)


def num_groups(sweep: Sweep, run) -> int | None:
    """n_t of a trained consensus run (None for other kinds), kept in the run's ``groups.json``."""
    if run.kind != "consensus":
        return None
    run_dir = sweep.trained(run)
    groups_path = run_dir / "groups.json"
    if not groups_path.exists():
        groups = load_checkpoint(run_dir / "last.pt")["model_config"]["groups"]
        write_text_atomic(groups_path, json.dumps({"num_groups": len(groups), "groups": groups}) + "\n")
    return json.loads(groups_path.read_text())["num_groups"]


def evaluation_with_aggregation(sweep: Sweep, run, aggregation: str | None) -> dict:
    """Protocol #1 averages over actions of a consensus run on its own input, aggregated at test time
    with ``aggregation`` ("l21", "l1", "l2"; None = the run's own) instead of the trained config's."""
    if aggregation is None:
        return sweep.evaluation(run)
    run_dir = sweep.trained(run)
    cache_path = run_dir / "evals.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    key = f"{run.input}+0px+aggregation={aggregation}"
    if key not in cache:
        model = load_model(run_dir / "last.pt")
        model.config = replace(model.config, aggregation=aggregation)
        result = evaluate(model, sweep.benchmark, input=run.input, protocol=1)
        cache[key] = {"averages": result.averages, "info": {**result.info, "aggregation": aggregation}}
        write_text_atomic(cache_path, json.dumps(cache, indent=1) + "\n")
    return cache[key]["averages"]["mean_over_actions"]


def row(sweep: Sweep, runs: list, aggregation: str | None = None) -> dict:
    """One table row over seeds: mean/std/per-seed of the reported metrics and each run's n_t."""
    evaluations = [evaluation_with_aggregation(sweep, run, aggregation) for run in runs]
    return {**over_seeds(evaluations, REPORTED), "num_groups": [num_groups(sweep, run) for run in runs]}


def headline(sweep: Sweep, args) -> dict:
    results = {}
    for input_name in args.inputs:
        rows = {"baseline": row(sweep, [spec("baseline", input_name, seed) for seed in args.seeds]),
                "consensus": row(sweep, [consensus_spec(sweep, input_name, seed) for seed in args.seeds])}
        rows["consensus / baseline"] = {metric: rows["consensus"][metric]["mean"] / rows["baseline"][metric]["mean"]
                                        for metric in REPORTED}
        results[input_name] = rows
    return results


def variant(sweep: Sweep, args) -> dict:
    """The headline comparison for consensus runs with ``--variant`` config overrides (e.g.
    ``aggregation_weight=0.0``), over ``--seeds``; the baseline rows are the headline's."""
    overrides = parse_assignments(args.variant)
    results = {"overrides": overrides}
    for input_name in args.inputs:
        baseline = row(sweep, [spec("baseline", input_name, seed) for seed in args.seeds])
        ours = row(sweep, [consensus_spec(sweep, input_name, seed, overrides) for seed in args.seeds])
        results[input_name] = {"baseline": baseline, "consensus": ours, "consensus / baseline": {
            metric: ours[metric]["mean"] / baseline[metric]["mean"] for metric in REPORTED}}
    return results


def group_sizes(sweep: Sweep, args) -> dict:
    """Table 1: n_g in --group-sizes, and n_g = J with one group; the baseline alongside."""
    rows = {f"n_g={size}": ({"group_size": size}, PAPER_GROUP_SIZES.get(size)) for size in args.group_sizes}
    rows["n_g=17, n_t=1"] = ({"group_size": 17, "num_groups": 1}, PAPER_SINGLE_GROUP)
    input_name = args.table1_input
    results = {"baseline": {**row(sweep, [spec("baseline", input_name, seed) for seed in args.ablation_seeds]),
                            "paper_p1_mm": PAPER_BASELINE_GT}}
    for name, (overrides, paper_mm) in rows.items():
        runs = [consensus_spec(sweep, input_name, seed, overrides) for seed in args.ablation_seeds]
        results[name] = {**row(sweep, runs), "paper_p1_mm": paper_mm}
    return results


def ablations(sweep: Sweep, args) -> dict:
    results = {}
    for name, (overrides, aggregation, paper_mm) in ABLATIONS.items():
        runs = [consensus_spec(sweep, args.ablation_input, seed, overrides) for seed in args.ablation_seeds]
        results[name] = {**row(sweep, runs, aggregation), "paper_p1_mm": paper_mm}
    full = results["full model"]["mpjpe"]["mean"]
    for values in results.values():
        values["delta_p1_mm"] = values["mpjpe"]["mean"] - full
    return results


def _best_seconds(function, repeats: int) -> float:
    """Fastest of ``repeats`` timed calls (after one warm-up call)."""
    function()
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return min(timings)


def partial_pose_errors(model, partial: torch.Tensor, poses_3d: torch.Tensor) -> dict:
    """Where the error comes from: the group lifters' own error (each partial pose against the true
    group, both centred over the group) and the same measure for the aggregated pose's groups, mean
    per-joint mm; and the aggregated pose's root-relative MPJPE."""
    index = model.group_index
    truth = poses_3d[:, index]
    truth = truth - truth.mean(dim=2, keepdim=True)
    whole = model.solver.aggregate(partial, model.config.aggregation).poses_3d
    whole_groups = whole[:, index]
    whole_groups = whole_groups - whole_groups.mean(dim=2, keepdim=True)
    return {"partial_error_mm": float((partial - truth).norm(dim=-1).mean()),
            "aggregated_group_error_mm": float((whole_groups - truth).norm(dim=-1).mean()),
            "aggregated_mpjpe_mm": float((whole - poses_3d).norm(dim=-1).mean())}


def admm(sweep: Sweep, args) -> dict:
    """Aggregation and lifting throughput on real partial poses (the first headline model, test frames)."""
    input_name = args.inputs[0]
    model = load_model(sweep.trained(consensus_spec(sweep, input_name, args.seeds[0])) / "last.pt").eval()
    baseline = load_model(sweep.trained(spec("baseline", input_name, args.seeds[0])) / "last.pt").eval()
    source = FrameSource(sweep.benchmark, "test", input_name)
    count = min(len(source), 4096)
    batch = source.batch(torch.arange(count))
    with torch.no_grad():
        encoded_2d, _ = model.normalizer.encode_2d(batch["keypoints_2d"], batch["confidence"])
        partial = model(encoded_2d)
    solver = model.solver
    results = {"num_groups": solver.num_groups, "group_size": solver.group_size,
               "tolerance": solver.tolerance, "max_iterations": solver.max_iterations,
               "threads": torch.get_num_threads(), "batch": count,
               **partial_pose_errors(model, partial, batch["poses_3d"])}
    for norm in ("l21", "l1", "l2"):
        whole = solver.aggregate(partial, norm)
        seconds = _best_seconds(lambda: solver.aggregate(partial, norm), args.speed_repeats)
        singles = [solver.aggregate(partial[index : index + 1], norm) for index in range(args.single_poses)]
        single_seconds = _best_seconds(lambda: [solver.aggregate(partial[index : index + 1], norm)
                                                for index in range(args.single_poses)], args.speed_repeats)
        iterations = torch.tensor([float(single.iterations) for single in singles])
        results[norm] = {
            f"batch{count}_poses_per_s": count / seconds,
            f"batch{count}_iterations": whole.iterations,
            f"batch{count}_converged": float(whole.converged.float().mean()),
            "batch1_poses_per_s": args.single_poses / single_seconds,
            "batch1_iterations": {"mean": float(iterations.mean()), "median": float(iterations.median()),
                                  "max": float(iterations.max())},
        }
    for kind, lifter in (("consensus", model), ("baseline", baseline)):
        seconds = _best_seconds(lambda: lifter.lift(batch["keypoints_2d"], batch["confidence"]), args.speed_repeats)
        results[f"lift_{kind}_frames_per_s"] = count / seconds
    return results


SECTIONS = {"headline": headline, "group_sizes": group_sizes, "ablations": ablations, "variant": variant,
            "admm": admm}




def groups(values: dict) -> str:
    """The number of groups n_t of a row's runs ("-" for the baseline)."""
    counts = sorted({count for count in values["num_groups"] if count is not None})
    return "/".join(map(str, counts)) if counts else "-"


def optional(value, digits: str = ".1f") -> str:
    """``value`` formatted, or "-" when there is none."""
    return format(value, digits) if value is not None else "-"


def print_comparison(title: str, summary: dict, results: dict) -> None:
    """Baseline, consensus and their ratio for each 2D input of ``results``."""
    print(f"\n{title}, mean ± std over seeds {summary['seeds']}\n")
    print("| 2D input | model | P#1 MPJPE mm | P#2 P-MPJPE mm | groups n_t |\n|---|---|---|---|---|")
    for input_name, rows in ((key, value) for key, value in results.items() if key != "overrides"):
        for kind in ("baseline", "consensus"):
            print(f"| `{input_name}` | {kind} | " + " | ".join(mean_std(rows[kind][m]) for m in REPORTED)
                  + f" | {groups(rows[kind])} |")
        ratio = rows["consensus / baseline"]
        print(f"| `{input_name}` | consensus / baseline | " + " | ".join(f"{ratio[m]:.2f}" for m in REPORTED) + " | |")


def print_headline(summary: dict) -> None:
    print_comparison("Headline, Protocol #1/#2", summary, summary["results"]["headline"])


def print_variant(summary: dict) -> None:
    results = summary["results"]["variant"]
    overrides = " ".join(f"{key}={value}" for key, value in results["overrides"].items())
    print_comparison(f"Variant: consensus with {overrides}, Protocol #1/#2", summary, results)


def print_group_sizes(summary: dict) -> None:
    print(f"\nTable 1, joints per group ({summary['table1_input']} 2D, seeds {summary['ablation_seeds']})\n")
    print("| row | P#1 mm | P#2 mm | groups n_t | paper P#1 |\n|---|---|---|---|---|")
    for name, values in summary["results"]["group_sizes"].items():
        print(f"| {name} | " + " | ".join(mean_std(values[m]) for m in REPORTED)
              + f" | {groups(values)} | {optional(values['paper_p1_mm'])} |")


def print_ablations(summary: dict) -> None:
    print(f"\nTable 5 ablations ({summary['ablation_input']} 2D, seeds {summary['ablation_seeds']}); change: P#1 "
          f"against the full model\n")
    print("| row | P#1 mm | change | paper change | groups n_t |\n|---|---|---|---|---|")
    paper_full = ABLATIONS["full model"][2]
    for name, values in summary["results"]["ablations"].items():
        paper = values["paper_p1_mm"]
        print(f"| {name} | {mean_std(values['mpjpe'])} | {values['delta_p1_mm']:+.1f} "
              f"| {optional(paper - paper_full if paper is not None else None, '+.1f')} | {groups(values)} |")


SOLVERS = {"l21": "l2,1 ADMM (the paper)", "l1": "l1 ADMM", "l2": "l2 (closed form)"}


def print_admm(summary: dict) -> None:
    speed = summary["results"]["admm"]
    count = speed["batch"]
    print(f"\nAggregation on this CPU ({speed['threads']} threads; {speed['num_groups']} groups of "
          f"{speed['group_size']}, tolerance {speed['tolerance']:g}, at most {speed['max_iterations']} iterations)\n")
    print(f"| solver | poses/s, batch {count:,} | iterations, batch {count:,} | poses/s, one at a time "
          f"| iterations per pose, mean / max |\n|---|---|---|---|---|")
    for norm, label in SOLVERS.items():
        values = speed[norm]
        single = values["batch1_iterations"]
        print(f"| {label} | {values[f'batch{count}_poses_per_s']:,.0f} | {values[f'batch{count}_iterations']} "
              f"| {values['batch1_poses_per_s']:,.0f} | {single['mean']:.1f} / {single['max']:.0f} |")
    print(f"\nLifting frames/s, batch {count:,}: consensus {speed['lift_consensus_frames_per_s']:,.0f}, "
          f"baseline {speed['lift_baseline_frames_per_s']:,.0f}.")
    if "partial_error_mm" in speed:
        print(f"On these frames: group lifters' error {speed['partial_error_mm']:.1f} mm (centred per group), "
              f"the aggregated pose's {speed['aggregated_group_error_mm']:.1f} mm (same measure), "
              f"MPJPE {speed['aggregated_mpjpe_mm']:.1f} mm.")


TABLES = {"headline": print_headline, "group_sizes": print_group_sizes, "ablations": print_ablations,
          "variant": print_variant, "admm": print_admm}


def print_tables(summary: dict, sections=None) -> None:
    """Print the markdown tables of ``sections`` (default: every section the summary holds)."""
    print_sections(TABLES, summary, sections)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sweep_arguments(parser, SECTIONS,
                        batch_size=64,
                        frame_stride=2,
                        frame_stride_help="keep every k-th training frame",
                        quick_help="smoke test: tiny models, 30 steps, one seed, n_g in {8, 17}")
    parser.add_argument("--ablation-seeds", nargs="+", type=int, default=[0], help="seeds of Tables 1 and 5")
    parser.add_argument("--group-sizes", nargs="+", type=int, default=[8, 10, 13, 17])
    parser.add_argument("--table1-input", choices=["gt", "noisy"], default="gt")
    parser.add_argument("--ablation-input", choices=["gt", "noisy"], default="noisy")
    parser.add_argument("--baseline-set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--consensus-set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--variant", nargs="*", default=["aggregation_weight=0.0"], metavar="KEY=VALUE",
                        help="consensus config overrides of the variant section")
    parser.add_argument("--speed-repeats", type=int, default=3, help="timed repeats (the fastest is kept)")
    parser.add_argument("--single-poses", type=int, default=200, help="poses aggregated one at a time")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.max_steps, args.frame_stride = 1, 30, 4
        args.seeds, args.ablation_seeds, args.group_sizes = [0], [0], [8, 17]
        args.speed_repeats, args.single_poses = 1, 20
        args.baseline_set = args.baseline_set + ["hidden_size=64"]
        args.consensus_set = args.consensus_set + ["hidden_size=16", "num_blocks=1"]
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    sweep = open_sweep(args, {"baseline": args.baseline_set, "consensus": args.consensus_set})
    benchmark = sweep.benchmark
    consensus_defaults = {key: value for key, value in asdict(build_config("consensus")).items() if key != "groups"}
    summary = summary_header(args, benchmark, ablation_seeds=args.ablation_seeds, table1_input=args.table1_input,
                             ablation_input=args.ablation_input, baseline_config=sweep.base_config["baseline"],
                             consensus_config=sweep.base_config["consensus"], consensus_defaults=consensus_defaults)
    run_sections(SECTIONS, args.sections, sweep, args, summary, print_tables)


if __name__ == "__main__":
    main()
