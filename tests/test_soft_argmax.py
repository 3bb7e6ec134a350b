"""Soft-argmax domain conversion layer (poselift.models.soft_argmax): unbiased on Gaussian heatmaps,
also between pixels; softmax form; degenerate maps; gradients."""

import pytest
import torch

from poselift.errors import PoseliftError, ShapeError
from poselift.models.soft_argmax import SoftArgmax2d


def gaussian_heatmaps(centres, sigma: float, height: int = 64, width: int = 48) -> torch.Tensor:
    """``(1, K, H, W)`` float64 Gaussians (peak 1) at ``centres`` = [(x, y), ...] in pixel units."""
    rows = torch.arange(height, dtype=torch.float64)[:, None]
    columns = torch.arange(width, dtype=torch.float64)[None, :]
    maps = [torch.exp(-((columns - x) ** 2 + (rows - y) ** 2) / (2 * sigma**2)) for x, y in centres]
    return torch.stack(maps)[None]


# on and between pixels, all at least 5 sigma (sigma <= 3) from the 48 x 64 map's border
CENTRES = [(20.0, 30.0), (20.3, 33.71), (16.5, 18.5), (31.87, 45.06)]


@pytest.mark.parametrize("sigma", [1.0, 3.0**0.5, 3.0])
def test_gaussian_heatmap_gives_its_centre_to_sub_pixel(sigma):
    coordinates = SoftArgmax2d()(gaussian_heatmaps(CENTRES, sigma))
    assert coordinates.shape == (1, len(CENTRES), 2)
    assert torch.allclose(coordinates[0], torch.tensor(CENTRES, dtype=torch.float64), atol=1e-6)
    # scaled heatmaps (a detector's sigmoid output need not peak at 1) give the same answer
    assert torch.allclose(SoftArgmax2d()(0.2 * gaussian_heatmaps(CENTRES, sigma)), coordinates, atol=1e-9)
    # float32 stays well below a hundredth of a pixel
    single = SoftArgmax2d()(gaussian_heatmaps(CENTRES, sigma).float())
    assert single.dtype == torch.float32 and torch.allclose(single.double(), coordinates, atol=1e-3)


def test_softmax_of_log_heatmaps_equals_the_linear_normalisation():
    heatmaps = gaussian_heatmaps(CENTRES, 2.0)
    soft = SoftArgmax2d("softmax")(torch.log(heatmaps))
    assert torch.allclose(soft, SoftArgmax2d()(heatmaps), atol=1e-9)
    # a large beta approaches the hard argmax of a peaked score map
    scores = torch.randn(2, 3, 9, 11, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    hard = SoftArgmax2d("softmax", beta=1e4)(scores)
    flat_index = scores.flatten(-2).argmax(dim=-1)
    assert torch.allclose(hard, torch.stack([flat_index % 11, flat_index // 11], dim=-1).double(), atol=1e-6)


def test_border_truncation_and_degenerate_maps():
    # a Gaussian cut by the border is pulled inwards: the layer is unbiased only away from borders
    cut = SoftArgmax2d()(gaussian_heatmaps([(0.0, 30.0)], 3.0))
    assert 0.5 < float(cut[0, 0, 0]) < 3.0 and abs(float(cut[0, 0, 1]) - 30.0) < 1e-6
    # an empty map has no information: the centre of the map; negative values count as 0
    zero = SoftArgmax2d()(torch.zeros(1, 1, 5, 7))
    assert torch.allclose(zero, torch.tensor([[[3.0, 2.0]]]))
    negative = torch.full((1, 1, 5, 7), -1.0)
    negative[0, 0, 4, 1] = 2.0
    assert torch.allclose(SoftArgmax2d()(negative), torch.tensor([[[1.0, 4.0]]]))
    weights = SoftArgmax2d().distribution(negative)
    assert torch.allclose(weights.sum(dim=(-1, -2)), torch.ones(1, 1)) and bool((weights >= 0).all())


def test_gradients_flow_to_the_heatmaps():
    heatmaps = (gaussian_heatmaps([(5.3, 4.2)], 1.5, 9, 10) + 0.01).requires_grad_()
    assert torch.autograd.gradcheck(SoftArgmax2d(), (heatmaps,))
    assert torch.autograd.gradcheck(SoftArgmax2d("softmax", beta=2.0), (heatmaps,))


def test_settings_and_shapes_are_checked():
    with pytest.raises(PoseliftError, match="normalization"):
        SoftArgmax2d("max")
    with pytest.raises(PoseliftError, match="beta"):
        SoftArgmax2d("sum", beta=2.0)
    with pytest.raises(PoseliftError, match="beta"):
        SoftArgmax2d("softmax", beta=0.0)
    with pytest.raises(ShapeError, match=r"\(\.\.\., H, W\)"):
        SoftArgmax2d()(torch.zeros(4))
