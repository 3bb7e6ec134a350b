"""Speed of the geometry core on CPU: projection, Procrustes and the pose metrics.

Times each operation on ``--n`` random but plausible H36M-17 poses (a standing pose with joint
noise, random heading and tilt, 4-6 m in front of a Human3.6M camera), in torch batches of
``--batch`` poses, and prints poses per second and milliseconds per million poses. Data
generation is not timed.

    python benchmarks/bench_core.py [--n 1000000] [--batch 65536] [--dtype float32] [--threads N]
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from typing import Callable

import torch

from poselift.camera import h36m_rig, project_points, stack_intrinsics, undistort_pixels
from poselift.geometry import canonicalize, kabsch, procrustes_align, rotation_about_z
from poselift.metrics import acceleration_error, auc, mpjpe, mpjve, n_mpjpe, p_mpjpe, pck

# (17, 3) mm, H36M-17 order, body frame (z up, facing +x), pelvis at the origin
STANDING_POSE_MM = torch.tensor([
    [0, 0, 0], [0, -130, 0], [0, -130, -450], [0, -130, -900], [0, 130, 0], [0, 130, -450],
    [0, 130, -900], [0, 0, 250], [0, 0, 500], [0, 0, 600], [0, 0, 750], [0, 180, 480],
    [0, 200, 200], [50, 200, -50], [0, -180, 480], [0, -200, 200], [50, -200, -50],
], dtype=torch.float64)

# camera frame of a body frame: body +x (forward) -> camera -Z (facing the camera), body +z (up) -> camera -Y
BODY_TO_CAMERA = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]], dtype=torch.float64)


def make_batch(size: int, generator: torch.Generator, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Plausible poses in camera frames (mm), a noisy prediction, and a camera id per pose."""
    noise = 40.0 * torch.randn(size, 17, 3, generator=generator, dtype=torch.float64)
    poses = STANDING_POSE_MM + noise
    heading = rotation_about_z(2 * math.pi * torch.rand(size, generator=generator, dtype=torch.float64))
    tilt_angle = 0.3 * (torch.rand(size, generator=generator, dtype=torch.float64) - 0.5)
    tilt = torch.zeros(size, 3, 3, dtype=torch.float64)
    tilt[:, 0, 0] = tilt_angle.cos()
    tilt[:, 0, 2] = tilt_angle.sin()
    tilt[:, 2, 0] = -tilt_angle.sin()
    tilt[:, 2, 2] = tilt_angle.cos()
    tilt[:, 1, 1] = 1.0
    rotation = BODY_TO_CAMERA @ tilt @ heading
    depth = 4000.0 + 2000.0 * torch.rand(size, 1, generator=generator, dtype=torch.float64)
    shift = torch.cat([200.0 * torch.randn(size, 2, generator=generator, dtype=torch.float64), depth], dim=1)
    gt = poses @ rotation.mT + shift[:, None, :]
    pred = gt + 30.0 * torch.randn(size, 17, 3, generator=generator, dtype=torch.float64)
    camera_ids = torch.randint(0, 4, (size,), generator=generator)
    return {"gt": gt.to(dtype), "pred": pred.to(dtype), "camera_ids": camera_ids}


def build_operations() -> dict[str, Callable[[dict], object]]:
    """The timed operations; each takes a batch from :func:`make_batch` (plus per-sample camera params)."""
    rig = h36m_rig()
    return {
        "project_points (mixed cams, distortion)": lambda b: project_points(b["gt"], **b["params"]),
        "Camera.project (one cam, distortion)": lambda b: rig[0].project(b["gt"]),
        "undistort_pixels (mixed cams, Newton)": lambda b: undistort_pixels(b["pixels"], **b["params"]),
        "kabsch": lambda b: kabsch(b["pred"], b["gt"]),
        "procrustes_align": lambda b: procrustes_align(b["pred"], b["gt"]),
        "p_mpjpe": lambda b: p_mpjpe(b["pred"], b["gt"]),
        "mpjpe": lambda b: mpjpe(b["pred"], b["gt"]),
        "n_mpjpe": lambda b: n_mpjpe(b["pred"], b["gt"]),
        "pck@150": lambda b: pck(b["pred"], b["gt"]),
        "auc (31 thresholds)": lambda b: auc(b["pred"], b["gt"]),
        "mpjve (batch as one sequence)": lambda b: mpjve(b["pred"], b["gt"]),
        "acceleration_error": lambda b: acceleration_error(b["pred"], b["gt"]),
        "canonicalize": lambda b: canonicalize(b["gt"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="number of poses (default 1,000,000)")
    parser.add_argument("--batch", type=int, default=65536, help="poses per torch batch (default 65536)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    operations = build_operations()
    generator = torch.Generator().manual_seed(args.seed)
    rig_params = {key: torch.as_tensor(value, dtype=dtype) for key, value in stack_intrinsics(h36m_rig()).items()}

    def prepared(size):
        batch = make_batch(size, generator, dtype)
        batch["params"] = {key: value[batch["camera_ids"]] for key, value in rig_params.items()}
        batch["pixels"] = project_points(batch["gt"], **batch["params"])
        return batch

    warmup = prepared(256)
    for operation in operations.values():
        operation(warmup)

    elapsed = dict.fromkeys(operations, 0.0)
    done = 0
    while done < args.n:
        size = min(args.batch, args.n - done)
        batch = prepared(size)
        for name, operation in operations.items():
            start = time.perf_counter()
            operation(batch)
            elapsed[name] += time.perf_counter() - start
        done += size

    print(f"poselift core on CPU: {args.n:,} poses x 17 joints, {args.dtype}, batches of {args.batch:,}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    width = max(len(name) for name in operations)
    print(f"{'operation':<{width}}  {'poses/s':>14}  {'ms per 1M poses':>16}")
    print(f"{'-' * width}  {'-' * 14}  {'-' * 16}")
    for name, seconds in elapsed.items():
        print(f"{name:<{width}}  {args.n / seconds:>14,.0f}  {seconds * 1e9 / args.n:>16,.1f}")


if __name__ == "__main__":
    main()
