"""Qualisys calibration files (``*.qca.txt``, XML): read into plain camera dicts.

One ``<camera>`` per camera, with

- ``transform``: a row-major rotation ``r11 .. r33`` (M) and the camera centre ``x, y, z`` in mm,
  world frame. M maps world to camera axes for a camera looking down its -Z axis with +Y up (the
  Qualisys convention), so the OpenCV-style rotation (x right, y down, +Z forward) is
  ``R = diag(1, -1, -1) @ M`` and ``x_cam = R @ (x_world - centre)``.
- ``intrinsic``: focal lengths ``focalLengthU/V`` and principal point ``centerPointU/V`` in
  sub-pixel sensor units (``subpixel_factor`` = 64 per pixel on Qualisys Miqus video sensors),
  radial ``radialDistortion1..3`` and tangential ``tangentalDistortion1..2`` (OpenCV's k1..k3,
  p1, p2).
- ``fov_video``: the image rectangle in pixels (inclusive), giving width and height.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from poselift.errors import FormatError

QUALISYS_TO_OPENCV = np.diag([1.0, -1.0, -1.0])
SUBPIXELS_PER_PIXEL = 64.0


def _number(path: Path, element: ElementTree.Element, attribute: str, camera_name: str) -> float:
    value = element.get(attribute)
    if value is None:
        raise FormatError(path, f"camera {camera_name}: <{element.tag}> has no attribute {attribute!r}")
    try:
        return float(value)
    except ValueError:
        raise FormatError(path, f"camera {camera_name}: {element.tag}.{attribute} is not a number: {value!r}") from None


def _child(path: Path, camera: ElementTree.Element, tag: str, camera_name: str) -> ElementTree.Element:
    element = camera.find(tag)
    if element is None:
        raise FormatError(path, f"camera {camera_name}: missing <{tag}>")
    return element


def read_qca(path: str | os.PathLike, *, subpixel_factor: float = SUBPIXELS_PER_PIXEL) -> list[dict]:
    """Read a Qualisys ``.qca.txt`` calibration -> one camera dict per ``<camera>``, in file order.

    Keys (as for :func:`poselift.io.h36m_h5.read_h36m_cameras_h5`): ``name`` (the serial),
    ``fx``, ``fy``, ``cx``, ``cy`` (pixels), ``k`` (3,), ``p`` (2,), ``R`` (3, 3) world-to-camera
    rotation in the OpenCV convention, ``centre`` (3,) mm world frame, ``width``, ``height``
    (pixels, from ``fov_video``; None if absent).
    """
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except OSError as error:
        raise FormatError(path, f"cannot read calibration file ({error.strerror or error})") from None
    except ElementTree.ParseError as error:
        raise FormatError(path, f"line {error.position[0]}: invalid XML ({error})") from None
    cameras = []
    for index, camera in enumerate(root.iter("camera")):
        name = camera.get("serial") or f"camera{index + 1}"
        transform = _child(path, camera, "transform", name)
        intrinsic = _child(path, camera, "intrinsic", name)
        rotation_qualisys = np.array(
            [[_number(path, transform, f"r{row}{column}", name) for column in (1, 2, 3)] for row in (1, 2, 3)]
        )
        centre = np.array([_number(path, transform, axis, name) for axis in ("x", "y", "z")])
        width = height = None
        fov = camera.find("fov_video")
        if fov is not None:
            width = int(_number(path, fov, "right", name) - _number(path, fov, "left", name)) + 1
            height = int(_number(path, fov, "bottom", name) - _number(path, fov, "top", name)) + 1
        cameras.append(
            {
                "name": name,
                "fx": _number(path, intrinsic, "focalLengthU", name) / subpixel_factor,
                "fy": _number(path, intrinsic, "focalLengthV", name) / subpixel_factor,
                "cx": _number(path, intrinsic, "centerPointU", name) / subpixel_factor,
                "cy": _number(path, intrinsic, "centerPointV", name) / subpixel_factor,
                "k": np.array([_number(path, intrinsic, f"radialDistortion{i}", name) for i in (1, 2, 3)]),
                "p": np.array([_number(path, intrinsic, f"tangentalDistortion{i}", name) for i in (1, 2)]),
                "R": QUALISYS_TO_OPENCV @ rotation_qualisys,
                "centre": centre,
                "width": width,
                "height": height,
            }
        )
    if not cameras:
        raise FormatError(path, "no <camera> elements (not a Qualisys calibration?)")
    return cameras
