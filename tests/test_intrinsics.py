"""Intrinsics: rays of pixels against hand-computed values and OpenCV, the default camera of an image size,
and which camera a track is lifted with (and the note that says so)."""

import math

import cv2
import numpy as np
import pytest
import torch

from poselift.camera import h36m_rig
from poselift.errors import PoseliftError, ShapeError
from poselift.intrinsics import DEFAULT_FOCAL_PER_DIAGONAL, Intrinsics, diagonal_fov_deg, intrinsics_for_track


def test_rays_without_distortion_are_pixels_minus_principal_over_focal():
    intrinsics = Intrinsics(torch.tensor([1000.0, 800.0]), torch.tensor([500.0, 400.0]))
    pixels = torch.tensor([[[600.0, 480.0], [500.0, 400.0], [250.0, 0.0]]])               # (1, 3, 2)
    expected = torch.tensor([[[0.1, 0.1], [0.0, 0.0], [-0.25, -0.5]]])
    torch.testing.assert_close(intrinsics.rays(pixels), expected)


def test_rays_undo_the_lens_distortion_like_opencv():
    camera = h36m_rig()[0]
    pixels = np.array([[10.0, 20.0], [512.0, 515.0], [990.0, 30.0], [700.0, 900.0]], dtype=np.float64)
    rays = Intrinsics.from_camera(camera).map(lambda value: value.double()).rays(torch.from_numpy(pixels)[None])[0]
    opencv = cv2.undistortPoints(pixels[:, None, :], camera.K, camera.dist_coeffs, None, None, None,
                                 (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12))[:, 0, :]
    np.testing.assert_allclose(rays.numpy(), opencv, atol=1e-6)


def test_one_camera_broadcasts_over_a_batch_and_a_batch_of_cameras_row_by_row():
    one = Intrinsics(torch.tensor([1000.0, 1000.0]), torch.tensor([500.0, 500.0]))
    many = Intrinsics(torch.tensor([[1000.0, 1000.0], [500.0, 500.0]]), torch.tensor([[500.0, 500.0], [0.0, 0.0]]))
    pixels = torch.full((2, 17, 2), 600.0)
    assert torch.allclose(one.rays(pixels), torch.full((2, 17, 2), 0.1))
    assert torch.allclose(many.rays(pixels)[1], torch.full((17, 2), 1.2))


def test_the_default_camera_of_an_image_size_by_hand():
    intrinsics = Intrinsics.for_image_size((1920, 1080))
    diagonal = math.sqrt(1920 ** 2 + 1080 ** 2)                                             # 2202.9 px
    assert DEFAULT_FOCAL_PER_DIAGONAL == 0.75
    torch.testing.assert_close(intrinsics.focal, torch.tensor([0.75 * diagonal] * 2))      # 1652.2 px
    torch.testing.assert_close(intrinsics.principal, torch.tensor([960.0, 540.0]))
    assert intrinsics.radial is None and intrinsics.tangential is None
    assert diagonal_fov_deg(0.75 * diagonal, (1920, 1080)) == pytest.approx(2 * math.degrees(math.atan(1 / 1.5)))
    assert diagonal_fov_deg(diagonal, (1920, 1080)) == pytest.approx(53.13, abs=0.01)   # f = the diagonal


def test_a_track_is_lifted_with_focal_then_its_camera_then_the_default_and_the_note_says_which():
    camera = h36m_rig()[1]
    intrinsics, note = intrinsics_for_track((1000, 1000), camera=camera)
    torch.testing.assert_close(intrinsics.focal, torch.tensor(camera.focal, dtype=torch.float32))
    assert intrinsics.radial is not None
    assert note == ("camera: the calibration of '55011271': focal 1150 x 1148 px, principal point (509, 508) px, "
                    "with its lens distortion")
    intrinsics, note = intrinsics_for_track((1280, 720), focal_px=1000.0, camera=camera)
    torch.testing.assert_close(intrinsics.focal, torch.tensor([1000.0, 1000.0]))
    torch.testing.assert_close(intrinsics.principal, torch.tensor([640.0, 360.0]))
    assert note.startswith("camera: --focal 1000 px (a 73 degree diagonal field of view), principal point at the "
                           "image centre; the camera '55011271' of the input not used")
    intrinsics, note = intrinsics_for_track((1080, 1920))
    assert float(intrinsics.focal[0]) == pytest.approx(0.75 * math.hypot(1080, 1920))        # 1652 px
    assert note == ("camera: assumed from the image size 1080 x 1920 px: focal 1652 px, principal point (540, 960) "
                    "px (0.75 x the diagonal, a 67 degree diagonal field of view), no lens distortion; give --focal "
                    "PX or a calibration when known")


def test_without_image_size_or_camera_the_track_is_refused_naming_the_options():
    with pytest.raises(PoseliftError, match=r"clip.json: this model reads the camera rays .* \(--image-size W"):
        intrinsics_for_track(None, source="clip.json")
    with pytest.raises(PoseliftError, match="--focal needs the image size"):
        intrinsics_for_track(None, focal_px=1200.0)
    with pytest.raises(PoseliftError, match="--focal must be a positive number of pixels, got -3"):
        intrinsics_for_track((640, 480), focal_px=-3.0)


def test_bad_intrinsics_are_refused_naming_the_field():
    with pytest.raises(ShapeError, match=r"intrinsics principal: expected shape \(\.\.\., 2\), got \(3,\)"):
        Intrinsics(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ShapeError, match="intrinsics focal: must be > 0 px"):
        Intrinsics(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]))
    with pytest.raises(ShapeError, match="intrinsics radial: holds non-finite values"):
        Intrinsics(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 2.0]), torch.tensor([math.nan, 0.0, 0.0]))


def test_batches_without_intrinsics_give_none_and_with_them_the_suffixed_keys():
    assert Intrinsics.from_batch({"keypoints_2d": torch.zeros(1, 17, 2)}) is None
    batch = {"focal_2": torch.ones(3, 2), "principal_2": torch.zeros(3, 2), "radial_2": torch.zeros(3, 3)}
    intrinsics = Intrinsics.from_batch(batch, "_2")
    assert intrinsics.focal.shape == (3, 2) and intrinsics.radial.shape == (3, 3) and intrinsics.tangential is None
