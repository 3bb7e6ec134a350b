"""Hand-written poses shared by the geometry tests."""

import numpy as np


def standing_pose_mm() -> np.ndarray:
    """(17, 3) H36M-17 pose, world frame (Z up), mm, standing at the origin and facing +X."""
    return np.array([
        [0, 0, 1000], [0, -130, 1000], [0, -130, 550], [0, -130, 100], [0, 130, 1000], [0, 130, 550],
        [0, 130, 100], [0, 0, 1250], [0, 0, 1500], [0, 0, 1600], [0, 0, 1750], [0, 180, 1480],
        [0, 200, 1200], [50, 200, 950], [0, -180, 1480], [0, -200, 1200], [50, -200, 950],
    ], dtype=np.float64)
