"""Rigid geometry on poses: rotations, Kabsch / Procrustes, canonical orientation, triangulation.

Every function takes numpy arrays or torch tensors with any leading batch dimensions and returns the
type of its input (torch in -> torch out on the same device and dtype; numpy in -> numpy out). The
maths is written once, in torch; numpy inputs are wrapped without a copy and converted back. The
numpy rotation conversions go through ``scipy.spatial.transform`` (the tests check that the torch
versions give the same numbers).

Conventions
-----------
- Quaternions are ``(w, x, y, z)``, scalar first, and are normalised before use.
- Rotation matrices act on column vectors: ``x' = R @ x``; for point arrays ``(..., J, 3)`` this
  is ``points @ R.mT``.
- Axis-angle vectors are ``angle * unit_axis`` (radians).
- Millimetres in 3D, pixels in 2D.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from poselift.errors import ShapeError


Array = Union[np.ndarray, torch.Tensor]

__all__ = [
    "Array",
    "ArrayKind",
    "array_kind",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "rotation_about_z",
    "euler_to_matrix",
    "unit_vectors",
    "any_perpendicular",
    "rotation_between",
    "similarity_transform",
    "kabsch",
    "procrustes_align",
    "root_relative",
    "canonical_rotation",
    "canonicalize",
]


# ----------------------------------------------------------------------------------------------
# numpy / torch dispatch
# ----------------------------------------------------------------------------------------------


_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float16,
                 torch.int64: np.int64, torch.int32: np.int32, torch.bool: np.bool_}


@dataclass(frozen=True)
class ArrayKind:
    """What the caller passed in: tells how to compute (a torch dtype/device) and what to return.

    ``tensor(x)`` turns any input (numpy, torch, list, scalar) into a tensor of the working dtype
    and device (numpy inputs are shared, not copied, when the dtype already matches);
    ``output(t)`` turns a result back into the caller's type (numpy when no input was a tensor).
    """

    numpy_out: bool
    dtype: torch.dtype
    device: torch.device

    def tensor(self, value, dtype: torch.dtype | None = None) -> torch.Tensor:
        dtype = self.dtype if dtype is None else dtype
        if isinstance(value, torch.Tensor):
            return value.to(device=self.device, dtype=dtype)
        array = np.asarray(value, dtype=_NUMPY_DTYPES[dtype])
        if not (array.flags.writeable and array.flags.c_contiguous):
            array = np.array(array)  # torch.from_numpy needs a writeable, contiguous array
        return torch.from_numpy(array).to(self.device)

    def output(self, result: torch.Tensor) -> Array:
        if self.numpy_out:
            return result.detach().cpu().numpy()
        return result


def array_kind(*values, params: Sequence = ()) -> ArrayKind:
    """Choose the working dtype/device and the output type for a call.

    ``values`` are the data (points, poses); ``params`` are auxiliary arrays (camera parameters,
    weights) that follow the data's dtype. If any value or param is a torch tensor the output is
    torch, on the device of the first tensor; otherwise numpy. The dtype is the promoted floating
    dtype of the data (of the params if no data is floating); torch's default dtype (torch) or
    float64 (numpy) when nothing is floating. numpy float16 / longdouble compute in float64.
    ``None`` entries are ignored.
    """
    values = [v for v in values if v is not None]
    params = [v for v in params if v is not None]
    tensors = [v for v in (*values, *params) if isinstance(v, torch.Tensor)]
    dtype = _floating_dtype(values) or _floating_dtype(params)
    if tensors:
        return ArrayKind(numpy_out=False, dtype=dtype or torch.get_default_dtype(), device=tensors[0].device)
    if dtype not in (torch.float32, torch.float64):
        dtype = torch.float64
    return ArrayKind(numpy_out=True, dtype=dtype, device=torch.device("cpu"))


def _floating_dtype(values: Sequence) -> torch.dtype | None:
    """Promoted floating dtype of numpy / torch values, as a torch dtype (None if none is floating)."""
    found = None
    for value in values:
        if isinstance(value, torch.Tensor):
            dtype = value.dtype if value.is_floating_point() else None
        else:
            np_dtype = np.asarray(value).dtype
            if not np.issubdtype(np_dtype, np.floating):
                dtype = None
            else:
                dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float16): torch.float16}.get(
                    np_dtype, torch.float64)
        if dtype is not None:
            found = dtype if found is None else torch.promote_types(found, dtype)
    return found


def _check_last_dim(name: str, value: torch.Tensor, size: int, min_ndim: int = 1) -> None:
    if value.ndim < min_ndim or value.shape[-1] != size:
        raise ShapeError(f"{name}: expected shape (..., {size}) with at least {min_ndim} dims, "
                         f"got {tuple(value.shape)}")


def _det3(matrices: torch.Tensor) -> torch.Tensor:
    """Determinant of (..., 3, 3) matrices by cofactors (faster than LAPACK for tiny matrices)."""
    m = matrices
    return (m[..., 0, 0] * (m[..., 1, 1] * m[..., 2, 2] - m[..., 1, 2] * m[..., 2, 1])
            - m[..., 0, 1] * (m[..., 1, 0] * m[..., 2, 2] - m[..., 1, 2] * m[..., 2, 0])
            + m[..., 0, 2] * (m[..., 1, 0] * m[..., 2, 1] - m[..., 1, 1] * m[..., 2, 0]))


# ----------------------------------------------------------------------------------------------
# rotations
# ----------------------------------------------------------------------------------------------


def _scipy_apply(values: np.ndarray, width: int, convert) -> np.ndarray:
    """Run a scipy Rotation conversion on (..., width) rows and restore the leading dims."""
    flat = values.reshape(-1, width).astype(np.float64)
    result = convert(flat) if len(flat) else np.zeros((0,) + convert(np.eye(1, width)).shape[1:])
    return result.reshape(values.shape[:-1] + result.shape[1:])


def _check_quaternion_norm(quaternion: torch.Tensor) -> torch.Tensor:
    norm = torch.linalg.vector_norm(quaternion, dim=-1, keepdim=True)
    if not bool(torch.isfinite(quaternion).all()) or bool((norm < 1e-12).any()):
        raise ShapeError("quaternion: every (w, x, y, z) must be finite and non-zero, "
                         f"got an invalid one in an array of shape {tuple(quaternion.shape)}")
    return norm


def quaternion_to_matrix(quaternion_wxyz: Array) -> Array:
    """Rotation matrices from unit quaternions.

    Args:
        quaternion_wxyz: (..., 4) quaternions (w, x, y, z); normalised here.
    Returns:
        (..., 3, 3) rotation matrices R (``x' = R @ x``).
    Raises:
        ShapeError: wrong last dimension, or a zero / non-finite quaternion.
    """
    kind = array_kind(quaternion_wxyz)
    quat = kind.tensor(quaternion_wxyz)
    _check_last_dim("quaternion_wxyz", quat, 4)
    norm = _check_quaternion_norm(quat)
    if kind.numpy_out:
        values = quat.numpy()
        matrices = _scipy_apply(values, 4, lambda q: Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix())
        return matrices.astype(values.dtype, copy=False)
    w, x, y, z = (quat / norm).unbind(-1)
    rows = (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    )
    return torch.stack(rows, dim=-1).reshape(quat.shape[:-1] + (3, 3))


def _canonical_sign(quat_wxyz: torch.Tensor) -> torch.Tensor:
    """Flip quaternions so that w >= 0 (and, when w == 0, the first non-zero of x, y, z > 0)."""
    leading = quat_wxyz[..., 0]
    for index in (1, 2, 3):
        leading = torch.where(leading == 0, quat_wxyz[..., index], leading)
    return torch.where((leading < 0)[..., None], -quat_wxyz, quat_wxyz)


def _rotation_matrices(matrix: Array):
    """(kind, tensor) of (..., 3, 3) rotation matrices; ShapeError naming the shape otherwise."""
    kind = array_kind(matrix)
    rot = kind.tensor(matrix)
    if rot.ndim < 2 or rot.shape[-2:] != (3, 3):
        raise ShapeError(f"matrix: expected shape (..., 3, 3), got {tuple(rot.shape)}")
    return kind, rot


def _with_scipy(rot: torch.Tensor, convert, size: int) -> np.ndarray:
    """Apply a scipy ``Rotation`` conversion to (..., 3, 3) matrices -> (..., size), the input's dtype."""
    values = rot.numpy()
    flat = values.reshape(-1, 3, 3).astype(np.float64)
    converted = convert(Rotation.from_matrix(flat)) if len(flat) else np.zeros((0, size))
    return converted.reshape(values.shape[:-2] + (size,)).astype(values.dtype, copy=False)


def matrix_to_quaternion(matrix: Array) -> Array:
    """Unit quaternions (w, x, y, z) with w >= 0 from rotation matrices.

    Args:
        matrix: (..., 3, 3) rotation matrices.
    Returns:
        (..., 4) quaternions, sign chosen so that w >= 0 (the first non-zero component is
        positive when w == 0).
    """
    kind, rot = _rotation_matrices(matrix)
    if kind.numpy_out:
        quat_xyzw = _with_scipy(rot, lambda rotation: rotation.as_quat(), 4)
        quat = torch.from_numpy(np.ascontiguousarray(quat_xyzw[..., [3, 0, 1, 2]]))
        return _canonical_sign(quat).numpy()
    m = rot
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    # 4 * component^2 for w, x, y, z; the largest gives the best-conditioned formula (Shepperd).
    four_sq = torch.stack([
        1 + trace,
        1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
        1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
        1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
    ], dim=-1)
    d21, d02, d10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    s10, s02, s21 = m[..., 1, 0] + m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2]
    # candidate[i] = 4 * q_i * q, exact whatever i is; divide by the largest 4 * q_i.
    candidates = torch.stack([
        torch.stack([four_sq[..., 0], d21, d02, d10], dim=-1),
        torch.stack([d21, four_sq[..., 1], s10, s02], dim=-1),
        torch.stack([d02, s10, four_sq[..., 2], s21], dim=-1),
        torch.stack([d10, s02, s21, four_sq[..., 3]], dim=-1),
    ], dim=-2)
    best = four_sq.argmax(dim=-1)
    chosen = torch.gather(candidates, -2, best[..., None, None].expand(best.shape + (1, 4))).squeeze(-2)
    quat = chosen / torch.linalg.vector_norm(chosen, dim=-1, keepdim=True)
    return _canonical_sign(quat)


def axis_angle_to_matrix(rotation_vector: Array) -> Array:
    """Rotation matrices from axis-angle vectors (Rodrigues' formula).

    Args:
        rotation_vector: (..., 3) ``angle_rad * unit_axis``.
    Returns:
        (..., 3, 3) rotation matrices. The torch path is differentiable at zero rotation.
    """
    kind = array_kind(rotation_vector)
    rotvec = kind.tensor(rotation_vector)
    _check_last_dim("rotation_vector", rotvec, 3)
    if kind.numpy_out:
        values = rotvec.numpy()
        return _scipy_apply(values, 3, lambda r: Rotation.from_rotvec(r).as_matrix()).astype(values.dtype, copy=False)
    angle_sq = (rotvec * rotvec).sum(-1)
    small = angle_sq < 1e-8
    safe_sq = torch.where(small, torch.ones_like(angle_sq), angle_sq)
    angle = torch.sqrt(safe_sq)
    # R = I + a [v]x + b [v]x^2 with a = sin(t)/t, b = (1 - cos(t))/t^2 (Taylor series near 0).
    coef_a = torch.where(small, 1 - angle_sq / 6, torch.sin(angle) / angle)
    coef_b = torch.where(small, 0.5 - angle_sq / 24, (1 - torch.cos(angle)) / safe_sq)
    x, y, z = rotvec.unbind(-1)
    zero = torch.zeros_like(x)
    cross = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(rotvec.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device)
    return eye + coef_a[..., None, None] * cross + coef_b[..., None, None] * (cross @ cross)


def matrix_to_axis_angle(matrix: Array) -> Array:
    """Axis-angle vectors (angle in [0, pi]) from rotation matrices.

    Args:
        matrix: (..., 3, 3) rotation matrices.
    Returns:
        (..., 3) ``angle_rad * unit_axis`` with angle in [0, pi].
    """
    kind, rot = _rotation_matrices(matrix)
    if kind.numpy_out:
        return _with_scipy(rot, lambda rotation: rotation.as_rotvec(), 3)
    quat = matrix_to_quaternion(rot)  # w >= 0, so the angle 2 atan2(|v|, w) lies in [0, pi]
    w, vec = quat[..., :1], quat[..., 1:]
    sin_half = torch.linalg.vector_norm(vec, dim=-1, keepdim=True)
    small = sin_half < 1e-6
    angle = 2 * torch.atan2(sin_half, w)
    # angle / sin(angle/2) -> 2 / w (1 + sin^2/6 ...) as sin -> 0
    ratio = torch.where(small, 2 / w.clamp_min(1e-12), angle / torch.where(small, torch.ones_like(sin_half), sin_half))
    return vec * ratio


def rotation_about_z(angle_rad: Array | float) -> Array:
    """Rotation matrices about the +Z axis (counter-clockwise seen from +Z).

    Args:
        angle_rad: scalar or (...) angles in radians (a Python float gives a numpy float64 result).
    Returns:
        (..., 3, 3) rotation matrices ``[[c, -s, 0], [s, c, 0], [0, 0, 1]]``.
    """
    kind = array_kind(angle_rad)
    angle = kind.tensor(angle_rad)
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    matrices = torch.stack([cos, -sin, zero, sin, cos, zero, zero, zero, one], dim=-1)
    return kind.output(matrices.reshape(angle.shape + (3, 3)))


def euler_to_matrix(axes: Sequence[str], angles_rad: np.ndarray, intrinsic: bool = True) -> np.ndarray:
    """Rotation matrices from angles about named axes, batched (SciPy's ``Rotation.from_euler``).

    Motion-capture files store a rotation as angles about axes listed in an order: BVH channels
    (``Zrotation Xrotation Yrotation``) are ``intrinsic`` (``R = R_a1 @ R_a2 @ ...``, each about the
    axes the earlier ones turned); Acclaim ASF/AMC orders (``XYZ``) are extrinsic (``R = R_an @ ... @
    R_a1``, about fixed axes).

    Args:
        axes: up to 3 letters X, Y, Z (any case), no letter twice in a row. angles_rad: (..., n) radians.
    Returns:
        (..., 3, 3) float64 matrices acting on column vectors; identities when ``axes`` is empty.
    """
    angles = np.asarray(angles_rad, dtype=np.float64)
    if not axes:
        return np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    if angles.shape[-1:] != (len(axes),):
        raise ShapeError(f"angles_rad: expected shape (..., {len(axes)}) for axes {''.join(axes)}, got {angles.shape}")
    sequence = "".join(axes).upper() if intrinsic else "".join(axes).lower()
    matrices = Rotation.from_euler(sequence, angles.reshape(-1, len(axes))).as_matrix()
    return matrices.reshape(angles.shape[:-1] + (3, 3))


def unit_vectors(vectors: np.ndarray) -> np.ndarray:
    """(..., 3) vectors scaled to unit length (zero vectors stay zero)."""
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norm > 0, norm, 1.0)


def any_perpendicular(vectors: np.ndarray) -> np.ndarray:
    """(..., 3) a unit vector perpendicular to each (unit) vector."""
    helper = np.where(np.abs(vectors[..., :1]) < 0.9, np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    return unit_vectors(np.cross(vectors, helper))


def rotation_between(source_dir: np.ndarray, target_dir: np.ndarray) -> np.ndarray:
    """The smallest rotation turning the direction ``source_dir`` onto ``target_dir`` (numpy, batched).

    Args:
        source_dir, target_dir: (..., 3) non-zero vectors (broadcast together).
    Returns:
        (..., 3, 3) rotations R with ``R @ unit(source) = unit(target)``; the axis is
        ``source x target``; opposite directions turn half a turn about a perpendicular axis.
    """
    source, target = np.broadcast_arrays(unit_vectors(np.asarray(source_dir, dtype=np.float64)),
                                         unit_vectors(np.asarray(target_dir, dtype=np.float64)))
    axis = np.cross(source, target)
    sin = np.linalg.norm(axis, axis=-1, keepdims=True)
    cos = np.sum(source * target, axis=-1, keepdims=True)
    angle = np.arctan2(sin, cos)
    axis = np.where(sin > 1e-12, axis / np.where(sin > 0, sin, 1.0), any_perpendicular(source))
    return axis_angle_to_matrix(axis * angle)


# ----------------------------------------------------------------------------------------------
# Kabsch / Procrustes
# ----------------------------------------------------------------------------------------------


def _similarity_transform_tensors(source: torch.Tensor, target: torch.Tensor,
                                  weights: torch.Tensor | None, scale: bool):
    """Core of :func:`similarity_transform` on tensors; returns (R, s, t)."""
    if weights is None:
        source_mean = source.mean(dim=-2)
        target_mean = target.mean(dim=-2)
        share = torch.full(source.shape[-2:-1], 1.0 / source.shape[-2], dtype=source.dtype, device=source.device)
    else:
        total = weights.sum(dim=-1, keepdim=True)
        if bool((weights < 0).any()) or bool((total <= 0).any()):
            raise ShapeError("weights: must be >= 0 with a positive sum for every pose "
                             f"(shape {tuple(weights.shape)})")
        share = weights / total
        source_mean = (share[..., None] * source).sum(dim=-2)
        target_mean = (share[..., None] * target).sum(dim=-2)
    source_centred = source - source_mean[..., None, :]
    target_centred = target - target_mean[..., None, :]
    weighted_source = source_centred * share[..., None]
    covariance = weighted_source.mT @ target_centred  # (..., 3, 3) = sum_j w_j s_j t_j^T
    u, singular, vh = torch.linalg.svd(covariance)
    # Best proper rotation: R = V diag(1, 1, d) U^T with d = det(V U^T) = +-1 (no reflections).
    sign = torch.where(_det3(u) * _det3(vh) < 0, -1.0, 1.0).to(source.dtype)
    ones = torch.ones_like(sign)
    flip = torch.stack([ones, ones, sign], dim=-1)  # the diagonal of diag(1, 1, d)
    rotation = (vh.mT * flip[..., None, :]) @ u.mT
    if scale:
        source_variance = (weighted_source * source_centred).sum(dim=(-2, -1))
        trace = (singular * flip).sum(dim=-1)
        # A collapsed source (zero spread) gets scale 0: all points land on the target centroid.
        factor = trace / source_variance.clamp_min(torch.finfo(source.dtype).tiny)
    else:
        factor = torch.ones(rotation.shape[:-2], dtype=source.dtype, device=source.device)
    translation = target_mean - factor[..., None] * (rotation @ source_mean[..., None])[..., 0]
    return rotation, factor, translation


def _prepare_point_pair(kind: ArrayKind, source, target, weights, names=("source", "target")):
    source_t, target_t = kind.tensor(source), kind.tensor(target)
    if source_t.shape != target_t.shape or source_t.ndim < 2 or source_t.shape[-1] != 3:
        raise ShapeError(f"{names[0]} and {names[1]}: expected equal shapes (..., J, 3), "
                         f"got {tuple(source_t.shape)} and {tuple(target_t.shape)}")
    weights_t = None
    if weights is not None:
        weights_t = kind.tensor(weights)
        try:
            torch.broadcast_shapes(weights_t.shape, source_t.shape[:-1])
        except RuntimeError:
            raise ShapeError(f"weights: shape {tuple(weights_t.shape)} does not broadcast to the "
                             f"points' (..., J) = {tuple(source_t.shape[:-1])}") from None
    return source_t, target_t, weights_t


def similarity_transform(source: Array, target: Array, weights: Array | None = None,
                         scale: bool = True) -> tuple[Array, Array, Array]:
    """Least-squares similarity (or rigid) transform mapping ``source`` onto ``target``.

    Minimises ``sum_j w_j || s R source_j + t - target_j ||^2`` over proper rotations R
    (det +1, never a reflection), scale s > = 0 (fixed to 1 when ``scale=False``) and t.
    Batched through one SVD of the (..., 3, 3) weighted cross-covariance.

    Args:
        source, target: (..., J, 3) corresponding points (same shape).
        weights: optional (..., J) non-negative weights (broadcastable), positive sum per pose.
        scale: estimate the uniform scale (True) or keep it at 1 (False: Kabsch).
    Returns:
        ``(R (..., 3, 3), s (...), t (..., 3))``.
    """
    kind = array_kind(source, target, params=(weights,))
    source_t, target_t, weights_t = _prepare_point_pair(kind, source, target, weights)
    rotation, factor, translation = _similarity_transform_tensors(source_t, target_t, weights_t, scale)
    return kind.output(rotation), kind.output(factor), kind.output(translation)


def kabsch(source: Array, target: Array, weights: Array | None = None) -> tuple[Array, Array]:
    """Rigid transform (R, t) minimising ``sum_j w_j || R source_j + t - target_j ||^2``.

    Args:
        source, target: (..., J, 3) corresponding points.
        weights: optional (..., J) non-negative weights.
    Returns:
        ``(R (..., 3, 3) with det +1, t (..., 3))``; apply as ``source @ R.mT + t[..., None, :]``.
    """
    rotation, _, translation = similarity_transform(source, target, weights, scale=False)
    return rotation, translation


def procrustes_align(pred: Array, target: Array, weights: Array | None = None, scale: bool = True) -> Array:
    """``pred`` moved by its best similarity (rotation, translation, uniform scale) onto ``target``.

    Reflection-safe (proper rotations only). This is the alignment behind
    :func:`poselift.metrics.p_mpjpe`.

    Args:
        pred, target: (..., J, 3) mm, same frame.
        weights: optional (..., J) joint weights.
        scale: also fit a uniform scale (True, standard P-MPJPE) or only a rigid motion.
    Returns:
        (..., J, 3) mm, ``pred`` aligned to ``target``.
    """
    kind = array_kind(pred, target, params=(weights,))
    pred_t, target_t, weights_t = _prepare_point_pair(kind, pred, target, weights, ("pred", "target"))
    rotation, factor, translation = _similarity_transform_tensors(pred_t, target_t, weights_t, scale)
    aligned = factor[..., None, None] * (pred_t @ rotation.mT) + translation[..., None, :]
    return kind.output(aligned)


# ----------------------------------------------------------------------------------------------
# pose frames
# ----------------------------------------------------------------------------------------------


def root_relative(poses: Array, root: int = 0) -> Array:
    """Poses with the root joint moved to the origin.

    Args:
        poses: (..., J, D) joint positions (D = 3 mm or D = 2 px).
        root: index of the root joint (0 = pelvis in H36M-17).
    Returns:
        (..., J, D) ``poses - poses[..., root, :]``.
    """
    kind = array_kind(poses)
    poses_t = kind.tensor(poses)
    if poses_t.ndim < 2 or not -poses_t.shape[-2] <= root < poses_t.shape[-2]:
        raise ShapeError(f"poses: root joint {root} is not in an array of shape {tuple(poses_t.shape)}")
    return kind.output(poses_t - poses_t.narrow(-2, root % poses_t.shape[-2], 1))


def _check_joint_indices(poses: torch.Tensor, **indices: int) -> None:
    if poses.ndim < 2 or poses.shape[-1] != 3:
        raise ShapeError(f"poses: expected shape (..., J, 3), got {tuple(poses.shape)}")
    for name, index in indices.items():
        if not 0 <= index < poses.shape[-2]:
            raise ShapeError(f"poses: joint {name}={index} is not in an array of shape {tuple(poses.shape)}")


def _canonical_rotation_tensors(poses: torch.Tensor, left_hip: int, right_hip: int, pelvis: int,
                                thorax: int) -> torch.Tensor:
    hip_axis = poses[..., left_hip, :] - poses[..., right_hip, :]
    spine = poses[..., thorax, :] - poses[..., pelvis, :]
    hip_length = torch.linalg.vector_norm(hip_axis, dim=-1, keepdim=True)
    axis_y = hip_axis / hip_length.clamp_min(torch.finfo(poses.dtype).tiny)
    spine_perp = spine - (spine * axis_y).sum(-1, keepdim=True) * axis_y
    spine_length = torch.linalg.vector_norm(spine_perp, dim=-1, keepdim=True)
    spine_length_full = torch.linalg.vector_norm(spine, dim=-1, keepdim=True)
    degenerate = (hip_length == 0) | (spine_length <= 1e-6 * spine_length_full) | ~torch.isfinite(spine_length)
    if bool(degenerate.any()):
        raise ShapeError("poses: canonical_rotation needs distinct hips and a spine (pelvis -> thorax) "
                         f"not parallel to the hips; joints left_hip={left_hip}, right_hip={right_hip}, "
                         f"pelvis={pelvis}, thorax={thorax} are degenerate in some pose")
    axis_z = spine_perp / spine_length
    axis_x = torch.linalg.cross(axis_y, axis_z, dim=-1)
    return torch.stack([axis_x, axis_y, axis_z], dim=-2)


def canonical_rotation(poses: Array, left_hip: int = 4, right_hip: int = 1, pelvis: int = 0,
                       thorax: int = 8) -> Array:
    """Rotation into the body's own frame: hips on +y, spine on +z, facing +x.

    The canonical frame has +y along the hip axis (right hip -> left hip), +z along the spine
    (pelvis -> thorax) after removing its component along the hips (Gram-Schmidt), and
    +x = y x z, the direction the body faces (right-handed: x forward, y to the subject's left,
    z up). This is the Kabsch solution that maps those three orthonormalised body directions onto
    the canonical axes, written in closed form (exact and SVD-free).

    Args:
        poses: (..., J, 3) poses (default joint indices are H36M-17).
    Returns:
        (..., 3, 3) rotation R; ``canonical = (poses - pelvis) @ R.mT``.
    Raises:
        ShapeError: coincident hips, or a spine parallel to the hip axis.
    """
    kind = array_kind(poses)
    poses_t = kind.tensor(poses)
    _check_joint_indices(poses_t, left_hip=left_hip, right_hip=right_hip, pelvis=pelvis, thorax=thorax)
    return kind.output(_canonical_rotation_tensors(poses_t, left_hip, right_hip, pelvis, thorax))


def canonicalize(poses: Array, left_hip: int = 4, right_hip: int = 1, pelvis: int = 0, thorax: int = 8) -> Array:
    """Poses centred on the pelvis and rotated into the canonical body frame.

    See :func:`canonical_rotation` for the frame (hips on y, spine on z, facing +x).

    Args:
        poses: (..., J, 3) mm, any frame.
    Returns:
        (..., J, 3) mm, canonical frame, pelvis at the origin.
    """
    kind = array_kind(poses)
    poses_t = kind.tensor(poses)
    _check_joint_indices(poses_t, left_hip=left_hip, right_hip=right_hip, pelvis=pelvis, thorax=thorax)
    rotation = _canonical_rotation_tensors(poses_t, left_hip, right_hip, pelvis, thorax)
    centred = poses_t - poses_t[..., pelvis:pelvis + 1, :]
    return kind.output(centred @ rotation.mT)


# ----------------------------------------------------------------------------------------------
# triangulation
# ----------------------------------------------------------------------------------------------
