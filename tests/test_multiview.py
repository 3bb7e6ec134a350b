"""Multi-view: cameras for videos, triangulation and the agreement of lifted views, with Pose2Sim's calibration."""

import json
from pathlib import Path

import numpy as np
import pytest

from poselift.errors import PoseliftError
from poselift.io.records import Keypoints2D
from poselift.multiview import cameras_for_videos, lifted_to_world, triangulate_views, view_agreement
from poselift.skeleton import H36M17
from poselift.video.reading import VideoInfo

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
POSE2SIM = SHARED_DATA / "pose2sim"
CALIBRATION = POSE2SIM / "Calib.qca.txt"
PERSON_CENTRE_MM = np.array([-1400.0, 0.0, 900.0])   # where the athlete stands in the calibration's world


@pytest.fixture(scope="module")
def calibration() -> Path:
    if not CALIBRATION.is_file():
        pytest.skip(f"real data not found at {CALIBRATION}")
    return CALIBRATION


def infos(names, sizes, fps=60.0):
    return [VideoInfo(Path(f"/videos/{name}.mp4"), width, height, fps, 100) for name, (width, height) in zip(names, sizes)]


PORTRAITS = [(1080, 1920), (1080, 1920), (1088, 1920), (1088, 1920)]


def test_cameras_matched_by_name_and_cropped_videos_noted(calibration):
    cameras, notes = cameras_for_videos(calibration, infos(["cam03", "cam01", "cam02", "cam04"],
                                                           [PORTRAITS[2], PORTRAITS[0], PORTRAITS[1], PORTRAITS[3]]))
    assert [camera.name for camera in cameras] == ["cam03", "cam01", "cam02", "cam04"]
    assert (cameras[1].width, cameras[1].height) == (1080, 1920)
    sensor_sized, _ = cameras_for_videos(calibration, infos(["cam01", "cam02"], [(1088, 1920)] * 2))
    assert (cameras[1].fx, cameras[1].cx, cameras[1].cy) == (sensor_sized[0].fx, sensor_sized[0].cx, sensor_sized[0].cy)
    assert len(notes) == 2 and all("top-left 1080x1920 px" in note for note in notes)
    assert "cam01.mp4 is 1080x1920 px, its camera cam01 1088x1920 px" in notes[0]


def test_cameras_in_file_order_and_scaled_videos(calibration):
    full, _ = cameras_for_videos(calibration, infos(["cam01", "cam02"], PORTRAITS[:2]))
    cameras, notes = cameras_for_videos(calibration, infos(["a", "b", "c", "d"], [(544, 960)] * 4))
    assert [camera.name for camera in cameras] == ["cam01", "cam02", "cam03", "cam04"]
    assert "cameras taken in file order: a.mp4 -> cam01" in notes[0]
    assert "intrinsics scaled by 0.5000" in notes[1]
    assert cameras[0].fx == pytest.approx(full[0].fx / 2) and cameras[0].cy == pytest.approx(full[0].cy / 2)
    np.testing.assert_array_equal(cameras[0].R, full[0].R)


@pytest.mark.parametrize("names, sizes, fps, message", [
    (["cam01", "cam02"], [(800, 600), PORTRAITS[1]], 60.0, "cam01.mp4: 800x600 px does not fit camera cam01"),
    (["x", "y", "z"], PORTRAITS[:3], 60.0, "has 4 cameras (cam01, cam02, cam03, cam04) for 3 videos"),
    (["cam01"], PORTRAITS[:1], 60.0, "triangulation needs at least 2 videos"),
])
def test_cameras_that_do_not_fit(calibration, names, sizes, fps, message):
    with pytest.raises(PoseliftError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cameras_for_videos(calibration, infos(names, sizes, fps))


def test_views_with_different_frame_rates(calibration):
    videos = infos(["cam01", "cam02"], PORTRAITS[:2])
    videos[1] = VideoInfo(videos[1].path, 1080, 1920, 30.0, 50)
    with pytest.raises(PoseliftError, match="same frame rate, got cam01.mp4 60.0 fps, cam02.mp4 30.0 fps"):
        cameras_for_videos(calibration, videos)


def synthetic_views(calibration, frames=3):
    """33 landmarks scattered over a person-sized box in the world, seen by the four calibrated cameras."""
    cameras, _ = cameras_for_videos(calibration, infos(["cam01", "cam02", "cam03", "cam04"], [(1088, 1920)] * 4))
    rng = np.random.default_rng(1)
    landmarks = PERSON_CENTRE_MM + rng.uniform([-300, -300, -800], [300, 300, 800], size=(frames, 33, 3))
    tracks = [Keypoints2D(keypoints_2d=np.asarray(camera.project_world(landmarks), dtype=np.float32),
                          confidence=np.ones((frames, 33), np.float32), layout="mediapipe33",
                          image_size=(1088, 1920), fps=60.0) for camera in cameras]
    return cameras, landmarks, tracks


def test_triangulation_recovers_projected_points(calibration):
    cameras, landmarks, tracks = synthetic_views(calibration)
    tracks[0].keypoints_2d[0, 5] = np.nan                    # landmark 5 seen by three views in frame 0
    for track in tracks[1:]:
        track.confidence[1, 7] = 0.0                        # landmark 7 seen by one view only in frame 1
    result = triangulate_views(tracks, cameras)
    assert np.isnan(result.landmarks_world[1, 7]).all()
    known = np.isfinite(result.landmarks_world).all(-1)
    assert known.sum() == 3 * 33 - 1
    np.testing.assert_allclose(result.landmarks_world[known], landmarks[known], atol=0.05)
    np.testing.assert_allclose(result.reprojection_px, 0.0, atol=0.01)
    pelvis = result.poses_world[:, H36M17.index("pelvis")]
    np.testing.assert_allclose(pelvis, landmarks[:, [23, 24]].mean(1), atol=0.05)   # mid-hips


def test_a_swapped_view_is_swapped_back_and_a_wrong_view_left_out(calibration):
    """cam02's left and right exchanged in frames 1-3 and cam03's arms 200 px off in frame 4: the check
    swaps cam02 back and leaves cam03's arms out, so the triangulation is exact again."""
    from poselift.skeleton import MEDIAPIPE33
    from poselift.swaps import limb_groups

    cameras, landmarks, tracks = synthetic_views(calibration, frames=6)
    flip = MEDIAPIPE33.flip_permutation
    tracks[1].keypoints_2d[1:4] = tracks[1].keypoints_2d[1:4][:, flip]
    arms = np.array(limb_groups("mediapipe33")["arms"]).ravel()
    tracks[2].keypoints_2d[4, arms] += 200.0
    plain = triangulate_views(tracks, cameras, check=False)
    assert np.linalg.norm(plain.landmarks_world - landmarks, axis=-1)[1:5].mean() > 20.0     # mm: corrupted

    result = triangulate_views(tracks, cameras)
    check = result.check
    arms_group = check.groups.index("arms")
    np.testing.assert_array_equal(check.swapped[1].any(-1), [False, True, True, True, False, False])
    assert check.swapped[1, 1:4].all() and not check.swapped[[0, 2, 3]].any()
    np.testing.assert_array_equal(np.argwhere(check.rejected), [[2, 4, arms_group]])
    assert check.view_counts(2) == {"frames_swapped": 0, "frames_rejected": 1, "joints_rejected": len(arms)}
    np.testing.assert_allclose(result.landmarks_world, landmarks, atol=0.05)


def test_mediapipes_swapped_view_in_pose2sim_no_longer_pulls_the_triangulation(calibration):
    """Real MediaPipe on the four views (tests/fixtures/make_pose2sim_mediapipe.py): cam02 is swapped back
    in frames 41-59 and no other view is swapped; its re-projection error falls and the joints move."""
    data = np.load(Path(__file__).parent / "fixtures" / "pose2sim_mediapipe.npz")
    names = [str(name) for name in data["cameras"]]
    cameras, _ = cameras_for_videos(calibration, infos(names, [tuple(size) for size in data["image_sizes"]]))
    tracks = [Keypoints2D(points, confidence, "mediapipe33", image_size=tuple(size), fps=60.0)
              for points, confidence, size in zip(data["keypoints_2d"], data["confidence"], data["image_sizes"])]
    result, plain = triangulate_views(tracks, cameras), triangulate_views(tracks, cameras, check=False)
    limbs = [result.check.groups.index(group) for group in ("arms", "legs")]
    swapped = result.check.swapped[..., limbs]
    assert swapped[1, 41:60].all() and not swapped[[0, 2, 3]].any()
    assert not swapped[1, :41].any() and not swapped[1, 71:].any()
    assert result.reprojection_px[1] < plain.reprojection_px[1] - 2.0          # px
    moved = np.linalg.norm(result.poses_world - plain.poses_world, axis=-1).mean(-1)
    assert moved[45:55].min() > 100.0 and moved[:40].max() < 1.0               # mm


def test_lifted_view_moved_into_the_world_and_compared(calibration):
    cameras, _ = cameras_for_videos(calibration, infos(["cam01", "cam02"], [(1088, 1920)] * 2))
    camera = cameras[1]
    rng = np.random.default_rng(2)
    truth_world = PERSON_CENTRE_MM + rng.uniform(-500, 500, size=(4, 17, 3))
    truth_cam = np.asarray(camera.world_to_camera(truth_world))
    lifted_cam = truth_cam - truth_cam[:, :1]                # what a perfect lifter returns: root-relative
    world = lifted_to_world(lifted_cam, camera, truth_world[:, 0])
    np.testing.assert_allclose(world, truth_world, atol=1e-6)

    perfect = view_agreement(world, truth_world)
    assert perfect["frames_compared"] == 4
    assert perfect["mpjpe_mm"] == pytest.approx(0.0, abs=1e-6) and perfect["p_mpjpe_mm"] == pytest.approx(0.0, abs=1e-3)
    assert perfect["bone_length_ratio"] == pytest.approx(1.0)

    shifted = world.copy()
    shifted[:, 1:] += [10.0, 0.0, 0.0]                      # every joint but the root 10 mm off
    shifted[2, 5] = np.nan                                  # a frame left out
    agreement = view_agreement(shifted, truth_world)
    assert agreement["frames_compared"] == 3
    assert agreement["mpjpe_mm"] == pytest.approx(10.0 * 16 / 17)
    assert agreement["per_joint_mm"]["pelvis"] == pytest.approx(0.0) and agreement["per_joint_mm"]["head"] == pytest.approx(10.0)
    assert np.isnan(agreement["frame_mpjpe_mm"][2])


def test_video_command_with_a_calibration(tmp_path, calibration):
    """Two real views (cam02: 1080 px wide video, cam04: 1088 px) for 5 frames, end to end."""
    pytest.importorskip("mediapipe", reason='the video extra is not installed (pip install "poselift[video]")')
    from poselift.io import load_poses_3d
    from poselift.video.pipeline import run_video

    videos = [POSE2SIM / "videos" / "cam02.mp4", POSE2SIM / "videos" / "cam04.mp4"]
    lines = []
    run_video(videos, tmp_path / "out", calibration=calibration, max_frames=5, animation=False, progress=False,
              echo=lines.append)
    out = tmp_path / "out"
    assert any("cam02.mp4 is 1080x1920 px, its camera cam02 1088x1920 px" in line for line in lines)
    assert (out / "cam02" / "poses_3d.bvh").is_file() and (out / "cam04" / "keypoints_2d.json").is_file()
    assert (out / "multiview.png").is_file()

    report = json.loads((out / "multiview.json").read_text())
    assert report["frames"] == 5 and report["frames_triangulated"] == 5
    assert [view["camera"] for view in report["views"]] == ["cam02", "cam04"]
    for view in report["views"]:
        assert view["reprojection_error_px"] < 30.0        # the data README expects about 10 px
        assert set(view["triangulation_check"]) == {"frames_swapped", "frames_rejected", "joints_rejected"}
        assert view["frames_compared"] == 5
        assert 10.0 < view["mpjpe_mm"] < 250.0 and view["p_mpjpe_mm"] <= view["mpjpe_mm"]
        assert 0.7 < view["bone_length_ratio"] < 1.3

    triangulated = load_poses_3d(out / "triangulated_3d.npz")
    assert triangulated.frame == "world" and triangulated.poses_3d.shape == (5, 17, 3)
    pelvis_height = triangulated.poses_3d[:, 0, 2]
    ankle_height = triangulated.poses_3d[:, [3, 6], 2]
    assert ((pelvis_height > 700) & (pelvis_height < 1200)).all()            # Z up, floor near 0
    assert (ankle_height < 300).all()
    # the triangulated poses in every export format; the BVH keeps the root's trajectory in the world (y up, m)
    from poselift.export import bvh_h36m_positions, world_positions
    from poselift.io.bvh import read_bvh
    from poselift.io.trc import read_trc

    played = bvh_h36m_positions(read_bvh(out / "triangulated_3d.bvh")) * 1000.0
    expected_root = world_positions(triangulated.poses_3d, "world", "y")[:, 0]
    np.testing.assert_allclose(played[:, 0], expected_root, atol=1.0)
    assert np.abs(played[:, 0, [0, 2]]).max() > 50                            # not at the origin: a trajectory
    assert read_trc(out / "triangulated_3d.trc").positions.shape == (5, 17, 3)
    assert (out / "triangulated_3d.csv").is_file()
