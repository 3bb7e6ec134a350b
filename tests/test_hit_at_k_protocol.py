"""The Hit@k protocol of V-VIPE by hand: which poses match, Hit@k between cameras, near-duplicate removal."""

import numpy as np
import pytest
import torch

from poselift.encoding import normalize_pose_3d
from poselift.errors import PoseliftError
from poselift.geometry import axis_angle_to_matrix
from poselift.hit_at_k_protocol import cross_view_hit_at_k, pose_match_matrix, remove_near_duplicates
from poselift.metrics import p_mpjpe
from poselift.skeleton import H36M17
from poses import standing_pose_mm

L_WRIST = H36M17.index("l_wrist")


def arms_up_pose_mm() -> np.ndarray:
    """The standing pose with both arms raised above the head (world frame, Z up, mm)."""
    pose = standing_pose_mm()
    for elbow, wrist in ((12, 13), (15, 16)):
        pose[elbow, 2], pose[wrist, 2] = 1800.0, 2050.0
    return pose


def turned(pose: np.ndarray, axis_angle, scale: float = 1.0) -> np.ndarray:
    return scale * pose @ axis_angle_to_matrix(np.asarray(axis_angle, dtype=np.float64)).T + np.array([300.0, -50.0, 20.0])


def test_pose_matches_ignore_rotation_place_and_size():
    standing, arms_up = standing_pose_mm(), arms_up_pose_mm()
    raised_a_little = arms_up.copy()
    raised_a_little[L_WRIST] += [0.0, 0.0, 60.0]
    poses = np.stack([standing, arms_up, turned(raised_a_little, [0.3, -1.2, 2.0], scale=0.8)])
    normalised, _ = normalize_pose_3d(poses)
    matches = pose_match_matrix(normalised, threshold=0.1)
    assert matches.tolist() == [[True, False, False], [False, True, True], [False, True, True]]
    assert pose_match_matrix(normalised, threshold=0.1, pairs_per_chunk=2).tolist() == matches.tolist()


def test_hit_at_k_on_a_tiny_hand_built_case():
    # Two cameras, three frames, 1-d embeddings; camera 1 confuses frames 1 and 2.
    embeddings = torch.tensor([[[0.0], [10.0], [20.0]], [[0.4], [19.0], [11.0]]])
    # Only the same frame is an answer: 0->1: frame 0 hit at rank 1; frame 1 (10) ranks frame 2 (11)
    # then frame 1 (19): hit at rank 2; frame 2 (20) ranks frame 1 (19) then frame 2 (11): rank 2.
    # 1->0 is the mirror image. So Hit@1 = 1/3 and Hit@2 = Hit@3 = 1 for both pairs.
    result = cross_view_hit_at_k(embeddings, torch.eye(3, dtype=torch.bool), ks=(1, 2, 3))
    assert result["pairs"]["0->1"] == pytest.approx({1: 1 / 3, 2: 1.0, 3: 1.0})
    assert result["pairs"]["1->0"] == pytest.approx({1: 1 / 3, 2: 1.0, 3: 1.0})
    assert result["mean"] == pytest.approx({1: 1 / 3, 2: 1.0, 3: 1.0})
    # when frames 1 and 2 hold matching poses, the confusion costs nothing
    similar = torch.tensor([[True, False, False], [False, True, True], [False, True, True]])
    assert cross_view_hit_at_k(embeddings, similar, ks=(1,))["mean"] == pytest.approx({1: 1.0})
    # three cameras give the six ordered pairs
    three = torch.cat([embeddings, embeddings[:1]])
    assert sorted(cross_view_hit_at_k(three, similar, ks=(1,))["pairs"]) == ["0->1", "0->2", "1->0", "1->2", "2->0", "2->1"]
    with pytest.raises(PoseliftError, match="NaN"):
        cross_view_hit_at_k(torch.full((2, 3, 1), float("nan")), similar)


def test_near_duplicates_are_removed_greedily_in_order():
    standing, arms_up = standing_pose_mm(), arms_up_pose_mm()

    def wrist_up(pose, millimetres):
        moved = pose.copy()
        moved[L_WRIST] += [0.0, 0.0, millimetres]
        return moved

    sequence = np.stack([
        standing,                                            # 0 kept
        turned(standing, [0.0, 0.0, 2.5], scale=1.3),         # 1 the same pose turned and larger: dropped
        arms_up,                                             # 2 kept
        wrist_up(standing, 60.0),                            # 3 within 0.02 of 0: dropped
        wrist_up(standing, 120.0),                           # 4 within 0.02 of 3 (dropped) but not of 0: kept
        wrist_up(arms_up, 400.0),                            # 5 far from 2: kept
    ])
    normalised, _ = normalize_pose_3d(sequence)
    error = lambda later, earlier: float(p_mpjpe(normalised[later], normalised[earlier]))  # noqa: E731
    assert error(1, 0) < 1e-9 and error(3, 0) < 0.02 and error(4, 3) < 0.02 and error(4, 0) > 0.02
    assert error(5, 2) > 0.02
    assert remove_near_duplicates(normalised, threshold=0.02).tolist() == [0, 2, 4, 5]
    assert remove_near_duplicates(normalised, threshold=0.02, chunk_size=2).tolist() == [0, 2, 4, 5]


def test_aligned_pose_errors_pair_queries_and_candidates_in_any_chunks():
    from poselift.hit_at_k_protocol import aligned_pose_errors

    normalised, _ = normalize_pose_3d(np.stack([standing_pose_mm(), arms_up_pose_mm(),
                                                turned(standing_pose_mm(), [0.0, 0.0, 1.0], scale=1.2)]))
    normalised = torch.as_tensor(normalised)
    query, candidate = [0, 0, 1, 2], [1, 2, 2, 1]
    errors = aligned_pose_errors(normalised, query, candidate, chunk_size=3)
    expected = torch.stack([p_mpjpe(normalised[c], normalised[q]) for q, c in zip(query, candidate)])
    torch.testing.assert_close(errors, expected)
    assert errors[1] < 1e-9 and errors[0] > 0.1 and torch.isclose(errors[0], errors[3], atol=1e-9)
    assert aligned_pose_errors(normalised, [], []).shape == (0,)
    with pytest.raises(PoseliftError, match=r"expected \(C >= 2, F, D\), got \(1, 3, 2\)"):
        cross_view_hit_at_k(torch.zeros(1, 3, 2), torch.eye(3, dtype=torch.bool))
