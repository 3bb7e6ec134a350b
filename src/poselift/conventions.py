"""The plausible mistakes in 2D keypoints, caught before they are lifted.

Each check either handles the case exactly (and says so in the track's ``notes``) or refuses with
one line naming the problem; nothing is lifted silently wrong:

- :func:`pixels_from_normalised`: coordinates in [0, 1] (normalised to the image) are scaled to
  pixels when the image size is known, refused when it is not.
- :func:`check_upright`: y must point down (image coordinates). A track whose head is below its
  feet in most frames is refused, unless ``orientation`` says what the y axis is: ``"y-up"`` flips
  it, ``"y-down"`` keeps it (a person who really is upside down).
- :func:`check_layout_anatomy`: a declared layout that the anatomy contradicts is refused, e.g. a
  COCO-17 array (nose, eyes and ears first, clustered at the head) given as H36M-17 (pelvis, hips,
  knees, ankles first, spread over the legs).
- :func:`as_h36m17`: what ``model.lift(..., layout=...)`` runs: any layout to H36M-17, the anatomy
  checked.

Thresholds are far from what real poses give: a body spans more than 1 px; with y down the head is
above the ankles except in handstands and falls; the first five H36M-17 joints spread over about
half the body, COCO's over a face (spread ratios measured on the benchmark: H36M order 0.4-0.8,
COCO order under 0.15).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from poselift.errors import LayoutError, PoseliftError
from poselift.io.records import Keypoints2D

ORIENTATIONS = ("auto", "y-down", "y-up")
_NORMALISED_RANGE = (-0.1, 1.1)          # normalised coordinates may lie slightly outside the image
_UPSIDE_DOWN_FRACTION = 0.5              # refuse when the head is below the feet in more frames than this
# Spread (RMS distance from their mean) of a layout's first joints over the whole pose's spread:
# (joints, below this the declared layout is contradicted, above this the face-first order is).
_FIRST_JOINTS = 5
_LEG_ORDER_MIN_SPREAD = 0.25             # h36m17: pelvis, r hip, r knee, r ankle, l hip
_FACE_ORDER_MAX_SPREAD = 0.3             # coco17 / mediapipe33: nose, eyes, ears
_FACE_FIRST_LAYOUTS = ("coco17", "mediapipe33")
_CHECKED_FRAMES = 256                    # model.lift checks the anatomy on at most about this many frames


def _valid(keypoints_2d: np.ndarray, confidence: np.ndarray | None) -> np.ndarray:
    finite = np.isfinite(keypoints_2d).all(axis=-1)
    return finite if confidence is None else finite & (np.asarray(confidence) > 0)


def pixels_from_normalised(keypoints: Keypoints2D, source: str) -> Keypoints2D:
    """Keypoints in pixels: a track whose every valid coordinate lies in [0, 1] (give or take 0.1) is
    normalised; with ``image_size`` it is scaled to pixels (and a note says so), without it refused."""
    valid = _valid(keypoints.keypoints_2d, keypoints.confidence)
    if not valid.any():
        return keypoints
    values = keypoints.keypoints_2d[valid]
    low, high = float(values.min()), float(values.max())
    if not (_NORMALISED_RANGE[0] <= low and high <= _NORMALISED_RANGE[1]):
        return keypoints
    if keypoints.image_size is None:
        raise PoseliftError(f"{source}: every coordinate lies in [{low:.2f}, {high:.2f}]: normalised image "
                            "coordinates, not pixels? poselift needs pixels; give the image size (image_size "
                            "in the file, or --image-size WIDTH HEIGHT) to scale them")
    width, height = keypoints.image_size
    scaled = keypoints.keypoints_2d * np.array([width, height], dtype=np.float32)
    note = f"coordinates were in [0, 1]: scaled to pixels with the image size {width} x {height}"
    return replace(keypoints, keypoints_2d=scaled, notes=keypoints.notes + (note,))


def upside_down_fraction(keypoints_h36m: np.ndarray, confidence: np.ndarray | None) -> tuple[float, int]:
    """(fraction of frames whose head is below both ankles' mean in the image (y down), frames that
    show the head and an ankle) of an ``(T, 17, 2)`` H36M-17 track."""
    from poselift.skeleton import H36M17

    valid = _valid(keypoints_h36m, confidence)
    head, ankles = H36M17.index("head"), [H36M17.index("r_ankle"), H36M17.index("l_ankle")]
    ankle_valid = valid[:, ankles]
    seen = valid[:, head] & ankle_valid.any(axis=1)
    if not seen.any():
        return 0.0, 0
    ankle_y = np.where(ankle_valid, keypoints_h36m[:, ankles, 1], 0.0).sum(axis=1) / np.maximum(ankle_valid.sum(1), 1)
    below = keypoints_h36m[:, head, 1] > ankle_y
    return float(below[seen].mean()), int(seen.sum())


def check_upright(keypoints: Keypoints2D, orientation: str, source: str) -> Keypoints2D:
    """The track with y pointing down.

    ``orientation``: "auto" (refuse a track whose head is below its feet in most frames), "y-down"
    (trust the track) or "y-up" (flip y: about the image height when known, else about the track's
    own vertical middle, which a root-relative lift does not see; a note says so)."""
    from poselift.skeleton import to_h36m17

    if orientation not in ORIENTATIONS:
        raise PoseliftError(f"orientation must be one of {', '.join(ORIENTATIONS)}, got {orientation!r}")
    if orientation == "y-up":
        if keypoints.image_size is not None:
            mirror, about = float(keypoints.image_size[1]), f"the image height {keypoints.image_size[1]} px"
        else:
            ys = keypoints.keypoints_2d[..., 1][_valid(keypoints.keypoints_2d, keypoints.confidence)]
            mirror, about = float(ys.min() + ys.max()) if ys.size else 0.0, "the track's vertical middle"
        flipped = keypoints.keypoints_2d.copy()
        flipped[..., 1] = mirror - flipped[..., 1]
        note = f"y pointed up (--orientation y-up): flipped about {about}"
        return replace(keypoints, keypoints_2d=flipped, notes=keypoints.notes + (note,))
    if orientation == "auto":
        check_layout_anatomy(keypoints.keypoints_2d, keypoints.confidence, keypoints.layout, source)  # head, feet
        keypoints_h36m, confidence_h36m = to_h36m17(keypoints.keypoints_2d, keypoints.confidence, keypoints.layout)
        fraction, frames = upside_down_fraction(np.asarray(keypoints_h36m), np.asarray(confidence_h36m))
        if frames and fraction > _UPSIDE_DOWN_FRACTION:
            raise PoseliftError(f"{source}: the head is below the feet in {fraction:.0%} of the {frames} frames that "
                                "show both: does the y axis point up? poselift expects image coordinates (y down); "
                                "pass --orientation y-up to flip them, or --orientation y-down if the person really "
                                "is upside down")
    return keypoints


def first_joints_spread(keypoints_2d: np.ndarray, confidence: np.ndarray | None) -> float | None:
    """Median over frames of the spread of the first five joints over the whole pose's spread (RMS
    distances from their means), on frames where all of them and at least 8 joints are seen; None
    without such a frame."""
    valid = _valid(keypoints_2d, confidence)
    frames = valid[:, :_FIRST_JOINTS].all(axis=1) & (valid.sum(axis=1) >= 8)
    if not frames.any():
        return None
    points = np.where(valid[frames][..., None], keypoints_2d[frames], np.nan).astype(np.float64)

    def spread(part: np.ndarray) -> np.ndarray:
        centre = np.nanmean(part, axis=1, keepdims=True)
        return np.sqrt(np.nanmean(np.square(part - centre).sum(axis=-1), axis=1))

    whole = spread(points)
    keep = whole > 0
    if not keep.any():
        return None
    return float(np.median(spread(points[:, :_FIRST_JOINTS])[keep] / whole[keep]))


def check_layout_anatomy(keypoints_2d: np.ndarray, confidence: np.ndarray | None, layout: str, source: str) -> None:
    """Refuse a declared layout that the anatomy contradicts (LayoutError naming both layouts)."""
    ratio = None
    if layout == "h36m17" or layout in _FACE_FIRST_LAYOUTS:
        ratio = first_joints_spread(np.asarray(keypoints_2d, dtype=np.float64), confidence)
    if ratio is None:
        return
    if layout == "h36m17" and ratio < _LEG_ORDER_MIN_SPREAD:
        raise LayoutError(f"{source}: declared h36m17, but its first five joints cluster like a face (spread "
                          f"{ratio:.2f} of the pose's; H36M-17 starts with pelvis, hips, knees, ankles): COCO-17 "
                          "order? pass layout='coco17' (poselift data convert ... --layout h36m17 converts files)")
    if layout in _FACE_FIRST_LAYOUTS and ratio > _FACE_ORDER_MAX_SPREAD:
        raise LayoutError(f"{source}: declared {layout}, whose first joints are the nose, eyes and ears, but they "
                          f"spread over {ratio:.2f} of the pose: another order (h36m17?)")


def as_h36m17(keypoints_2d, confidence, layout: str, source: str = "keypoints_2d"):
    """``(keypoints (..., 17, 2), confidence (..., 17) or None)`` in H36M-17 from ``layout``, after the
    anatomy check (:func:`check_layout_anatomy`); numpy in, numpy out; tensor in, tensor out.
    What :meth:`poselift.models.base.LiftingModel.lift` runs on its ``layout`` argument."""
    import torch

    from poselift.skeleton import to_h36m17

    def to_numpy(values):
        return values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)

    as_numpy = to_numpy(keypoints_2d)
    confidence_numpy = None if confidence is None else to_numpy(confidence)
    if as_numpy.ndim >= 2:
        frames = as_numpy.reshape(-1, *as_numpy.shape[-2:])
        confidences = None if confidence_numpy is None else confidence_numpy.reshape(-1, as_numpy.shape[-2])
        step = max(1, len(frames) // _CHECKED_FRAMES)           # a sample of the frames: cheap on any input
        check_layout_anatomy(frames[::step], None if confidences is None else confidences[::step], layout, source)
    if layout == "h36m17":
        return keypoints_2d, confidence
    return to_h36m17(keypoints_2d, confidence, layout)
