# The synthetic poses are placed anywhere in the image, so these loop tests use the pose-normalised input.
"""Synthetic in-memory pose data for the model and training tests, and the DDP test's worker.

As a module: :func:`random_poses_3d`, :func:`make_frames` and :class:`SyntheticPoseSource`
(a batch source over tensors) give real-looking H36M-17 poses: a fixed adult skeleton whose
limbs are rotated at random, turned to a random heading, placed 4-6 m in front of a pinhole
camera (1000x1000 px or 1920x1080 px) and projected.
:func:`small_model` builds a small baseline lifter for the loop, checkpoint and recipe tests.

As a script (``python -m torch.distributed.run --nproc_per_node 2 --standalone _ddp_worker.py OUT``)
every rank trains the same tiny baseline with :func:`poselift.train.train` and saves its final
``state_dict`` to ``OUT/rank<r>.pt``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from poselift.camera import project_points

# H36M-17 parents and rest-pose bone offsets (mm, from the parent; x = person's left, y = up).
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
BONES_MM = np.array(
    [
        [0, 0, 0],
        [-130, 0, 0], [0, -450, 0], [0, -440, 0],  # right leg
        [130, 0, 0], [0, -450, 0], [0, -440, 0],  # left leg
        [0, 230, 0], [0, 250, 0], [0, 110, 0], [0, 120, 0],  # spine, thorax, neck, head
        [150, -20, 0], [0, -280, 0], [0, -250, 0],  # left arm
        [-150, -20, 0], [0, -280, 0], [0, -250, 0],  # right arm
    ],
    dtype=np.float64,
)
# Standard deviation (rad) of each joint's random local rotation: torso stiff, limbs free.
LOCAL_SPREAD_RAD = np.array([0.0, 0.2, 0.6, 0.5, 0.2, 0.6, 0.5, 0.15, 0.15, 0.2, 0.2, 0.3, 0.8, 0.6, 0.3, 0.8, 0.6])
CAMERAS = (  # (focal px, principal point px, image size (w, h))
    (1145.0, (500.0, 500.0), (1000, 1000)),
    (1500.0, (960.0, 540.0), (1920, 1080)),
)


def random_poses_3d(num_frames: int, seed: int) -> np.ndarray:
    """``(N, 17, 3)`` mm, camera frame (x right, y down, z forward), root-relative."""
    rng = np.random.default_rng(seed)
    joint_count = len(PARENTS)
    local = Rotation.from_rotvec(
        (rng.normal(size=(num_frames, joint_count, 3)) * LOCAL_SPREAD_RAD[None, :, None]).reshape(-1, 3)
    )
    local_matrices = local.as_matrix().reshape(num_frames, joint_count, 3, 3)
    heading = Rotation.from_euler("y", rng.uniform(0, 2 * np.pi, (num_frames, 1))).as_matrix()
    tilt = Rotation.from_rotvec(rng.normal(size=(num_frames, 3)) * 0.1).as_matrix()
    global_rotation = [heading @ tilt]
    positions = [np.zeros((num_frames, 3))]
    for joint in range(1, joint_count):  # forward kinematics (test data only)
        parent = PARENTS[joint]
        rotation = global_rotation[parent] @ local_matrices[:, joint]
        global_rotation.append(rotation)
        positions.append(positions[parent] + rotation @ BONES_MM[joint])
    poses_up = np.stack(positions, axis=1)
    return poses_up * np.array([1.0, -1.0, 1.0])  # y up -> camera y down


def make_frames(num_frames: int, seed: int, camera: int | None = None, poses_3d: np.ndarray | None = None) -> dict:
    """Frames as numpy arrays: keypoints_2d, confidence, poses_3d, image_size (see the batch protocol).

    ``camera`` picks one of :data:`CAMERAS` for every frame (None = random per frame). The root is
    placed at a random position 4-6 m in front of the camera.
    """
    rng = np.random.default_rng(seed + 1_000)
    if poses_3d is None:
        poses_3d = random_poses_3d(num_frames, seed)
    choice = rng.integers(0, len(CAMERAS), num_frames) if camera is None else np.full(num_frames, camera)
    focal = np.array([CAMERAS[c][0] for c in choice])
    center = np.array([CAMERAS[c][1] for c in choice])
    image_size = np.array([CAMERAS[c][2] for c in choice])
    root = np.stack(
        [rng.uniform(-400, 400, num_frames), rng.uniform(-200, 200, num_frames), rng.uniform(4000, 6000, num_frames)],
        axis=1,
    )
    keypoints_2d = project_points(poses_3d + root[:, None, :], np.stack([focal, focal], axis=1), center)
    return {
        "keypoints_2d": keypoints_2d.astype(np.float32),
        "confidence": np.ones(keypoints_2d.shape[:2], dtype=np.float32),
        "poses_3d": poses_3d.astype(np.float32),
        "image_size": image_size.astype(np.float32),
    }


class SyntheticPoseSource:
    """Batch source over synthetic frames; optional 2D noise (px) drawn from the loop's generator."""

    def __init__(self, num_frames: int, seed: int = 0, noise_px: float = 0.0):
        self.tensors = {key: torch.from_numpy(value) for key, value in make_frames(num_frames, seed).items()}
        self.noise_px = noise_px

    def __len__(self) -> int:
        return self.tensors["poses_3d"].shape[0]

    def batch(self, indices: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        batch = {key: value[indices] for key, value in self.tensors.items()}
        if self.noise_px:
            noise = torch.randn(batch["keypoints_2d"].shape, generator=generator)
            batch["keypoints_2d"] = batch["keypoints_2d"] + self.noise_px * noise
        return batch


def small_model(seed: int, **overrides):
    """A small baseline lifter (BaselineLifter) with pose-normalised input, initialised from ``seed``."""
    from poselift.models.baseline import BaselineConfig, BaselineLifter

    torch.manual_seed(seed)
    return BaselineLifter(BaselineConfig(hidden_size=32, num_blocks=1, dropout=0.3, input_normalization="pose", **overrides))


def main(out_dir: Path) -> None:
    from poselift.models.baseline import BaselineConfig, BaselineLifter
    from poselift.train import TrainConfig, train

    rank = int(os.environ["RANK"])
    torch.manual_seed(100 + rank)  # different initial weights: DDP must broadcast rank 0's
    model = BaselineLifter(BaselineConfig(hidden_size=64, num_blocks=1, dropout=0.1, input_normalization="pose",
                                          max_norm_mode="row"))  # the whole-matrix clip of norm 1 suits the paper's width, not this tiny one (docs/baseline.md)
    source = SyntheticPoseSource(1024, seed=5, noise_px=1.0)
    config = TrainConfig(epochs=4, batch_size=32, seed=9, num_threads=1, device="cpu", checkpoint_every_steps=0)
    train(model, source, config, out_dir, quiet=True)
    torch.save(model.state_dict(), out_dir / f"rank{rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
