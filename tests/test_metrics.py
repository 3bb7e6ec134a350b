"""Tests of poselift.metrics against values computed by hand."""

import math

import numpy as np
import pytest
import torch

from poselift.errors import ShapeError
from poselift.geometry import rotation_about_z
from poselift.metrics import (
    acceleration_error,
    auc,
    auc_thresholds_mm,
    hit_at_k,
    mean_by_group,
    mpjpe,
    mpjve,
    n_mpjpe,
    p_mpjpe,
    pck,
)

# a small 4-joint "pose", mm
POSE = np.array([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0], [0.0, 200.0, 0.0], [0.0, 0.0, 300.0]])


def test_mpjpe_by_hand():
    assert mpjpe(POSE + np.array([3.0, 4.0, 0.0]), POSE) == pytest.approx(5.0)
    # per-joint errors 0, 5, 10, 13 (5-12-13 triangle) -> mean 7
    offsets = np.array([[0.0, 0, 0], [3, 4, 0], [0, 6, 8], [5, 0, 12]])
    assert mpjpe(POSE + offsets, POSE) == pytest.approx(7.0)
    batch = np.stack([POSE + np.array([3.0, 4.0, 0.0]), POSE + offsets, POSE])
    result = mpjpe(torch.as_tensor(batch), torch.as_tensor(np.stack([POSE] * 3)))
    assert isinstance(result, torch.Tensor) and result.shape == (3,)
    np.testing.assert_allclose(result.numpy(), [5.0, 7.0, 0.0])
    # 2D error in pixels works the same way
    assert mpjpe(np.array([[3.0, 4.0], [0.0, 0.0]]), np.zeros((2, 2))) == pytest.approx(2.5)
    with pytest.raises(ShapeError, match="pred and gt"):
        mpjpe(POSE, POSE[:3])


def test_p_mpjpe_ignores_similarity_but_not_shape():
    moved = 1.7 * POSE @ rotation_about_z(0.9).T + np.array([10.0, -20.0, 30.0])
    assert p_mpjpe(moved, POSE) == pytest.approx(0.0, abs=1e-9)
    assert mpjpe(moved, POSE) > 50
    # a change of shape is not aligned away: one joint moved 40 mm
    assert p_mpjpe(POSE + np.array([[0.0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 40]]), POSE) > 1.0


def test_n_mpjpe_scale_by_hand():
    # pred = 2 gt -> s = 1/2 -> error 0; pred = gt + uniform offset is not rescued by scaling alone
    assert n_mpjpe(2 * POSE, POSE) == pytest.approx(0.0, abs=1e-12)
    # two joints, gt (1,0,0),(0,1,0); pred (2,0,0),(0,0,0): s = <p,g>/<p,p> = 2/4 = 0.5
    # scaled pred (1,0,0),(0,0,0): errors 0 and 1 -> 0.5
    gt = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    pred = np.array([[2.0, 0, 0], [0, 0, 0]])
    assert n_mpjpe(pred, gt) == pytest.approx(0.5)
    assert n_mpjpe(np.zeros((2, 3)), gt) == pytest.approx(1.0)  # collapsed prediction: finite


def test_pck_and_auc_by_hand():
    # joint errors 0, 50, 120, 200 mm
    pred = POSE + np.array([[0.0, 0, 0], [50, 0, 0], [0, 120, 0], [0, 0, 200]])
    assert pck(pred, POSE) == pytest.approx(3 / 4)  # 200 mm fails at 150 mm
    assert pck(pred, POSE, threshold_mm=50) == pytest.approx(1 / 4)  # strict: 50 mm is not < 50 mm
    np.testing.assert_allclose(auc_thresholds_mm(), np.arange(0, 151, 5))
    # thresholds strictly above each error among 0, 5, ..., 150: 30, 20 (55..150), 6 (125..150), 0
    assert auc(pred, POSE) == pytest.approx((30 + 20 + 6 + 0) / (4 * 31))
    # a perfect pose: every threshold but 0 mm counts it
    assert auc(POSE, POSE) == pytest.approx(30 / 31)
    # a custom grid 0, 50, 100: errors 0 -> 2, 50 -> 1, 120 -> 0, 200 -> 0 thresholds above
    assert auc(pred, POSE, max_threshold_mm=100, steps=3) == pytest.approx(3 / 12)
    batched = pck(torch.as_tensor(np.stack([pred, POSE])), torch.as_tensor(np.stack([POSE, POSE])))
    np.testing.assert_allclose(batched.numpy(), [0.75, 1.0])


def test_velocity_and_acceleration_errors_by_hand():
    # gt: one joint still at the origin; pred drifts along x by 0, 1, 3, 6 mm (velocity 1, 2, 3;
    # acceleration 1, 1), plus a second joint that is exact.
    gt = np.zeros((4, 2, 3))
    pred = np.zeros((4, 2, 3))
    pred[:, 0, 0] = [0.0, 1.0, 3.0, 6.0]
    np.testing.assert_allclose(mpjve(pred, gt), [0.5, 1.0, 1.5])
    np.testing.assert_allclose(acceleration_error(pred, gt), [0.5, 0.5])
    # a constant offset has no velocity error
    np.testing.assert_allclose(mpjve(gt + 7.0, gt), [0.0, 0.0, 0.0])
    # batched sequences (B, T, J, 3) with time on axis 1
    batched = np.stack([pred, gt])
    np.testing.assert_allclose(mpjve(batched, np.stack([gt, gt]), axis=1), [[0.5, 1.0, 1.5], [0.0, 0.0, 0.0]])
    with pytest.raises(ShapeError, match="time axis"):
        mpjve(pred, gt, axis=-2)
    with pytest.raises(ShapeError, match="frames"):
        acceleration_error(pred[:2], gt[:2])


def test_hit_at_k_by_hand():
    index = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
    queries = np.array([[0.1], [2.9], [9.0]])
    is_match = np.zeros((3, 5), dtype=bool)
    is_match[0, 0] = True  # nearest of query 0 -> hit at 1
    is_match[1, 1] = True  # query 1 (2.9): order 3, 2, 1, 0, 10 -> match at rank 3
    # query 2 has no match at all -> never a hit
    result = hit_at_k(queries, index, is_match, ks=(1, 2, 3, 10))
    assert result == {1: pytest.approx(1 / 3), 2: pytest.approx(1 / 3), 3: pytest.approx(2 / 3),
                      10: pytest.approx(2 / 3)}
    chunked = hit_at_k(torch.as_tensor(queries), torch.as_tensor(index), torch.as_tensor(is_match),
                       ks=(1, 3), chunk_size=1)
    assert chunked == {1: pytest.approx(1 / 3), 3: pytest.approx(2 / 3)}
    with pytest.raises(ShapeError, match="is_match"):
        hit_at_k(queries, index, is_match[:, :4])


def test_mean_by_group_by_hand():
    values = np.array([1.0, 3.0, 10.0, 4.0])
    groups = ["walk", "walk", "jump", "walk"]
    per_group, overall = mean_by_group(values, groups)
    assert per_group == {"jump": 10.0, "walk": pytest.approx(8 / 3)}
    assert overall == pytest.approx((10.0 + 8 / 3) / 2)
    per_group_t, _ = mean_by_group(torch.tensor([2.0, 4.0]), torch.tensor([7, 7]))
    assert per_group_t == {7: 3.0}
    with pytest.raises(ShapeError, match="walk"):
        mean_by_group(np.array([1.0, math.nan]), ["walk", "walk"])
    with pytest.raises(ShapeError):
        mean_by_group(np.array([1.0]), ["a", "b"])


def test_metrics_keep_type_and_dtype():
    pred32 = torch.as_tensor(np.stack([POSE + 1.0] * 2), dtype=torch.float32)
    gt32 = torch.as_tensor(np.stack([POSE] * 2), dtype=torch.float32)
    for metric in (mpjpe, p_mpjpe, n_mpjpe, pck, auc):
        value = metric(pred32, gt32)
        assert isinstance(value, torch.Tensor) and value.dtype == torch.float32 and value.shape == (2,)
        value_np = metric(pred32.numpy(), gt32.numpy())
        assert isinstance(value_np, np.ndarray) and value_np.dtype == np.float32
        np.testing.assert_allclose(value_np, value.numpy(), atol=1e-5)
