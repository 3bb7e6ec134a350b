"""Lifting with the shipped models, the lift/demo/eval/train commands end to end."""

import json

import numpy as np
import pytest
import torch

import poselift
from poselift.camera import Camera, h36m_rig
from poselift.cli import main
from poselift.io import load_poses_3d
from poselift.lift import fill_short_gaps
from poselift.metrics import mpjpe


@pytest.fixture(scope="module")
def pose_model():
    return poselift.load_model("pose")


def _test_poses(small_benchmark, count=64):
    frames = torch.nonzero(small_benchmark.frame_mask("test")).squeeze(1)[:count]
    return small_benchmark.poses_3d_world[frames].double()


def test_shipped_pose_model_lifts_benchmark_poses(pose_model, small_benchmark):
    camera = small_benchmark.cameras[1]
    poses_cam = camera.world_to_camera(_test_poses(small_benchmark))
    lifted = pose_model.lift(camera.project(poses_cam).float())
    error = mpjpe(lifted.double(), poses_cam - poses_cam[:, :1])
    assert lifted.shape == (64, 17, 3) and error.mean() < 120          # mm; a broken model is far off


def test_same_poses_at_two_image_sizes_lift_the_same_with_the_pose_model(pose_model, small_benchmark):
    rig = h36m_rig()[0]
    poses_cam = rig.world_to_camera(_test_poses(small_benchmark))
    small = Camera(fx=1145.0, fy=1145.0, cx=500.0, cy=500.0, width=1000, height=1000)
    full_hd = Camera(fx=1600.0, fy=1600.0, cx=960.0, cy=540.0, width=1920, height=1080)
    lifted_small = pose_model.lift(small.project(poses_cam).numpy().astype(np.float32))
    lifted_hd = pose_model.lift(full_hd.project(poses_cam).numpy().astype(np.float32))
    assert np.abs(lifted_small - lifted_hd).max() < 0.5                  # mm


def test_missing_joints_are_handled(pose_model, small_benchmark):
    camera = small_benchmark.cameras[0]
    keypoints = camera.project(camera.world_to_camera(_test_poses(small_benchmark, 8))).numpy().astype(np.float32)
    confidence = np.ones(keypoints.shape[:-1], np.float32)
    keypoints[2, 13] = np.nan                       # a missing wrist
    confidence[2, 13] = 0
    keypoints[5, [0, 1, 4]] = np.nan                # no pelvis, no hips: that frame cannot be lifted
    confidence[5, [0, 1, 4]] = 0
    lifted = pose_model.lift(keypoints, confidence)
    assert np.isfinite(lifted[[0, 1, 2, 3, 4, 6, 7]]).all()
    assert np.isnan(lifted[5]).all()


def test_shipped_temporal_model_lifts_a_track_seen_by_another_camera(small_benchmark):
    from poselift.intrinsics import Intrinsics

    model = poselift.load_model("temporal")
    assert model.kind == "temporal" and model.sequence_model and model.config.input_normalization == "camera"
    poses_cam = h36m_rig()[2].world_to_camera(_test_poses(small_benchmark))      # 64 consecutive frames
    full_hd = Camera(fx=1600.0, fy=1600.0, cx=960.0, cy=540.0, width=1920, height=1080)
    camera = Intrinsics(torch.tensor([1600.0, 1600.0]), torch.tensor([960.0, 540.0]))
    lifted = model.lift(full_hd.project(poses_cam).numpy().astype(np.float32), intrinsics=camera)
    assert lifted.shape == (64, 17, 3)
    assert mpjpe(torch.from_numpy(lifted).double(), poses_cam - poses_cam[:, :1]).mean() < 120   # mm


def test_shipped_camera_model_reads_the_camera_and_knows_the_depth_on_another_camera(small_benchmark):
    """The camera-aware model, given a phone-like camera 3 m away, lifts within 80 mm (48 here); told a focal
    length three times too long it is farther off (84: it reads the camera); without intrinsics it asks."""
    from poselift.errors import PoseliftError
    from poselift.intrinsics import Intrinsics

    model = poselift.load_model("camera")
    assert model.reads_intrinsics and model.config.input_normalization == "camera"
    phone = Camera(fx=1500.0, fy=1500.0, cx=540.0, cy=960.0, width=1080, height=1920)
    rig = h36m_rig()[1]
    seen_by_rig = rig.world_to_camera(_test_poses(small_benchmark))         # 4-5 m ahead of a rig camera
    poses_cam = seen_by_rig - seen_by_rig[:, :1].mean(0) + torch.tensor([0.0, 0.0, 3000.0], dtype=torch.float64)
    keypoints = phone.project(poses_cam).numpy().astype(np.float32)
    right = Intrinsics(torch.tensor([1500.0, 1500.0]), torch.tensor([540.0, 960.0]))
    wrong = Intrinsics(torch.tensor([4500.0, 4500.0]), torch.tensor([540.0, 960.0]))
    truth = poses_cam - poses_cam[:, :1]
    error = mpjpe(torch.from_numpy(model.lift(keypoints, intrinsics=right)).double(), truth).mean()
    misled = mpjpe(torch.from_numpy(model.lift(keypoints, intrinsics=wrong)).double(), truth).mean()
    assert error < 80 and misled > error + 20                             # mm
    with pytest.raises(PoseliftError, match="intrinsics"):
        model.lift(keypoints)


def test_short_gaps_are_interpolated_long_ones_kept():
    keypoints = np.tile(np.arange(30, dtype=np.float32)[:, None, None], (1, 17, 2))
    confidence = np.ones((30, 17), np.float32)
    keypoints[5:8, 3] = np.nan                      # a 3-frame gap
    confidence[5:8, 3] = 0
    keypoints[10:25, 4] = np.nan                    # a 15-frame gap
    confidence[10:25, 4] = 0
    filled_keypoints, filled_confidence, filled = fill_short_gaps(keypoints, confidence, max_gap=10)
    np.testing.assert_allclose(filled_keypoints[5:8, 3, 0], [5, 6, 7])
    assert (filled_confidence[5:8, 3] == 0.5).all() and filled[5:8, 3].all()
    assert np.isnan(filled_keypoints[10:25, 4]).all() and not filled[:, 4].any()


def test_demo_writes_what_a_person_can_look_at(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "lifted 100/100 frames" in out
    poses = load_poses_3d(tmp_path / "demo" / "poses_3d.npz")
    assert poses.poses_3d.shape == (100, 17, 3) and poses.frame == "camera"
    assert np.isfinite(poses.poses_3d).all()
    data = json.loads((tmp_path / "demo" / "poses_3d.json").read_text())
    assert data["joint_names"][10] == "head" and len(data["poses_3d"]) == 100
    assert (tmp_path / "demo" / "figure.png").stat().st_size > 10_000
    animations = list((tmp_path / "demo").glob("animation.*"))
    assert animations and animations[0].stat().st_size > 10_000
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 2          # never overwrites silently


def test_train_resume_eval_and_lift_from_the_command_line(tmp_path, capsys, small_benchmark_path):
    run = tmp_path / "run"
    common = ["train", "baseline", "--data", str(small_benchmark_path), "--out", str(run), "--input", "noisy",
              "--epochs", "2", "--batch-size", "32", "--threads", "1", "--quiet", "--set", "hidden_size=128"]
    assert main(common + ["--max-steps", "30"]) == 0
    assert main(common + ["--resume"]) == 0
    log = json.loads((run / "log.json").read_text())
    assert len(log) == 2 and log[-1]["train_loss"] < log[0]["train_loss"]    # training lowers the loss
    capsys.readouterr()
    assert main(["eval", str(run / "last.pt"), "--data", str(small_benchmark_path), "--input", "noisy",
                 "--protocol", "2", "--json", str(tmp_path / "eval.json")]) == 0
    table = capsys.readouterr().out
    assert "mean over actions" in table and "P-MPJPE" in table
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["info"]["cameras"] == [0, 1, 2, 3] and result["averages"]["mean_over_actions"]["mpjpe"] > 0
    keypoints_file = tmp_path / "kp.json"
    coco = [{"image_id": i, "category_id": 1, "score": 1.0,
             "keypoints": sum(([300.0 + 5 * (j % 5), 200.0 + 20 * j, 2] for j in range(17)), [])} for i in range(4)]
    keypoints_file.write_text(json.dumps(coco))
    assert main(["lift", str(keypoints_file), "--out", str(tmp_path / "lifted"), "--model", str(run / "last.pt"),
                 "--no-animation"]) == 0
    assert load_poses_3d(tmp_path / "lifted" / "poses_3d.npz").poses_3d.shape == (4, 17, 3)


def test_lift_bad_input_gives_one_error_line(tmp_path, capsys):
    import torch as torch_module

    from poselift.checkpoint import load_checkpoint
    from poselift.lift import default_model_path

    (tmp_path / "empty.json").write_text("")
    all_nan = tmp_path / "all_nan.npz"
    np.savez(all_nan, keypoints_2d=np.full((5, 17, 2), np.nan, np.float32), confidence=np.zeros((5, 17), np.float32),
             layout=np.array("h36m17"))
    good = tmp_path / "good.npz"
    np.savez(good, keypoints_2d=np.random.default_rng(0).uniform(100, 900, (5, 17, 2)).astype(np.float32),
             confidence=np.ones((5, 17), np.float32), layout=np.array("h36m17"))
    checkpoint = load_checkpoint(default_model_path())
    torch_module.save({**checkpoint, "layout": "coco17"}, tmp_path / "coco.pt")
    torch_module.save({**checkpoint, "format_version": 99}, tmp_path / "newer.pt")
    cases = [(["empty.json"], "empty.json"), (["all_nan.npz"], "no frame can be lifted"),
             (["good.npz", "--model", str(tmp_path / "coco.pt")], "layout 'coco17'"),
             (["good.npz", "--model", str(tmp_path / "newer.pt")], "newer")]
    for index, (arguments, needle) in enumerate(cases):
        status = main(["lift", str(tmp_path / arguments[0]), *arguments[1:], "--out", str(tmp_path / f"out{index}"),
                       "--no-animation"])
        err = capsys.readouterr().err.strip().splitlines()
        assert status == 2 and len(err) == 1 and needle in err[0], (arguments, err)
        assert not (tmp_path / f"out{index}" / "poses_3d.npz").exists()


# ------------------------------------------------------------------------- a model that reads the camera
@pytest.fixture(scope="module")
def camera_model_path(small_benchmark, tmp_path_factory):
    """A small baseline with input_normalization="camera" (random weights, statistics of the small benchmark)."""
    from poselift.checkpoint import save_checkpoint
    from poselift.data.datasets import FrameSource
    from poselift.models.baseline import BaselineConfig, BaselineLifter

    torch.manual_seed(0)
    model = BaselineLifter(BaselineConfig(hidden_size=32, num_blocks=1, input_normalization="camera"))
    model.normalizer.fit_source(FrameSource(small_benchmark, "train", "noisy", frame_stride=8))
    return save_checkpoint(tmp_path_factory.mktemp("camera_model") / "camera.pt", model=model.eval())


def main_str(argv) -> int:
    return main([str(argument) for argument in argv])


def _benchmark_track(small_benchmark, camera_index: int, count: int = 12) -> np.ndarray:
    camera = small_benchmark.cameras[camera_index]
    return camera.project(camera.world_to_camera(_test_poses(small_benchmark, count))).numpy().astype(np.float32)


def test_a_files_own_camera_goes_through_the_lift_path_as_if_passed_directly(camera_model_path, small_benchmark,
                                                                              tmp_path):
    from poselift.intrinsics import Intrinsics
    from poselift.io.records import Keypoints2D
    from poselift.io.videopose3d import write_videopose3d_2d
    from poselift.lift import lift_file, load_model

    tracks = [Keypoints2D(_benchmark_track(small_benchmark, index), None, "h36m17") for index in range(4)]
    path = tmp_path / "data_2d_h36m_gt.npz"                            # a Human3.6M file: its cameras are known
    write_videopose3d_2d(path, {"S9": {"Walking": tracks}})
    lines, _ = lift_file(path, tmp_path / "out", model=camera_model_path, read_options={"camera": 2},
                         animation=False)
    assert ("note: camera: the calibration of '58860488': focal 1149 px, principal point (520, 501) px, with its "
            "lens distortion") in lines
    lifted = load_poses_3d(tmp_path / "out" / "poses_3d.npz")
    model = load_model(camera_model_path)
    direct = model.lift(tracks[2].keypoints_2d, intrinsics=Intrinsics.from_camera(small_benchmark.cameras[2]))
    np.testing.assert_allclose(lifted.poses_3d, direct, atol=1e-2)                      # mm: BatchNorm folded
    webcam = Intrinsics(torch.tensor([600.0, 600.0]), torch.tensor([320.0, 240.0]))
    assert np.abs(model.lift(tracks[2].keypoints_2d, intrinsics=webcam) - direct).max() > 1.0    # the camera matters
    assert any(note.startswith("camera: the calibration") for note in lifted.meta["notes"])


def test_the_default_camera_and_focal_from_the_command_line(camera_model_path, small_benchmark, tmp_path, capsys):
    from poselift.intrinsics import Intrinsics
    from poselift.lift import load_model

    keypoints = _benchmark_track(small_benchmark, 1) * 0.5 + np.float32([60.0, 0.0])   # in a 640 x 480 image
    path = tmp_path / "track.npz"
    np.savez(path, keypoints_2d=keypoints, confidence=np.ones(keypoints.shape[:2], np.float32),
             layout=np.array("h36m17"))
    model = load_model(camera_model_path)
    # 640 x 480 px: diagonal 800 px, so the default focal length is 0.75 x 800 = 600 px
    assert main_str(["lift", path, "--out", tmp_path / "default", "--model", camera_model_path, "--image-size", "640",
                 "480", "--no-animation"]) == 0
    assert ("note: camera: assumed from the image size 640 x 480 px: focal 600 px, principal point (320, 240) px "
            "(0.75 x the diagonal, a 67 degree diagonal field of view), no lens distortion; give --focal PX or a "
            "calibration when known") in capsys.readouterr().out
    direct = model.lift(keypoints, intrinsics=Intrinsics(torch.tensor([600.0, 600.0]), torch.tensor([320.0, 240.0])))
    np.testing.assert_allclose(load_poses_3d(tmp_path / "default" / "poses_3d.npz").poses_3d, direct, atol=1e-2)
    assert main_str(["lift", path, "--out", tmp_path / "focal", "--model", camera_model_path, "--image-size", "640",
                 "480", "--focal", "900", "--no-animation"]) == 0
    assert "note: camera: --focal 900 px (a 48 degree diagonal field of view)" in capsys.readouterr().out
    direct = model.lift(keypoints, intrinsics=Intrinsics(torch.tensor([900.0, 900.0]), torch.tensor([320.0, 240.0])))
    np.testing.assert_allclose(load_poses_3d(tmp_path / "focal" / "poses_3d.npz").poses_3d, direct, atol=1e-2)
    # without the image size the principal point is unknown: one line naming the options
    assert main_str(["lift", path, "--out", tmp_path / "unknown", "--model", camera_model_path, "--no-animation"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "needs the camera: give the image size (--image-size WIDTH HEIGHT" in error
    # a model that does not read the camera lifts as ever; --focal then only places the exports' root path
    assert main_str(["lift", path, "--out", tmp_path / "pose", "--model", "pose", "--focal", "900",
                     "--no-animation"]) == 0
    assert "note: --focal not used for lifting: model pose does not read the camera" in capsys.readouterr().out


def test_the_default_is_the_camera_model_and_without_a_camera_the_pose_model_lifts(small_benchmark, tmp_path, capsys):
    """``default`` is the shipped camera-aware model; a file that gives neither its image size nor a camera
    is lifted with the per-pose model, and the output says so."""
    from poselift.intrinsics import Intrinsics
    from poselift.lift import load_model

    default, camera = load_model(), load_model("camera")
    assert default.reads_intrinsics and default.config == camera.config
    for name, weights in default.state_dict().items():
        assert torch.equal(weights, camera.state_dict()[name]), name
    keypoints = _benchmark_track(small_benchmark, 1)                      # filmed by a 1000 x 1002 px rig camera
    path = tmp_path / "track.npz"
    np.savez(path, keypoints_2d=keypoints, confidence=np.ones(keypoints.shape[:2], np.float32),
             layout=np.array("h36m17"))
    assert main_str(["lift", path, "--out", tmp_path / "blind", "--no-animation"]) == 0
    out = capsys.readouterr().out
    assert ("note: model: the default models read the camera, and this input gives neither its image size nor a "
            "camera: lifted with the per-pose model 'pose' instead") in out
    blind = load_poses_3d(tmp_path / "blind" / "poses_3d.npz")
    assert blind.meta["model"] == "pose" and any(note.startswith("model: the default") for note in blind.meta["notes"])
    assert main_str(["lift", path, "--out", tmp_path / "sized", "--image-size", "1000", "1002", "--no-animation"]) == 0
    out = capsys.readouterr().out
    assert "with model camera" in out and "note: camera: assumed from the image size 1000 x 1002 px" in out
    sized = load_poses_3d(tmp_path / "sized" / "poses_3d.npz")
    assert sized.meta["model"] == "camera" and not any(note.startswith("model:") for note in sized.meta["notes"])
    assume = Intrinsics.for_image_size((1000, 1002))
    assert np.isfinite(sized.poses_3d).all() and np.isfinite(default.lift(keypoints, intrinsics=assume)).all()
    # a time series (a frame rate) with a known camera: the camera-aware temporal model
    assert main_str(["lift", path, "--out", tmp_path / "series", "--image-size", "1000", "1002", "--fps", "50",
                     "--no-animation"]) == 0
    assert "with model temporal" in capsys.readouterr().out
    assert load_poses_3d(tmp_path / "series" / "poses_3d.npz").meta["model"] == "temporal"


def test_default_resolves_by_what_the_track_gives():
    from poselift.lift import resolve_model

    assert resolve_model("default", camera_known=True, time_series=True) == ("temporal", None)
    assert resolve_model("default", camera_known=True, time_series=False) == ("camera", None)
    name, note = resolve_model("default", camera_known=False, time_series=True)
    assert name == "pose" and "for the default 'temporal' model" in note
    assert resolve_model("camera", camera_known=False, time_series=True) == ("camera", None)   # asked for: kept
    assert resolve_model("runs/x/last.pt", camera_known=False, time_series=False) == ("runs/x/last.pt", None)


def test_models_of_the_encodings_before_the_camera_load_and_lift_unchanged():
    """tests/fixtures/legacy: checkpoints and the poses lifted from them by the code before input_normalization
    "camera" existed (tests/fixtures/make_legacy_checkpoints.py)."""
    from pathlib import Path

    from poselift.lift import load_model

    folder = Path(__file__).parent / "fixtures" / "legacy"
    expected = np.load(folder / "lifted.npz")
    for name in ("baseline_image", "baseline_pose", "temporal_pose"):
        model = load_model(folder / f"{name}.pt")
        assert not model.reads_intrinsics
        lifted = model.lift(expected["keypoints_2d"], expected["confidence"])
        np.testing.assert_array_equal(lifted, expected[name], err_msg=name)
