"""The simulated 2D detector (poselift.data.noise): seeded, per-joint sigmas, AR(1) within clips only,
gross errors, left/right swaps, and a confidence that falls with the error."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from poselift.data.noise import DEFAULT_SIGMA_PX, SWAPPABLE_LIMBS, DetectorNoiseConfig, simulate_detector

GAUSSIAN_ONLY = DetectorNoiseConfig(gross_error_rate=0.0, swap_rate=0.0)
NO_GAUSSIAN = DetectorNoiseConfig(sigma_px=(0.0,) * 17, gross_error_rate=0.0, swap_rate=0.0)


def detect(frames: int, config: DetectorNoiseConfig, seed: int = 0, clip_lengths=None, joints: int = 17):
    """Detections of ``frames`` exact keypoints at (500, 400) px, and their error."""
    gt = torch.tensor([500.0, 400.0]).expand(frames, joints, 2)
    noisy, confidence = simulate_detector(gt, torch.Generator().manual_seed(seed), config, clip_lengths)
    return noisy, confidence, noisy - gt


def lag_1_correlation(error: torch.Tensor, pairs: torch.Tensor) -> float:
    """Correlation of each coordinate's error at frame t and t + 1, over the frames t in ``pairs``."""
    first, second = error[pairs].double(), error[pairs + 1].double()
    return float((first * second).mean() / (first.std() * second.std()))


def test_the_same_seed_gives_the_same_detections():
    first = detect(50, DetectorNoiseConfig(), seed=3)[:2]
    again = detect(50, DetectorNoiseConfig(), seed=3)[:2]
    other = detect(50, DetectorNoiseConfig(), seed=4)[:2]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])
    assert first[0].dtype == torch.float32 and first[1].shape == (50, 17)


def test_each_joint_scatters_with_its_own_sigma():
    _, _, error = detect(20_000, GAUSSIAN_ONLY)
    std = error.double().std(dim=0)                                        # (17, 2) per joint and axis
    sigma = torch.tensor(DEFAULT_SIGMA_PX, dtype=torch.float64)[:, None].expand(17, 2)
    torch.testing.assert_close(std, sigma, rtol=0.03, atol=0)              # sampling error of a std: ~0.5 %
    assert float(error.double().mean(dim=0).abs().max()) < 0.2             # unbiased
    assert DEFAULT_SIGMA_PX[0] == 3.0 and DEFAULT_SIGMA_PX[13] == 8.0 and DEFAULT_SIGMA_PX[3] == 8.0


def test_errors_are_ar1_within_a_clip_and_independent_across_clips():
    # 10 000 clips of two frames: pairs inside a clip (frame 0 -> 1) and across a boundary (1 -> next 0)
    _, _, error = detect(20_000, GAUSSIAN_ONLY, clip_lengths=[2] * 10_000)
    normalised = error / torch.tensor(DEFAULT_SIGMA_PX)[:, None]
    inside, across = torch.arange(0, 19_998, 2), torch.arange(1, 19_998, 2)
    assert lag_1_correlation(normalised, inside) == pytest.approx(0.7, abs=0.02)
    assert lag_1_correlation(normalised, across) == pytest.approx(0.0, abs=0.02)
    # the marginal spread stays sigma on the first and the later frames of a clip
    assert float(normalised[0::2].std()) == pytest.approx(1.0, abs=0.02)
    assert float(normalised[1::2].std()) == pytest.approx(1.0, abs=0.02)
    # one long clip: the same correlation; independent frames (no clips): none
    _, _, long_clip = detect(10_000, GAUSSIAN_ONLY, clip_lengths=[10_000])
    assert lag_1_correlation(long_clip, torch.arange(9_999)) == pytest.approx(0.7, abs=0.02)
    _, _, frames = detect(10_000, GAUSSIAN_ONLY)
    assert lag_1_correlation(frames, torch.arange(9_999)) == pytest.approx(0.0, abs=0.02)


def test_gross_errors_throw_a_share_of_joints_20_to_60_px():
    _, _, error = detect(10_000, replace(NO_GAUSSIAN, gross_error_rate=0.1))
    distance = error.norm(dim=-1)
    thrown = distance > 0
    assert float(thrown.double().mean()) == pytest.approx(0.1, abs=0.005)
    assert float(distance[thrown].min()) >= 20.0 - 1e-3 and float(distance[thrown].max()) <= 60.0 + 1e-3
    assert float(distance[thrown].mean()) == pytest.approx(40.0, abs=0.5)   # uniform in [20, 60]
    direction = error[thrown] / distance[thrown][:, None]
    assert float(direction.mean(dim=0).norm()) < 0.03                       # in any direction


def test_swaps_exchange_whole_left_and_right_limbs():
    rng = np.random.default_rng(0)
    gt = torch.from_numpy(rng.uniform(0, 1000, size=(4000, 17, 2)).astype(np.float32))
    always, _ = simulate_detector(gt, torch.Generator().manual_seed(0), replace(NO_GAUSSIAN, swap_rate=1.0))
    for left, right in SWAPPABLE_LIMBS:
        assert torch.equal(always[:, list(left)], gt[:, list(right)]) and torch.equal(always[:, list(right)], gt[:, list(left)])
    assert torch.equal(always[:, [0, 7, 8, 9, 10]], gt[:, [0, 7, 8, 9, 10]])                 # the torso stays
    half, _ = simulate_detector(gt, torch.Generator().manual_seed(1), replace(NO_GAUSSIAN, swap_rate=0.5))
    arms = (half[:, 11] != gt[:, 11]).any(-1)
    legs = (half[:, 4] != gt[:, 4]).any(-1)
    assert float(arms.double().mean()) == pytest.approx(0.5, abs=0.03)
    assert float(legs.double().mean()) == pytest.approx(0.5, abs=0.03)
    assert float((arms & legs).double().mean()) == pytest.approx(0.25, abs=0.03)            # drawn independently


def test_confidence_falls_with_the_error():
    config = DetectorNoiseConfig(gross_error_rate=0.05)
    _, confidence, error = detect(5_000, config)
    expected = torch.exp(-0.5 * (error.norm(dim=-1) / config.confidence_scale_px) ** 2)
    assert bool((confidence <= expected + 1e-6).all()) and bool((confidence >= 0.9 * expected - 1e-6).all())
    far, near = error.norm(dim=-1) > 30, error.norm(dim=-1) < 5
    assert float(confidence[far].mean()) < 0.15 < 0.9 < float(confidence[near].mean())
    _, exact_confidence, _ = detect(1_000, NO_GAUSSIAN)                      # no error: only the jitter factor
    assert float(exact_confidence.min()) >= 0.9 and float(exact_confidence.max()) <= 1.0


def test_expected_confidence_follows_the_drawn_difficulty_not_the_realised_error():
    """Benchmark 2.0's model: the Gaussian error of a joint is sigma x d with d in [0.5, 1.5], and its
    confidence exp(-0.5 (sigma d / 15)^2) x jitter: bounded by the range of d, whatever the error."""
    config = DetectorNoiseConfig(gross_error_rate=0.05, confidence_model="expected")
    _, confidence, error = detect(20_000, config)
    sigma = torch.tensor(DEFAULT_SIGMA_PX)
    highest = torch.exp(-0.5 * (0.5 * sigma / config.confidence_scale_px) ** 2)
    lowest = 0.9 * torch.exp(-0.5 * (1.5 * sigma / config.confidence_scale_px) ** 2)
    assert bool((confidence <= highest + 1e-6).all()) and bool((confidence >= lowest - 1e-6).all())
    thrown = error.norm(dim=-1) > 40                                         # gross errors only
    assert abs(float(confidence[thrown].mean()) - float(confidence.mean())) < 0.02
    gaussian_only = replace(config, gross_error_rate=0.0, swap_rate=0.0)     # d's RMS: sqrt(13 / 12) = 1.04
    ratio = detect(20_000, gaussian_only)[2][..., 0].std(dim=0) / sigma
    torch.testing.assert_close(ratio, torch.full((17,), (13 / 12) ** 0.5), atol=0.03, rtol=0)
    with pytest.raises(ValueError, match="confidence_model"):
        DetectorNoiseConfig(confidence_model="oracle")


def test_leading_camera_axis_and_a_wrong_joint_count():
    gt = torch.zeros(4, 30, 17, 2)                                          # (cameras, frames, joints, 2)
    noisy, confidence = simulate_detector(gt, torch.Generator().manual_seed(0), clip_lengths=[10, 20])
    assert noisy.shape == (4, 30, 17, 2) and confidence.shape == (4, 30, 17)
    assert not torch.equal(noisy[0], noisy[1])                              # each camera draws its own error
    with pytest.raises(ValueError, match="noise model has 17 joint sigmas, keypoints have 25 joints"):
        detect(3, DetectorNoiseConfig(), joints=25)
