"""Hand-written poses shared by the geometry tests, and a random keypoint track shared by the IO tests."""

import numpy as np
from scipy.spatial.transform import Rotation

from poselift.io.records import Keypoints2D
from poselift.skeleton import get_layout


def standing_pose_mm() -> np.ndarray:
    """(17, 3) H36M-17 pose, world frame (Z up), mm, standing at the origin and facing +X."""
    return np.array([
        [0, 0, 1000], [0, -130, 1000], [0, -130, 550], [0, -130, 100], [0, 130, 1000], [0, 130, 550],
        [0, 130, 100], [0, 0, 1250], [0, 0, 1500], [0, 0, 1600], [0, 0, 1750], [0, 180, 1480],
        [0, 200, 1200], [50, 200, 950], [0, -180, 1480], [0, -200, 1200], [50, -200, 950],
    ], dtype=np.float64)


def random_rotations(count: int, seed: int) -> np.ndarray:
    return Rotation.random(count, random_state=seed).as_matrix()


def varied_poses(count: int, seed: int) -> np.ndarray:
    """(count, 17, 3) the standing pose with 40 mm joint noise, randomly rotated and moved."""
    rng = np.random.default_rng(seed)
    poses = standing_pose_mm() + rng.normal(0, 40, size=(count, 17, 3))
    return poses @ random_rotations(count, seed).transpose(0, 2, 1) + rng.normal(0, 500, size=(count, 1, 3))


def keypoint_track(layout="h36m17", frames=3, seed=0, image_size=(640, 480), fps=50.0) -> Keypoints2D:
    """A random track of ``layout`` whose frame 1 misses joint 2 (NaN, confidence 0)."""
    rng = np.random.default_rng(seed)
    joints = get_layout(layout).num_joints
    keypoints = rng.uniform(0, 400, size=(frames, joints, 2)).astype(np.float32)
    confidence = rng.uniform(0.1, 1, size=(frames, joints)).astype(np.float32)
    keypoints[1, 2] = np.nan
    confidence[1, 2] = 0
    return Keypoints2D(keypoints, confidence, layout, image_size=image_size, fps=fps)
