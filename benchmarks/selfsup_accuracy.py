"""Geometry-driven self-supervised lifter (Li et al.) next to the supervised baseline: the paper's claims.

Every model is trained by the shared recipe (``poselift train KIND``) with one schedule; the self-supervised
runs read only 2D keypoints, confidences and cameras (``source_kind = "views"``). Evaluation lifts with the
lifting branch alone, Protocol #1 (MPJPE) and #2 (P-MPJPE) on the test subjects, all four cameras.
Sections (``--sections``):

- ``headline``: ``gt`` and ``noisy`` 2D: the supervised baseline and the self-supervised model (Eq. 7)
  over ``--seeds``; the same with a fresh Adam at the stage switch over ``--fresh-adam-seeds``; plain
  re-projection (L_reproj alone; the paper: 468.5 mm, it collapses) over ``--ablation-seeds``; the
  selfsup / baseline ratio (paper, CPN detections: 59.0 / 45.7 mm for Eq. 7).
- ``views``: 4 views against 12 (8 virtual cameras, two per real one at 120 and 240 degrees; their 2D is
  the projection of the frame triangulated from the real views' 2D), ``--ablation-seeds``
  (paper: 59.0 -> 57.0 mm P#1).
- ``stability``: each choice the paper leaves open undone on its own (the re-projection's depth floor at
  100 mm instead of 1 m; the position branch's depth as a softplus instead of log units from 5 m; a fresh
  Adam at the stage switch, as two separate trainings would have; Martinez's dropout 0.5 instead of 0),
  on the first of ``--inputs``, ``--ablation-seeds``, with the validation MPJPE after every epoch.
- ``warmup``: the learning-rate warm-up at the start of Eq. (7) against none, and a fresh Adam at the
  stage switch with a 0.1- and a 0.5-epoch warm-up, on every input, ``--ablation-seeds``.
- ``pose2sim``: the four real calibrated videos of ``../shared/data/pose2sim``: MediaPipe detections
  (the ``keypoints_2d.json`` that ``poselift video --calibration Calib.qca.txt cam01.mp4 ... --out DIR``
  writes per view, given by ``--pose2sim-detections DIR``) with their real calibration. Multi-view
  consistency (each view lifted, turned into world axes with its camera, mean distance between the
  views' root-relative poses, mm) and each view's distance to the multi-view triangulation, of a
  benchmark-trained model (``noisy`` 2D, per-pose 2D normalisation for the videos' other image size),
  then after fine-tuning it self-supervised on the real views (``--finetune-steps``).
- ``uncalibrated``: the uncalibrated mode on the same detections (no training): each camera's rotation
  relative to camera 1 recovered from the 2D alone, against the calibration, at three RANSAC thresholds.

    poselift video --calibration ../shared/data/pose2sim/Calib.qca.txt ../shared/data/pose2sim/videos/cam0?.mp4 \\
        --out runs/pose2sim_video --no-animation
    python benchmarks/selfsup_accuracy.py --data benchmark.npz --out runs/selfsup --epochs 12 \\
        --selfsup-epochs 4 --batch-size 64 --frame-stride 5 --threads 1 \\
        --baseline-set hidden_size=512 --selfsup-set hidden_size=512 pretrain_epochs=0.25 \\
        --pose2sim-detections runs/pose2sim_video
    python benchmarks/selfsup_accuracy.py --data benchmark.npz --out /tmp/selfsup_quick --quick

(12 epochs of frames and 4 of view pairs are both about 5,040 steps of 64; the second command's sections can
run as two processes on one ``--out``, e.g. ``--inputs gt`` and ``--inputs noisy``, then once more with
every section to gather the summary from the cached runs.)

``--quick`` is a smoke test (tiny widths, 30 steps, one seed): its numbers say nothing about the methods.
Results: ``OUT/summary.json`` (every table) and one folder per run under ``OUT/runs``.
"""

from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path

import numpy as np
from sweep import Sweep, add_sweep_arguments, mean_std, open_sweep, over_seeds
from sweep import print_sections, run_sections, spec, summary_header

from poselift.camera import to_world_frame
from poselift.data.datasets import MultiViewSource
from poselift.errors import PoseliftError
from poselift.io import load_poses_3d
from poselift.lift import load_model
from poselift.models.selfsup import PAPER_VIRTUAL_STEP_DEG
from poselift.relative_pose import rig_from_views, rotation_error_deg
from poselift.train import TrainConfig, train

REPORTED = ("mpjpe", "p_mpjpe")
FOUR_VIEWS = {}                 # Protocol #1's cameras, the recipe's default (run names as other sweeps')
TWELVE_VIEWS = {"virtual_cameras": True, "virtual_step_deg": PAPER_VIRTUAL_STEP_DEG}
FRESH_ADAM = {"restart_optimizer": True}
# row -> (model kind, config overrides, the paper's P#1 mm on H36M with CPN detections, seeds option)
HEADLINE_ROWS = {
    "baseline (supervised)": ("baseline", {}, None, "seeds"),
    "selfsup, L_reproj + lambda L_t-reproj": ("selfsup", {}, 59.0, "seeds"),
    "selfsup, the same, a fresh Adam at Eq. 7": ("selfsup", FRESH_ADAM, None, "fresh_adam_seeds"),
    "selfsup, plain re-projection": ("selfsup", {"reprojection": "plain"}, 468.5, "ablation_seeds"),
}


def headline(sweep: Sweep, args) -> dict:
    results = {}
    for input_name in args.inputs:
        rows = {}
        for row, (kind, config, paper_mm, seeds) in HEADLINE_ROWS.items():
            runs = [spec(kind, input_name, seed, config, FOUR_VIEWS) for seed in getattr(args, seeds)]
            rows[row] = {**over_seeds([sweep.evaluation(run) for run in runs], REPORTED), "paper_p1_mm": paper_mm}
        ours, baseline = rows["selfsup, L_reproj + lambda L_t-reproj"], rows["baseline (supervised)"]
        rows["selfsup / baseline"] = {metric: ours[metric]["mean"] / baseline[metric]["mean"] for metric in REPORTED}
        results[input_name] = rows
    return results


def views(sweep: Sweep, args) -> dict:
    results = {}
    for input_name in args.inputs:
        results[input_name] = {
            label: {**over_seeds([sweep.evaluation(spec("selfsup", input_name, seed, {}, data))
                                  for seed in args.ablation_seeds], REPORTED), "paper_p1_mm": paper_mm}
            for label, data, paper_mm in (("4 views", FOUR_VIEWS, 59.0), ("12 views", TWELVE_VIEWS, 57.0))}
    return results


# row -> config overrides of the self-supervised model: each of our departures undone, then a fresh Adam
STABILITY_ROWS = {
    "ours": {},
    "depth floor of the re-projection 100 mm": {"min_depth_mm": 100.0},
    "depth 1 m + 500 mm softplus(.)": {"depth": "softplus"},
    "Martinez dropout 0.5": {"dropout": 0.5},
    "a fresh Adam at the stage switch": FRESH_ADAM,
}
# the warm-up is compared on every input: the divergence it prevents showed with noisy 2D
WARMUP_ROWS = {"warm-up over 0.1 epoch (ours)": {}, "no warm-up": {"warmup_epochs": 0.0},
               "a fresh Adam, warm-up over 0.1 epoch": FRESH_ADAM,
               "a fresh Adam, warm-up over 0.5 epoch": {**FRESH_ADAM, "warmup_epochs": 0.5}}


def undone_choices(sweep: Sweep, args, rows: dict, inputs) -> dict:
    """Per input, each row's config (our choices, one undone) over ``--ablation-seeds``, with the
    validation MPJPE after every epoch (the runs' ``log.csv``) to show where a run turns."""
    results = {}
    for input_name in inputs:
        results[input_name] = {}
        for label, config in rows.items():
            runs = [spec("selfsup", input_name, seed, config, FOUR_VIEWS) for seed in args.ablation_seeds]
            curves = [validation_curve(sweep.trained(run) / "log.csv") for run in runs]
            results[input_name][label] = {**over_seeds([sweep.evaluation(run) for run in runs], REPORTED),
                                          "val_mpjpe_by_epoch": curves}
    return results


def stability(sweep: Sweep, args) -> dict:
    """The choices the paper leaves open, each undone on its own, on the first of ``--inputs``."""
    return undone_choices(sweep, args, STABILITY_ROWS, args.inputs[:1])


def warmup(sweep: Sweep, args) -> dict:
    """The warm-up of Eq. (7) against none, on every input."""
    return undone_choices(sweep, args, WARMUP_ROWS, args.inputs)


def validation_curve(log_path: Path) -> list[float]:
    """The ``val_mpjpe_mm`` column of a run's log, one value per epoch (none when ``--max-steps`` ended the
    run inside its first epoch)."""
    if not log_path.exists():
        return []
    with open(log_path, newline="") as handle:
        return [float(row["val_mpjpe_mm"]) for row in csv.DictReader(handle) if row.get("val_mpjpe_mm")]


def real_views(detections: Path, calibration: Path, videos: Path):
    """H36M-17 keypoints ``(C, F, 17, 2)`` px and confidences ``(C, F, 17)`` of the real views (common
    frames), with their calibrated cameras."""
    from poselift.io import load_keypoints_2d
    from poselift.multiview import cameras_for_videos
    from poselift.skeleton import to_h36m17
    from poselift.video.reading import probe_video

    video_paths = sorted(videos.glob("cam*.mp4"))
    cameras, _ = cameras_for_videos(calibration, [probe_video(path) for path in video_paths])
    recorded = [load_keypoints_2d(detections / path.stem / "keypoints_2d.json") for path in video_paths]
    frames = min(len(record.keypoints_2d) for record in recorded)
    converted = [to_h36m17(record.keypoints_2d[:frames], record.confidence[:frames], record.layout)
                 for record in recorded]
    keypoints = np.stack([np.asarray(points) for points, _ in converted])
    confidence = np.stack([np.asarray(weights) for _, weights in converted])
    return keypoints, confidence, cameras


def mean_distance_mm(poses_a: np.ndarray, poses_b: np.ndarray) -> float | None:
    """Mean joint distance (mm) of two ``(F, J, 3)`` pose sequences over the frames where both are finite."""
    distance = np.linalg.norm(poses_a - poses_b, axis=-1).mean(axis=-1)
    distance = distance[np.isfinite(distance)]
    return float(distance.mean()) if len(distance) else None


def view_consistency_mm(model, keypoints: np.ndarray, confidence: np.ndarray, cameras,
                        triangulated_world: np.ndarray) -> dict:
    """Each view lifted (root-relative, camera frame) and turned into world axes with its camera's
    rotation: the mean distance between two views' joints (mm) over frames where both lifted, per pair
    and overall; and each view's distance to the root-relative multi-view triangulation
    ``triangulated_world`` ``(F, J, 3)`` mm (of the same 2D, so a reference, not a ground truth)."""
    lifted = np.stack([model.lift(keypoints[view], confidence[view]) for view in range(len(cameras))])
    world = np.stack([to_world_frame(lifted[view], cameras[view].R, np.zeros(3)) for view in range(len(cameras))])
    pairs = {f"{cameras[first].name}-{cameras[second].name}": mean_distance_mm(world[first], world[second])
             for first, second in itertools.combinations(range(len(cameras)), 2)}
    reference = triangulated_world - triangulated_world[:, :1]
    to_triangulation = {camera.name: mean_distance_mm(world[view], reference) for view, camera in enumerate(cameras)}

    def mean(values):
        known = [value for value in values if value is not None]
        return float(np.mean(known)) if known else None

    return {"mean_mm": mean(pairs.values()), "pairs_mm": pairs,
            "to_triangulation_mean_mm": mean(to_triangulation.values()), "to_triangulation_mm": to_triangulation}


# the benchmark model that is fine-tuned on the real videos: per-pose 2D normalisation, so that the 1088 x 1920 px
# portrait images look like the benchmark's 1000 x 1000 px ones to it (z-scored raw pixels would not)
POSE2SIM_CONFIG = {"input_normalization": "pose"}
NO_DETECTIONS = {"skipped": "give --pose2sim-detections (the output folder of poselift video on the four videos)"}


def pose2sim(sweep: Sweep, args) -> dict:
    if args.pose2sim_detections is None:
        return NO_DETECTIONS
    keypoints, confidence, cameras = real_views(args.pose2sim_detections, args.pose2sim / "Calib.qca.txt",
                                                args.pose2sim / "videos")
    triangulated = load_poses_3d(args.pose2sim_detections / "triangulated_3d.npz").poses_3d[:keypoints.shape[1]]
    run_dir = sweep.trained(spec("selfsup", "noisy", args.seeds[0], POSE2SIM_CONFIG, FOUR_VIEWS))
    model = load_model(run_dir / "last.pt")
    before = view_consistency_mm(model, keypoints, confidence, cameras, triangulated)
    source = MultiViewSource.from_recordings(keypoints, confidence, cameras)
    model.config.pretrain_epochs = 0.0               # fine-tuning: straight to Eq. (7)
    config = TrainConfig(epochs=max(1, args.finetune_steps * args.finetune_batch // len(source) + 1),
                         batch_size=args.finetune_batch, lr=args.finetune_lr, max_steps=args.finetune_steps,
                         num_threads=args.threads, device=args.device, lr_decay=1.0, checkpoint_every_steps=0)
    train(model, source, config, args.out / "pose2sim_finetune", force=True, quiet=True)
    after = view_consistency_mm(model, keypoints, confidence, cameras, triangulated)
    return {"frames": int(keypoints.shape[1]), "views": [camera.name for camera in cameras],
            "finetune_steps": args.finetune_steps, "before": before, "after": after}


def uncalibrated(sweep: Sweep, args) -> dict:
    """The uncalibrated mode on the real videos' detections (no training needed)."""
    if args.pose2sim_detections is None:
        return NO_DETECTIONS
    keypoints, confidence, cameras = real_views(args.pose2sim_detections, args.pose2sim / "Calib.qca.txt",
                                                args.pose2sim / "videos")
    return {"frames": int(keypoints.shape[1]), "rotation_error_deg": recovered_rig_errors(keypoints, confidence, cameras)}


def recovered_rig_errors(keypoints: np.ndarray, confidence: np.ndarray, cameras,
                         thresholds_px=(1.0, 3.0, 6.0)) -> dict:
    """Uncalibrated mode on the real detections: each camera's rotation relative to the first, recovered
    from the 2D joints alone (:func:`poselift.relative_pose.rig_from_views`, the true distances as scale,
    for each RANSAC inlier threshold), against the calibration's, degrees."""
    distances = [float(np.linalg.norm(camera.centre - cameras[0].centre)) for camera in cameras[1:]]
    results = {}
    for threshold in thresholds_px:
        try:
            rig = rig_from_views(keypoints, cameras, distances, confidence, threshold_px=threshold)
        except PoseliftError as error:
            results[f"{threshold:g}px"] = {"error": str(error)}
            continue
        results[f"{threshold:g}px"] = {f"{cameras[0].name}-{camera.name}": rotation_error_deg(estimate.R,
                                                                                             camera.R @ cameras[0].R.T)
                                       for camera, estimate in zip(cameras[1:], rig[1:])}
    return results


SECTIONS = {"headline": headline, "views": views, "stability": stability, "warmup": warmup, "pose2sim": pose2sim,
            "uncalibrated": uncalibrated}




def paper(value) -> str:
    """The paper's value, or "-" where it has none."""
    return f"{value:.1f}" if value is not None else "-"


def errors(values: dict) -> str:
    """The P#1 and P#2 cells of a row."""
    return " | ".join(mean_std(values[m]) for m in REPORTED)


def print_headline(summary: dict) -> None:
    others = "; ".join(f"{row}: {summary[key]}" for row, (*_, key) in HEADLINE_ROWS.items() if key != "seeds")
    print(f"\nProtocol #1/#2, 4 views, the lifting branch alone; mean ± std over seeds {summary['seeds']} "
          f"({others})\n")
    print("| 2D input | model | P#1 MPJPE mm | P#2 P-MPJPE mm | paper P#1 |\n|---|---|---|---|---|")
    for input_name, rows in summary["results"]["headline"].items():
        for row in HEADLINE_ROWS:
            print(f"| `{input_name}` | {row} | {errors(rows[row])} | {paper(rows[row]['paper_p1_mm'])} |")
        ratio = rows["selfsup / baseline"]
        print(f"| `{input_name}` | selfsup / baseline | " + " | ".join(f"{ratio[m]:.2f}" for m in REPORTED) + " | |")


def print_views(summary: dict) -> None:
    print(f"\nSelf-supervised, 4 vs 12 views, seeds {summary['ablation_seeds']}\n")
    print("| 2D input | views | P#1 MPJPE mm | P#2 P-MPJPE mm | paper P#1 |\n|---|---|---|---|---|")
    for input_name, rows in summary["results"]["views"].items():
        for label, values in rows.items():
            print(f"| `{input_name}` | {label} | {errors(values)} | {paper(values['paper_p1_mm'])} |")


def print_variants(summary: dict, section: str, title: str) -> None:
    """One row per variant and 2D input, with the validation MPJPE after each epoch of its first seed."""
    print(f"\nSelf-supervised, {title}, seeds {summary['ablation_seeds']}\n")
    print("| variant | P#1 MPJPE mm | P#2 P-MPJPE mm | validation by epoch (first seed), mm |\n|---|---|---|---|")
    for input_name, rows in summary["results"][section].items():
        for label, values in rows.items():
            curve = ", ".join(f"{value:.0f}" for value in values["val_mpjpe_by_epoch"][0])
            print(f"| {label}, `{input_name}` | {errors(values)} | {curve} |")


def print_stability(summary: dict) -> None:
    print_variants(summary, "stability", "each open choice undone")


def print_warmup(summary: dict) -> None:
    print_variants(summary, "warmup", "with and without the warm-up")


def print_pose2sim(summary: dict) -> None:
    real = summary["results"]["pose2sim"]
    if "skipped" in real:
        print(f"\npose2sim: skipped ({real['skipped']})")
        return
    print(f"\npose2sim real videos ({real['frames']} frames, {len(real['views'])} views), before and after "
          f"fine-tuning ({real['finetune_steps']} steps), mm")
    before, after = real["before"], real["after"]
    print_before_after("pair of views", before["pairs_mm"], after["pairs_mm"], before["mean_mm"], after["mean_mm"])
    print_before_after("view against the triangulation", before["to_triangulation_mm"], after["to_triangulation_mm"],
                       before["to_triangulation_mean_mm"], after["to_triangulation_mean_mm"])


def print_before_after(first_column: str, before: dict, after: dict, mean_before, mean_after) -> None:
    """One table of per-item values (mm, None when unknown) before and after fine-tuning, with their means."""
    def cell(value) -> str:
        return f"{value:.1f}" if value is not None else "-"

    print(f"\n| {first_column} | before | after |\n|---|---|---|")
    for name, value in before.items():
        print(f"| {name} | {cell(value)} | {cell(after[name])} |")
    print(f"| mean | {cell(mean_before)} | {cell(mean_after)} |")


def print_uncalibrated(summary: dict) -> None:
    recovered = summary["results"]["uncalibrated"]
    if "skipped" in recovered:
        print(f"\nuncalibrated: skipped ({recovered['skipped']})")
        return
    rows = recovered["rotation_error_deg"]
    pairs = next((list(errors) for errors in rows.values() if "error" not in errors), [])
    print(f"\nUncalibrated mode on the pose2sim detections ({recovered['frames']} frames): rotation recovered "
          f"from the 2D against the calibration, degrees\n")
    print("| RANSAC threshold | " + " | ".join(pairs) + " |\n" + "|---" * (len(pairs) + 1) + "|")
    for threshold, errors in rows.items():
        cells = [errors["error"]] if "error" in errors else [f"{errors[pair]:.2f}" for pair in pairs]
        print(f"| {threshold} | " + " | ".join(cells) + " |")


TABLES = {"headline": print_headline, "views": print_views, "stability": print_stability, "warmup": print_warmup,
          "pose2sim": print_pose2sim, "uncalibrated": print_uncalibrated}


def print_tables(summary: dict, sections=None) -> None:
    """Print the markdown tables of ``sections`` (default: every section the summary holds)."""
    print_sections(TABLES, summary, sections)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sweep_arguments(parser, SECTIONS, batch_help="frames (baseline) or view pairs (selfsup)")
    parser.add_argument("--ablation-seeds", nargs="+", type=int, default=[0],
                        help="seeds of the plain re-projection and views rows")
    parser.add_argument("--fresh-adam-seeds", nargs="+", type=int, default=[0, 1],
                        help="seeds of the headline row with a fresh Adam at the stage switch")
    parser.add_argument("--selfsup-epochs", type=int, default=None,
                        help="epochs of the self-supervised runs (default --epochs); an epoch of view pairs is "
                             "12 ordered camera pairs per frame, so fewer epochs give the baseline's step count")
    parser.add_argument("--pose2sim", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data" / "pose2sim")
    parser.add_argument("--pose2sim-detections", type=Path, default=None,
                        help="poselift video output folder of the four pose2sim videos (camXX/keypoints_2d.json)")
    parser.add_argument("--finetune-steps", type=int, default=300)
    parser.add_argument("--finetune-batch", type=int, default=64)
    parser.add_argument("--finetune-lr", type=float, default=1e-4)
    parser.add_argument("--baseline-set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--selfsup-set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.max_steps, args.frame_stride, args.finetune_steps = 1, 30, 20, 10
        args.seeds, args.ablation_seeds, args.fresh_adam_seeds = [0], [0], [0]
        args.baseline_set = args.baseline_set + ["hidden_size=64"]
        args.selfsup_set = args.selfsup_set + ["hidden_size=64", "num_blocks=1", "pretrain_epochs=0.5"]
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    sweep = open_sweep(args, {"baseline": args.baseline_set, "selfsup": args.selfsup_set},
                       kind_schedule={"selfsup": {"epochs": args.selfsup_epochs or args.epochs}})
    benchmark = sweep.benchmark
    summary = summary_header(args, benchmark, ablation_seeds=args.ablation_seeds,
                             fresh_adam_seeds=args.fresh_adam_seeds, selfsup_epochs=args.selfsup_epochs,
                             baseline_config=sweep.base_config["baseline"],
                             selfsup_config=sweep.base_config["selfsup"])
    run_sections(SECTIONS, args.sections, sweep, args, summary, print_tables)


if __name__ == "__main__":
    main()
