"""Siamese equivariant lifter (Veges et al.) against the baseline trained the same way: the paper's claims.

Every model is trained by the shared recipe (``poselift train KIND``) with one schedule (epochs, batch
size, learning rate and its 48 decays, frame stride, seed), except that a siamese run trains half the
epochs (``--siamese-epochs``): each of its steps holds a pair of poses per sample, so both models see
the same number of poses, as in the authors' code (vegesm/siamese-pose-estimation, ``TRAIN_SIZE``). Protocol #3 trains on cameras 0-2 (with
``augmentation``: virtual cameras every 15 degrees around the rig, none within 30 degrees of camera 3,
re-filmed with the detector model for ``noisy`` input) and tests on camera 3; Protocol #1/#2 train and
test on all four cameras without augmentation, as the paper. Sections (``--sections``):

- ``weight``: the siamese loss weight lambda2 (not given in the paper) chosen on a validation set that
  the test split never enters: the TRAINING subjects seen by camera 3, which Protocol #3 training never
  sees (``--weights``, ``--ablation-seeds``, ``--weight-input``). Unless ``--siamese-weight`` is
  given, every later siamese run uses the value with the lowest validation MPJPE.
- ``pairs``: the siamese loss after training, split into same-frame and random pairs (code distance
  against its target ``lambda1 || P_world(1) - P_world(2) ||``; a code of M unit vectors cannot be
  further than ``2 sqrt(M)`` from another).
- ``headline``: Protocol #3 with augmentation, ``gt`` and ``noisy`` 2D, both models, ``--seeds``;
  the siamese / baseline ratio (paper, detections: 65.8 / 69.6 mm = 0.945).
- ``ablations``: the rows of the paper's Table 5(a) on Protocol #3 (``--ablation-seeds``, both inputs).
- ``protocol1``: Protocol #1/#2, all cameras, no augmentation (paper P#1: 61.1 vs 62.9 mm).
- ``rotation``: the paper's Figure 5 as numbers: for camera-3 test frames and a camera turned by an
  angle about the vertical axis, the error of ``g(R f(x))`` (rotating the code of the camera-3 input)
  against the pose seen from the turned camera, next to lifting the turned camera's own 2D with the
  siamese model and with the baseline; writes ``docs/images/siamese_rotation.png`` (``--figure``).

    python benchmarks/siamese_accuracy.py --data benchmark.npz --out benchmarks/results/siamese \\
        --epochs 20 --frame-stride 5 --threads 1
    python benchmarks/siamese_accuracy.py --data benchmark.npz --out /tmp/siamese_quick --quick

``--quick`` is a smoke test (tiny widths, 30 steps, one seed): its numbers say nothing about the methods.
Results: ``OUT/summary.json`` (every table) and one folder per run under ``OUT/runs``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from sweep import Sweep, add_sweep_arguments, mean_std, open_sweep, over_seeds
from sweep import print_sections, run_sections, spec, summary_header

from poselift.camera import virtual_camera
from poselift.data.datasets import FrameSource
from poselift.lift import load_model
from poselift.metrics import mpjpe

REPORTED = ("mpjpe", "p_mpjpe")
AUGMENTED = {"protocol": 3, "virtual_cameras": True}
NOT_AUGMENTED = {"protocol": 3}
# Table 5(a) of the paper: row -> (model kind, config overrides, data options, the paper's P#3 mm).
ABLATIONS = {
    "baseline, no augmentation": ("baseline", {}, NOT_AUGMENTED, 86.5),
    "baseline, augmentation": ("baseline", {}, AUGMENTED, 69.6),
    "siamese w/o siamese loss": ("siamese", {"siamese_weight": 0.0}, AUGMENTED, 71.1),
    "siamese w/o augmentation": ("siamese", {}, NOT_AUGMENTED, 81.0),
    "siamese w/o Leaky ReLU": ("siamese", {"activation": "relu"}, AUGMENTED, 67.1),
    "siamese, all components": ("siamese", {}, AUGMENTED, 65.8),
}
PAPER_PROTOCOL1 = {"baseline": 62.9, "siamese": 61.1}


def run_spec(args, kind: str, input_name: str, seed: int, config: dict | None = None, data: dict | None = None):
    """A run; siamese runs name their loss weight (the chosen one unless ``config`` sets it) and train
    ``--siamese-epochs`` (by default half the baseline's: a step holds twice as many poses, two per
    pair, so both models see the same number of poses, as in the authors' code)."""
    if kind != "siamese":
        return spec(kind, input_name, seed, config, data)
    config = {"siamese_weight": args.siamese_weight, **(config or {})}
    schedule = {"epochs": args.siamese_epochs} if args.siamese_epochs != args.epochs else None
    return spec(kind, input_name, seed, config, data, schedule)


def p3(sweep: Sweep, run, split: str = "test") -> dict:
    return sweep.evaluation(run, protocol=3, split=split)


def weight(sweep: Sweep, args) -> dict:
    results = {}
    for value in args.weights:
        runs = [run_spec(args, "siamese", args.weight_input, seed, {"siamese_weight": value}, AUGMENTED)
                for seed in args.ablation_seeds]
        results[f"{value:g}"] = {"validation": over_seeds([p3(sweep, run, "train") for run in runs], REPORTED),
                                 "test": over_seeds([p3(sweep, run) for run in runs], REPORTED)}
    return results


def headline(sweep: Sweep, args) -> dict:
    results = {}
    for input_name in args.inputs:
        rows = {kind: over_seeds([p3(sweep, run_spec(args, kind, input_name, seed, data=AUGMENTED))
                                  for seed in args.seeds], REPORTED) for kind in ("baseline", "siamese")}
        rows["siamese / baseline"] = {metric: rows["siamese"][metric]["mean"] / rows["baseline"][metric]["mean"]
                                      for metric in REPORTED}
        results[input_name] = rows
    return results


def ablations(sweep: Sweep, args) -> dict:
    results = {}
    for input_name in args.inputs:
        rows = {}
        for row, (kind, config, data, paper_mm) in ABLATIONS.items():
            runs = [run_spec(args, kind, input_name, seed, config, data) for seed in args.ablation_seeds]
            rows[row] = {**over_seeds([p3(sweep, run) for run in runs], REPORTED), "paper_p3_mm": paper_mm}
        results[input_name] = rows
    return results


def protocol1(sweep: Sweep, args) -> dict:
    return {input_name: {kind: {**over_seeds([sweep.evaluation(run_spec(args, kind, input_name, seed,
                                                                        data={"protocol": 1}))
                                              for seed in args.ablation_seeds], REPORTED),
                                "paper_p1_mm": PAPER_PROTOCOL1[kind]}
                         for kind in ("baseline", "siamese")}
            for input_name in args.inputs}


def turned_views(benchmark, input_name: str, angles_deg, frame_stride: int):
    """Camera-3 test frames and the same frames filmed by camera 3 turned by each angle about the
    vertical axis: (camera-3 batch, [turned batch per angle], [camera-3 -> turned rotation (3, 3)])."""
    held_out = benchmark.cameras[3]
    turned = [virtual_camera(held_out, angle) for angle in angles_deg]
    source = FrameSource(benchmark, "test", input_name, cameras=(3,), virtual_cameras=turned,
                         frame_stride=frame_stride)
    generator = torch.Generator().manual_seed(0)
    frames = source.frames
    camera_3 = source.render(frames, torch.full_like(frames, 3), generator)
    first_virtual = len(benchmark.cameras)
    views = [source.render(frames, torch.full_like(frames, first_virtual + k), generator) for k in range(len(turned))]
    relative = [view["rotation"][0] @ camera_3["rotation"][0].T for view in views]
    return camera_3, views, relative


def rotation(sweep: Sweep, args) -> dict:
    input_name = args.rotation_input
    siamese, baseline = (load_model(sweep.trained(run_spec(args, kind, input_name, args.seeds[0], data=AUGMENTED))
                                    / "last.pt") for kind in ("siamese", "baseline"))
    camera_3, views, relative = turned_views(sweep.benchmark, input_name, args.angles, args.rotation_stride)
    rows = {}
    for angle, view, rotation_matrix in zip(args.angles, views, relative):
        target = view["poses_3d"]
        rotated_code = siamese.lift_rotated(camera_3["keypoints_2d"], rotation_matrix, camera_3["confidence"])
        rows[f"{angle:g}"] = {
            "siamese g(R f(x_cam3))": float(mpjpe(rotated_code, target).nanmean()),
            "siamese f, g on the turned view": float(mpjpe(siamese.lift(view["keypoints_2d"], view["confidence"]),
                                                          target).nanmean()),
            "baseline on the turned view": float(mpjpe(baseline.lift(view["keypoints_2d"], view["confidence"]),
                                                      target).nanmean()),
            "camera-3 truth, not turned": float(mpjpe(camera_3["poses_3d"], target).mean()),
        }
    if args.figure:
        save_rotation_figure(args.figure, rows, siamese, camera_3, views, relative, args.angles)
    return {"input": input_name, "frames": len(camera_3["frame"]), "mpjpe_mm_by_angle": rows}


def save_rotation_figure(path: Path, rows: dict, siamese, camera_3, views, relative, angles) -> None:
    """Error against the angle, and for one test pose its rotated-code predictions beside the truth."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from poselift.fileio import atomic_path
    from poselift.viz import plot_pose_3d

    shown = [angle for angle in (45.0, 90.0, 180.0) if angle in angles]
    figure = Figure(figsize=(12, 4 + 3 * len(shown)), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(1 + len(shown), 3, height_ratios=[4] + [3] * len(shown))
    curve_ax = figure.add_subplot(grid[0, :])
    for label in next(iter(rows.values())):
        style = dict(color="0.6", linestyle="--") if label.startswith("camera-3 truth") else dict(marker="o")
        curve_ax.plot(angles, [rows[f"{angle:g}"][label] for angle in angles], label=label, **style)
    curve_ax.set_xlabel("camera turned about the vertical axis from camera 3 (degrees)")
    curve_ax.set_ylabel("MPJPE mm (test subjects)")
    curve_ax.legend()
    curve_ax.grid(alpha=0.3)
    sample = len(camera_3["frame"]) // 2
    for row, angle in enumerate(shown, start=1):
        index = angles.index(angle)
        rotated = siamese.lift_rotated(camera_3["keypoints_2d"][sample:sample + 1], relative[index])[0]
        panels = (("input pose, camera 3", camera_3["poses_3d"][sample]), (f"g(R h), R = {angle:g} deg", rotated),
                  (f"truth seen from {angle:g} deg", views[index]["poses_3d"][sample]))
        for column, (title, pose) in enumerate(panels):
            ax = figure.add_subplot(grid[row, column], projection="3d")
            plot_pose_3d(ax, np.asarray(pose), "h36m17")
            ax.set_title(title)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=80)


def pairs(sweep: Sweep, args) -> dict:
    """Where the siamese loss stands after training: ``l_S`` and code distances on 2048 training pairs,
    split into same-frame and random pairs, for each weight of the ``weight`` section."""
    from poselift.models.siamese import pose_distance_mm, rotate_embedding, siamese_loss
    from poselift.recipes import DataOptions, training_sources

    source, _ = training_sources(sweep.benchmark, DataOptions(input=args.weight_input, frame_stride=args.frame_stride,
                                                              **AUGMENTED), "pairs")
    generator = torch.Generator().manual_seed(0)
    batch = source.batch(torch.randint(len(source), (2048,), generator=generator), generator)
    same = batch["same_frame"]
    world_1, world_2 = batch["poses_3d_1"] @ batch["rotation_1"], batch["poses_3d_2"] @ batch["rotation_2"]
    relative = batch["rotation_2"] @ batch["rotation_1"].transpose(-1, -2)
    results = {}
    for value in args.weights:
        run = run_spec(args, "siamese", args.weight_input, args.ablation_seeds[0], {"siamese_weight": value}, AUGMENTED)
        model = load_model(sweep.trained(run) / "last.pt").eval()
        with torch.no_grad():
            codes = [model.encode(model.normalizer.encode_2d(batch[f"keypoints_2d_{view}"],
                                                             batch[f"confidence_{view}"])[0]) for view in "12"]
        scale = model.config.distance_scale
        distance = model.config.pose_distance
        loss = siamese_loss(codes[0], codes[1], batch["rotation_1"], batch["rotation_2"], world_1, world_2, scale,
                            distance)
        code_distance = (rotate_embedding(codes[0], relative) - codes[1]).flatten(1).norm(dim=1)
        target = scale * pose_distance_mm(world_1, world_2, distance)
        results[f"{value:g}"] = {
            f"{kind} pairs": {"l_S": float(loss[mask].mean()), "code_distance": float(code_distance[mask].mean()),
                              "target_distance": float(target[mask].mean()),
                              "target_above_code_maximum": float((target[mask] > 2 * codes[0].shape[1] ** 0.5)
                                                                 .float().mean())}
            for kind, mask in (("same-frame", same), ("random", ~same))}
    return results


SECTIONS = {"weight": weight, "pairs": pairs, "headline": headline, "ablations": ablations, "protocol1": protocol1,
            "rotation": rotation}




def both(values: dict) -> str:
    """MPJPE / P-MPJPE in one cell."""
    return f"{mean_std(values['mpjpe'])} / {mean_std(values['p_mpjpe'])}"


def print_weight(summary: dict) -> None:
    print(f"\nSiamese loss weight lambda2: Protocol #3 MPJPE / P-MPJPE mm, {summary['weight_input']} 2D, "
          f"seeds {summary['ablation_seeds']}\n")
    print("| lambda2 | validation (train subjects, camera 3) | test (test subjects, camera 3) |\n|---|---|---|")
    for value, row in summary["results"]["weight"].items():
        chosen = " (chosen)" if float(value) == summary.get("siamese_weight") else ""
        print(f"| {value}{chosen} | {both(row['validation'])} | {both(row['test'])} |")


def print_headline(summary: dict) -> None:
    print(f"\nProtocol #3 with augmentation, mean ± std over seeds {summary['seeds']}\n")
    print("| 2D input | model | P#3 MPJPE mm | P#3 P-MPJPE mm |\n|---|---|---|---|")
    for input_name, rows in summary["results"]["headline"].items():
        for kind in ("baseline", "siamese"):
            print(f"| `{input_name}` | {kind} | " + " | ".join(mean_std(rows[kind][m]) for m in REPORTED) + " |")
        ratio = rows["siamese / baseline"]
        print(f"| `{input_name}` | siamese / baseline | " + " | ".join(f"{ratio[m]:.2f}" for m in REPORTED) + " |")


def print_ablations(summary: dict) -> None:
    results = summary["results"]["ablations"]
    print(f"\nTable 5(a), Protocol #3 MPJPE / P-MPJPE mm, seeds {summary['ablation_seeds']}\n")
    print("| row | " + " | ".join(f"`{input_name}` 2D" for input_name in results) + " | paper MPJPE |")
    print("|---" * (len(results) + 2) + "|")
    for row, values in next(iter(results.values())).items():
        print(f"| {row} | " + " | ".join(both(rows[row]) for rows in results.values())
              + f" | {values['paper_p3_mm']:.1f} |")


def print_protocol1(summary: dict) -> None:
    print(f"\nProtocol #1/#2, all cameras, no augmentation, seeds {summary['ablation_seeds']}\n")
    print("| 2D input | model | P#1 MPJPE mm | P#2 P-MPJPE mm | paper P#1 |\n|---|---|---|---|---|")
    for input_name, rows in summary["results"]["protocol1"].items():
        for kind, values in rows.items():
            print(f"| `{input_name}` | {kind} | " + " | ".join(mean_std(values[m]) for m in REPORTED)
                  + f" | {values['paper_p1_mm']:.1f} |")


def print_pairs(summary: dict) -> None:
    print("\nThe siamese loss on 2,048 training pairs after training (M: the number of unit vectors of a code)\n")
    print("| lambda2 | same-frame l_S | same-frame code distance | random l_S | random code distance "
          "| random target | random targets above 2 sqrt(M) |\n|---|---|---|---|---|---|---|")
    for value, rows in summary["results"]["pairs"].items():
        same, random = rows["same-frame pairs"], rows["random pairs"]
        print(f"| {value} | {same['l_S']:#.3g} | {same['code_distance']:#.3g} | {random['l_S']:#.3g} "
              f"| {random['code_distance']:#.3g} | {random['target_distance']:#.3g} "
              f"| {100 * random['target_above_code_maximum']:.0f} % |")


def print_rotation(summary: dict) -> None:
    results = summary["results"]["rotation"]
    rows = results["mpjpe_mm_by_angle"]
    labels = list(next(iter(rows.values())))
    print(f"\nFigure 5: camera 3 turned about the vertical axis, MPJPE mm ({results['input']} 2D, "
          f"{results['frames']} frames)\n")
    print("| angle (deg) | " + " | ".join(labels) + " |\n" + "|---" * (len(labels) + 1) + "|")
    for angle, values in rows.items():
        print(f"| {angle} | " + " | ".join(f"{values[label]:.1f}" for label in labels) + " |")


TABLES = {"weight": print_weight, "headline": print_headline, "ablations": print_ablations,
          "protocol1": print_protocol1, "rotation": print_rotation, "pairs": print_pairs}


def print_tables(summary: dict, sections=None) -> None:
    """Print the markdown tables of ``sections`` (default: every section the summary holds)."""
    print_sections(TABLES, summary, sections)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sweep_arguments(parser, SECTIONS, batch_help="frames (baseline) or pairs (siamese) per step")
    parser.add_argument("--ablation-seeds", nargs="+", type=int, default=[0],
                        help="seeds of the weight, ablation and Protocol #1 rows")
    parser.add_argument("--weights", nargs="+", type=float, default=[0.001, 0.01, 0.1, 1.0],
                        help="lambda2 values to try")
    parser.add_argument("--weight-input", choices=["gt", "noisy"], default="noisy")
    parser.add_argument("--siamese-weight", type=float, default=None,
                        help="lambda2 of every siamese run (default: chosen by the weight section)")
    parser.add_argument("--rotation-input", choices=["gt", "noisy"], default="noisy")
    parser.add_argument("--angles", nargs="+", type=float, default=[float(a) for a in range(-180, 181, 15)])
    parser.add_argument("--rotation-stride", type=int, default=10, help="keep every k-th camera-3 test frame")
    parser.add_argument("--figure", type=Path, default=None, help="PNG of the rotation check")
    parser.add_argument("--siamese-epochs", type=int, default=None,
                        help="epochs of every siamese run (default: half of --epochs, rounded up, so that both "
                             "models see as many poses: a pair holds two; the authors' code does the same)")
    parser.add_argument("--baseline-set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--siamese-set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    if args.siamese_weight is None and "weight" not in args.sections:
        parser.error("without the weight section, give --siamese-weight")
    if args.quick:
        args.epochs, args.max_steps, args.frame_stride = 1, 30, 20
        args.siamese_epochs = 1
        args.seeds, args.ablation_seeds, args.weights, args.angles = [0], [0], [0.1], [0.0, 90.0, 180.0]
        args.baseline_set = args.baseline_set + ["hidden_size=64"]
        args.siamese_set = args.siamese_set + ["hidden_size=64", "embedding_vectors=16"]
    if args.siamese_epochs is None:
        args.siamese_epochs = max(1, (args.epochs + 1) // 2)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    sweep = open_sweep(args, {"baseline": args.baseline_set, "siamese": args.siamese_set})
    benchmark = sweep.benchmark
    summary = summary_header(args, benchmark, ablation_seeds=args.ablation_seeds, weight_input=args.weight_input,
                             siamese_epochs=args.siamese_epochs,
                             baseline_config=sweep.base_config["baseline"],
                             siamese_config=sweep.base_config["siamese"])

    def choose_weight(name: str, summary: dict) -> None:
        if name == "weight" and args.siamese_weight is None:
            validation = {value: row["validation"]["mpjpe"]["mean"] for value, row in summary["results"][name].items()}
            args.siamese_weight = float(min(validation, key=validation.get))
        summary["siamese_weight"] = args.siamese_weight

    run_sections(SECTIONS, args.sections, sweep, args, summary, print_tables, choose_weight)


if __name__ == "__main__":
    main()
