"""Pose generation with V-VIPE (poselift.generation): decoding around a pose's embedding, the viewing
frame of the pictures, and the picture grid. The VAE is conftest's ``vvipe_stage_one``."""

import struct

import numpy as np
import pytest
import torch

from poselift.data.datasets import FrameSource
from poselift.errors import PoseliftError
from poselift.generation import CANONICAL_TO_VIEW, canonical_to_view, decode_along, generate_variations
from poselift.viz import save_pose_grid
from poses import standing_pose_mm


@pytest.fixture(scope="module")
def frames(small_benchmark):
    return FrameSource(small_benchmark, "train", "gt", frame_stride=12)


def test_generation_decodes_around_a_pose(vvipe_stage_one, frames, tmp_path):
    model, _, _ = vvipe_stage_one
    latent = model.embed_3d(frames.batch(torch.arange(1))["poses_3d"])[0]
    directions = torch.randn(2, latent.shape[0], generator=torch.Generator().manual_seed(0))
    poses = decode_along(model, latent, directions, [0.0, 0.5, 1.0])
    assert poses.shape == (2, 3, 17, 3)
    assert torch.allclose(poses[0, 0], poses[1, 0])                    # scale 0 is the pose itself
    step_1 = (poses[:, 1] - poses[:, 0]).norm(dim=-1).mean()
    step_2 = (poses[:, 2] - poses[:, 0]).norm(dim=-1).mean()
    assert 0 < step_1 < step_2
    assert np.allclose(CANONICAL_TO_VIEW @ CANONICAL_TO_VIEW.T, np.eye(3)) and np.linalg.det(CANONICAL_TO_VIEW) > 0
    picture = save_pose_grid(tmp_path / "grid.png", canonical_to_view(poses), [["a", "b", "c"], ["d", "e", "f"]],
                             title="test")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_variations_decode_the_latent_plus_scaled_noise(vvipe_stage_one, frames):
    model, _, _ = vvipe_stage_one
    latent = model.embed_3d(frames.batch(torch.arange(2))["poses_3d"])[1]
    noise, poses = generate_variations(model, latent, 5, 0.3, torch.Generator().manual_seed(4))
    assert noise.shape == (5, latent.shape[0]) and poses.shape == (5, 17, 3)
    torch.testing.assert_close(poses, model.decode_latent(latent + 0.3 * noise))
    torch.testing.assert_close(noise, torch.randn(5, latent.shape[0], generator=torch.Generator().manual_seed(4)))
    assert torch.allclose(poses[:, 0], torch.zeros(5, 3))                      # pelvis at the origin
    _, still = generate_variations(model, latent.numpy(), 3, 0.0)            # scale 0: the pose itself, 3 times
    torch.testing.assert_close(still, model.decode_latent(latent)[None].expand(3, 17, 3))
    for count, scale in ((0, 0.3), (2, -0.1), (2, float("inf"))):
        with pytest.raises(PoseliftError, match=f"n={count}, scale={scale}"):
            generate_variations(model, latent, count, scale)


def test_the_canonical_frame_is_seen_from_the_front():
    forward, left, up = np.eye(3)                                               # canonical: x forward, y left, z up
    # the camera faces the person: forward points at it (-z), the person's left is the image's right (+x), up is -y
    np.testing.assert_array_equal(canonical_to_view(np.stack([forward, left, up])), [[0, 0, -1], [1, 0, 0], [0, -1, 0]])
    assert np.linalg.det(CANONICAL_TO_VIEW) == pytest.approx(1.0)
    poses = torch.arange(2 * 17 * 3, dtype=torch.float32).reshape(2, 17, 3)
    np.testing.assert_allclose(canonical_to_view(poses), poses.numpy() @ CANONICAL_TO_VIEW.T)


def test_a_grid_with_an_empty_panel_is_written_atomically(tmp_path):
    standing = standing_pose_mm() - standing_pose_mm()[0]                     # world Z up = canonical z up
    poses = np.stack([[standing, np.full((17, 3), np.nan)]])                  # (1, 2, 17, 3): the second panel empty
    path = save_pose_grid(tmp_path / "out" / "grid.png", canonical_to_view(poses), [["pose", "nothing"]])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and [p.name for p in path.parent.iterdir()] == ["grid.png"]
    width, height = struct.unpack(">II", path.read_bytes()[16:24])              # the PNG header's IHDR
    assert (width, height) == (round(2.6 * 2 * 80), round(2.6 * 80))          # two panels of 2.6 in at 80 dpi
