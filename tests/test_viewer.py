"""The viewer page: one self-contained HTML file, opened in a real headless Chromium where one is installed."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from poselift.io.records import Poses3D
from poselift.skeleton import H36M17
from poselift.viewer import write_viewer
from poses import standing_pose_mm

SAMPLE_VIDEO = Path(__file__).resolve().parents[1] / "src" / "poselift" / "assets" / "sample" / "cam01.mp4"


def swaying_poses(frames=20):
    world = standing_pose_mm()
    camera = np.stack([world[:, 1], -world[:, 2], -world[:, 0]], axis=-1) + np.array([0.0, 0.0, 4000.0])
    poses = camera[None] + np.sin(np.arange(frames) / 4.0)[:, None, None] * np.array([40.0, 0.0, 0.0])
    poses[3] = np.nan                                                     # a frame that was not lifted
    return Poses3D(poses.astype(np.float32), H36M17.joint_names, "camera", fps=25.0, layout="h36m17")


def page_data(path: Path) -> dict:
    return json.loads(re.search(r"const DATA = (\{.*?\});\n", path.read_text()).group(1))


def test_the_page_holds_everything_it_draws(tmp_path):
    confidence = np.full((20, 17), 0.8)
    confidence[5, 13] = 0.0
    page = write_viewer(tmp_path / "viewer.html", swaying_poses(), confidence, video=SAMPLE_VIDEO, title="sway")
    text = page.read_text()
    assert "http://" not in text and "https://" not in text                    # nothing fetched: it works offline
    assert 'src="data:video/mp4;base64,' in text
    data = page_data(page)
    assert data["fps"] == 25.0 and len(data["positions"]) == 20 and data["parents"] == list(H36M17.parents)
    assert data["positions"][3] == [None] * 17 and data["confidence"][5][13] == 0.0
    head = data["positions"][0][H36M17.index("head")]
    assert head[1] > 1500                                                       # world frame, y up, mm
    assert data["side"][H36M17.index("l_wrist")] == "l" and data["side"][H36M17.index("r_wrist")] == "r"


def test_chromium_renders_the_skeleton(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium here (Debian: apt install chromium)")
    page = write_viewer(tmp_path / "viewer.html", swaying_poses(), None, title="sway")
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,760", "--virtual-time-budget=2000",
                    f"--screenshot={shot}", page.as_uri()], check=True, capture_output=True, timeout=120)
    import cv2

    image = cv2.imread(str(shot))
    blue = (image[..., 0] > 180) & (image[..., 1] < 120) & (image[..., 2] < 80)      # left limbs, BGR
    red = (image[..., 2] > 180) & (image[..., 1] < 80) & (image[..., 0] < 80)       # right limbs
    assert blue.sum() > 200 and red.sum() > 200                                    # the skeleton was drawn


def test_a_long_clip_shows_every_kth_frame_in_sync(tmp_path, monkeypatch):
    import poselift.viewer as viewer

    monkeypatch.setattr(viewer, "MAX_FRAMES", 8)
    page = write_viewer(tmp_path / "long.html", swaying_poses(20), None, title="long")
    data = page_data(page)
    assert data["step"] == 3 and data["total_frames"] == 20 and len(data["positions"]) == 7
    assert data["fps"] == 25.0 / 3                 # frame i of the page is frame 3i of the clip, at time 3i / 25
