"""Pictures and animations of 2D keypoints and lifted 3D poses.

Everything is drawn off-screen with matplotlib's Agg canvas (no display, no pyplot, so importing this
module never changes the user's matplotlib backend). Skeletons are drawn from a layout's ``parents``
and coloured by side from its ``left_right`` pairs: left limbs blue, right limbs orange, the centre
line green.

Conventions:
- 2D keypoints are pixels in the image, x right, y down; images are RGB ``(H, W, 3)`` uint8.
- 3D poses are millimetres in the camera frame (x right, y down, z forward). They are drawn with the
  vertical axis pointing along -y so the person stands upright, the depth axis along z, and an equal,
  fixed box so the skeleton keeps its proportions and an animation does not jump from frame to frame.

Arrays may be numpy arrays or torch tensors (any device); they are copied to numpy for drawing.
"""

from __future__ import annotations

import functools
import math
import os
import subprocess
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Line3DCollection

from poselift.errors import PoseliftError, ShapeError
from poselift.fileio import atomic_path
from poselift.render import SkeletonView3D, draw_skeleton_2d, put_label
from poselift.skeleton import H36M17, Layout, get_layout

LEFT_COLOUR = "#1f77b4"
RIGHT_COLOUR = "#ff7f0e"
CENTRE_COLOUR = "#2ca02c"
_SIDE_COLOURS = np.array([to_rgb(CENTRE_COLOUR), to_rgb(LEFT_COLOUR), to_rgb(RIGHT_COLOUR)])  # by side code
_FADED_ALPHA = 0.35
_DASHED = (0, (3.0, 2.0))
_MIN_HALF_SIZE_MM = 500.0
_FRONT_VIEW = (10.0, -90.0)  # (elev, azim) degrees: seen from the camera, x to the right
_SIDE_VIEW = (10.0, 0.0)  # seen from the person's right-hand side of the image (+x)
_ANIMATION_VIEW = (15.0, -70.0)
_GIF_MAX_FPS = 50.0  # GIF delays are in 1/100 s and viewers slow anything under 20 ms down


# ----------------------------------------------------------------------------------------------
# Inputs


def _to_numpy(array, name: str) -> np.ndarray:
    """Copy a numpy array or a torch tensor (any device) to a float64 numpy array."""
    if hasattr(array, "detach"):  # a torch tensor, possibly on a GPU or in half precision
        array = array.detach().cpu().float().numpy()
    try:
        return np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ShapeError(f"{name}: cannot be read as a numeric array ({error})") from None


def _check_points(points: np.ndarray, name: str, dims: int, leading: int, layout: Layout) -> None:
    """Check ``points`` is ``(*leading dims, J, dims)`` with J the layout's joint count."""
    num_joints = len(layout.parents)
    if points.ndim != leading + 2 or points.shape[-1] != dims:
        expected = ", ".join(["T"] * leading + ["J", str(dims)])
        raise ShapeError(f"{name} has shape {tuple(points.shape)}, expected ({expected})")
    if points.shape[-2] != num_joints:
        raise ShapeError(
            f"{name} has {points.shape[-2]} joints but layout '{layout.name}' has {num_joints}"
        )


def _confidence_or_ones(confidence, keypoints_2d: np.ndarray, name: str = "confidence") -> np.ndarray:
    """Return confidence ``keypoints_2d.shape[:-1]`` in [0, 1]; ones when ``confidence`` is None."""
    if confidence is None:
        return np.ones(keypoints_2d.shape[:-1])
    confidence = _to_numpy(confidence, name)
    if confidence.shape != keypoints_2d.shape[:-1]:
        raise ShapeError(
            f"{name} has shape {tuple(confidence.shape)}, expected {tuple(keypoints_2d.shape[:-1])} "
            "to match keypoints_2d"
        )
    return confidence


class _Bones:
    """Bone index pairs and per-bone / per-joint side of a layout (0 centre, 1 left, 2 right)."""

    def __init__(self, layout: Layout):
        parents = np.asarray(layout.parents, dtype=np.int64)
        self.child = np.flatnonzero(parents >= 0)
        self.parent = parents[self.child]
        left_right = np.asarray(layout.left_right, dtype=np.int64).reshape(-1, 2)
        joint_side = np.zeros(len(parents), dtype=np.int64)
        joint_side[left_right[:, 0]] = 1
        joint_side[left_right[:, 1]] = 2
        self.joint_rgb = _SIDE_COLOURS[joint_side]
        self.bone_rgb = self.joint_rgb[self.child]

    def segments(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bone segments ``(B, 2, D)`` of ``points (J, D)`` and a ``(B,)`` mask of finite ones."""
        segments = np.stack([points[self.child], points[self.parent]], axis=1)
        return segments, np.isfinite(segments).all(axis=(1, 2))


# ----------------------------------------------------------------------------------------------
# Axes limits


def _extent_2d(keypoints_2d: np.ndarray) -> tuple[float, float, float, float]:
    """(x_min, x_max, y_min, y_max) px around all finite keypoints ``(..., J, 2)``, 10 % margin."""
    points = keypoints_2d.reshape(-1, 2)
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) == 0:
        return 0.0, 1.0, 0.0, 1.0
    low, high = points.min(axis=0), points.max(axis=0)
    margin = 0.1 * max(float((high - low).max()), 1.0)
    return low[0] - margin, high[0] + margin, low[1] - margin, high[1] + margin


def _set_limits_2d(ax, extent: tuple[float, float, float, float]) -> None:
    x_min, x_max, y_min, y_max = extent
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_max, y_min)  # image y points down
    ax.set_aspect("equal")


def _to_plot_axes(pose_3d: np.ndarray) -> np.ndarray:
    """Camera-frame ``(..., J, 3)`` (x right, y down, z forward) -> plot axes (x, z, -y), z up."""
    return np.stack([pose_3d[..., 0], pose_3d[..., 2], -pose_3d[..., 1]], axis=-1)


def _cube_around(points_plot: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre ``(3,)`` and half side (mm) of a cube holding all finite points ``(..., 3)``."""
    points = points_plot.reshape(-1, 3)
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) == 0:
        return np.zeros(3), _MIN_HALF_SIZE_MM
    low, high = points.min(axis=0), points.max(axis=0)
    half_size = max(0.55 * float((high - low).max()), _MIN_HALF_SIZE_MM)
    return (low + high) / 2.0, half_size


def _set_limits_3d(ax, centre: np.ndarray, half_size: float) -> None:
    ax.set_xlim(centre[0] - half_size, centre[0] + half_size)
    ax.set_ylim(centre[1] - half_size, centre[1] + half_size)
    ax.set_zlim(centre[2] - half_size, centre[2] + half_size)
    ax.set_box_aspect((1.0, 1.0, 1.0))


def _style_axes_3d(ax) -> None:
    """Millimetre ticks (4 per axis, relative to the root: poses are root-relative), short axis labels."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("x (mm)", labelpad=-2)
    ax.set_ylabel("depth z (mm)", labelpad=-2)
    ax.zaxis.set_rotate_label(False)  # keep it readable from every azimuth
    ax.set_zlabel("up (mm)", rotation=90, labelpad=-2)
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(4))
    ax.tick_params(labelsize=6, pad=0)


def add_side_legend(figure) -> None:
    """A legend of the skeleton's colours under the figure: left, right, centre (and dashed = low confidence)."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colour, linewidth=2.5, label=label) for colour, label in
               ((LEFT_COLOUR, "left"), (RIGHT_COLOUR, "right"), (CENTRE_COLOUR, "centre"))]
    handles.append(Line2D([], [], color="#777777", linewidth=2.0, linestyle=_DASHED, alpha=_FADED_ALPHA + 0.2,
                          label="2D below the confidence threshold"))
    figure.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False, fontsize=8)


# ----------------------------------------------------------------------------------------------
# Skeleton artists: created once, updated per frame


class SkeletonArtists2D:
    """The artists of one 2D skeleton (and its image); :meth:`update` redraws them for a new frame."""

    def __init__(self, ax, layout: Layout, min_confidence: float):
        self.ax = ax
        self.layout = layout
        self.min_confidence = min_confidence
        self._bones = _Bones(layout)
        self.image = None
        self.bone_lines = LineCollection([], linewidths=2.5, capstyle="round", zorder=2)
        self.faded_bone_lines = LineCollection(
            [], linewidths=2.0, linestyles=_DASHED, alpha=_FADED_ALPHA, zorder=2
        )
        ax.add_collection(self.bone_lines)
        ax.add_collection(self.faded_bone_lines)
        self.joint_markers = ax.scatter(np.zeros(0), np.zeros(0), s=14, linewidths=0.6, zorder=3)

    def show_image(self, image) -> None:
        """Show an RGB ``(H, W, 3)`` or grey ``(H, W)`` image under the skeleton, in its pixel frame.

        An image larger than the axes is shrunk (area average) to the axes' size on screen first:
        drawing is then as fast for a 4K video as for a small one and looks the same.
        """
        image = np.asarray(image)
        height, width = image.shape[:2]
        extent = (-0.5, width - 0.5, height - 0.5, -0.5)
        axes_height_px = max(1, math.ceil(self.ax.get_window_extent().height))
        if height > axes_height_px:
            scale = axes_height_px / height
            image = cv2.resize(
                image, (max(1, round(width * scale)), axes_height_px), interpolation=cv2.INTER_AREA
            )
        if self.image is None:
            colour_map = "gray" if image.ndim == 2 else None
            self.image = self.ax.imshow(image, cmap=colour_map, extent=extent, zorder=1)
        else:
            self.image.set_data(image)
            self.image.set_extent(extent)

    def update(self, keypoints_2d, confidence=None, image=None) -> None:
        """Draw ``keypoints_2d (J, 2)`` px with ``confidence (J,)`` (None: all 1) over ``image``.

        Joints with a NaN coordinate are skipped with their bones; joints below ``min_confidence``
        and bones touching one are drawn faded (bones dashed).
        """
        keypoints_2d = _to_numpy(keypoints_2d, "keypoints_2d")
        _check_points(keypoints_2d, "keypoints_2d", 2, 0, self.layout)
        confidence = _confidence_or_ones(confidence, keypoints_2d)
        if image is not None:
            self.show_image(image)

        confident = confidence >= self.min_confidence
        segments, finite = self._bones.segments(keypoints_2d)
        bone_confident = confident[self._bones.child] & confident[self._bones.parent]
        solid, faded = finite & bone_confident, finite & ~bone_confident
        self.bone_lines.set_segments(segments[solid])
        self.bone_lines.set_color(self._bones.bone_rgb[solid])
        self.faded_bone_lines.set_segments(segments[faded])
        self.faded_bone_lines.set_color(self._bones.bone_rgb[faded])

        shown = np.isfinite(keypoints_2d).all(axis=1)
        joint_alpha = np.where(confident[shown], 1.0, _FADED_ALPHA)
        self.joint_markers.set_offsets(keypoints_2d[shown])
        self.joint_markers.set_facecolor(np.column_stack([self._bones.joint_rgb[shown], joint_alpha]))
        self.joint_markers.set_edgecolor(np.column_stack([np.ones((shown.sum(), 3)), joint_alpha]))


class SkeletonArtists3D:
    """The artists of one 3D skeleton; :meth:`update` redraws them for a new pose."""

    def __init__(self, ax, layout: Layout):
        self.ax = ax
        self.layout = layout
        self._bones = _Bones(layout)
        self.bone_lines = Line3DCollection([np.zeros((2, 3))], linewidths=2.5, capstyle="round")
        ax.add_collection3d(self.bone_lines, autolim=False)
        (self.joint_markers,) = ax.plot([], [], [], linestyle="", marker="o", markersize=3, color="#333333")

    def update(self, pose_3d) -> None:
        """Draw ``pose_3d (J, 3)`` mm, camera frame; joints with a NaN coordinate are skipped."""
        pose_3d = _to_numpy(pose_3d, "pose_3d")
        _check_points(pose_3d, "pose_3d", 3, 0, self.layout)
        points = _to_plot_axes(pose_3d)
        segments, finite = self._bones.segments(points)
        self.bone_lines.set_segments(segments[finite])
        self.bone_lines.set_color(self._bones.bone_rgb[finite])
        shown = np.isfinite(points).all(axis=1)
        self.joint_markers.set_data_3d(points[shown, 0], points[shown, 1], points[shown, 2])


def plot_pose_2d(
    ax,
    keypoints_2d,
    confidence,
    layout: Layout | str,
    image=None,
    *,
    min_confidence: float = 0.3,
    image_size: tuple[int, int] | None = None,
    limits_from=None,
) -> SkeletonArtists2D:
    """Draw a 2D skeleton on a matplotlib ``ax``, over ``image`` when given.

    Args:
        keypoints_2d: ``(J, 2)`` px, image frame (x right, y down); NaN joints are skipped.
        confidence: ``(J,)`` in [0, 1] or None (all confident). Joints under ``min_confidence``
            and their bones are drawn faded, bones dashed.
        layout: the keypoints' layout (a :class:`Layout` or its name, e.g. ``"coco17"``).
        image: optional RGB ``(H, W, 3)`` or grey ``(H, W)`` image; the axes then span the image.
        image_size: (width, height) px; without an image, the axes span this image size.
        limits_from: ``(..., J, 2)`` px keypoints whose extent sets the axes limits when there is
            neither image nor image_size (default: ``keypoints_2d``); pass a whole clip to keep the
            limits fixed.

    Returns:
        The artists; call ``.update(keypoints_2d, confidence, image)`` to draw another frame.
    """
    layout = get_layout(layout)
    keypoints_2d = _to_numpy(keypoints_2d, "keypoints_2d")
    _check_points(keypoints_2d, "keypoints_2d", 2, 0, layout)
    artists = SkeletonArtists2D(ax, layout, min_confidence)
    if image is not None:
        image = np.asarray(image)
        artists.show_image(image)
        _set_limits_2d(ax, (-0.5, image.shape[1] - 0.5, -0.5, image.shape[0] - 0.5))
    elif image_size is not None:
        _set_limits_2d(ax, (0.0, float(image_size[0]), 0.0, float(image_size[1])))
    else:
        points = keypoints_2d if limits_from is None else _to_numpy(limits_from, "limits_from")
        if points.shape[-1] != 2:
            raise ShapeError(f"limits_from has shape {tuple(points.shape)}, expected (..., J, 2)")
        _set_limits_2d(ax, _extent_2d(points))
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis):                  # pixel ticks, as the keypoints are given
        axis.set_major_locator(MaxNLocator(5))
    ax.tick_params(labelsize=6, pad=1)
    ax.set_xlabel("x (px)", fontsize=7, labelpad=1)
    ax.set_ylabel("y (px)", fontsize=7, labelpad=1)
    artists.update(keypoints_2d, confidence)
    return artists


def plot_pose_3d(
    ax,
    pose_3d,
    layout: Layout | str,
    elev: float = _FRONT_VIEW[0],
    azim: float = _FRONT_VIEW[1],
    *,
    limits_from=None,
) -> SkeletonArtists3D:
    """Draw a 3D skeleton on a matplotlib 3D ``ax`` (``projection="3d"``), standing upright.

    Args:
        pose_3d: ``(J, 3)`` mm, camera frame (x right, y down, z forward); NaN joints are skipped.
            Drawn with axes (x, z, -y) so "up" is -y.
        layout: the pose's layout (a :class:`Layout` or its name, e.g. ``"h36m17"``).
        elev, azim: matplotlib view angles in degrees. The defaults (10, -90) look from the camera's
            side; (10, 0) looks from the side (+x).
        limits_from: ``(..., J, 3)`` mm poses whose extent sets the fixed cube of the axes (default:
            ``pose_3d``); pass a whole clip so the frames of an animation do not jump.

    Returns:
        The artists; call ``.update(pose_3d)`` to draw another pose.
    """
    layout = get_layout(layout)
    pose_3d = _to_numpy(pose_3d, "pose_3d")
    _check_points(pose_3d, "pose_3d", 3, 0, layout)
    points = pose_3d if limits_from is None else _to_numpy(limits_from, "limits_from")
    if points.shape[-1] != 3:
        raise ShapeError(f"limits_from has shape {tuple(points.shape)}, expected (..., J, 3)")
    centre, half_size = _cube_around(_to_plot_axes(points))
    _set_limits_3d(ax, centre, half_size)
    _style_axes_3d(ax)
    ax.view_init(elev=elev, azim=azim)
    artists = SkeletonArtists3D(ax, layout)
    artists.update(pose_3d)
    return artists


# ----------------------------------------------------------------------------------------------
# Figures


def _panel_aspect_2d(image, image_size, keypoints_2d: np.ndarray) -> float:
    """Width / height of the 2D panel, clipped to [0.4, 2]."""
    if image is not None:
        height, width = np.asarray(image).shape[:2]
    elif image_size is not None:
        width, height = image_size
    else:
        x_min, x_max, y_min, y_max = _extent_2d(keypoints_2d)
        width, height = x_max - x_min, y_max - y_min
    return float(np.clip(width / max(height, 1e-6), 0.4, 2.0))


def save_figure(
    path: str | os.PathLike,
    keypoints_2d,
    confidence,
    pose_3d,
    layout_2d: Layout | str,
    image=None,
    title: str | None = None,
    *,
    layout_3d: Layout | str = "h36m17",
    image_size: tuple[int, int] | None = None,
    dpi: int = 100,
) -> Path:
    """Write one picture: the 2D input beside the 3D skeleton seen from the front and the side.

    Args:
        path: output file; PNG normally (the suffix picks the format, e.g. ``.pdf``). Written atomically.
        keypoints_2d: ``(J, 2)`` px in ``layout_2d``; confidence ``(J,)`` or None.
        pose_3d: ``(J3, 3)`` mm, camera frame, in ``layout_3d`` (default H36M-17).
        image: optional RGB ``(H, W, 3)`` image the keypoints were detected on.
        image_size: (width, height) px, frames the 2D panel when there is no image.

    Returns:
        ``path``.
    """
    from matplotlib.ticker import NullFormatter

    path = Path(path)
    keypoints_2d = _to_numpy(keypoints_2d, "keypoints_2d")
    aspect_2d = _panel_aspect_2d(image, image_size, keypoints_2d)
    figure = Figure(figsize=(4.5 * aspect_2d + 9.0, 4.8), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(1, 3, width_ratios=[aspect_2d, 1.0, 1.0])
    ax_2d = figure.add_subplot(grid[0])
    plot_pose_2d(ax_2d, keypoints_2d, confidence, layout_2d, image, image_size=image_size)
    ax_2d.set_title("2D input")
    for column, (name, (elev, azim)) in enumerate((("front", _FRONT_VIEW), ("side", _SIDE_VIEW)), start=1):
        ax_3d = figure.add_subplot(grid[column], projection="3d")
        plot_pose_3d(ax_3d, pose_3d, layout_3d, elev, azim)
        ax_3d.set_title(f"3D, {name}")
        # The axis seen end-on (depth from the front, x from the side) would pile its ticks on its label.
        end_on = ax_3d.yaxis if name == "front" else ax_3d.xaxis
        end_on.set_major_formatter(NullFormatter())
        end_on.label.set_text("")
    if title:
        figure.suptitle(title)
    add_side_legend(figure)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png")
    return path


# ----------------------------------------------------------------------------------------------
# Animations


@functools.lru_cache(maxsize=1)
def h264_encoder_available() -> bool:
    """True when imageio-ffmpeg's ffmpeg can encode H.264 with libx264."""
    try:
        import imageio_ffmpeg

        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return False
    try:
        listing = subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True)
    except OSError:
        return False
    return listing.returncode == 0 and "libx264" in listing.stdout


def _even_pixels(value: float) -> int:
    return max(2, 2 * int(round(value / 2.0)))


ANIMATION_HEIGHT_PX = 640          # the height of save_animation's frames


def animation_panel_size(image_size: tuple[int, int], height_px: int = ANIMATION_HEIGHT_PX) -> tuple[int, int]:
    """(width, height) px of :func:`save_animation`'s 2D panel for video frames of ``image_size`` (W, H)."""
    height = _even_pixels(height_px)
    return _even_pixels(height * _panel_aspect_2d(None, image_size, None)), height


def _canvas_rgb(canvas: FigureCanvasAgg) -> np.ndarray:
    """The drawn canvas as ``(H, W, 3)`` uint8, cropped to even sizes for yuv420p."""
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    height, width = rgba.shape[0] // 2 * 2, rgba.shape[1] // 2 * 2
    return np.ascontiguousarray(rgba[:height, :width, :3])


def _write_mp4(path: Path, frames: Iterable[np.ndarray], fps: float, quality: int = 6) -> None:
    """H.264 (yuv420p, ``-preset ultrafast``) of ``frames``; ``quality`` 1-10 is imageio-ffmpeg's (10: best)."""
    import imageio_ffmpeg

    writer = None
    try:
        for frame in frames:
            if writer is None:
                writer = imageio_ffmpeg.write_frames(
                    str(path),
                    (frame.shape[1], frame.shape[0]),
                    fps=fps,
                    codec="libx264",
                    pix_fmt_out="yuv420p",
                    quality=quality,
                    macro_block_size=2,
                    ffmpeg_log_level="error",
                    output_params=["-preset", "ultrafast"],
                )
                writer.send(None)
            writer.send(frame)
    finally:
        if writer is not None:
            writer.close()


def _write_gif(path: Path, frames: Iterable[np.ndarray], fps: float) -> None:
    import imageio.v3 as iio

    step = max(1, math.ceil(fps / _GIF_MAX_FPS))
    duration_ms = 10 * max(2, round(100.0 * step / fps))
    with iio.imopen(path, "w", extension=".gif") as gif:
        for index, frame in enumerate(frames):
            if index % step == 0:  # each frame is kept as 8-bit palette image until the file is closed
                gif.write(frame, is_batch=False, duration=duration_ms, loop=0, bits=8)


def save_animation(
    path: str | os.PathLike,
    keypoints_2d,
    confidence,
    poses_3d,
    layout_2d: Layout | str,
    video_frames: Iterable | None = None,
    fps: float | None = 30.0,
    rotate: bool = True,
    *,
    layout_3d: Layout | str = "h36m17",
    image_size: tuple[int, int] | None = None,
    title: str | None = None,
    height_px: int = ANIMATION_HEIGHT_PX,
    degrees_per_second: float = 20.0,
    video_size: tuple[int, int] | None = None,
) -> Path:
    """Write a video: the 2D keypoints (over the video when given) beside the 3D skeleton.

    Frames are drawn with OpenCV (:mod:`poselift.render`: lines and discs into the frame, about ten
    times the rate matplotlib drew them), the 3D view orbiting over a floor grid with a 1 m bar.

    Args:
        path: ``.mp4`` (H.264, yuv420p) or ``.gif``. When no libx264 encoder is available an
            ``.mp4`` request is written as a GIF beside it (same name, ``.gif``). Written atomically.
        keypoints_2d: ``(T, J, 2)`` px in ``layout_2d``; confidence ``(T, J)`` or None.
        poses_3d: ``(T, J3, 3)`` mm, camera frame, in ``layout_3d`` (default H36M-17).
        video_frames: None, or an iterable of RGB ``(H, W, 3)`` uint8 frames (at least T, e.g. an
            imageio reader) drawn under the 2D keypoints.
        fps: frames per second of the output (None, e.g. an unknown input rate: 30). A GIF keeps
            at most 50 frames per second (every k-th frame), the fastest rate GIF viewers play.
        rotate: turn the 3D view slowly (``degrees_per_second``) instead of keeping it fixed.
        image_size: (width, height) px framing the 2D panel when there is no video.
        height_px: height of the output frames in pixels.
        video_size: (width, height) px of the frames the keypoints were measured in, when
            ``video_frames`` are smaller copies of them (:class:`OverlayWriter`'s ``panel_path``);
            None: the frames' own size.

    Returns:
        The path actually written (``path``, or its ``.gif`` twin after the fallback).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise PoseliftError(f"{path}: animations are written as .mp4 or .gif, not '{path.suffix}'")
    fps = 30.0 if fps is None else float(fps)
    if fps <= 0 or not math.isfinite(fps):
        raise PoseliftError(f"{path}: fps must be a positive number, got {fps}")
    layout_2d, layout_3d = get_layout(layout_2d), get_layout(layout_3d)
    keypoints_2d = _to_numpy(keypoints_2d, "keypoints_2d")
    poses_3d = _to_numpy(poses_3d, "poses_3d")
    _check_points(keypoints_2d, "keypoints_2d", 2, 1, layout_2d)
    _check_points(poses_3d, "poses_3d", 3, 1, layout_3d)
    confidence = _confidence_or_ones(confidence, keypoints_2d)
    num_frames = keypoints_2d.shape[0]
    if poses_3d.shape[0] != num_frames:
        raise ShapeError(f"poses_3d has {poses_3d.shape[0]} frames but keypoints_2d has {num_frames}")
    if num_frames == 0:
        raise ShapeError("keypoints_2d has no frames: nothing to animate")

    video = iter(video_frames) if video_frames is not None else None
    first_image = _next_frame(video, 0, num_frames)
    panel_height = _even_pixels(height_px)
    panel_width = _even_pixels(panel_height * _panel_aspect_2d(
        None if video_size else first_image, video_size or image_size, keypoints_2d))
    if first_image is None:                  # the 2D on white, framed by the image size or the keypoints' extent
        if image_size is not None:
            x_min, x_max, y_min, y_max = 0.0, float(image_size[0]), 0.0, float(image_size[1])
        else:
            x_min, x_max, y_min, y_max = _extent_2d(keypoints_2d)
        scale = min(panel_width / max(x_max - x_min, 1e-6), panel_height / max(y_max - y_min, 1e-6))
        offset = (-x_min * scale + (panel_width - (x_max - x_min) * scale) / 2,
                  -y_min * scale + (panel_height - (y_max - y_min) * scale) / 2)
    view_3d = SkeletonView3D(poses_3d, layout_3d, panel_height)
    elev, azim = _ANIMATION_VIEW

    def rendered_frames():
        import cv2

        for index in range(num_frames):
            image = first_image if index == 0 else _next_frame(video, index, num_frames)
            if image is None:
                panel, frame_scale, frame_offset = np.full((panel_height, panel_width, 3), 255, np.uint8), scale, offset
            else:
                image = np.asarray(image)
                frame_scale = panel_height / (video_size[1] if video_size else image.shape[0])
                frame_offset = (0.0, 0.0)
                if image.shape[:2] != (panel_height, panel_width):
                    image = cv2.resize(image, (panel_width, panel_height), interpolation=cv2.INTER_AREA)
                panel = np.array(image, dtype=np.uint8)
            draw_skeleton_2d(panel, keypoints_2d[index], confidence[index], layout_2d, scale=frame_scale,
                             offset=frame_offset)
            put_label(panel, f"frame {index + 1}/{num_frames}")
            turn = degrees_per_second * index / fps if rotate else 0.0
            side = view_3d.render(poses_3d[index], azim + 90.0 + turn)
            if title:
                put_label(side, title)
            yield np.ascontiguousarray(np.concatenate([panel, side], axis=1))

    if suffix == ".mp4" and not h264_encoder_available():
        path = path.with_suffix(".gif")
        suffix = ".gif"
    with atomic_path(path) as tmp:
        if suffix == ".mp4":
            _write_mp4(tmp, rendered_frames(), fps)
        else:
            _write_gif(tmp, rendered_frames(), fps)
    return path


class OverlayWriter:
    """Writes a video at its full resolution with the 2D skeleton drawn on every frame, one frame at a
    time, atomically (the file appears when the ``with`` block ends without an error).

    :meth:`write` only queues the frame: a worker thread draws it (OpenCV lets other threads run
    meanwhile) and hands it to ffmpeg (H.264; a GIF where no libx264 encoder is available), which
    encodes in its own process, so the caller (e.g. MediaPipe tracking the next frame) goes on.
    ``written`` is the path (``path``, or its ``.gif`` twin).

    ``panel_path``: also write the undrawn frames shrunk to the 2D panel of :func:`save_animation`
    (:func:`animation_panel_size`) as a high-quality H.264 there, so the animation need not decode the
    full-resolution video a second time; ``panel_written`` is it (None without an H.264 encoder).
    """

    def __init__(self, path: str | os.PathLike, layout: Layout | str, fps: float | None = 30.0,
                 panel_path: str | os.PathLike | None = None, panel_height: int = ANIMATION_HEIGHT_PX):
        import queue

        self.layout = get_layout(layout)
        self.fps = 30.0 if fps is None else float(fps)
        path = Path(path)
        encoder = h264_encoder_available()
        if path.suffix.lower() == ".mp4" and not encoder:
            path = path.with_suffix(".gif")
        self.written, self.frames = path, 0
        self.panel_written = Path(panel_path) if panel_path is not None and encoder else None
        self.panel_height = panel_height
        self._inputs: "queue.Queue[tuple | None]" = queue.Queue(maxsize=4)
        self._outputs = [(path, queue.Queue(maxsize=4))]
        if self.panel_written is not None:
            self._outputs.append((self.panel_written, queue.Queue(maxsize=4)))
        self._atomics = [atomic_path(output) for output, _ in self._outputs]
        self._threads = []
        self._errors: list[BaseException] = []

    @staticmethod
    def _queued(frames):
        while (frame := frames.get()) is not None:
            yield frame

    def _encode(self, tmp: Path, frames, quality: int) -> None:
        try:
            if self.written.suffix.lower() == ".mp4":
                _write_mp4(tmp, self._queued(frames), self.fps, quality)
            else:
                _write_gif(tmp, self._queued(frames), self.fps)
        except BaseException as error:          # handed to the caller's thread in __exit__
            self._errors.append(error)
            for _ in self._queued(frames):      # drain, so the drawing thread never blocks on a full queue
                pass

    def _draw(self) -> None:
        import cv2

        outputs = [frames for _, frames in self._outputs]
        try:
            while (item := self._inputs.get()) is not None:
                frame, keypoints_2d, confidence, number = item
                if len(outputs) > 1:            # the clean frame, shrunk, before anything is drawn on it
                    size = animation_panel_size((frame.shape[1], frame.shape[0]), self.panel_height)
                    outputs[1].put(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
                height, width = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2     # yuv420p wants even sizes
                frame = np.ascontiguousarray(frame[:height, :width])
                draw_skeleton_2d(frame, keypoints_2d, confidence, self.layout)
                put_label(frame, f"frame {number}", origin=(12, 34), scale=1.0)
                outputs[0].put(frame)
        except BaseException as error:
            self._errors.append(error)
            while self._inputs.get() is not None:
                pass
        finally:
            for frames in outputs:
                frames.put(None)

    def __enter__(self) -> "OverlayWriter":
        import threading

        temporary = [atomic.__enter__() for atomic in self._atomics]
        for (_, frames), tmp, quality in zip(self._outputs, temporary, (6, 9)):
            self._threads.append(threading.Thread(target=self._encode, args=(tmp, frames, quality), daemon=True))
        self._threads.append(threading.Thread(target=self._draw, daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def write(self, frame_rgb: np.ndarray, keypoints_2d: np.ndarray, confidence: np.ndarray | None, *,
              copy: bool = True) -> None:
        """Queue ``frame_rgb`` (``(H, W, 3)`` uint8 RGB) to be drawn on with ``(J, 2)`` px keypoints, later,
        in the writer's thread. ``copy=False`` draws on ``frame_rgb`` itself, saving a copy: only for a
        frame no one reads or changes afterwards (one :func:`poselift.video.reading.read_frames` yielded)."""
        self.frames += 1
        frame = np.array(frame_rgb, dtype=np.uint8) if copy else np.asarray(frame_rgb, dtype=np.uint8)
        self._inputs.put((frame, np.asarray(keypoints_2d), None if confidence is None else np.asarray(confidence),
                          self.frames))

    def __exit__(self, kind, error, traceback) -> None:
        self._inputs.put(None)
        for thread in self._threads:
            thread.join()
        failure = error if error is not None else (self._errors[0] if self._errors else None)
        for atomic in self._atomics:
            atomic.__exit__(type(failure) if failure else None, failure, failure.__traceback__ if failure else None)
        if error is None and failure is not None:
            raise failure


def save_overlay(path: str | os.PathLike, video_frames: Iterable, keypoints_2d, confidence, layout: Layout | str,
                 fps: float | None = 30.0) -> Path:
    """Write the video at its full resolution with the 2D skeleton drawn on every frame
    (:class:`OverlayWriter`); returns the path written (``path``, or its ``.gif`` twin).

    Args:
        video_frames: RGB ``(H, W, 3)`` uint8 frames, at least as many as the keypoints.
        keypoints_2d: ``(T, J, 2)`` px of ``layout``; confidence ``(T, J)`` or None.
    """
    layout = get_layout(layout)
    keypoints_2d = _to_numpy(keypoints_2d, "keypoints_2d")
    _check_points(keypoints_2d, "keypoints_2d", 2, 1, layout)
    confidence = _confidence_or_ones(confidence, keypoints_2d)
    num_frames = keypoints_2d.shape[0]
    video = iter(video_frames)
    with OverlayWriter(path, layout, fps) as writer:
        for index in range(num_frames):
            writer.write(_next_frame(video, index, num_frames), keypoints_2d[index], confidence[index])
    return writer.written


def _next_frame(video, index: int, num_frames: int):
    """The next RGB frame of ``video`` (None when there is no video)."""
    if video is None:
        return None
    try:
        return np.asarray(next(video))
    except StopIteration:
        raise ShapeError(
            f"video_frames ended after {index} frames but the keypoints have {num_frames}"
        ) from None


# ----------------------------------------------------------------------------------------------
# Figures of the V-VIPE generations and the multi-view comparison


def save_pose_grid(path: str | os.PathLike, poses_3d, titles, title: str = "", panel_size: float = 2.6) -> Path:
    """A PNG of poses in a grid, each seen from the front (atomic write).

    Args:
        poses_3d: ``(R, C, J, 3)`` mm, H36M-17, in a camera frame facing the person (x right, y down;
            V-VIPE's canonical poses through :func:`poselift.generation.canonical_to_view`); an
            all-NaN pose leaves its panel empty.
        titles: ``R`` lists of ``C`` panel titles.
    """
    poses = np.asarray(poses_3d, dtype=np.float64)
    rows, columns = poses.shape[:2]
    figure = Figure(figsize=(panel_size * columns, panel_size * rows + (0.4 if title else 0.0)), layout="constrained")
    FigureCanvasAgg(figure)
    finite = poses[np.isfinite(poses).all(axis=(-1, -2))]
    for row in range(rows):
        for column in range(columns):
            pose = poses[row, column]
            if not np.isfinite(pose).any():
                continue
            ax = figure.add_subplot(rows, columns, row * columns + column + 1, projection="3d")
            plot_pose_3d(ax, pose, H36M17, elev=10.0, azim=-70.0, limits_from=finite)
            ax.set_xlabel("")
            ax.set_ylabel("")
            ax.set_zlabel("")
            ax.set_title(titles[row][column], fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=80)
    return path


_VIEW_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def save_multiview_figure(path: Path, triangulated_mm: np.ndarray, lifted_world_mm: Sequence[np.ndarray],
                          labels: Sequence[str], frame_errors_mm: Sequence[np.ndarray], fps: float | None) -> Path:
    """Left: the triangulated skeleton (black) and every view's lifted one (colours) in the world at the
    frame where the views agree best; right: each view's MPJPE over time.

    Args:
        triangulated_mm: (T, 17, 3) world frame, Z up. lifted_world_mm: V arrays (T, 17, 3).
        frame_errors_mm: V arrays (T,) (NaN: not compared).
    """
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    errors = np.stack(frame_errors_mm)
    mean_error = np.where(np.isfinite(errors).all(0), errors.mean(0) if errors.size else np.nan, np.inf)
    frame = int(np.argmin(mean_error)) if np.isfinite(mean_error).any() else 0
    parents = np.array(H36M17.parents)
    children = np.flatnonzero(parents >= 0)
    figure = Figure(figsize=(11, 5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    ax_3d = figure.add_subplot(1, 2, 1, projection="3d")
    skeletons = [(triangulated_mm[frame], "triangulated", "black", 3.0)] + [
        (lifted[frame], f"lifted from {label}", _VIEW_COLOURS[i % len(_VIEW_COLOURS)], 1.8)
        for i, (lifted, label) in enumerate(zip(lifted_world_mm, labels))]
    for pose, label, colour, width in skeletons:
        segments = np.stack([pose[children], pose[parents[children]]], axis=1)
        ax_3d.add_collection3d(Line3DCollection(segments, colors=colour, linewidths=width, label=label))
    points = np.concatenate([pose for pose, *_ in skeletons])
    points = points[np.isfinite(points).all(1)]
    centre = (points.min(0) + points.max(0)) / 2 if len(points) else np.zeros(3)
    half = max(float((points.max(0) - points.min(0)).max()) / 2 * 1.1, 500.0) if len(points) else 1000.0
    for axis, name in zip(range(3), "xyz"):
        getattr(ax_3d, f"set_{name}lim")(centre[axis] - half, centre[axis] + half)
    ax_3d.set_box_aspect((1, 1, 1))
    ax_3d.set_xlabel("X (mm)")
    ax_3d.set_ylabel("Y (mm)")
    ax_3d.set_zlabel("Z up (mm)")
    ax_3d.legend(loc="upper left", fontsize=8)
    ax_3d.set_title(f"world frame, frame {frame}")
    ax_time = figure.add_subplot(1, 2, 2)
    times = np.arange(errors.shape[1]) / (fps or 30.0)
    for i, (error, label) in enumerate(zip(errors, labels)):
        ax_time.plot(times, error, color=_VIEW_COLOURS[i % len(_VIEW_COLOURS)], label=label)
    ax_time.set_xlabel("time (s)")
    ax_time.set_ylabel("MPJPE vs triangulated, root-aligned (mm)")
    ax_time.set_ylim(bottom=0)
    ax_time.grid(alpha=0.3)
    ax_time.legend(fontsize=8)
    ax_time.set_title("lifted single view vs triangulation")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return path
