"""Evaluation on the benchmark (poselift.evaluate): the protocols' metrics against answers computed from the
data by hand, canonical targets for canonical models, clips lifted and scored as sequences."""

import numpy as np
import pytest
import torch

from poselift.data.datasets import WindowSource
from poselift.errors import PoseliftError
from poselift.evaluate import (
    EvaluationResult,
    clip_sequences,
    evaluate,
    per_sample_errors,
    sequence_errors,
)
from poselift.models.base import LiftingModel
from poselift.models.temporal import TemporalConfig, TemporalLifter


@pytest.fixture(scope="module")
def windows(small_benchmark):
    """Real windows of 5 frames (noisy 2D), and a small temporal model (untrained) whose statistics are fitted on them."""
    source = WindowSource(small_benchmark, 5, "train", "noisy", cameras=(0, 1, 2, 3), stride=4)
    torch.manual_seed(0)
    model = TemporalLifter(TemporalConfig(hidden_size=16))
    model.normalizer.fit_source(source)
    return source, model


class _LookupOracle:
    """Lifts by finding each 2D pose among the benchmark's ``gt`` 2D and returning that frame's 3D in
    ``output_frame``: an exact model, to check what :func:`poselift.evaluate.evaluate` compares it with."""

    sequence_model = False                                                       # of the model contract
    reads_intrinsics = False

    def __init__(self, benchmark, output_frame: str):
        from poselift.camera import to_camera_frame
        from poselift.geometry import canonicalize

        self.output_frame = output_frame
        keys = benchmark.keypoints_2d["gt"]                                      # (C, F, J, 2)
        self.keys = keys.reshape(-1, keys.shape[-2] * 2).double()
        world = benchmark.poses_3d_world.double()
        if output_frame == "canonical":
            poses = canonicalize(world)[None].expand(keys.shape[0], -1, -1, -1)
        else:
            poses = torch.stack([to_camera_frame(world, torch.tensor(camera.R, dtype=world.dtype),
                                                 torch.tensor(camera.centre, dtype=world.dtype))
                                 for camera in benchmark.cameras])
            poses = poses - poses[..., :1, :]
        self.poses = poses.reshape(-1, *poses.shape[-2:])

    def eval(self):
        return self

    def lift(self, keypoints_2d, confidence=None):
        index = torch.cdist(keypoints_2d.reshape(len(keypoints_2d), -1).double(), self.keys).argmin(dim=1)
        return self.poses[index]


@pytest.mark.parametrize("output_frame", ["camera", "canonical"])
def test_evaluate_compares_a_canonical_model_with_canonical_targets(small_benchmark, output_frame):
    result = evaluate(_LookupOracle(small_benchmark, output_frame), small_benchmark, input="gt")
    assert result.info["target_frame"] == output_frame
    assert result.averages["mean_over_samples"]["mpjpe"] < 1e-2          # float32 data
    # the same canonical poses judged against camera-frame targets would be far off (the old behaviour)
    if output_frame == "canonical":
        oracle = _LookupOracle(small_benchmark, "canonical")
        oracle.output_frame = "camera"
        assert evaluate(oracle, small_benchmark, input="gt").averages["mean_over_samples"]["mpjpe"] > 100.0


def test_sequence_errors_stay_inside_each_clip():
    target = torch.zeros(5, 17, 3, dtype=torch.float64)
    predicted = target.clone()
    predicted[:, :, 0] = torch.tensor([0.0, 1.0, 3.0, 100.0, 104.0])[:, None]    # clips of 3 and 2 frames
    errors = sequence_errors(predicted, target, torch.tensor([3, 2]))
    velocity, velocity_rows = errors["mpjve"]
    assert velocity.tolist() == [1.0, 2.0, 4.0] and velocity_rows.tolist() == [1, 2, 4]
    acceleration, acceleration_rows = errors["accel"]
    assert acceleration.tolist() == [1.0] and acceleration_rows.tolist() == [2]


def test_evaluate_lifts_clips_as_sequences(small_benchmark, windows):
    _, model = windows
    result = evaluate(model, small_benchmark, input="gt", protocol=1)
    test_clips = sum(clip["split"] == "test" for clip in small_benchmark.clips)
    assert result.info["sequence_inference"] and result.info["sequences"] == 4 * test_clips
    averages = result.averages["mean_over_actions"]
    assert averages["mpjve"] > 0 and averages["accel"] > 0 and averages["mpjpe"] > averages["p_mpjpe"]
    assert "MPJVE" in result.table()
    noisy = evaluate(model, small_benchmark, input="gt", protocol=1, input_noise_px=10.0)
    assert noisy.info["mean_2d_input_error_px"] == pytest.approx(10.0 * np.sqrt(np.pi / 2), rel=0.05)
    source = small_benchmark
    frames = torch.nonzero(source.frame_mask("test")).squeeze(1)
    batch = {"camera": torch.tensor([1, 0] * len(frames)), "frame": frames.repeat_interleave(2)}
    order, lengths = clip_sequences(batch, small_benchmark)
    assert lengths.sum() == 2 * len(frames) and len(lengths) == 2 * test_clips
    assert (batch["camera"][order][:len(frames)] == 0).all()


class RootOnlyLifter(LiftingModel):
    """Puts every joint on the root: its errors are the joints' distances from the pelvis, known from the data."""

    kind = "root_only"

    def __init__(self):
        super().__init__()
        self.config = None
        self.lifted_frames = 0

    def lift(self, keypoints_2d, confidence=None, batch_size: int = 4096):
        self.lifted_frames += len(keypoints_2d)
        return torch.zeros(*keypoints_2d.shape[:-1], 3)


def test_metrics_of_a_model_that_lifts_every_joint_onto_the_root(small_benchmark):
    model = RootOnlyLifter()
    result = evaluate(model, small_benchmark, input="noisy", protocol=1)
    # by hand, from the world poses: a camera rotates a root-relative pose, which keeps every joint's distance
    world = small_benchmark.poses_3d_world.double()
    test = small_benchmark.frame_mask("test")
    relative = (world - world[:, :1])[test]                                  # (F, 17, 3) test frames
    distance = relative.norm(dim=-1)                                        # (F, 17) the error of each joint
    frames = int(test.sum())
    assert result.info["samples"] == 4 * frames == model.lifted_frames and result.info["cameras"] == [0, 1, 2, 3]
    assert not result.info["sequence_inference"] and result.info["target_frame"] == "camera"
    samples = result.averages["mean_over_samples"]
    assert samples["mpjpe"] == pytest.approx(float(distance.mean()), rel=1e-5)
    assert samples["pck150"] == pytest.approx(100 * float((distance < 150).double().mean()), abs=1e-3)
    thresholds = torch.linspace(0, 150, 31, dtype=torch.float64)
    assert samples["auc"] == pytest.approx(100 * float((thresholds > distance[..., None]).double().mean()), abs=1e-3)
    # Procrustes scales the all-zero pose to nothing and moves it onto the target's centroid
    centred = (relative - relative.mean(dim=-2, keepdim=True)).norm(dim=-1).mean()
    assert samples["p_mpjpe"] == pytest.approx(float(centred), rel=1e-5)
    # the velocity error of a still pose is the target's own speed, between frames of one clip only
    clip = small_benchmark.clip_index[test]
    same_clip = clip[1:] == clip[:-1]
    speed = (relative[1:] - relative[:-1]).norm(dim=-1).mean(dim=-1)[same_clip]
    assert samples["mpjve"] == pytest.approx(float(speed.mean()), rel=1e-4)
    # per action, then over actions
    actions = [small_benchmark.actions()[i] for i in torch.nonzero(test).squeeze(1).tolist()]
    by_action = {action: float(distance[[a == action for a in actions]].mean()) for action in set(actions)}
    assert sorted(result.per_action) == sorted(by_action)
    for action, value in by_action.items():
        assert result.per_action[action]["mpjpe"] == pytest.approx(value, rel=1e-5), action
    assert result.averages["mean_over_actions"]["mpjpe"] == pytest.approx(np.mean(list(by_action.values())), rel=1e-5)


def test_protocol_3_scores_camera_3_alone_and_bad_settings_are_refused(small_benchmark):
    result = evaluate(RootOnlyLifter(), small_benchmark, input="gt", protocol=3)
    test_frames = int(small_benchmark.frame_mask("test").sum())
    test_clips = sum(clip["split"] == "test" for clip in small_benchmark.clips)
    assert result.info["cameras"] == [3] and result.info["samples"] == test_frames
    assert result.info["sequences"] == test_clips and result.info["mean_2d_input_error_px"] == 0.0
    with pytest.raises(PoseliftError, match="unknown protocol 4; use 1, 2 or 3"):
        evaluate(RootOnlyLifter(), small_benchmark, protocol=4)
    for noise in (-1.0, float("nan")):
        with pytest.raises(PoseliftError, match="input_noise_px must be >= 0"):
            evaluate(RootOnlyLifter(), small_benchmark, input_noise_px=noise)


def test_clip_sequences_refuse_frames_that_are_not_whole_clips(small_benchmark):
    frames = torch.nonzero(small_benchmark.frame_mask("test")).squeeze(1)
    holed = torch.cat([frames[:3], frames[4:]])                             # frame 3 of the first clip missing
    with pytest.raises(PoseliftError, match="evaluation frames do not hold whole clips of consecutive frames"):
        clip_sequences({"camera": torch.zeros(len(holed)), "frame": holed}, small_benchmark)


def test_per_sample_errors_of_exact_and_shifted_poses():
    target = torch.randn(4, 17, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 200
    exact = per_sample_errors(target, target)
    assert exact["mpjpe"].tolist() == [0.0] * 4 and exact["pck150"].tolist() == [100.0] * 4
    torch.testing.assert_close(exact["auc"], torch.full((4,), 100 * 30 / 31, dtype=torch.float64))   # 0 mm counts nothing
    shifted = per_sample_errors(target + torch.tensor([0.0, 0.0, 200.0], dtype=torch.float64), target)
    torch.testing.assert_close(shifted["mpjpe"], torch.full((4,), 200.0, dtype=torch.float64))
    torch.testing.assert_close(shifted["p_mpjpe"], torch.zeros(4, dtype=torch.float64), atol=1e-9, rtol=0)
    assert shifted["pck150"].tolist() == [0.0] * 4 and shifted["auc"].tolist() == [0.0] * 4


def test_the_table_has_a_row_per_action_and_both_averages():
    result = EvaluationResult(per_action={"walk": {"mpjpe": 50.0, "mpjve": 2.0}, "jump": {"mpjpe": 70.0}},
                              averages={"mean_over_actions": {"mpjpe": 60.0}, "mean_over_samples": {"mpjpe": 62.5}},
                              info={"protocol": 1})
    lines = result.table().splitlines()
    assert lines[0].split()[:3] == ["action", "MPJPE", "mm"] and len(lines) == 7
    assert lines[2].split() == ["jump", "70.0", "-", "-", "-", "-", "-"]             # sorted by action
    assert lines[3].split() == ["walk", "50.0", "-", "-", "-", "2.0", "-"]
    assert lines[5].split()[:4] == ["mean", "over", "actions", "60.0"]
    assert lines[6].split()[:4] == ["mean", "over", "samples", "62.5"]
    assert list(result.to_dict()) == ["info", "averages", "per_action"]


class CameraReadingRootOnly(RootOnlyLifter):
    """:class:`RootOnlyLifter` that reads the camera, as a model with the "camera" encoding: it keeps what it got."""

    @property
    def reads_intrinsics(self) -> bool:
        return True

    def lift(self, keypoints_2d, confidence=None, batch_size: int = 4096, intrinsics=None):
        self.intrinsics = intrinsics
        return super().lift(keypoints_2d, confidence)


def test_a_model_that_reads_the_camera_is_given_each_samples_intrinsics(small_benchmark):
    from poselift.camera import stack_intrinsics

    model = CameraReadingRootOnly()
    evaluate(model, small_benchmark, input="gt", protocol=3)
    rig = stack_intrinsics(small_benchmark.cameras)
    frames = int(small_benchmark.frame_mask("test").sum())
    for field, stored, size in (("focal", "focal", 2), ("radial", "k", 3)):
        expected = torch.tensor(rig[stored][3], dtype=torch.float32).expand(frames, size)
        torch.testing.assert_close(getattr(model.intrinsics, field), expected)


def test_random_cameras_film_every_test_sample_with_a_camera_of_its_own(small_benchmark, windows):
    from poselift.data.random_cameras import RandomCameraConfig

    model = CameraReadingRootOnly()
    plain = evaluate(RootOnlyLifter(), small_benchmark, input="gt", protocol=1)
    result = evaluate(model, small_benchmark, input="gt", protocol=1,
                      random_cameras=RandomCameraConfig(fraction=0.1), camera_seed=4)
    # the root-relative distances do not depend on the camera: the same errors, now from cameras of every kind
    expected = plain.averages["mean_over_samples"]["mpjpe"]
    assert result.averages["mean_over_samples"]["mpjpe"] == pytest.approx(expected, rel=1e-4)
    assert result.info["samples"] == plain.info["samples"] and result.info["mean_2d_input_error_px"] < 1e-3
    assert result.info["random_cameras"]["fraction"] == 1.0 and result.info["random_cameras"]["seed"] == 4
    assert model.intrinsics.focal.shape == (plain.info["samples"], 2) and model.intrinsics.focal.std() > 100
    assert "mpjve" not in result.averages["mean_over_samples"]                   # each frame its own camera
    again = CameraReadingRootOnly()
    evaluate(again, small_benchmark, input="gt", protocol=1, random_cameras=RandomCameraConfig(), camera_seed=4)
    assert torch.equal(again.intrinsics.focal, model.intrinsics.focal)           # the same draw for every model
    with pytest.raises(PoseliftError, match="a sequence model cannot be evaluated"):
        evaluate(windows[1], small_benchmark, random_cameras=RandomCameraConfig())


def test_random_cameras_per_piece_of_a_clip_measure_any_model_with_its_jitter(small_benchmark, windows):
    from poselift.data.random_cameras import RandomCameraConfig

    model = CameraReadingRootOnly()
    result = evaluate(model, small_benchmark, input="gt", random_cameras=RandomCameraConfig(), camera_seed=4,
                      random_camera_clips=5)
    info = result.info
    assert info["samples"] == 5 * info["sequences"] and info["random_cameras"]["frames_per_camera"] == 5
    assert info["mean_2d_input_error_px"] < 1e-3                                  # gt 2D: the projections
    focal = model.intrinsics.focal.reshape(info["sequences"], 5, 2)
    assert (focal == focal[:, :1]).all() and focal[:, 0, 0].std() > 100            # one camera per piece, pieces differ
    assert "mpjve" in result.averages["mean_over_actions"]                       # a piece is a sequence: jitter
    # the pieces of every model are the same, so are their cameras; a sequence model is measured too
    sequence = evaluate(windows[1], small_benchmark, input="gt", random_cameras=RandomCameraConfig(), camera_seed=4,
                        random_camera_clips=5)
    assert sequence.info["samples"] == info["samples"] and sequence.info["sequence_inference"]
    with pytest.raises(PoseliftError, match="random_camera_clips needs random_cameras"):
        evaluate(model, small_benchmark, random_camera_clips=5)
