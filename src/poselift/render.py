"""Fast frame rendering with OpenCV for the animations (:func:`poselift.viz.save_animation`) and the
full-resolution overlay video (:func:`poselift.viz.save_overlay`).

Matplotlib drew about 9 frames a second on 2 CPU cores (docs/video.md); these draw lines and discs
straight into ``uint8`` RGB arrays (anti-aliased), so rendering is no longer the slow stage.

- :func:`draw_skeleton_2d`: a 2D skeleton over an image, limbs coloured by side (left blue, right
  orange, centre green), a limb with a joint under the confidence threshold faded and thinner.
- :class:`SkeletonView3D`: a 3D skeleton seen from an orbiting camera (orthographic), standing on a
  floor grid of 0.5 m squares at the clip's median lowest ankle, with a 1 m scale bar; the clip's
  extent fixes the scale, so frames do not jump.
"""

from __future__ import annotations

import math

import numpy as np

from poselift.export import floor_height
from poselift.skeleton import Layout

LEFT_RGB, RIGHT_RGB, CENTRE_RGB = (31, 119, 180), (255, 127, 14), (44, 160, 44)
JOINT_RGB = (40, 40, 40)
_FADE = 0.35


def _side_colours(layout: Layout) -> list[tuple[int, int, int]]:
    """RGB colour of the bone ending at each joint, by the joint's side."""
    left = {pair[0] for pair in layout.left_right}
    right = {pair[1] for pair in layout.left_right}
    return [LEFT_RGB if joint in left else RIGHT_RGB if joint in right else CENTRE_RGB
            for joint in range(layout.num_joints)]


def _faded(colour, background=(255, 255, 255)) -> tuple[int, int, int]:
    return tuple(int(round(c * _FADE + b * (1 - _FADE))) for c, b in zip(colour, background))


def draw_skeleton_2d(image: np.ndarray, keypoints_2d: np.ndarray, confidence: np.ndarray | None, layout: Layout,
                     min_confidence: float = 0.3, scale: float = 1.0, offset=(0.0, 0.0)) -> np.ndarray:
    """Draw one ``(J, 2)`` px skeleton on ``image`` (``(H, W, 3)`` uint8 RGB, in place) at
    ``keypoints * scale + offset``; NaN joints are skipped. Returns ``image``."""
    import cv2

    height = image.shape[0]
    thickness = max(2, int(round(height / 240)))
    points = np.asarray(keypoints_2d, dtype=np.float64) * scale + np.asarray(offset, dtype=np.float64)
    confidence = np.ones(len(points)) if confidence is None else np.nan_to_num(np.asarray(confidence, np.float64))
    finite = np.isfinite(points).all(axis=1)
    colours = _side_colours(layout)
    for joint, parent in enumerate(layout.parents):
        if parent < 0 or not (finite[joint] and finite[parent]):
            continue
        sure = min(confidence[joint], confidence[parent]) >= min_confidence
        colour = colours[joint] if sure else _faded(colours[joint])
        a, b = (tuple(int(round(v)) for v in points[index]) for index in (parent, joint))
        cv2.line(image, a, b, colour, thickness if sure else max(1, thickness // 2), cv2.LINE_AA)
    for joint in np.flatnonzero(finite):
        centre = tuple(int(round(v)) for v in points[joint])
        cv2.circle(image, centre, thickness + 1, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(image, centre, thickness, colours[joint], -1, cv2.LINE_AA)
    return image


class SkeletonView3D:
    """Renders ``(J, 3)`` camera-frame poses (mm; x right, y down, z forward) of one clip on a square canvas.

    Args:
        poses_clip: ``(T, J, 3)`` the clip (its extent fixes the scale and its lowest ankles the floor).
        layout: the poses' layout. size_px: the canvas side. elevation_deg: how far above the horizon
            the view looks down from.
    """

    def __init__(self, poses_clip: np.ndarray, layout: Layout, size_px: int, elevation_deg: float = 15.0):
        self.layout, self.size = layout, int(size_px)
        self.elevation = math.radians(elevation_deg)
        up = np.asarray(poses_clip, dtype=np.float64) * np.array([1.0, -1.0, -1.0])       # y up, facing +z
        finite = up[np.isfinite(up).all(axis=-1)]
        self.centre = finite.mean(axis=0) if len(finite) else np.zeros(3)
        ankles = [index for index, name in enumerate(layout.joint_names) if "ankle" in name]
        self.floor = floor_height(up, ankles or list(range(layout.num_joints)))
        extent = np.abs(finite - self.centre).max() if len(finite) else 1000.0
        self.mm_to_px = 0.42 * self.size / max(extent, 900.0)
        self.colours = _side_colours(layout)

    def _project(self, points_up: np.ndarray, azimuth: float) -> np.ndarray:
        """``(N, 3)`` y-up mm -> ``(N, 2)`` canvas px (orthographic, turned by ``azimuth`` about y)."""
        relative = points_up - self.centre
        cos_a, sin_a = math.cos(azimuth), math.sin(azimuth)
        x = cos_a * relative[:, 0] + sin_a * relative[:, 2]
        z = -sin_a * relative[:, 0] + cos_a * relative[:, 2]
        y = math.cos(self.elevation) * relative[:, 1] - math.sin(self.elevation) * z
        return np.stack([self.size / 2 + x * self.mm_to_px, self.size / 2 - y * self.mm_to_px], axis=1)

    def render(self, pose: np.ndarray, azimuth_deg: float) -> np.ndarray:
        """``(size, size, 3)`` uint8 RGB: the floor grid, the scale bar and the pose seen from ``azimuth_deg``."""
        import cv2

        canvas = np.full((self.size, self.size, 3), 255, dtype=np.uint8)
        azimuth = math.radians(azimuth_deg)
        grid = np.arange(-2000.0, 2000.1, 500.0)
        cx, cz = self.centre[0], self.centre[2]
        for value in grid:
            for start, end in (((cx + value, self.floor, cz - 2000), (cx + value, self.floor, cz + 2000)),
                               ((cx - 2000, self.floor, cz + value), (cx + 2000, self.floor, cz + value))):
                a, b = self._project(np.array([start, end]), azimuth).round().astype(int)
                cv2.line(canvas, tuple(a), tuple(b), (225, 225, 225), 1, cv2.LINE_AA)
        bar = self._project(np.array([[cx - 500, self.floor, cz - 1000], [cx + 500, self.floor, cz - 1000]]),
                            azimuth).round().astype(int)
        cv2.line(canvas, tuple(bar[0]), tuple(bar[1]), (70, 70, 70), 2, cv2.LINE_AA)
        cv2.putText(canvas, "1 m", (int(bar[:, 0].mean()) - 12, int(bar[:, 1].min()) - 6), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4, (70, 70, 70), 1, cv2.LINE_AA)
        points_up = np.asarray(pose, dtype=np.float64) * np.array([1.0, -1.0, -1.0])
        finite = np.isfinite(points_up).all(axis=1)
        projected = self._project(np.where(finite[:, None], points_up, 0.0), azimuth)
        thickness = max(2, self.size // 160)
        for joint, parent in enumerate(self.layout.parents):
            if parent >= 0 and finite[joint] and finite[parent]:
                a, b = (tuple(int(round(v)) for v in projected[index]) for index in (parent, joint))
                cv2.line(canvas, a, b, self.colours[joint], thickness, cv2.LINE_AA)
        for joint in np.flatnonzero(finite):
            cv2.circle(canvas, tuple(int(round(v)) for v in projected[joint]), thickness, JOINT_RGB, -1, cv2.LINE_AA)
        return canvas


def put_label(image: np.ndarray, text: str, origin=(8, 22), scale: float = 0.55) -> None:
    """Dark text on a light box at ``origin`` (px) of ``image`` (in place)."""
    import cv2

    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = origin
    cv2.rectangle(image, (x - 4, y - height - 4), (x + width + 4, y + baseline + 2), (255, 255, 255), -1)
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (30, 30, 30), 1, cv2.LINE_AA)
