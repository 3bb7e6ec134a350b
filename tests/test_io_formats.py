"""Records, poselift files, 2D keypoint formats, VideoPose3D npz, Human3.6M h5 and Qualisys files."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from poselift.errors import FormatError, LayoutError, ShapeError
from poselift.io import load_keypoints_2d, load_poses_3d
from poselift.io.coco_json import read_coco_keypoints
from poselift.io.h36m_h5 import SH16_JOINT_NAMES, read_h36m_cameras_h5, read_h36m_positions_h5, read_sh_detections_h5
from poselift.io.mediapipe_json import read_mediapipe_json, write_mediapipe_json
from poselift.io.openpose_json import read_openpose_json, write_openpose_json
from poselift.io.poselift_format import (
    json_array_chunks,
    read_keypoints_2d,
    read_poses_3d,
    write_keypoints_2d,
    write_poses_3d,
)
from poselift.io.qca import read_qca
from poselift.io.records import Keypoints2D, Poses3D
from poselift.io.videopose3d import (
    list_videopose3d,
    read_videopose3d_2d,
    read_videopose3d_3d,
    write_videopose3d_2d,
    write_videopose3d_3d,
)
from poselift.skeleton import get_layout

FIXTURES = Path(__file__).parent / "fixtures" / "io"
POSE2SIM_CALIBRATION = Path(__file__).parents[2] / "shared" / "data" / "pose2sim" / "Calib.qca.txt"


def _track(layout="h36m17", frames=3, seed=0, image_size=(640, 480), fps=50.0):
    rng = np.random.default_rng(seed)
    joints = get_layout(layout).num_joints
    keypoints = rng.uniform(0, 400, size=(frames, joints, 2)).astype(np.float32)
    confidence = rng.uniform(0.1, 1, size=(frames, joints)).astype(np.float32)
    keypoints[1, 2] = np.nan
    confidence[1, 2] = 0
    return Keypoints2D(keypoints, confidence, layout, image_size=image_size, fps=fps)


# --- records -------------------------------------------------------------------------------------


def test_keypoints_record_converts_to_float32_and_derives_confidence_from_nan():
    keypoints = torch.zeros(2, 17, 2, dtype=torch.float64)
    keypoints[0, 5] = float("nan")
    track = Keypoints2D(keypoints, None, "h36m17", image_size=[640, 480])
    assert track.keypoints_2d.dtype == np.float32 and track.confidence.dtype == np.float32
    assert track.confidence[0, 5] == 0 and track.confidence.sum() == 2 * 17 - 1
    assert track.image_size == (640, 480) and (track.num_frames, track.num_joints) == (2, 17)


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"keypoints_2d": np.zeros((2, 17, 3))}, ShapeError,
         r"Keypoints2D.keypoints_2d: expected shape \(T, J, 2\), got \(2, 17, 3\)"),
        ({"confidence": np.ones((2, 16))}, ShapeError, r"Keypoints2D.confidence: expected shape \(2, 17\)"),
        ({"confidence": np.full((2, 17), 1.5)}, ShapeError, r"confidence: values must be finite and in \[0, 1\]"),
        ({"keypoints_2d": np.full((2, 17, 2), np.nan)}, ShapeError, "NaN keypoint.*needs confidence 0"),
        ({"layout": "body99"}, LayoutError, "unknown keypoint layout 'body99'"),
        ({"layout": "coco17", "keypoints_2d": np.zeros((2, 25, 2)), "confidence": None}, ShapeError,
         "'coco17' has 17 joints"),
    ],
)
def test_keypoints_record_rejects_bad_fields(change, error, message):
    fields = {"keypoints_2d": np.zeros((2, 17, 2)), "confidence": np.ones((2, 17)), "layout": "h36m17"}
    fields.update(change)
    with pytest.raises(error, match=message):
        Keypoints2D(**fields)


def test_poses_record_checks_names_layout_frame_and_infinity():
    poses = Poses3D(np.zeros((4, 17, 3)), get_layout("h36m17").joint_names, "camera", layout="h36m17")
    assert poses.poses_3d.dtype == np.float32 and poses.meta == {}
    with pytest.raises(ShapeError, match=r"Poses3D.joint_names: 2 names for poses_3d of shape \(4, 17, 3\)"):
        Poses3D(np.zeros((4, 17, 3)), ("a", "b"), "camera")
    with pytest.raises(ShapeError, match=r"Poses3D.poses_3d: contains infinite values \(first: frame 0, joint 1\)"):
        Poses3D(np.array([[[0, 0, 0], [0, np.inf, 0]]]), ("a", "b"), "world")
    assert np.isnan(Poses3D(np.full((1, 2, 3), np.nan), ("a", "b"), "world").poses_3d).all()  # NaN = not estimated
    with pytest.raises(Exception, match="Poses3D.frame: expected 'camera' or 'world', got 'image'"):
        Poses3D(np.zeros((1, 2, 3)), ("a", "b"), "image")


# --- poselift files ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_poselift_2d_files_read_back_identical(tmp_path, suffix):
    track = _track()
    path = tmp_path / f"track{suffix}"
    write_keypoints_2d(path, track)
    assert read_keypoints_2d(path) == track
    assert load_keypoints_2d(path) == track
    if suffix == ".json":
        assert json.loads(path.read_text())["keypoints_2d"][1][2] == [None, None]  # NaN -> null
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_poselift_3d_files_read_back_identical(tmp_path, suffix):
    poses_mm = np.random.default_rng(1).normal(size=(5, 17, 3)) * 500
    poses_mm[2] = np.nan  # a frame the lifter could not estimate
    poses = Poses3D(
        poses_mm,
        get_layout("h36m17").joint_names,
        "world",
        fps=60.0,
        layout="h36m17",
        meta={"model": "baseline", "subject": "bd", "clip": [1, 2]},
    )
    path = tmp_path / f"poses{suffix}"
    write_poses_3d(path, poses)
    assert read_poses_3d(path) == poses
    assert load_poses_3d(path) == poses


def test_poselift_json_numbers_have_nine_digits_and_null_for_nan():
    values = np.array([[1.5, np.nan], [0.1, -2.0], [123.456, 3e-7]], np.float32)
    text = "".join(json_array_chunks(values, frames_per_chunk=2))     # two pieces
    assert text == "[[1.5, null], [0.100000001, -2], [123.456001, 3.00000011e-07]]"
    assert "".join(json_array_chunks(np.zeros((0, 17, 3), np.float32))) == "[]"


def test_poselift_json_reads_back_every_float32_exactly(tmp_path):
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**32, size=40_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    edges = np.array([1.0, 2.0, 1000.0, 0.001, 1e-4, 1e9, 65536.0, 0.1, 3.4e38, 1e-38], np.float32)
    values = np.concatenate([bits[np.isfinite(bits)], edges, np.nextafter(edges, np.float32(np.inf)),
                             np.nextafter(edges, np.float32(0)), [0.0, -0.0, np.nan]]).astype(np.float32)
    poses_mm = np.resize(values, (len(values) // 51 + 1) * 51).reshape(-1, 17, 3)
    poses = Poses3D(poses_mm, get_layout("h36m17").joint_names, "camera", fps=50.0)
    write_poses_3d(tmp_path / "poses.json", poses)
    back = read_poses_3d(tmp_path / "poses.json")
    assert back == poses                                 # every value exactly (-0.0 comes back as 0.0, equal to it)
    assert np.array_equal(back.poses_3d, poses_mm, equal_nan=True)
    document = json.loads((tmp_path / "poses.json").read_text())
    assert list(document) == ["format", "version", "joint_names", "frame", "fps", "meta", "poses_3d"]


def test_poselift_npz_with_wrong_shape_names_file_and_field(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, format="poselift.keypoints_2d", version=1, keypoints_2d=np.zeros((3, 17, 3), np.float32),
             confidence=np.ones((3, 17), np.float32), layout="h36m17")
    message = rf"^{path}: Keypoints2D.keypoints_2d: expected shape \(T, J, 2\), got \(3, 17, 3\)"
    with pytest.raises(ShapeError, match=message):
        read_keypoints_2d(path)


def test_poselift_json_with_nan_and_confidence_names_file(tmp_path):
    track = _track()
    document = json.loads(json.dumps({"format": "poselift.keypoints_2d", "version": 1, "layout": "h36m17",
                                      "keypoints_2d": np.nan_to_num(track.keypoints_2d).tolist(),
                                      "confidence": np.ones((3, 17)).tolist()}))
    document["keypoints_2d"][0][4] = [None, 3.0]
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(document))
    message = rf"^{path}: .*1 NaN keypoint\(s\) with confidence > 0 \(first: frame 0, joint 4\)"
    with pytest.raises(ShapeError, match=message):
        read_keypoints_2d(path)


def test_poselift_file_with_unknown_layout_names_file(tmp_path):
    path = tmp_path / "layout.json"
    path.write_text(json.dumps({"format": "poselift.keypoints_2d", "version": 1, "layout": "body99",
                                "keypoints_2d": [[[1, 2]]], "confidence": [[1]]}))
    with pytest.raises(LayoutError, match=rf"^{path}: unknown keypoint layout 'body99'"):
        load_keypoints_2d(path)


# --- COCO ----------------------------------------------------------------------------------------


def test_coco_results_pick_best_scoring_person_ordered_by_image_id():
    track = read_coco_keypoints(FIXTURES / "coco_results.json", fps=25)
    assert track.layout == "coco17" and track.num_frames == 2 and track.fps == 25
    np.testing.assert_array_equal(track.keypoints_2d[0, 5], [15, 25])  # image 1, score 0.9 person
    np.testing.assert_array_equal(track.keypoints_2d[1, 16], [116, 216])  # image 2
    assert track.confidence[0, 3] == 1.0  # score 1.7 clipped
    np.testing.assert_allclose(track.confidence[0, 4], 0.8)


def test_coco_dataset_orders_by_file_name_and_marks_unlabelled_joints():
    track = load_keypoints_2d(FIXTURES / "coco_dataset.json")
    assert track.image_size == (640, 480) and track.num_frames == 3
    # frame_2.jpg: joint 0 has v = 0
    assert np.isnan(track.keypoints_2d[0, 0]).all() and track.confidence[0, 0] == 0
    np.testing.assert_array_equal(track.keypoints_2d[0, 1], [61, 70])
    # frame_3.jpg has no person
    assert np.isnan(track.keypoints_2d[1]).all() and not track.confidence[1].any()
    # frame_10.jpg: the larger of two boxes; v = 1 and v = 2 both give confidence 1
    np.testing.assert_array_equal(track.keypoints_2d[2, 3], [33, 40])
    assert (track.confidence[2] == 1).all()


def test_coco_person_with_short_keypoints_names_file_image_and_field(tmp_path):
    results = json.loads((FIXTURES / "coco_results.json").read_text())
    results[0]["keypoints"] = results[0]["keypoints"][:-3]
    path = tmp_path / "short.json"
    path.write_text(json.dumps(results))
    with pytest.raises(FormatError, match=rf"^{path}: image 2: 'keypoints' has 48 values, expected 51"):
        load_keypoints_2d(path)
    del results[0]["keypoints"]
    path.write_text(json.dumps(results))
    with pytest.raises(FormatError, match=rf"^{path}: image 2: person has no 'keypoints' field"):
        read_coco_keypoints(path)


# --- OpenPose -------------------------------------------------------------------------------------


def test_openpose_folder_sorted_by_frame_number_with_missing_people():
    track = load_keypoints_2d(FIXTURES / "openpose", fps=30)
    assert track.layout == "openpose25" and track.num_frames == 3 and track.fps == 30
    # frame 1: keypoint 4 was 0, 0, 0 -> NaN
    np.testing.assert_array_equal(track.keypoints_2d[0, 3], [303, 403])
    assert np.isnan(track.keypoints_2d[0, 4]).all() and track.confidence[0, 4] == 0
    # frame 2: the person with the higher total confidence
    np.testing.assert_array_equal(track.keypoints_2d[1, 24], [334, 434])
    np.testing.assert_allclose(track.confidence[1], 0.9)
    # frame 10: nobody
    assert np.isnan(track.keypoints_2d[2]).all() and not track.confidence[2].any()


def test_openpose_write_then_read(tmp_path):
    track = _track("openpose25", image_size=None, fps=None)
    written = write_openpose_json(tmp_path / "out", track)
    assert [path.name for path in written] == [f"frame_{frame:012d}_keypoints.json" for frame in range(3)]
    assert read_openpose_json(tmp_path / "out") == track
    with pytest.raises(LayoutError, match="OpenPose files need layout 'openpose25'"):
        write_openpose_json(tmp_path / "other", _track("coco17"))


# --- MediaPipe -----------------------------------------------------------------------------------


def test_mediapipe_landmarks_become_pixels_with_visibility_as_confidence():
    track = load_keypoints_2d(FIXTURES / "mediapipe_landmarks.json")
    assert track.layout == "mediapipe33" and track.image_size == (640, 480) and track.fps == 30
    np.testing.assert_allclose(track.keypoints_2d[0, 20], [20 / 40 * 640, 20 / 50 * 480], rtol=1e-6)
    np.testing.assert_allclose(track.keypoints_2d[2, 0], [0.1 * 640, 0.1 * 480], rtol=1e-6)
    assert track.confidence[0, 0] == 1.0 and track.confidence[2, 7] == 0.5
    assert np.isnan(track.keypoints_2d[1]).all() and not track.confidence[1].any()


def test_mediapipe_write_then_read(tmp_path):
    track = _track("mediapipe33", image_size=(1080, 1920), fps=60.0)
    write_mediapipe_json(tmp_path / "mp.json", track)
    again = read_mediapipe_json(tmp_path / "mp.json")
    np.testing.assert_allclose(again.keypoints_2d, track.keypoints_2d, rtol=1e-6)
    np.testing.assert_array_equal(again.confidence, track.confidence)
    assert (again.image_size, again.fps, again.layout) == (track.image_size, track.fps, track.layout)


def test_mediapipe_frame_with_wrong_landmark_count_names_file_and_frame(tmp_path):
    document = json.loads((FIXTURES / "mediapipe_landmarks.json").read_text())
    document["frames"][2]["landmarks"].pop()
    path = tmp_path / "mp.json"
    path.write_text(json.dumps(document))
    with pytest.raises(FormatError, match=rf"^{path}: frames\[2\].landmarks has 32 entries, expected 33"):
        read_mediapipe_json(path)


# --- VideoPose3D ---------------------------------------------------------------------------------


def test_videopose3d_2d_file_as_videopose_writes_it(tmp_path):
    rng = np.random.default_rng(2)
    cameras = [rng.uniform(0, 1000, size=(6, 17, 2)).astype(np.float32) for _ in range(4)]
    metadata = {"layout_name": "h36m", "num_joints": 17,
                "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    path = tmp_path / "data_2d_h36m_gt.npz"
    np.savez_compressed(path, positions_2d={"S1": {"Walking": cameras}}, metadata=metadata)
    track = load_keypoints_2d(path, subject="S1", action="Walking", camera=2)
    assert track.layout == "h36m17"
    np.testing.assert_array_equal(track.keypoints_2d, cameras[2])
    assert (track.confidence == 1).all()
    with pytest.raises(FormatError, match=rf"^{path}: no subject 'S9' \(available: S1\)"):
        read_videopose3d_2d(path, subject="S9")
    with pytest.raises(FormatError, match="no camera 4 \\(4 cameras\\)"):
        read_videopose3d_2d(path, camera=4)


def test_videopose3d_2d_write_then_read(tmp_path):
    tracks = {"clip": {"custom": [_track("coco17", image_size=(1920, 1080), fps=None)]}}
    path = tmp_path / "data_2d_custom.npz"
    write_videopose3d_2d(path, tracks)
    assert list_videopose3d(path) == {"clip": ["custom"]}
    again, original = read_videopose3d_2d(path), tracks["clip"]["custom"][0]
    np.testing.assert_array_equal(again.keypoints_2d, original.keypoints_2d)
    np.testing.assert_array_equal(again.confidence, original.confidence > 0)  # no confidence in the format
    assert (again.layout, again.image_size) == ("coco17", (1920, 1080))
    metadata = np.load(path, allow_pickle=True)["metadata"].item()
    assert metadata["layout_name"] == "coco" and metadata["keypoints_symmetry"][0][0] == 1


def test_videopose3d_3d_metres_to_millimetres(tmp_path):
    poses_m = np.random.default_rng(3).normal(size=(5, 32, 3)).astype(np.float32)
    path = tmp_path / "data_3d_h36m.npz"
    np.savez_compressed(path, positions_3d={"S1": {"Walking": poses_m, "Eating": poses_m[:2]}})
    poses = load_poses_3d(path, subject="S1", action="Walking")
    assert poses.layout == "h36m32" and poses.frame == "world" and poses.joint_names[0] == "pelvis"
    np.testing.assert_allclose(poses.poses_3d, poses_m * 1000, rtol=1e-6)
    out = tmp_path / "again.npz"
    write_videopose3d_3d(out, {"S1": {"Walking": poses}})
    np.testing.assert_allclose(read_videopose3d_3d(out).poses_3d, poses.poses_3d, rtol=1e-6)
    with pytest.raises(FormatError, match="the file has 2 actions; choose one with action="):
        read_videopose3d_3d(path, subject="S1")


def test_videopose3d_with_wrong_shape_names_file(tmp_path):
    path = tmp_path / "data_2d_bad.npz"
    np.savez(path, positions_2d={"S1": {"Walking": [np.zeros((5, 17, 3))]}}, metadata={"layout_name": "h36m"})
    with pytest.raises(ShapeError, match=rf"^{path}: Keypoints2D.keypoints_2d: expected shape \(T, J, 2\)"):
        read_videopose3d_2d(path)


# --- Human3.6M h5 (fixtures written here in the Martinez layout; random numbers, not H36M data) -----


def test_h36m_positions_h5(tmp_path):
    positions = np.random.default_rng(4).normal(size=(96, 7)) * 1000
    path = tmp_path / "Walking 1.h5"
    with h5py.File(path, "w") as handle:
        handle["3D_positions"] = positions
    poses = load_poses_3d(path)
    assert poses.poses_3d.shape == (7, 32, 3) and poses.layout == "h36m32" and poses.fps == 50
    np.testing.assert_allclose(poses.poses_3d[3, 5], positions[15:18, 3], rtol=1e-6)  # joint 5 of frame 3


def test_h36m_cameras_h5_returns_world_to_camera_rotation(tmp_path):
    rotation = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])  # world -> camera
    path = tmp_path / "cameras.h5"
    with h5py.File(path, "w") as handle:
        for subject in (1, 5):
            for camera, name in enumerate(["54138969", "55011271"], start=1):
                group = handle.create_group(f"subject{subject}/camera{camera}")
                group["R"] = rotation.T  # stored transposed, as in the baseline's file
                group["T"] = np.array([[1000.0], [2000.0], [1500.0]])
                group["f"] = np.array([[1145.0], [1144.0]])
                group["c"] = np.array([[512.5], [515.4]])
                group["k"] = np.array([[-0.2], [0.24], [-0.002]])
                group["p"] = np.array([[-0.001], [-0.0005]])
                group["Name"] = np.array([ord(char) for char in name], dtype=np.uint8)
    cameras = read_h36m_cameras_h5(path)
    assert list(cameras) == [(1, 1), (1, 2), (5, 1), (5, 2)]
    camera = cameras[(5, 1)]
    assert camera["name"] == "54138969" and (camera["width"], camera["height"]) == (1000, 1002)
    assert (camera["fx"], camera["fy"], camera["cx"], camera["cy"]) == (1145.0, 1144.0, 512.5, 515.4)
    np.testing.assert_array_equal(camera["R"], rotation)
    np.testing.assert_array_equal(camera["centre"], [1000, 2000, 1500])
    assert camera["k"].shape == (3,) and camera["p"].shape == (2,)


def test_stacked_hourglass_detections_h5(tmp_path):
    poses = np.random.default_rng(5).uniform(0, 1000, size=(4, 16, 2))
    path = tmp_path / "Walking_1.54138969.h5"
    with h5py.File(path, "w") as handle:
        handle["poses"] = poses
    track = load_keypoints_2d(path)
    assert track.layout == "sh16" and track.image_size == (1000, 1002) and len(SH16_JOINT_NAMES) == 16
    np.testing.assert_allclose(track.keypoints_2d, poses, rtol=1e-6)
    with h5py.File(path, "w") as handle:
        handle["poses"] = poses[:, :15]
    with pytest.raises(FormatError, match=r"'poses' has shape \(4, 15, 2\), expected \(T, 16, 2\)"):
        read_sh_detections_h5(path)


def test_h36m_positions_h5_with_wrong_shape(tmp_path):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as handle:
        handle["3D_positions"] = np.zeros((51, 3))
    with pytest.raises(FormatError, match=rf"^{path}: '3D_positions' has shape \(51, 3\), expected \(96, T\)"):
        read_h36m_positions_h5(path)


# --- Qualisys ------------------------------------------------------------------------------------


def test_qca_camera_converts_to_opencv_convention():
    (camera,) = read_qca(FIXTURES / "one_camera.qca.txt")
    assert camera["name"] == "front" and (camera["width"], camera["height"]) == (1000, 1200)
    assert (camera["fx"], camera["fy"], camera["cx"], camera["cy"]) == (1000.0, 1001.0, 500.0, 600.0)
    np.testing.assert_array_equal(camera["k"], [-0.05, 0.1, 0.0])
    np.testing.assert_array_equal(camera["p"], [0.001, -0.002])
    # camera at (0, -3 m, 1 m) looking along +Y (Z up): a point 0.5 m above eye level, 3 m ahead
    point_cam = camera["R"] @ (np.array([0.0, 0.0, 1500.0]) - camera["centre"])
    np.testing.assert_allclose(point_cam, [0, -500, 3000])  # above the centre = negative image y


@pytest.mark.skipif(not POSE2SIM_CALIBRATION.exists(), reason=f"real Pose2Sim data not found at {POSE2SIM_CALIBRATION}")
def test_real_pose2sim_cameras_are_metres_apart_and_look_at_the_origin():
    cameras = read_qca(POSE2SIM_CALIBRATION)
    assert [camera["name"] for camera in cameras] == ["cam01", "cam02", "cam03", "cam04"]
    centres = np.array([camera["centre"] for camera in cameras])
    distances = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    assert distances[~np.eye(4, dtype=bool)].min() > 2000
    for camera in cameras:
        assert np.allclose(camera["R"] @ camera["R"].T, np.eye(3), atol=1e-6)
        forward = camera["R"][2]
        assert forward @ (-camera["centre"] / np.linalg.norm(camera["centre"])) > 0.9
        assert -camera["R"][1] @ np.array([0.0, 0.0, 1.0]) > 0.8  # image up is world up (Z-up world)
        assert (camera["width"], camera["height"]) == (1088, 1920)
        assert 1600 < camera["fx"] < 1750 and abs(camera["cx"] - 1088 / 2) < 50  # 107600 / 64 = 1681 px


# --- auto-detection -------------------------------------------------------------------------------


def test_unknown_content_lists_supported_formats(tmp_path):
    path = tmp_path / "something.json"
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(FormatError, match=rf"^{path}: unrecognised 2D keypoint file; supported formats: poselift"):
        load_keypoints_2d(path)
    with pytest.raises(FormatError, match="unrecognised 3D pose file; supported formats: poselift"):
        load_poses_3d(path)
    broken = tmp_path / "broken.json"
    broken.write_text('{"frames": [\n  1,\n')
    with pytest.raises(FormatError, match=rf"^{broken}: line 3: invalid JSON"):
        load_keypoints_2d(broken)
