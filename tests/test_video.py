"""``poselift video``: detection, person choice, smoothing and the outputs, on real frames of Pose2Sim's cam01.

The tests that run MediaPipe skip (with the reason) only when the ``video`` extra is not installed.
"""

import argparse
import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from poselift.errors import FormatError, PoseliftError
from poselift.cli.common import parse_person
from poselift.video.detection import MISSING_MEDIAPIPE, Person, _search_regions
from poselift.video.reading import probe_video
from poselift.video.tracking import choose_person

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CAM01 = SHARED_DATA / "pose2sim" / "videos" / "cam01.mp4"
FRAMES = 10


def needs_mediapipe():
    pytest.importorskip("mediapipe", reason='the video extra is not installed (pip install "poselift[video]")')
    if not CAM01.is_file():
        pytest.skip(f"real data not found at {CAM01}")


def run_poselift(*argv):
    """``poselift ARGV`` in-process -> (exit status, stdout, stderr)."""
    from poselift import cli

    with redirect_stdout(io.StringIO()) as out, redirect_stderr(io.StringIO()) as err:
        status = cli.main([str(arg) for arg in argv])
    return status, out.getvalue(), err.getvalue()


def assert_one_line_error(status, err, *needles):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("poselift: error: "), err
    for needle in needles:
        assert needle in lines[0]


# ----------------------------------------------------------------------------------------------
# Without MediaPipe


def test_missing_mediapipe_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)     # makes `import mediapipe` raise ImportError
    status, _, err = run_poselift("video", tmp_path / "any.mp4", "--out", tmp_path / "out")
    assert_one_line_error(status, err, 'pip install "poselift[video]"')
    assert MISSING_MEDIAPIPE in err
    assert not (tmp_path / "out").exists()


def test_unreadable_video(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video\n" * 50)
    with pytest.raises(FormatError, match="broken.mp4: cannot read this video"):
        probe_video(broken)
    with pytest.raises(FormatError, match="missing.mp4: no such video file"):
        probe_video(tmp_path / "missing.mp4")


def test_frames_decoded_ahead_are_the_frames_in_order_and_an_early_stop_ends_the_decoder(tmp_path):
    import threading

    from poselift.video.reading import read_frames

    if not CAM01.is_file():
        pytest.skip(f"real data not found at {CAM01}")
    in_order = list(read_frames(CAM01, 5))
    ahead = list(read_frames(CAM01, 5, ahead=2))
    assert len(ahead) == 5 and all(np.array_equal(a, b) for a, b in zip(in_order, ahead))
    threads = threading.active_count()
    frames = read_frames(CAM01, None, ahead=2)
    next(frames)
    frames.close()                                       # the caller stops after one frame of 100
    assert threading.active_count() == threads
    with pytest.raises(FormatError, match="missing.mp4: no such video file"):
        list(read_frames(tmp_path / "missing.mp4", ahead=2))


def test_parse_person():
    assert parse_person("largest") == "largest" and parse_person("central") == "central"
    assert parse_person("2") == 2
    for bad in ("0", "-1", "tallest"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_person(bad)


def test_choose_person_rules():
    def person(x0, y0, x1, y1):
        return Person(np.zeros((33, 2)), np.ones(33), np.array([x0, y0, x1, y1], dtype=float))

    people = [person(600, 100, 700, 400),      # right, 100 x 300
              person(0, 0, 300, 500),          # left, the largest
              person(350, 200, 450, 400)]      # nearest the centre of a 1000 x 600 image
    size = (1000, 600)
    assert choose_person(people, "largest", size) == 1
    assert choose_person(people, "central", size) == 2
    assert [choose_person(people, n, size) for n in (1, 2, 3, 4)] == [1, 2, 0, None]
    assert choose_person([], "largest", size) is None
    # a box reaching out of the image counts by its part inside
    assert choose_person([person(-2000, 0, 100, 100), person(200, 0, 400, 200)], "largest", size) == 1


def test_search_regions_cover_a_portrait_frame_with_square_tiles():
    regions = _search_regions((1080, 1920))
    assert regions[0] == (0, 0, 1080, 1920)
    assert regions[1:] == [(0, 0, 1080, 1080), (0, 540, 1080, 1620), (0, 840, 1080, 1920)]
    assert _search_regions((640, 640)) == [(0, 0, 640, 640)]


# ----------------------------------------------------------------------------------------------
# MediaPipe on real frames


@pytest.fixture(scope="module")
def cam01_run(tmp_path_factory):
    """``poselift video cam01.mp4 --max-frames 10`` once for the tests below."""
    needs_mediapipe()
    out = tmp_path_factory.mktemp("video") / "cam01"
    status, stdout, stderr = run_poselift("video", CAM01, "--out", out, "--max-frames", FRAMES, "--quiet")
    assert status == 0, stderr
    return out, stdout, stderr


def test_video_command_outputs(cam01_run):
    from poselift.io import load_keypoints_2d, load_poses_3d

    out, stdout, stderr = cam01_run
    names = {"keypoints_2d.json", "poses_3d.npz", "poses_3d.json", "poses_3d.bvh", "poses_3d.csv", "figure.png"}
    written = {path.name for path in out.iterdir()}
    assert names <= written and written & {"animation.mp4", "animation.gif"}
    assert "the person was found in 10" in stdout and "wrote" in stdout
    assert stderr == ""                                  # MediaPipe's own log lines are kept out

    keypoints = load_keypoints_2d(out / "keypoints_2d.json")
    assert keypoints.layout == "mediapipe33" and keypoints.keypoints_2d.shape == (FRAMES, 33, 2)
    assert keypoints.image_size == (1080, 1920) and keypoints.fps == pytest.approx(60.0)
    assert np.isfinite(keypoints.keypoints_2d).all()
    assert ((keypoints.confidence >= 0) & (keypoints.confidence <= 1)).all()

    poses = load_poses_3d(out / "poses_3d.npz")
    assert poses.poses_3d.shape == (FRAMES, 17, 3) and poses.frame == "camera" and poses.fps == pytest.approx(60.0)
    assert np.isfinite(poses.poses_3d).all()
    np.testing.assert_allclose(poses.poses_3d[:, 0], 0.0, atol=1e-3)          # root-relative
    assert poses.meta["smoothing"] == {"filter": "savitzky-golay", "window_frames": 13, "polyorder": 2}
    height = poses.poses_3d[:, :, 1].max(1) - poses.poses_3d[:, :, 1].min(1)   # y down: head to ankles
    assert ((height > 1200) & (height < 2100)).all()


def test_video_keypoints_match_the_bundled_sample(cam01_run):
    """The bundled sample is MediaPipe's own full-frame tracker on the same video: our crop tracker
    follows the same person to within a few pixels."""
    from poselift.io import load_keypoints_2d
    from poselift.lift import bundled_sample

    ours = load_keypoints_2d(cam01_run[0] / "keypoints_2d.json")
    sample = load_keypoints_2d(bundled_sample()[0])
    confident = sample.confidence[:FRAMES] > 0.5
    distance = np.linalg.norm(ours.keypoints_2d - sample.keypoints_2d[:FRAMES], axis=-1)
    assert np.median(distance[confident]) < 5.0


def test_video_bvh_and_csv(cam01_run):
    from poselift.export import bvh_h36m_positions, camera_to_bvh_frame
    from poselift.io import load_poses_3d
    from poselift.io.bvh import read_bvh

    out = cam01_run[0]
    poses = load_poses_3d(out / "poses_3d.npz").poses_3d.astype(np.float64)
    motion = read_bvh(out / "poses_3d.bvh")
    assert motion.num_frames == FRAMES and motion.fps == pytest.approx(60.0)
    positions = camera_to_bvh_frame(poses)
    played = bvh_h36m_positions(motion) * 1000.0                       # the BVH is in metres
    # mm: the npz is on the BVH's skeleton; the BVH also walks the root's estimated path (the npz is root-relative)
    relative = lambda joints: joints - joints[:, :1]  # noqa: E731
    assert np.linalg.norm(relative(played) - relative(positions), axis=-1).max() < 0.5

    rows = (out / "poses_3d.csv").read_text().splitlines()
    assert len(rows) == FRAMES + 1
    assert rows[2].split(",")[:2] == ["1", f"{1 / 60:.6f}"]
    # the CSV is in the world frame, y up, feet on the floor, the BVH's joints
    np.testing.assert_allclose([float(v) for v in rows[1].split(",")[2:]], played[0].ravel(), atol=0.006)


def test_video_refuses_a_used_folder_and_an_unreadable_video(cam01_run, tmp_path):
    status, _, err = run_poselift("video", CAM01, "--out", cam01_run[0], "--max-frames", 1)
    assert_one_line_error(status, err, str(cam01_run[0]), "--force")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    status, _, err = run_poselift("video", broken, "--out", tmp_path / "out")
    assert_one_line_error(status, err, "broken.mp4")


def _write_video(path: Path, frames, fps: float) -> None:
    import cv2

    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write an mp4v video here"
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def test_frames_without_a_person_and_another_frame_rate(tmp_path):
    """A 25 fps video (half size) with two black frames in the middle: those frames are NaN with
    confidence 0 in 2D, filled by the lifting (which says so), and every output runs at 25 fps."""
    needs_mediapipe()
    import cv2

    from poselift.io import load_keypoints_2d, load_poses_3d
    from poselift.io.bvh import read_bvh
    from poselift.video.pipeline import run_video
    from poselift.video.reading import read_frames

    real = [cv2.resize(frame, (540, 960), interpolation=cv2.INTER_AREA) for frame in read_frames(CAM01, 6)]
    black = np.zeros_like(real[0])
    video = tmp_path / "gaps.mp4"
    _write_video(video, real[:3] + [black, black] + real[3:], fps=25.0)
    lines = []
    run_video([video], tmp_path / "out", echo=lines.append, progress=False)
    out = tmp_path / "out"

    keypoints = load_keypoints_2d(out / "keypoints_2d.json")
    missing = ~np.isfinite(keypoints.keypoints_2d).all(axis=(1, 2))
    assert missing.tolist() == [False] * 3 + [True] * 2 + [False] * 3
    assert (keypoints.confidence[missing] == 0).all()
    assert keypoints.fps == pytest.approx(25.0) and keypoints.image_size == (540, 960)
    assert any("found in 6" in line for line in lines)
    assert any("34 missing joints filled by interpolation" in line for line in lines)   # 17 joints x 2 frames

    poses = load_poses_3d(out / "poses_3d.npz")
    assert np.isfinite(poses.poses_3d).all() and poses.fps == pytest.approx(25.0)
    assert read_bvh(out / "poses_3d.bvh").frame_time_s == pytest.approx(0.04)
    animation = cv2.VideoCapture(str(out / "animation.mp4"))
    assert animation.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
    assert int(animation.get(cv2.CAP_PROP_FRAME_COUNT)) == 8


def test_person_option_picks_the_person_in_the_background(capfd):
    """cam01 has the athlete in front and a person standing far back on the left: ``--person 1``
    (the first from the left) follows her, the default (largest) the athlete."""
    needs_mediapipe()
    from poselift.video.tracking import detect_video

    background, report = detect_video(CAM01, person=1, max_frames=3, progress=False)
    athlete, _ = detect_video(CAM01, person="largest", max_frames=3, progress=False)
    assert capfd.readouterr().err == ""                     # MediaPipe's C++ log lines are hidden
    assert report.most_people >= 2
    hips = [23, 24]
    assert (background.keypoints_2d[:, hips, 0] < 200).all()               # her hips stay left of x = 200 px
    assert (athlete.keypoints_2d[:, hips, 0] > 250).all()
    background_height = np.ptp(background.keypoints_2d[..., 1], axis=1)
    athlete_height = np.ptp(athlete.keypoints_2d[..., 1], axis=1)
    assert (background_height < 0.7 * athlete_height).all()


def test_a_person_never_found_is_an_error():
    needs_mediapipe()
    from poselift.video.tracking import detect_video

    with pytest.raises(PoseliftError, match="cam01.mp4: MediaPipe found no person 9 from the left in any of the 2"):
        detect_video(CAM01, person=9, max_frames=2, progress=False)


def test_a_calibrated_run_gives_a_model_that_reads_the_camera_each_videos_calibration(tmp_path, monkeypatch,
                                                                                        small_benchmark):
    """Detection replaced by MediaPipe's recorded tracks of Pose2Sim's cam01 and cam02 (the fixture): each view is
    lifted with its own camera from the calibration, and --focal with --calibration is refused."""
    needs_mediapipe()
    import torch

    from poselift.checkpoint import save_checkpoint
    from poselift.data.datasets import FrameSource
    from poselift.io import load_poses_3d
    from poselift.io.records import Keypoints2D
    from poselift.models.baseline import BaselineConfig, BaselineLifter
    from poselift.video import pipeline
    from poselift.video.tracking import DetectionReport

    recorded = np.load(Path(__file__).parent / "fixtures" / "pose2sim_mediapipe.npz")
    names = [str(name) for name in recorded["cameras"]]

    def recorded_track(path, person="largest", max_frames=None, progress=True, on_frame=None):
        view = names.index(Path(path).stem)
        track = Keypoints2D(recorded["keypoints_2d"][view, :12], recorded["confidence"][view, :12], "mediapipe33",
                            image_size=tuple(int(size) for size in recorded["image_sizes"][view]),
                            fps=float(recorded["fps"]))
        return track, DetectionReport(Path(path).name, 12, 12, 1, 1, 0.9, 1.0, track.fps)

    monkeypatch.setattr(pipeline, "detect_video", recorded_track)
    torch.manual_seed(0)
    model = BaselineLifter(BaselineConfig(hidden_size=16, num_blocks=1, input_normalization="camera"))
    model.normalizer.fit_source(FrameSource(small_benchmark, "train", "gt", frame_stride=8))
    checkpoint = save_checkpoint(tmp_path / "camera.pt", model=model.eval())
    calibration = SHARED_DATA / "pose2sim" / "Calib.qca.txt"
    videos = [CAM01, CAM01.with_name("cam02.mp4")]
    pipeline.run_video(videos, tmp_path / "out", calibration=calibration, model=checkpoint, animation=False,
                       progress=False, echo=lambda line: None)
    for name in ("cam01", "cam02"):
        notes = load_poses_3d(tmp_path / "out" / name / "poses_3d.npz").meta["notes"]
        assert any(note.startswith(f"camera: the calibration of '{name}': focal 16") for note in notes), notes
    with pytest.raises(PoseliftError, match="--focal and --calibration both give the camera"):
        pipeline.run_video(videos, tmp_path / "again", calibration=calibration, model=checkpoint, focal_px=1500.0)
