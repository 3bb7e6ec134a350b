"""The shared backbone: layers, initialisations, input layers, both max-norm modes, the config every model inherits."""

import dataclasses
import math

import pytest
import torch
from torch import nn

from poselift.errors import PoseliftError
from poselift.models.backbone import (
    BackboneConfig,
    ClippedLinear,
    Dropout,
    ResidualBlock,
    ResidualMLP,
    apply_max_norm,
)
from poselift.models.baseline import BaselineConfig, BaselineLifter
from poselift.models.consensus import GroupedLinear, GroupedResidualMLP
from poselift.models.registry import MODEL_KINDS


def linears(module):
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def test_residual_mlp_options():
    mlp = ResidualMLP(10, 6, hidden=16, num_blocks=3, dropout=0.0, activation="leaky_relu", batch_norm=False,
                      input_layer="dense")
    kinds = {type(m) for m in mlp.modules()}
    assert nn.BatchNorm1d not in kinds and nn.Dropout not in kinds and nn.ReLU not in kinds
    assert nn.LeakyReLU in kinds and len(mlp.blocks) == 3
    plain = ResidualMLP(10, 6, hidden=16, num_blocks=1, activation=nn.ELU, input_layer="linear")
    assert [type(m) for m in plain.stem] == [nn.Linear, nn.ELU]
    assert plain(torch.randn(4, 10)).shape == (4, 6)
    dense = ResidualMLP(10, 6, hidden=16, num_blocks=1, dropout=0.5, input_layer="dense")
    assert [type(m) for m in dense.stem] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, Dropout]
    with pytest.raises(PoseliftError, match="unknown activation 'swish'"):
        ResidualMLP(4, 4, activation="swish")
    for field, value in (("init", "xavier"), ("input_layer", "conv"), ("max_norm_mode", "column")):
        with pytest.raises(PoseliftError, match=f"{field} must be one of"):
            ResidualMLP(4, 4, **{field: value})
        with pytest.raises(PoseliftError, match=f"{field} must be one of"):
            BaselineConfig(**{field: value})


def test_residual_block_skip_connection():
    block = ResidualBlock(8, dropout=0.5).eval()
    features = torch.randn(5, 8)
    with torch.no_grad():
        block.layers[1][1].weight.zero_()  # second unit's BatchNorm scale 0: the pair outputs ReLU(0) = 0
    assert torch.equal(block(features), features)


def test_initialisations_have_their_scales():
    torch.manual_seed(0)
    kaiming = ResidualMLP(256, 48, hidden=512, init="kaiming")
    torch.manual_seed(0)
    default = ResidualMLP(256, 48, hidden=512, init="torch")
    for he, plain in zip(linears(kaiming), linears(default)):
        fan_in = he.in_features
        assert he.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)
        assert torch.count_nonzero(he.bias) == 0
        bound = 1 / math.sqrt(fan_in)                       # nn.Linear's default: uniform in +-1/sqrt(fan_in)
        assert plain.weight.abs().max() <= bound and plain.bias.abs().max() <= bound
        assert plain.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)


def test_apply_max_norm_bounds_rows():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 3))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[3.0, 4.0], [0.3, 0.4]]))
        model[2].weight.copy_(torch.tensor([[0.0, -2.0], [1.0, 0.0], [0.6, 0.8]]))
    apply_max_norm(model, 1.0)
    assert torch.allclose(model[0].weight, torch.tensor([[0.6, 0.8], [0.3, 0.4]]))
    assert torch.allclose(model[2].weight, torch.tensor([[0.0, -1.0], [1.0, 0.0], [0.6, 0.8]]))
    big = BaselineLifter(BaselineConfig(hidden_size=64, init="kaiming", max_norm_mode="row"))
    row_norms = lambda: torch.cat([m.weight.norm(dim=1) for m in linears(big)])  # noqa: E731
    assert row_norms().max() > 1.0  # He initialisation exceeds the bound
    apply_max_norm(big, 0.5)
    assert row_norms().max() <= 0.5 + 1e-6


def test_clipped_linear_known_answer_and_gradient():
    layer = ClippedLinear(2, 2, clip_norm=1.0).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 4.0]]))                  # Frobenius norm 5
        layer.bias.copy_(torch.tensor([1.0, -1.0]))
    torch.testing.assert_close(layer.effective_weight(), torch.tensor([[0.6, 0.0], [0.0, 0.8]], dtype=torch.double))
    features = torch.tensor([[1.0, 2.0]], dtype=torch.double)
    torch.testing.assert_close(layer(features), torch.tensor([[1.6, 0.6]], dtype=torch.double))   # bias not clipped
    # the gradient is that of x @ (W c / max(||W||, c)).T + b through autograd, clipped or not, any leading dims
    for size in (10.0, 0.01):                                                     # 0.01: inside the bound
        torch.manual_seed(0)
        layer = ClippedLinear(6, 4, clip_norm=1.0).double()
        with torch.no_grad():
            layer.weight.mul_(size)
        weight = layer.weight.detach().clone().requires_grad_(True)
        inputs = torch.randn(3, 5, 6, dtype=torch.double, requires_grad=True)
        reference = inputs @ (weight / weight.norm().clamp(min=1.0)).T + layer.bias.detach()
        grad_output = torch.randn_like(reference)
        expected = torch.autograd.grad(reference, (inputs, weight), grad_output)
        got = torch.autograd.grad(layer(inputs), (inputs, layer.weight), grad_output)
        for want, have in zip(expected, got):
            torch.testing.assert_close(have, want)


def test_matrix_mode_clips_inside_the_graph_and_the_loop_does_not_project():
    torch.manual_seed(0)
    mlp = ResidualMLP(6, 3, hidden=32, num_blocks=1, init="kaiming", max_norm=1.0, max_norm_mode="matrix")
    for linear in linears(mlp):
        assert isinstance(linear, ClippedLinear)
        assert linear.weight.norm() > 1.0 and linear.effective_weight().norm().item() == pytest.approx(1.0, rel=1e-5)
    config = BaselineConfig(max_norm=1.0, max_norm_mode="matrix")
    assert not config.projects_max_norm and BaselineConfig(max_norm_mode="row").projects_max_norm
    assert not BaselineConfig(max_norm=None).projects_max_norm
    before = [linear.weight.clone() for linear in linears(mlp)]
    apply_max_norm(mlp, 0.5)                                                      # a clipped layer is left alone
    assert all(torch.equal(old, linear.weight) for old, linear in zip(before, linears(mlp)))


def test_matrix_mode_model_fuses_and_round_trips_its_state(tmp_path):
    from poselift.checkpoint import load_model, save_checkpoint

    torch.manual_seed(1)
    model = BaselineLifter(BaselineConfig(hidden_size=32, num_blocks=1, max_norm_mode="matrix",
                                          input_normalization="pose"))
    keypoints = torch.randn(64, 17, 2) * 50 + 500
    poses = torch.randn(64, 17, 3) * 200
    model.normalizer.fit(keypoints, None, poses)
    model.train()
    model.loss({"keypoints_2d": keypoints, "poses_3d": poses})                   # move the BatchNorm statistics
    model.eval()
    expected = model.lift(keypoints)
    torch.testing.assert_close(model.fuse_for_inference().lift(keypoints), expected, rtol=1e-4, atol=1e-3)
    save_checkpoint(tmp_path / "matrix.pt", model=model)
    torch.testing.assert_close(load_model(tmp_path / "matrix.pt").lift(keypoints), expected)


def test_grouped_layers_follow_the_backbone_options():
    torch.manual_seed(0)
    plain = GroupedLinear(3, 400, 20, init="torch")
    bound = 1 / math.sqrt(400)
    assert plain.weight.abs().max() <= bound and plain.bias.abs().max() <= bound
    he = GroupedLinear(3, 400, 20, init="kaiming")
    assert he.weight.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.05) and not he.bias.any()
    clipped = GroupedLinear(3, 400, 20, init="kaiming", clip_norm=1.0)
    norms = clipped.effective_weight().norm(dim=(1, 2))
    torch.testing.assert_close(norms, torch.ones(3))
    linear = GroupedResidualMLP(2, 4, 6, hidden=8, num_blocks=1, input_layer="linear")
    assert linear.stem.batch_norm is None and linear.stem.dropout is None
    with pytest.raises(PoseliftError, match="init must be"):
        GroupedLinear(1, 2, 2, init="xavier")


def test_every_backbone_model_config_is_a_backbone_config():
    for kind, (config_class, model_class) in MODEL_KINDS.items():
        if kind == "temporal":                                                   # an LSTM, not the MLP backbone
            assert not issubclass(config_class, BackboneConfig)
            continue
        assert issubclass(config_class, BackboneConfig), kind
        names = {field.name for field in dataclasses.fields(config_class)}
        assert {field.name for field in dataclasses.fields(BackboneConfig)} <= names


def test_dropout_keeps_the_expected_share_scales_and_passes_gradients_through_the_mask():
    torch.manual_seed(0)
    features = torch.ones(400, 500, requires_grad=True)
    dropout = Dropout(0.3)
    out = dropout(features)
    kept = out != 0
    assert kept.float().mean().item() == pytest.approx(0.7, abs=0.005)         # 200,000 draws
    torch.testing.assert_close(out[kept], torch.full_like(out[kept], 1 / 0.7))
    out.sum().backward()
    torch.testing.assert_close(features.grad, kept.float() / 0.7)
    assert torch.equal(dropout.eval()(features), features)
    assert torch.equal(Dropout(1.0)(features), torch.zeros_like(features))
