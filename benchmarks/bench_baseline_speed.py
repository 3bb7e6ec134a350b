"""Speed and memory of the Martinez baseline on CPU: inference and ``poselift lift`` end to end.

Prints markdown tables of

1. model-only inference throughput (poses/s) of the shipped default model at batch 1, 256, 4096 and
   65536 (forward pass of already-encoded 2D, ``torch.inference_mode``, median of repeats), as
   loaded and fused for inference (:meth:`BaselineLifter.fuse_for_inference`), with the rate of
   matrix-product FLOPs (``2 * in * out`` per Linear per pose) as a fraction of a large
   ``torch.mm`` measured in the same run: the machine's practical limit; and ``model.lift`` (2D
   normalisation, network, decoding to mm) at batch 65536;
2. ``poselift lift FILE --out DIR --no-animation`` on a ``--frames`` 2D track (poselift npz): the time
   of each stage (read, model load, layout conversion, gap filling, normalisation, lift, writing
   npz, JSON and the figure), of ``lift_file`` as a whole, and of the command as a fresh process;
3. the peak resident memory (``ru_maxrss``) of each part: every part runs in its own process.

The 2D input is the benchmark's simulated-detector track (cameras in turn, frames in order, so the
gap filling sees real detector gaps), or synthetic plausible poses projected by a Human3.6M camera
when the ``--data`` file is absent. Data preparation is not timed.

    python benchmarks/bench_baseline_speed.py [--threads N] [--frames 100000] [--data benchmark.npz]
                                              [--quick] [--json OUT]

``--data`` (default ``benchmark.npz`` in the current folder) is the built benchmark; without it
the 2D track is synthetic. Training speed: ``benchmarks/bench_training_speed.py``.

``--quick`` is a smoke run (small sizes, a few repeats; under 30 s): its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

DEFAULT_DATA = Path("benchmark.npz")          # what `poselift data build --out benchmark.npz` writes
FULL_BATCHES = (1, 256, 4_096, 65_536)
LIFT_CHUNK = 4_096            # BaselineLifter.lift's default chunk (frames per forward pass)
QUICK_BATCHES = (1, 256, 2_048)
INPUT_FILE = "keypoints_2d.npz"


# ------------------------------------------------------------------------------------------ helpers
def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def current_rss_mb() -> float:
    """Resident memory of this process now (VmRSS), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def median_seconds(function: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``function()`` over ``repeats`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_flops_per_pose(model) -> int:
    """Multiply-add FLOPs of one pose through the network: ``2 * in * out`` per ``nn.Linear``."""
    from torch import nn

    return sum(2 * m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear))


def set_threads(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)


def track_2d(frames: int, data: Path | None, seed: int = 0):
    """A 2D H36M-17 track: ``(keypoints (T, 17, 2) px float32, confidence (T, 17), (width, height))``.

    From the benchmark: its simulated-detector 2D, camera 0's frames in order, then camera 1's, ...
    (repeated if needed). Without it: plausible random poses (benchmarks/bench_core.py) seen by a
    Human3.6M camera, all joints visible.
    """
    from poselift.camera import h36m_rig

    camera = h36m_rig()[0]
    if data is not None and data.exists():
        with np.load(data) as arrays:
            keypoints = arrays["keypoints_2d_noisy"]            # (C, N, 17, 2)
            confidence = arrays["confidence_noisy"]             # (C, N, 17)
        keypoints = keypoints.reshape(-1, 17, 2)
        confidence = confidence.reshape(-1, 17)
        repeats = -(-frames // len(keypoints))
        take = lambda values: np.concatenate([values] * repeats)[:frames]  # noqa: E731
        return take(keypoints).astype(np.float32), take(confidence).astype(np.float32), (camera.width, camera.height)
    import torch
    from bench_core import make_batch

    poses_cam = make_batch(frames, torch.Generator().manual_seed(seed), torch.float64)["gt"]
    keypoints = camera.project(poses_cam).float().numpy()
    return keypoints, np.ones(keypoints.shape[:-1], np.float32), (camera.width, camera.height)


# ------------------------------------------------------------------------------------------- parts
def part_prepare(args) -> dict:
    """Write the 2D input file (not timed)."""
    from poselift.io.poselift_format import write_keypoints_2d
    from poselift.io.records import Keypoints2D

    keypoints, confidence, image_size = track_2d(args.frames, args.data)
    path = args.workdir / INPUT_FILE
    write_keypoints_2d(path, Keypoints2D(keypoints, confidence, "h36m17", image_size=image_size, fps=50.0))
    source = str(args.data) if args.data is not None and args.data.exists() else "synthetic (bench_core poses)"
    return {"input": str(path), "frames": int(len(keypoints)), "source": source,
            "size_mb": path.stat().st_size / 1e6}


def part_inference(args) -> dict:
    """Model-only throughput and FLOP rate per batch size, the mm limit, and model.lift at the largest batch."""
    import torch

    import poselift

    set_threads(args.threads)
    batches = QUICK_BATCHES if args.quick else FULL_BATCHES
    matrix = 1024 if args.quick else 4096
    generator = torch.Generator().manual_seed(0)
    left = torch.randn(matrix, matrix, generator=generator)
    right = torch.randn(matrix, matrix, generator=generator)

    def mm_rate() -> float:
        return 2 * matrix**3 / median_seconds(lambda: torch.mm(left, right), repeats=2 if args.quick else 5) / 1e9

    mm_before = mm_rate()

    model = poselift.load_model("pose")       # the per-pose model: it lifts without a camera
    fused = model.fuse_for_inference()
    flops = matmul_flops_per_pose(model)
    keypoints, confidence, _ = track_2d(max(batches), args.data)
    with torch.inference_mode():
        encoded_all = model.normalizer.encode_2d(torch.from_numpy(keypoints), torch.from_numpy(confidence))[0]
    rows = []
    for batch in batches:
        encoded = encoded_all[:batch].contiguous()
        repeats = (10 if batch == 1 else 3) if args.quick else (300 if batch == 1 else 30 if batch <= 4096 else 5)
        row = {"batch": batch}
        for name, network in (("as_loaded", model), ("fused", fused)):
            with torch.inference_mode():
                seconds = median_seconds(lambda: network(encoded), repeats, warmup=2)
            rate = batch / seconds
            row[name] = {"seconds": seconds, "poses_per_s": rate, "gflops": rate * flops / 1e9}
        rows.append(row)
    mm_after = mm_rate()                 # the limit: the better of before and after the model rows
    mm_gflops = max(mm_before, mm_after)
    for row in rows:
        for name in ("as_loaded", "fused"):
            row[name]["fraction_of_mm"] = row[name]["gflops"] / mm_gflops
    del left, right

    lift_batch = max(batches)
    keypoints_t, confidence_t = torch.from_numpy(keypoints[:lift_batch]), torch.from_numpy(confidence[:lift_batch])
    lift_rows = []
    for chunk in (lift_batch, LIFT_CHUNK):     # one chunk for the whole batch, and model.lift's default chunk
        for name, network in (("as_loaded", model), ("fused", fused)):
            seconds = median_seconds(lambda: network.lift(keypoints_t, confidence_t, batch_size=chunk),
                                     repeats=1 if args.quick else 5)
            lift_rows.append({"model": name, "chunk": chunk, "seconds": seconds, "poses_per_s": lift_batch / seconds})
    encode_seconds = median_seconds(lambda: model.normalizer.encode_2d(keypoints_t, confidence_t),
                                    repeats=2 if args.quick else 5)
    return {"mm": {"size": matrix, "gflops": mm_gflops, "gflops_before": mm_before, "gflops_after": mm_after},
            "flops_per_pose": flops, "model_config": dataclasses.asdict(model.config),
            "rows": rows, "lift": {"batch": lift_batch, "rows": lift_rows, "normalise_seconds": encode_seconds}}


def part_lift_stages(args) -> dict:
    """Each stage of ``lift_file`` timed on its own: the same calls, in the same order.

    Stages (summed): read, model load, ``lift_keypoints``, smoothing, the writes (npz, json, BVH, CSV,
    figure: :func:`poselift.pipeline.lift_track`'s, without the animation). Parts of
    ``lift_keypoints`` timed again alone (not summed): layout conversion, gap filling, 2D
    normalisation, ``model.lift`` (normalisation + network + decoding).
    """
    import torch

    from dataclasses import replace

    from poselift import viz
    from poselift.export import export_bvh, write_csv
    from poselift.io import load_keypoints_2d
    from poselift.io.poselift_format import write_poses_3d
    from poselift.lift import fill_short_gaps, lift_keypoints, load_model, representative_frame
    from poselift.pipeline import smooth_poses, smoothing_window
    from poselift.skeleton import to_h36m17

    set_threads(args.threads)
    input_path = args.workdir / INPUT_FILE
    out_dir = args.workdir / "stages"
    out_dir.mkdir(exist_ok=True)
    stages: dict[str, float] = {}
    parts: dict[str, float] = {}

    def timed(table, name, function):
        start = time.perf_counter()
        result = function()
        table[name] = time.perf_counter() - start
        return result

    keypoints = timed(stages, "read 2D file", lambda: load_keypoints_2d(input_path))
    lifter = timed(stages, "load model (+ fuse)", lambda: _inference_model(load_model("pose")))
    poses, _, (_, confidence_h36m) = timed(
        stages, "lift_keypoints (convert, fill gaps, model.lift)", lambda: lift_keypoints(keypoints, lifter, "pose"))
    poses = timed(stages, "smooth (Savitzky-Golay)", lambda: replace(
        poses, poses_3d=smooth_poses(poses.poses_3d, smoothing_window(keypoints.fps))))
    timed(stages, "write poses_3d.npz", lambda: write_poses_3d(out_dir / "poses_3d.npz", poses))
    timed(stages, "write poses_3d.json", lambda: write_poses_3d(out_dir / "poses_3d.json", poses))
    timed(stages, "write poses_3d.bvh", lambda: export_bvh(out_dir / "poses_3d.bvh", poses))
    timed(stages, "write poses_3d.csv", lambda: write_csv(out_dir / "poses_3d.csv", poses))

    def figure():
        frame = representative_frame(confidence_h36m, poses.poses_3d)
        viz.save_figure(out_dir / "figure.png", keypoints.keypoints_2d[frame], keypoints.confidence[frame],
                        poses.poses_3d[frame], keypoints.layout, title=f"{input_path.name}, frame {frame}",
                        image_size=keypoints.image_size)

    timed(stages, "write figure.png", figure)
    sizes = {name: (out_dir / name).stat().st_size / 1e6 for name in ("poses_3d.npz", "poses_3d.json")}

    keypoints_h36m, confidence_h36m = timed(
        parts, "convert layout", lambda: to_h36m17(keypoints.keypoints_2d, keypoints.confidence, keypoints.layout))
    keypoints_h36m, confidence_h36m, _ = timed(
        parts, "fill short gaps", lambda: fill_short_gaps(keypoints_h36m, confidence_h36m, 10))
    keypoints_h36m = np.nan_to_num(keypoints_h36m)
    confidence_h36m = confidence_h36m.astype(np.float32)
    with torch.no_grad():
        timed(parts, "normalise 2D", lambda: lifter.normalizer.encode_2d(
            torch.from_numpy(keypoints_h36m), torch.from_numpy(confidence_h36m)))
    timed(parts, "model.lift (normalise + network + decode)",
          lambda: lifter.lift(keypoints_h36m, confidence_h36m))
    return {"frames": len(keypoints.keypoints_2d), "stages": stages, "parts_of_lift_keypoints": parts,
            "stage_sum": sum(stages.values()), "output_mb": sizes}


def part_lift_file(args) -> dict:
    """``lift_file`` as a whole, in a fresh process (its imports of viz/matplotlib included)."""
    from poselift.lift import lift_file

    set_threads(args.threads)
    rss_before = current_rss_mb()
    start = time.perf_counter()
    lift_file(args.workdir / INPUT_FILE, args.workdir / "lift_file", animation=False, force=True)
    return {"seconds": time.perf_counter() - start, "rss_before_mb": rss_before}


def _inference_model(model):
    """What lift_file runs: the fused copy when the model offers one."""
    return model.fuse_for_inference()


PARTS = {"prepare": part_prepare, "inference": part_inference, "lift-stages": part_lift_stages,
         "lift-file": part_lift_file}


# ------------------------------------------------------------------------------------ orchestration
def run_child(command: list[str], env: dict | None = None, quiet: bool = False) -> tuple[float, float, int]:
    """Run ``command`` as a child process: ``(wall seconds, peak RSS MB of that child, exit status)``."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL if quiet else None)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, process.returncode   # ru_maxrss: KB on Linux


def run_part(name: str, args, extra: list[str] = ()) -> dict:
    """Run one part in a fresh process; its result plus its wall time and peak RSS."""
    result_path = args.workdir / f"result_{name}_{'_'.join(extra).replace('-', '')}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--part", name, "--workdir", str(args.workdir),
               "--result", str(result_path), "--frames", str(args.frames), *extra]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.quick:
        command.append("--quick")
    command += ["--data", str(args.data)] if args.data is not None else []
    wall, peak_mb, status = run_child(command)
    if status != 0:
        raise SystemExit(f"part {name} {' '.join(extra)} failed with exit status {status}")
    result = json.loads(result_path.read_text())
    result["process"] = {"wall_seconds": wall, "peak_rss_mb": peak_mb}
    return result


def run_lift_command(args) -> dict:
    """``python -m poselift.cli lift INPUT --out DIR --no-animation`` as a user runs it."""
    env = dict(os.environ)
    if args.threads:   # the command has no thread option: torch reads these at start-up
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    command = [sys.executable, "-m", "poselift.cli", "lift", str(args.workdir / INPUT_FILE),
               "--out", str(args.workdir / "command"), "--no-animation", "--force"]
    wall, peak_mb, status = run_child(command, env, quiet=True)
    if status != 0:
        raise SystemExit(f"`{' '.join(command)}` failed with exit status {status}")
    return {"command": "poselift lift FILE --out DIR --no-animation", "wall_seconds": wall, "peak_rss_mb": peak_mb}


def header(args) -> dict:
    import torch

    set_threads(args.threads)
    return {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "threads": torch.get_num_threads(), "cpu": cpu_model(), "cores": os.cpu_count(),
            "load_average_start": os.getloadavg(), "quick": args.quick, "frames": args.frames}


def print_report(results: dict) -> None:
    info = results["header"]
    quick = ' (QUICK smoke run: sizes too small to mean anything)' if info['quick'] else ''
    print(f"# poselift baseline speed{quick}\n")
    print(f"torch {info['torch']}, numpy {info['numpy']}, Python {info['python']}; {info['threads']} torch "
          f"thread(s); CPU: {info['cpu']} ({info['cores']} cores); load average at start "
          f"{'/'.join(f'{v:.2f}' for v in info['load_average_start'])}, at end "
          f"{'/'.join(f'{v:.2f}' for v in info['load_average_end'])}\n")

    inference = results["inference"]
    mm = inference["mm"]
    flops = inference["flops_per_pose"]
    print("## 1. Inference (shipped default model, eval mode, torch.inference_mode)\n")
    print(f"Matrix-product work per pose: {flops:,} FLOP ({flops / 1e6:.2f} MFLOP; 2*in*out per Linear). "
          f"Practical limit: torch.mm {mm['size']}x{mm['size']} float32 = {mm['gflops']:.1f} GFLOP/s "
          f"(median of repeats, same process and threads; {mm['gflops_before']:.1f} before the model rows, "
          f"{mm['gflops_after']:.1f} after, the better one is the limit).\n")
    print("| batch | poses/s (as loaded) | GFLOP/s | of mm | poses/s (fused) | GFLOP/s | of mm |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for row in inference["rows"]:
        loaded, fused = row["as_loaded"], row["fused"]
        print(f"| {row['batch']:,} | {loaded['poses_per_s']:,.0f} | {loaded['gflops']:.1f} | "
              f"{loaded['fraction_of_mm']:.2f} | {fused['poses_per_s']:,.0f} | {fused['gflops']:.1f} | "
              f"{fused['fraction_of_mm']:.2f} |")
    best = max(inference["rows"], key=lambda row: row["fused"]["poses_per_s"])
    best_rate, best_fraction = best["fused"]["poses_per_s"], best["fused"]["fraction_of_mm"]
    print(f"\nBest: {best_rate:,.0f} poses/s at batch {best['batch']:,} (fused), {best_fraction:.2f} of the mm rate "
          f"(targets: >= 0.75 -> {'met' if best_fraction >= 0.75 else 'NOT met'}; >= 10,000 poses/s -> "
          f"{'met' if best_rate >= 10_000 else 'NOT met'}).")
    lift = inference["lift"]
    print(f"\n`model.lift(keypoints_px, confidence)` on {lift['batch']:,} poses (normalisation + network + "
          f"decoding to mm; the 2D normalisation alone takes {lift['normalise_seconds'] * 1e3:.1f} ms):\n")
    print("| model | frames per forward pass (batch_size) | poses/s |")
    print("|---|---:|---:|")
    for row in lift["rows"]:
        print(f"| {row['model'].replace('_', ' ')} | {row['chunk']:,} | {row['poses_per_s']:,.0f} |")
    print()

    stages = results["lift_stages"]
    frames = stages["frames"]
    print(f"## 2. `poselift lift` end to end ({frames:,} frames, {results['prepare']['source']}, --no-animation)\n")
    print("| stage | seconds | frames/s | share of the stage sum |")
    print("|---|---:|---:|---:|")
    for name, seconds in stages["stages"].items():
        print(f"| {name} | {seconds:.3f} | {frames / seconds:,.0f} | {seconds / stages['stage_sum']:.0%} |")
        if name.startswith("lift_keypoints"):
            for part, part_seconds in stages["parts_of_lift_keypoints"].items():
                print(f"| &nbsp;&nbsp;inside it (timed alone): {part} | {part_seconds:.3f} | "
                      f"{frames / part_seconds:,.0f} | |")
    print(f"| **sum of stages** | {stages['stage_sum']:.3f} | {frames / stages['stage_sum']:,.0f} | 100% |")
    whole = results["lift_file"]["seconds"]
    command = results["lift_command"]
    print(f"| **lift_file as a whole (own process, imports of viz included)** | {whole:.3f} | "
          f"{frames / whole:,.0f} | |")
    print(f"| **`{command['command']}` (fresh process)** | {command['wall_seconds']:.3f} | "
          f"{frames / command['wall_seconds']:,.0f} | |")
    print(f"\n'normalise 2D' is also inside 'model.lift'. Outputs: poses_3d.npz "
          f"{stages['output_mb']['poses_3d.npz']:.1f} MB, poses_3d.json {stages['output_mb']['poses_3d.json']:.1f} MB.")
    half_model = best_rate / 2
    print(f"Target: lift_file rate >= half the best model-only rate ({half_model:,.0f} frames/s): "
          f"{frames / whole:,.0f} frames/s -> {'met' if frames / whole >= half_model else 'NOT met'}.\n")

    print("\n## 3. Peak resident memory (ru_maxrss of each part's own process)\n")
    print("| part | peak RSS (MB) | process wall (s) |")
    print("|---|---:|---:|")
    print(f"| inference (model, {mm['size']}^2 mm, batch {max(r['batch'] for r in inference['rows']):,}) | "
          f"{inference['process']['peak_rss_mb']:,.0f} | {inference['process']['wall_seconds']:.1f} |")
    print(f"| `poselift lift` on {frames:,} frames (fresh process) | {command['peak_rss_mb']:,.0f} | "
          f"{command['wall_seconds']:.1f} |")
    print(f"| `lift_file` on {frames:,} frames (in its own process; RSS before the call "
          f"{results['lift_file']['rss_before_mb']:,.0f}) | {results['lift_file']['process']['peak_rss_mb']:,.0f} | "
          f"{results['lift_file']['process']['wall_seconds']:.1f} |")
    print(f"| lift stages timed one by one (one process) | {stages['process']['peak_rss_mb']:,.0f} | "
          f"{stages['process']['wall_seconds']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--frames", type=int, default=100_000, help="frames of the lifted 2D file (default 100000)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help=f"benchmark npz for realistic 2D (default {DEFAULT_DATA}; "
                             "synthetic poses when absent)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (< 30 s); the numbers mean nothing")
    parser.add_argument("--json", type=Path, help="also write every measurement as JSON")
    parser.add_argument("--part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick and args.frames == parser.get_default("frames"):
        args.frames = 2_000

    if args.part:                                    # a child process: one measured part
        result = PARTS[args.part](args)
        result["rss_at_end_mb"] = current_rss_mb()
        args.result.write_text(json.dumps(result, indent=1, default=str))
        return

    args.workdir = Path(tempfile.mkdtemp(prefix="poselift_speed_"))
    try:
        results: dict[str, Any] = {"header": header(args)}
        results["prepare"] = run_part("prepare", args)
        results["inference"] = run_part("inference", args)
        results["lift_stages"] = run_part("lift-stages", args)
        results["lift_file"] = run_part("lift-file", args)
        results["lift_command"] = run_lift_command(args)
        results["header"]["load_average_end"] = os.getloadavg()
    finally:
        shutil.rmtree(args.workdir, ignore_errors=True)
    print_report(results)
    if args.json:
        from poselift.fileio import write_text_atomic

        write_text_atomic(args.json, json.dumps(results, indent=1, default=str) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
