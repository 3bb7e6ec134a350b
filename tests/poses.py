"""Hand-written poses shared by the geometry tests."""

import numpy as np
from scipy.spatial.transform import Rotation


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
