"""Tests of poselift.viz: pictures and animations of 2D keypoints and 3D poses."""

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from poselift import viz
from poselift.errors import PoseliftError, ShapeError
from poselift.io.poselift_format import read_keypoints_2d
from poselift.skeleton import get_layout

H36M17 = get_layout("h36m17")
SAMPLE_DIR = Path(viz.__file__).parent / "assets" / "sample"

# A person standing 4 m in front of the camera, facing it (their right side on the image's left),
# H36M-17 order, mm, camera frame (x right, y down, z forward).
STANDING_MM = np.array(
    [
        [0, 0], [-130, 0], [-130, 450], [-130, 900], [130, 0], [130, 450], [130, 900],
        [0, -250], [0, -500], [0, -600], [0, -750],
        [180, -500], [200, -250], [210, 0], [-180, -500], [-200, -250], [-210, 0],
    ],
    dtype=np.float64,
)
STANDING_MM = np.column_stack([STANDING_MM, np.full(17, 4000.0)])
# The same person as a 640 x 480 picture at 4 mm per pixel, pelvis in the image centre.
STANDING_PX = STANDING_MM[:, :2] / 4.0 + np.array([320.0, 240.0])
IMAGE_SIZE = (640, 480)


def _waving_clip(num_frames):
    """(T, 17, 2) px, (T, 17), (T, 17, 3) mm: the standing person raising the left wrist."""
    poses_mm = np.repeat(STANDING_MM[None], num_frames, axis=0)
    poses_mm[:, 13, 1] -= np.linspace(0.0, 600.0, num_frames)
    keypoints_px = poses_mm[..., :2] / 4.0 + np.array([320.0, 240.0])
    confidence = np.full((num_frames, 17), 0.9)
    return keypoints_px, confidence, poses_mm


def _pixels_near(image, colour, tolerance=40):
    """How many pixels of an RGB(A) image are within ``tolerance`` of a matplotlib colour."""
    target = np.array(to_rgb(colour)) * 255.0
    return int((np.abs(image[..., :3].astype(float) - target).max(axis=-1) < tolerance).sum())


def _read_frames(path):
    """All frames of a video or GIF, as RGB(A) arrays."""
    with imageio.get_reader(path) as reader:
        return [frame for frame in reader]


def _frame_count(path):
    return len(_read_frames(path))


def _axes(projection=None):
    figure = Figure(figsize=(4, 4), dpi=50)
    FigureCanvasAgg(figure)
    return figure.add_subplot(projection=projection)


def test_plot_pose_2d_skips_nan_joints_and_fades_unconfident_ones():
    keypoints = STANDING_PX.copy()
    keypoints[H36M17.index("l_wrist")] = np.nan
    confidence = np.ones(17)
    confidence[H36M17.index("r_knee")] = 0.1
    artists = viz.plot_pose_2d(_axes(), keypoints, confidence, "h36m17")

    # 16 bones, minus l_elbow-l_wrist; the two bones touching r_knee are faded and dashed.
    assert len(artists.bone_lines.get_segments()) == 13
    faded = np.array(artists.faded_bone_lines.get_segments())
    r_hip, r_knee, r_ankle = (keypoints[H36M17.index(name)] for name in ("r_hip", "r_knee", "r_ankle"))
    assert sorted(map(tuple, faded.reshape(-1, 2))) == sorted(map(tuple, [r_knee, r_hip, r_ankle, r_knee]))
    assert artists.faded_bone_lines.get_alpha() < 0.5
    # 17 joints minus the NaN wrist; only r_knee is faded.
    joint_alphas = artists.joint_markers.get_facecolors()[:, 3]
    assert len(joint_alphas) == 16 and sorted(joint_alphas)[:2] == pytest.approx([0.35, 1.0])


def test_plot_pose_3d_stands_upright_in_an_equal_box():
    ax = _axes("3d")
    artists = viz.plot_pose_3d(ax, STANDING_MM, H36M17)

    x, depth, up = artists.joint_markers.get_data_3d()
    head, pelvis, r_ankle = H36M17.index("head"), H36M17.index("pelvis"), H36M17.index("r_ankle")
    assert up[head] == pytest.approx(750.0) and up[r_ankle] == pytest.approx(-900.0)  # up = -y
    assert depth[pelvis] == pytest.approx(4000.0) and x[r_ankle] == pytest.approx(-130.0)
    spans = [np.diff(limits)[0] for limits in (ax.get_xlim(), ax.get_ylim(), ax.get_zlim())]
    assert spans == pytest.approx([spans[0]] * 3)
    assert spans[0] >= 1650.0  # holds the whole 1.65 m person
    # Bones are coloured by side: left, right and centre colours all appear.
    colours = {tuple(np.round(colour[:3], 3)) for colour in artists.bone_lines.get_colors()}
    assert {tuple(np.round(to_rgb(c), 3)) for c in (viz.LEFT_COLOUR, viz.RIGHT_COLOUR, viz.CENTRE_COLOUR)} == colours


def test_save_figure_writes_a_png_with_both_sides_drawn(tmp_path):
    path = viz.save_figure(
        tmp_path / "pose.png", STANDING_PX, np.ones(17), STANDING_MM, "h36m17",
        title="standing", image_size=IMAGE_SIZE,
    )

    assert path == tmp_path / "pose.png"
    assert [p.name for p in tmp_path.iterdir()] == ["pose.png"]  # no temporary file left behind
    image = imageio.imread(path)
    assert image.shape[0] == 480 and 900 < image.shape[1] < 1600  # 4.8 in at 100 dpi, 3 panels
    assert _pixels_near(image, viz.LEFT_COLOUR) > 200
    assert _pixels_near(image, viz.RIGHT_COLOUR) > 200
    assert _pixels_near(image, viz.CENTRE_COLOUR) > 200


def test_save_figure_draws_over_the_image(tmp_path):
    magenta = np.zeros((480, 640, 3), dtype=np.uint8)
    magenta[...] = (200, 30, 200)
    path = viz.save_figure(tmp_path / "pose.png", STANDING_PX, None, STANDING_MM, H36M17, image=magenta)

    assert _pixels_near(imageio.imread(path), "#c81ec8", tolerance=10) > 20_000


def test_nan_joints_and_frames_do_not_crash(tmp_path):
    keypoints_px, confidence, poses_mm = _waving_clip(4)
    keypoints_px[1, 3] = np.nan
    poses_mm[2, 5] = np.nan
    keypoints_px[3] = np.nan
    poses_mm[3] = np.nan

    viz.save_figure(tmp_path / "nan.png", keypoints_px[3], confidence[3], poses_mm[3], H36M17)
    written = viz.save_animation(
        tmp_path / "nan.gif", keypoints_px, confidence, poses_mm, H36M17, fps=10, height_px=160
    )
    assert _frame_count(written) == 4


@pytest.mark.skipif(not viz.h264_encoder_available(), reason="imageio-ffmpeg has no libx264 encoder here")
def test_save_animation_writes_an_mp4_with_every_frame(tmp_path):
    keypoints_px, confidence, poses_mm = _waving_clip(10)
    written = viz.save_animation(
        tmp_path / "clip.mp4", keypoints_px, confidence, poses_mm, H36M17,
        fps=10, image_size=IMAGE_SIZE, height_px=240,
    )

    assert written == tmp_path / "clip.mp4"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
    with imageio.get_reader(written) as reader:
        assert reader.get_meta_data()["fps"] == pytest.approx(10.0)
    frames = _read_frames(written)
    assert len(frames) == 10
    height, width = frames[0].shape[:2]
    assert height == 240 and width % 2 == 0
    assert not np.array_equal(frames[0], frames[-1])  # the wrist moves and the view turns


def test_save_animation_writes_a_gif_when_asked(tmp_path):
    keypoints_px, confidence, poses_mm = _waving_clip(10)
    written = viz.save_animation(
        tmp_path / "clip.gif", keypoints_px, confidence, poses_mm, H36M17, fps=10, rotate=False, height_px=160
    )

    assert written == tmp_path / "clip.gif"
    assert _frame_count(written) == 10


def test_save_animation_falls_back_to_gif_without_an_encoder(tmp_path, monkeypatch):
    monkeypatch.setattr(viz, "h264_encoder_available", lambda: False)
    keypoints_px, confidence, poses_mm = _waving_clip(10)
    written = viz.save_animation(
        tmp_path / "clip.mp4", keypoints_px, confidence, poses_mm, H36M17, fps=10, height_px=160
    )

    assert written == tmp_path / "clip.gif"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.gif"]
    assert _frame_count(written) == 10


def test_gif_keeps_at_most_50_frames_per_second(tmp_path):
    keypoints_px, confidence, poses_mm = _waving_clip(10)
    written = viz.save_animation(
        tmp_path / "fast.gif", keypoints_px, confidence, poses_mm, H36M17, fps=100, height_px=120
    )
    assert _frame_count(written) == 5  # every 2nd frame, 20 ms each


def test_save_animation_draws_video_frames_and_needs_enough_of_them(tmp_path):
    keypoints_px, confidence, poses_mm = _waving_clip(3)
    video = np.zeros((3, 480, 640, 3), dtype=np.uint8)
    video[...] = (200, 30, 200)
    written = viz.save_animation(
        tmp_path / "video.gif", keypoints_px, confidence, poses_mm, H36M17, video_frames=video, fps=10, height_px=200
    )
    assert _pixels_near(_read_frames(written)[0], "#c81ec8", tolerance=12) > 5_000

    with pytest.raises(ShapeError, match="video_frames ended after 2 frames"):
        viz.save_animation(
            tmp_path / "short.gif", keypoints_px, confidence, poses_mm, H36M17, video_frames=iter(video[:2]),
            fps=10, height_px=120,
        )
    assert not (tmp_path / "short.gif").exists()


def test_bad_inputs_raise_project_errors(tmp_path):
    keypoints_px, confidence, poses_mm = _waving_clip(3)
    with pytest.raises(ShapeError, match="keypoints_2d has 16 joints but layout 'h36m17' has 17"):
        viz.save_animation(tmp_path / "a.gif", keypoints_px[:, :16], None, poses_mm, H36M17)
    with pytest.raises(ShapeError, match="poses_3d has 2 frames but keypoints_2d has 3"):
        viz.save_animation(tmp_path / "a.gif", keypoints_px, None, poses_mm[:2], H36M17)
    with pytest.raises(ShapeError, match=r"confidence has shape \(3, 16\)"):
        viz.save_animation(tmp_path / "a.gif", keypoints_px, confidence[:, :16], poses_mm, H36M17)
    with pytest.raises(PoseliftError, match="a.avi"):
        viz.save_animation(tmp_path / "a.avi", keypoints_px, None, poses_mm, H36M17)
    with pytest.raises(ShapeError, match=r"pose_3d has shape \(17, 2\)"):
        viz.plot_pose_3d(_axes("3d"), STANDING_MM[:, :2], H36M17)
    assert list(tmp_path.iterdir()) == []


def test_torch_tensors_are_accepted(tmp_path):
    torch = pytest.importorskip("torch")
    path = viz.save_figure(
        tmp_path / "torch.png", torch.tensor(STANDING_PX), torch.ones(17), torch.tensor(STANDING_MM), H36M17
    )
    assert path.stat().st_size > 10_000


def test_bundled_sample_draws_over_its_video(tmp_path):
    sample = read_keypoints_2d(SAMPLE_DIR / "cam01_mediapipe33.json")
    assert sample.layout == "mediapipe33" and sample.keypoints_2d.shape == (100, 33, 2)
    assert sample.fps == 60.0 and np.isfinite(sample.keypoints_2d).all()  # a person in every frame

    with imageio.get_reader(SAMPLE_DIR / "cam01.mp4") as reader:
        frame = reader.get_data(0)
    assert (frame.shape[1], frame.shape[0]) == tuple(sample.image_size) == (1080, 1920)
    # The tracked person stands on the force plate in the middle of the picture (not the person
    # in the background on the left): hips between 35 % and 65 % of the width in every frame.
    layout = get_layout("mediapipe33")
    hips = [layout.index("left_hip"), layout.index("right_hip")]
    hips_x = sample.keypoints_2d[:, hips, 0].mean(axis=1) / sample.image_size[0]
    assert np.all((hips_x > 0.35) & (hips_x < 0.65))

    ax = _axes()
    artists = viz.plot_pose_2d(ax, sample.keypoints_2d[0], sample.confidence[0], layout, image=frame)
    assert len(artists.joint_markers.get_offsets()) == 33
    assert ax.get_xlim() == pytest.approx((-0.5, 1079.5))


@pytest.mark.skipif(not viz.h264_encoder_available(), reason="imageio-ffmpeg has no libx264 encoder here")
def test_overlay_keeps_the_full_resolution_and_leaves_nothing_on_an_error(tmp_path):
    keypoints_px, confidence, _ = _waving_clip(6)
    video = np.full((6, 1002, 1000, 3), 90, dtype=np.uint8)          # odd-free sizes are kept; 1002 x 1000
    written = viz.save_overlay(tmp_path / "overlay.mp4", video, keypoints_px, confidence, H36M17, fps=10)
    frames = _read_frames(written)
    assert len(frames) == 6 and frames[0].shape[:2] == (1002, 1000)
    assert _pixels_near(frames[0], viz.LEFT_COLOUR, tolerance=40) > 50          # the left limbs are drawn
    assert np.all(video == 90)                                                  # on copies of the caller's frames
    with pytest.raises(ShapeError, match="video_frames ended after 3 frames"):
        viz.save_overlay(tmp_path / "short.mp4", video[:3], keypoints_px, confidence, H36M17, fps=10)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["overlay.mp4"]


@pytest.mark.skipif(not viz.h264_encoder_available(), reason="imageio-ffmpeg has no libx264 encoder here")
def test_overlay_writer_keeps_clean_shrunk_frames_that_the_animation_draws_like_the_full_ones(tmp_path):
    keypoints_px, confidence, poses_mm = _waving_clip(4)
    video = np.full((4, 480, 640, 3), 90, dtype=np.uint8)
    video[:, :, :320] = 160                                  # a picture with an edge, to be shrunk
    with viz.OverlayWriter(tmp_path / "overlay.mp4", H36M17, fps=10, panel_path=tmp_path / "panel.mp4",
                           panel_height=240) as writer:
        for frame, keypoints, joint_confidence in zip(video, keypoints_px, confidence):
            writer.write(frame, keypoints, joint_confidence)
    panel = _read_frames(writer.panel_written)
    assert len(panel) == 4 and (panel[0].shape[1], panel[0].shape[0]) == viz.animation_panel_size((640, 480), 240)
    assert _pixels_near(panel[0], viz.LEFT_COLOUR, tolerance=40) == 0            # nothing drawn on them
    assert _pixels_near(_read_frames(writer.written)[0], viz.LEFT_COLOUR, tolerance=40) > 50

    # The animation from the shrunk frames (told the keypoints' own image size) is the one from the full frames.
    from_full = viz.save_animation(tmp_path / "full.mp4", keypoints_px, confidence, poses_mm, H36M17,
                                   video_frames=video, fps=10, height_px=240)
    from_panel = viz.save_animation(tmp_path / "panel_animation.mp4", keypoints_px, confidence, poses_mm, H36M17,
                                    video_frames=panel, fps=10, height_px=240, video_size=(640, 480))
    full, shrunk = _read_frames(from_full), _read_frames(from_panel)
    assert full[0].shape == shrunk[0].shape
    panel_width = panel[0].shape[1]                          # the 2D panel; read as full-size frames: 3.6
    assert np.abs(full[-1][:, :panel_width].astype(float) - shrunk[-1][:, :panel_width]).mean() < 1.0
