"""Issue #18, items 1-2: per-pose against camera-aware 2D input, with and without real-camera augmentation.

Each variant trains the baseline on the five ``fit`` people (``--validation people``: nothing here
looks at the test split) with the ``noisy`` 2D, the shipped default's augmentation (virtual cameras
every 15 degrees, flip, 5 % hidden joints) and the converged number of steps, and is measured on
the two validation people three ways:

- **rig**: the benchmark's four cameras (Protocol #1/#2, mean over actions);
- **random cameras**: every validation sample filmed by its own camera drawn with seed 0
  (:class:`~poselift.data.random_cameras.RandomCameraConfig`: 2-8 m, lenses of 20-135 mm, the person
  anywhere in the image; the same cameras for every variant), the detector model on top;
- **real video** (``--videos``): ``poselift video --calibration`` on Pose2Sim's four calibrated
  phones with the run's model; each view's lifted 3D against the robust four-view triangulation of
  the same detections (MPJPE root-aligned and P-MPJPE, mm, mean of the four views). A camera-aware
  model reads each video's calibrated camera.

    python benchmarks/camera_input.py --data benchmark.npz --out benchmarks/results/camera_input \\
        --videos ../shared/data/pose2sim --threads 2

The schedule is the baseline's converged one (docs/baseline.md, section 2: 32 epochs of every 2nd
frame of the five people, batch 256, 5,664 steps; a sample's camera, virtual or random, is drawn for
it, so the augmentation does not lengthen an epoch). Runs are cached and resume (:mod:`sweep`); the
video step is cached in each run's folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from real_video import real_video_errors
from sweep import add_sweep_arguments, mean_std, open_sweep, over_seeds, run_sections, spec, summary_header

METRICS = ("mpjpe", "p_mpjpe")
RIG_METRICS = METRICS + ("mpjve", "accel")          # the jitter too: item 3 asks for accuracy AND jitter
AUGMENTED = {"validation": "people", "virtual_cameras": True, "flip": True, "joint_dropout": 0.05}
REAL_CAMERAS = {"random_cameras": 0.5, "body_scale": True}
CAMERA = {"input_normalization": "camera"}
# The shipped temporal model's network (docs/temporal.md: T = 5, LSTM width 256, no dropout).
TEMPORAL = {**CAMERA, "hidden_size": 256, "dropout": 0.0}
VARIANTS = {     # name -> (model kind, its config, data options beyond AUGMENTED, schedule beyond the sweep's)
    "pose": ("baseline", {"input_normalization": "pose"}, {}, {}),
    "camera": ("baseline", CAMERA, {}, {}),
    "pose+random cameras": ("baseline", {"input_normalization": "pose"}, REAL_CAMERAS, {}),
    "camera+random cameras": ("baseline", CAMERA, REAL_CAMERAS, {}),
    # Does the augmented data, never the same twice, want a longer schedule than the plain baseline's?
    "camera+random cameras, 2x steps": ("baseline", CAMERA, REAL_CAMERAS, {"epochs": 64}),
    "camera+random cameras, 4x steps": ("baseline", CAMERA, REAL_CAMERAS, {"epochs": 128}),
    # Item 3: the temporal model with the same input and augmentation (one camera per window).
    "temporal, camera+random cameras": ("temporal", TEMPORAL, REAL_CAMERAS, {}),
    "temporal, camera+random cameras, 4x steps": ("temporal", TEMPORAL, REAL_CAMERAS, {"epochs": 128}),
}
VARIANT_TITLES = {
    "pose": "per-pose input, rig augmentation (the `pose` model's recipe)",
    "camera": "camera-aware input, rig augmentation",
    "pose+random cameras": "per-pose input + random cameras and body sizes",
    "camera+random cameras": "camera-aware input + random cameras and body sizes",
    "camera+random cameras, 2x steps": "the same, 2x the steps (64 epochs)",
    "camera+random cameras, 4x steps": "the same, 4x the steps (128 epochs)",
    "temporal, camera+random cameras": "temporal model (T = 5, width 256), camera-aware + random cameras and body sizes",
    "temporal, camera+random cameras, 4x steps": "the same temporal model, 4x the steps (128 epochs)",
}


def variants(sweep, args) -> dict:
    rows = {}
    for name in args.variants:
        kind, config, data, schedule = VARIANTS[name]
        runs = [spec(kind, "noisy", seed, config=config, data={**AUGMENTED, **data}, schedule=schedule)
                for seed in args.seeds]
        # a sequence model needs one camera per clip: random cameras give every frame its own
        random_cameras = (None if kind == "temporal" else
                          over_seeds([sweep.evaluation(run, split="val", camera_seed=0) for run in runs], METRICS))
        rows[name] = {
            "rig": over_seeds([sweep.evaluation(run, split="val") for run in runs], RIG_METRICS),
            "random_cameras": random_cameras,
            "train_seconds": [sweep.train_seconds(run) for run in runs],
        }
        if args.videos:
            videos = [real_video_errors(sweep.trained(run) / "last.pt", sweep.trained(run), args.videos) for run in runs]
            rows[name]["real_video"] = over_seeds(videos, ("mpjpe_mm", "p_mpjpe_mm"))
            rows[name]["real_video_views"] = [video["views"] for video in videos]
    return rows


SECTIONS = {"variants": variants}


def print_tables(summary: dict) -> None:
    rows = summary["results"]["variants"]
    print(f"Per-pose against camera-aware 2D input (issue #18) on {summary['benchmark']}: models trained on the "
          f"5 'fit' people with noisy 2D, virtual cameras, flip and 5 % hidden joints, {summary['epochs']} epochs, "
          f"frames every {summary['frame_stride']}, batch {summary['batch_size']}; validation people (mm, mean over "
          f"actions; ± std over seeds {summary['seeds']}); real video: Pose2Sim's 4 views against their "
          f"triangulation; device {summary['device']}\n")
    print("| variant | rig P#1 | rig P#2 | rig MPJVE | rig accel. | random cameras P#1 | random cameras P#2 | "
          "real video MPJPE | real video P-MPJPE |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        rig, random, video = row["rig"], row["random_cameras"], row.get("real_video")
        cells = [mean_std(rig[metric]) if metric in rig else "-" for metric in RIG_METRICS]
        cells += [mean_std(random[metric]) if random else "-" for metric in METRICS]
        cells += [mean_std(video[metric]) if video else "-" for metric in ("mpjpe_mm", "p_mpjpe_mm")]
        print(f"| {VARIANT_TITLES[name]} | " + " | ".join(cells) + " |")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sweep_arguments(parser, SECTIONS, batch_size=256, frame_stride=2)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--videos", type=Path, help="Pose2Sim's folder (videos/, Calib.qca.txt): also real video")
    parser.set_defaults(epochs=32, seeds=[0])
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.max_steps = args.seeds[:1], 30
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    sweep = open_sweep(args, {"baseline": ["hidden_size=64"] if args.quick else []})
    summary = summary_header(args, sweep.benchmark)
    run_sections(SECTIONS, args.sections, sweep, args, summary, print_tables)


if __name__ == "__main__":
    main()
