"""Issue #18, item 6: a lifting model as most users meet it, measured by one command.

For each ``--models`` entry (``NAME=CHECKPOINT``, or a shipped model's name: ``camera`` (the default),
``pose``, ``temporal``):

- **benchmark**: the test split, 4 cameras, Protocol #1 / #2 (mean over actions), MPJVE and
  acceleration error, with `gt` and with `noisy` 2D;
- **other cameras**: the test clips cut into pieces of 25 frames (0.5 s), each filmed by its own
  random camera (seed ``--camera-seed``; 2-8 m, lenses of 20-135 mm, the person anywhere in the image,
  the whole piece in view: the same cameras for every model), `noisy` 2D; P#1, P#2 and the jitter;
- **real video** (``--videos``): Pose2Sim's four calibrated views, each lifted view against the
  four-view triangulation (:mod:`real_video`: MPJPE root-aligned and P-MPJPE, mean of the views).

The test split only reports here: the models were chosen on the validation people elsewhere.

    python benchmarks/default_model.py --data benchmark.npz --out benchmarks/results/default_candidates \\
        --models camera pose temporal --videos ../shared/data/pose2sim

Writes ``OUT/<name>.json`` per model (kept: a model already measured is not measured again unless
``--force``) and prints the table of every model in ``OUT``.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from real_video import real_video_errors

from poselift.fileio import write_text_atomic

SHIPPED = ("camera", "pose", "temporal")      # "default" is "camera" (poselift.lift.DEFAULT_SHIPPED)
BENCHMARK_METRICS = ("mpjpe", "p_mpjpe", "mpjve", "accel")
CLIP_FRAMES = 25          # random cameras: one per 0.5 s piece of a clip, so sequence models are measured too


def measure(name: str, model_path: str, benchmark, args) -> dict:
    """Every measurement of one model, as a JSON-ready dict."""
    import torch

    from poselift.data.random_cameras import RandomCameraConfig
    from poselift.evaluate import evaluate
    from poselift.lift import load_model

    model = load_model(model_path)
    result = {"model": model_path, "benchmark": benchmark.version,
              "device": f"CPU ({platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__})"}
    for input_name in ("gt", "noisy"):
        averages = evaluate(model, benchmark, input=input_name, protocol=1, split="test").averages["mean_over_actions"]
        result[f"test_{input_name}"] = {metric: averages[metric] for metric in BENCHMARK_METRICS}
    averages = evaluate(model, benchmark, input="noisy", split="test", random_cameras=RandomCameraConfig(),
                        camera_seed=args.camera_seed, random_camera_clips=CLIP_FRAMES).averages["mean_over_actions"]
    result["random_camera_clips_noisy"] = {metric: averages[metric] for metric in BENCHMARK_METRICS}
    result["camera_seed"] = args.camera_seed
    if args.videos:
        result["real_video"] = real_video_errors(model_path, args.out / name, args.videos)
    return result


def real_video_checks(video: dict | None) -> list[str]:
    """Two cells: the frames the view check swapped back, per view (cam01/cam02/...), and the lifted over
    the triangulated skeleton's size, the range over the views ("-" for caches made before they were kept)."""
    views = list(video["views"].values()) if video else []
    if not views or "frames_swapped" not in views[0]:
        return ["-", "-"]
    ratios = [view["size_ratio"] for view in views]
    return ["/".join(str(view["frames_swapped"]) for view in views), f"{min(ratios):.2f}-{max(ratios):.2f}"]


def print_table(results_folder) -> None:
    """The table of every model measured into ``results_folder`` (``benchmarks/results/default_candidates``
    when given the whole results folder, as :mod:`report` does)."""
    folder = Path(results_folder)
    if (folder / "default_candidates").is_dir():
        folder = folder / "default_candidates"
    rows = {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}
    if not rows:
        print("(no model measured yet)")
        return
    first = next(iter(rows.values()))
    devices = " / ".join(sorted({row["device"] for row in rows.values()}))
    print(f"Lifting models as users meet them, on {first['benchmark']} (test split: Protocol #1/#2 mm, mean over "
          f"actions; MPJVE mm/frame; acceleration error mm/frame^2), on random cameras (test split, noisy 2D, one "
          f"camera per {CLIP_FRAMES}-frame piece of a clip, seed {first.get('camera_seed', 0)}) and on Pose2Sim's 4 "
          f"real videos (each view against the 4-view triangulation, mean of the views); device {devices}\n")
    print("| model | gt P#1 | noisy P#1 | noisy P#2 | noisy MPJVE | noisy accel. | random cameras P#1 | "
          "random cameras P#2 | random cameras MPJVE | random cameras accel. | real video MPJPE | real video P-MPJPE "
          "| real video: frames swapped back by the view check | real video: lifted / triangulated size |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        noisy, random, video = row["test_noisy"], row.get("random_camera_clips_noisy"), row.get("real_video")
        cells = [f"{row['test_gt']['mpjpe']:.1f}", f"{noisy['mpjpe']:.1f}", f"{noisy['p_mpjpe']:.1f}",
                 f"{noisy['mpjve']:.1f}", f"{noisy['accel']:.1f}",
                 *(f"{random[metric]:.1f}" if random else "-" for metric in BENCHMARK_METRICS),
                 f"{video['mpjpe_mm']:.1f}" if video else "-", f"{video['p_mpjpe_mm']:.1f}" if video else "-",
                 *real_video_checks(video)]
        print(f"| {name} (`{row['model']}`) | " + " | ".join(cells) + " |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="benchmark .npz")
    parser.add_argument("--out", type=Path, required=True, help="folder of the per-model JSON")
    parser.add_argument("--models", nargs="+", required=True, metavar="NAME=CHECKPOINT",
                        help="checkpoints to measure, each NAME=PATH, or a shipped model's name")
    parser.add_argument("--videos", type=Path, help="Pose2Sim's folder (videos/, Calib.qca.txt): also real video")
    parser.add_argument("--camera-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--force", action="store_true", help="measure again models already in OUT")
    args = parser.parse_args(argv)

    import torch

    from poselift.data.benchmark import load_benchmark

    if args.threads:
        torch.set_num_threads(args.threads)
    benchmark = load_benchmark(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    for entry in args.models:
        name, _, path = entry.partition("=")
        if not path:
            if name not in SHIPPED:
                parser.error(f"{entry!r}: give NAME=CHECKPOINT, or a shipped model ({', '.join(SHIPPED)})")
            path = name
        target = args.out / f"{name}.json"
        if target.exists() and not args.force:
            continue
        print(f"measuring {name} ({path})", flush=True)
        write_text_atomic(target, json.dumps(measure(name, path, benchmark, args), indent=1) + "\n")
    print_table(args.out)


if __name__ == "__main__":
    main()
