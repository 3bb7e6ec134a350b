"""poselift video on a folder of real videos: each video on its own, a broken one reported, a summary."""

import io
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from poselift.errors import FormatError
from poselift.video.pipeline import expand_videos

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pose2sim" / "videos"


def run_poselift(*argv):
    from poselift import cli

    with redirect_stdout(io.StringIO()) as out, redirect_stderr(io.StringIO()) as err:
        status = cli.main([str(arg) for arg in argv])
    return status, out.getvalue(), err.getvalue()


def test_a_folder_stands_for_its_videos(tmp_path):
    (tmp_path / "b.mp4").write_bytes(b"")
    (tmp_path / "a.MOV").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a video")
    assert [path.name for path in expand_videos([tmp_path])] == ["a.MOV", "b.mp4"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="a folder without videos"):
        expand_videos([tmp_path / "empty"])
    with pytest.raises(FormatError, match="no such video file or folder"):
        expand_videos([tmp_path / "missing.mp4"])


def test_a_batch_of_the_four_real_videos_gives_four_results_and_reports_a_broken_one(tmp_path):
    pytest.importorskip("mediapipe", reason='the video extra is not installed (pip install "poselift[video]")')
    if not VIDEOS.is_dir():
        pytest.skip(f"real data not found at {VIDEOS}")
    folder = tmp_path / "videos"
    folder.mkdir()
    for video in sorted(VIDEOS.glob("cam0*.mp4")):
        shutil.copy(video, folder / video.name)
    (folder / "cam05.mp4").write_bytes(b"not a video")                # a broken file among them
    status, out, err = run_poselift("video", folder, "--out", tmp_path / "out", "--max-frames", "3",
                                    "--no-animation", "--quiet")
    assert status == 2 and "1 of 5 videos failed (cam05.mp4)" in err
    assert "cam05.mp4: FAILED:" in out and "| video | frames | person found in |" in out
    for name in ("cam01", "cam02", "cam03", "cam04"):
        assert (tmp_path / "out" / name / "poses_3d.npz").is_file()
        assert f"| {name}.mp4 | 3 | 3 |" in out
    assert not (tmp_path / "out" / "cam05").exists()


def test_two_videos_in_two_processes_give_what_one_process_gives(tmp_path):
    pytest.importorskip("mediapipe", reason='the video extra is not installed (pip install "poselift[video]")')
    if not VIDEOS.is_dir():
        pytest.skip(f"real data not found at {VIDEOS}")
    from poselift.io import load_poses_3d

    videos = [VIDEOS / "cam01.mp4", VIDEOS / "cam02.mp4"]
    common = ["--max-frames", "3", "--no-animation", "--quiet"]
    status, out, _ = run_poselift("video", *videos, "--out", tmp_path / "parallel", "--jobs", "2", *common)
    assert status == 0 and "2 videos, 2 at a time" in out and "cam02.mp4: done in" in out
    assert run_poselift("video", *videos, "--out", tmp_path / "serial", "--jobs", "1", *common)[0] == 0
    for name in ("cam01", "cam02"):
        parallel = load_poses_3d(tmp_path / "parallel" / name / "poses_3d.npz").poses_3d
        serial = load_poses_3d(tmp_path / "serial" / name / "poses_3d.npz").poses_3d
        assert np.allclose(parallel, serial, atol=1e-3, equal_nan=True)
