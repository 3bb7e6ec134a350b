"""Temporal seq2seq lifter (Hossain & Little): LSTM cell, smoothness loss, residual decoder,
sliding-window inference, training on real mocap, the recipe hook and the CLI. (Evaluating clips as
sequences is tested in test_evaluate.py.)"""

import json

import numpy as np
import pytest
import torch

from poselift.cli import main
from poselift.data.datasets import WindowSource
from poselift.errors import PoseliftError, ShapeError
from poselift.io import load_poses_3d
from poselift.models.registry import MODEL_KINDS, build_model
from poselift.models.temporal import (
    LayerNormLSTMCell,
    RecurrentStack,
    TemporalConfig,
    TemporalLifter,
    sliding_window_plan,
    smoothness_joint_weights,
    temporal_smoothness,
)
from poselift.recipes import DataOptions, model_source, training_sources
from poselift.skeleton import H36M17
from poselift.train import TrainConfig, train


def tiny_model(seed: int = 0, **overrides) -> TemporalLifter:
    torch.manual_seed(seed)
    return TemporalLifter(TemporalConfig(hidden_size=16, **overrides))


@pytest.fixture(scope="module")
def windows(small_benchmark):
    """Real windows of 5 frames (noisy 2D), and a model whose statistics are fitted on them."""
    source = WindowSource(small_benchmark, 5, "train", "noisy", cameras=(0, 1, 2, 3), stride=4)
    model = tiny_model()
    model.normalizer.fit_source(source)
    return source, model


def copy_from_torch_lstm(stack: RecurrentStack, reference: torch.nn.LSTM) -> None:
    with torch.no_grad():
        for layer, cell in enumerate(stack.cells):
            cell.weight_ih.copy_(getattr(reference, f"weight_ih_l{layer}"))
            cell.weight_hh.copy_(getattr(reference, f"weight_hh_l{layer}"))
            cell.bias.copy_(getattr(reference, f"bias_ih_l{layer}") + getattr(reference, f"bias_hh_l{layer}"))


def test_cell_equals_torch_lstm_without_norm_and_dropout():
    torch.manual_seed(0)
    reference = torch.nn.LSTM(6, 8, num_layers=2, batch_first=True)
    stack = RecurrentStack(6, 8, num_layers=2, layer_norm=False, dropout=0.0, placement="inputs")
    copy_from_torch_lstm(stack, reference)
    inputs = torch.randn(3, 7, 6)
    initial = (torch.randn(2, 3, 8), torch.randn(2, 3, 8))
    expected, (hidden, cell) = reference(inputs, initial)
    outputs, final = stack.run(inputs, [(initial[0][k], initial[1][k]) for k in range(2)])
    torch.testing.assert_close(outputs, expected)
    torch.testing.assert_close(torch.stack([h for h, _ in final]), hidden)
    torch.testing.assert_close(torch.stack([c for _, c in final]), cell)
    state = [(initial[0][k], initial[1][k]) for k in range(2)]          # one step at a time (the decoder)
    for time in range(7):
        top, state = stack.step(inputs[:, time], state)
        torch.testing.assert_close(top, expected[:, time])


@pytest.mark.parametrize("style", ["tensorflow", "ba"])
def test_layer_norm_makes_the_cell_scale_invariant(style):
    torch.manual_seed(1)
    cell = LayerNormLSTMCell(5, 12, layer_norm=True, norm_style=style)
    inputs, state = torch.randn(4, 5), (torch.randn(4, 12), torch.randn(4, 12))
    before = cell.step(cell.project_inputs(inputs), state)
    with torch.no_grad():                    # Ba: each share has its own norm; TensorFlow: one norm of the sum
        cell.weight_ih.mul_(10.0)
        cell.weight_hh.mul_(3.0 if style == "ba" else 10.0)
    after = cell.step(cell.project_inputs(inputs), state)
    torch.testing.assert_close(after[0], before[0], atol=1e-4, rtol=1e-4)
    plain = LayerNormLSTMCell(5, 12, layer_norm=False)
    assert not any("gain" in name or "norm" in name for name, _ in plain.named_parameters())


def test_dropout_never_touches_the_recurrent_connection():
    torch.manual_seed(2)
    stack = RecurrentStack(6, 8, num_layers=1, layer_norm=True, dropout=0.5, placement="inputs")
    state = [(torch.randn(3, 8), torch.randn(3, 8))]
    zeros = torch.zeros(3, 6, 6)          # dropout of a zero input is zero: only h -> h could be dropped
    stack.train()
    dropped, _ = stack.run(zeros, state)
    stack.eval()
    kept, _ = stack.run(zeros, state)
    torch.testing.assert_close(dropped, kept)
    stack.train()
    noisy_a, _ = stack.run(torch.ones(3, 6, 6), state)
    noisy_b, _ = stack.run(torch.ones(3, 6, 6), state)
    assert not torch.allclose(noisy_a, noisy_b)                          # the inputs are dropped


def test_tensorflow_style_cell_by_hand():
    """The authors' LayerNormBasicLSTMCell: one norm per gate of W [x; h], the carried state normalised."""
    torch.manual_seed(4)
    cell = LayerNormLSTMCell(5, 12, layer_norm=True, norm_style="tensorflow")
    with torch.no_grad():
        cell.input_gain.uniform_(0.5, 1.5)
        cell.bias.normal_()
    inputs, (hidden, carried) = torch.randn(4, 5), (torch.randn(4, 12), torch.randn(4, 12))
    new_hidden, new_carried = cell.step(cell.project_inputs(inputs), (hidden, carried))
    gates = inputs @ cell.weight_ih.T + hidden @ cell.weight_hh.T
    normed = [(chunk - chunk.mean(-1, keepdim=True)) / torch.sqrt(chunk.var(-1, unbiased=False, keepdim=True) + 1e-5)
              for chunk in gates.chunk(4, dim=-1)]
    i, f, g, o = [n * gain + bias for n, gain, bias in zip(normed, cell.input_gain, cell.bias.chunk(4))]
    expected_cell = torch.sigmoid(f) * carried + torch.sigmoid(i) * torch.tanh(g)
    expected_cell = (expected_cell - expected_cell.mean(-1, keepdim=True)) / torch.sqrt(
        expected_cell.var(-1, unbiased=False, keepdim=True) + 1e-5)
    torch.testing.assert_close(new_carried, expected_cell, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(new_hidden, torch.sigmoid(o) * torch.tanh(expected_cell), atol=1e-5, rtol=1e-5)


def test_authors_dropout_placement_projects_first_and_drops_the_candidate():
    torch.manual_seed(5)
    stack = RecurrentStack(6, 8, num_layers=1, layer_norm=True, dropout=0.5, placement="authors")
    assert tuple(stack.input_projection.weight.shape) == (8, 6) and stack.cells[0].input_size == 8
    assert stack.cells[0].candidate_dropout == 0.5
    inputs = torch.randn(3, 4, 6)
    stack.eval()
    first, _ = stack.run(inputs)
    torch.testing.assert_close(stack.run(inputs)[0], first)              # no dropout in eval mode
    stack.train()
    assert not torch.allclose(stack.run(inputs)[0], first)
    old = RecurrentStack(6, 8, num_layers=1, dropout=0.5, placement="inputs")
    assert old.input_projection is None and old.cells[0].candidate_dropout == 0.0
    with pytest.raises(PoseliftError, match="dropout_placement"):
        TemporalConfig(dropout_placement="somewhere")


def test_smoothness_loss_against_a_hand_computed_value():
    weights = smoothness_joint_weights()
    names = [name for name in H36M17.joint_names if name != "pelvis"]
    assert weights.shape == (16,)
    assert weights[names.index("r_wrist")] == 4.0 and weights[names.index("l_ankle")] == 4.0
    assert weights[names.index("l_knee")] == 2.5 and weights[names.index("r_elbow")] == 2.5
    assert weights[names.index("head")] == 1.0 and weights[names.index("l_hip")] == 1.0
    assert weights.sum() == 8 * 1.0 + 4 * 2.5 + 4 * 4.0
    poses = torch.zeros(1, 3, 48)
    wrist, knee = names.index("r_wrist"), names.index("r_knee")
    poses[0, 1:, 3 * wrist:3 * wrist + 3] = torch.tensor([1.0, 2.0, 2.0])   # moves |(1,2,2)|^2 = 9 at t=1
    poses[0, 2, 3 * knee + 2] = 1.0                                          # moves 1 at t=2
    # (4 * 9 + 2.5 * 1) / (N (T-1) = 2) / (3 (J-1) = 48)
    torch.testing.assert_close(temporal_smoothness(poses, weights), torch.tensor(38.5 / 2 / 48))
    valid = torch.tensor([[True, True, False]])                              # the second step is left out
    torch.testing.assert_close(temporal_smoothness(poses, weights, valid), torch.tensor(36.0 / 48))
    assert temporal_smoothness(poses[:, :1], weights) == 0.0                 # T = 1: nothing to smooth


@pytest.mark.parametrize("space", ["mm", "normalized"])
def test_loss_is_alpha_mse_plus_beta_smoothness(windows, space):
    source, model = windows
    model.config.loss_space = space
    batch = source.batch(torch.arange(16))
    model.eval()
    terms = model.loss(batch)
    predicted = model(model.normalizer.encode_2d(batch["keypoints_2d"], batch["confidence"])[0])
    if space == "mm":                 # the authors' code: Eq. (3) on the de-normalised non-root joints
        keep = [joint for joint in range(17) if joint != H36M17.root_index]
        target_mm = batch["poses_3d"] - batch["poses_3d"][..., H36M17.root_index:H36M17.root_index + 1, :]
        predicted = model.normalizer.decode_3d(predicted)[..., keep, :].flatten(-2)
        target = target_mm[..., keep, :].flatten(-2)
    else:
        target = model.normalizer.encode_3d(batch["poses_3d"])
    mse = (predicted - target).square().mean()
    model.config.loss_space = "mm"
    torch.testing.assert_close(terms["mse"], mse)
    torch.testing.assert_close(terms["smoothness"], temporal_smoothness(predicted, smoothness_joint_weights()))
    torch.testing.assert_close(terms["loss"], mse + 5.0 * terms["smoothness"])
    assert terms["loss"].requires_grad and not terms["mpjpe_mm"].requires_grad
    with pytest.raises(ShapeError, match="windows"):
        model.loss({key: value[:, 0] for key, value in batch.items() if value.ndim > 1})
    model.train()


def test_residual_decoder_gives_a_constant_output_when_increments_are_zero(windows):
    source, model = windows
    pose_2d = source.batch(torch.arange(1))["keypoints_2d"][0, 0]
    constant = pose_2d.expand(6, 17, 2)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    try:
        lifted = model.lift(constant)
        start = model.normalizer.decode_3d(torch.ones(48))
        torch.testing.assert_close(lifted, start.expand(6, 17, 3))       # every frame: the START pose
        model.config.residual_decoder = False                            # no shortcut: zero output = mean pose
        torch.testing.assert_close(model.lift(constant), model.normalizer.decode_3d(torch.zeros(48)).expand(6, 17, 3))
    finally:
        model.config.residual_decoder = True
        model.head.reset_parameters()


def test_sliding_window_plan_by_hand():
    window_frames, frame_window, frame_position = sliding_window_plan(torch.tensor([3, 0, 7]), 5)
    assert window_frames.tolist() == [[0, 1, 2, 2, 2], [3, 4, 5, 6, 7], [4, 5, 6, 7, 8], [5, 6, 7, 8, 9]]
    assert frame_window.tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 2, 3]
    assert frame_position.tolist() == [0, 1, 2, 0, 1, 2, 3, 4, 4, 4]


def test_lift_shorter_and_longer_than_the_window(windows):
    source, model = windows
    clip = source.batch(torch.arange(0, 8, 4))["keypoints_2d"].reshape(10, 17, 2)   # 10 real frames
    encoded = model.normalizer.encode_2d(clip)[0]
    model.eval()
    with torch.no_grad():
        decode = model.normalizer.decode_3d
        long = model.lift(clip[:9], batch_size=10)                   # 5 windows, 2 per pass
        assert long.shape == (9, 17, 3) and torch.isfinite(long).all()
        close_mm = dict(atol=1e-3, rtol=0)                          # float32 batching, in mm
        torch.testing.assert_close(long[:5], decode(model(encoded[None, :5])[0]), **close_mm)
        for frame in range(5, 9):                                    # each later frame: last of its window
            torch.testing.assert_close(long[frame], decode(model(encoded[None, frame - 4:frame + 1])[0, -1]),
                                       **close_mm)
        short = model.lift(clip[:3].numpy())                         # padded with its last frame
        assert isinstance(short, np.ndarray) and short.shape == (3, 17, 3)
        padded = torch.cat([encoded[:3], encoded[2:3].expand(2, -1)])
        np.testing.assert_allclose(short, decode(model(padded[None])[0, :3]).numpy(), atol=1e-3)
    batched = model.lift(torch.stack([clip[:9], clip[1:]]))        # leading dims: two sequences
    torch.testing.assert_close(batched[0], long, atol=1e-3, rtol=0)
    assert model.lift(clip[:0]).shape == (0, 17, 3)
    with pytest.raises(ShapeError, match="sequences"):
        model.lift(clip[0])
    model.train()


def test_training_lowers_the_loss_on_real_mocap(windows, tmp_path):
    source, _ = windows
    torch.manual_seed(0)
    model = TemporalLifter(TemporalConfig(hidden_size=32))
    val = WindowSource(source.benchmark, 5, "test", "noisy", cameras=(0,), stride=10)
    config = TrainConfig(epochs=3, batch_size=32, lr=3e-3, num_threads=1, device="cpu", seed=0)
    result = train(model, source, config, tmp_path, val_source=val, quiet=True)
    history = result["history"]
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    assert history[-1]["val_mpjpe_mm"] < history[0]["val_mpjpe_mm"]
    assert {"train_mse", "train_smoothness", "val_smoothness"} <= set(history[-1])


def test_registry_and_recipe_pick_window_sources(small_benchmark):
    assert MODEL_KINDS["temporal"] == (TemporalConfig, TemporalLifter)
    assert build_model("temporal", {"sequence_length": 7, "hidden_size": 8}).sequence_length == 7
    assert model_source("temporal", {"sequence_length": 3}) == ("windows", 3)
    assert model_source("baseline") == ("frames", 1)
    train_source, val_source = training_sources(small_benchmark, DataOptions(), "windows", 3)
    assert isinstance(train_source, WindowSource) and train_source.length == 3 and val_source.length == 3
    flipped, unflipped = training_sources(small_benchmark, DataOptions(flip=True), "windows", 5)
    assert flipped.flip and not unflipped.flip                       # windows are augmented, validation is not
    with pytest.raises(PoseliftError, match="sequence_length must be >= 1"):
        TemporalConfig(sequence_length=0)


def test_train_eval_and_lift_from_the_command_line(tmp_path, capsys, small_benchmark_path):
    run = tmp_path / "run"
    assert main(["train", "temporal", "--data", str(small_benchmark_path), "--out", str(run), "--input", "noisy",
                 "--epochs", "1", "--batch-size", "16", "--max-steps", "8", "--threads", "1", "--quiet",
                 "--set", "hidden_size=16", "sequence_length=3"]) == 0
    assert json.loads((run / "run.json").read_text())["source"] == {"kind": "windows", "sequence_length": 3}
    assert main(["eval", str(run / "last.pt"), "--data", str(small_benchmark_path), "--json",
                 str(tmp_path / "eval.json")]) == 0
    assert "MPJVE" in capsys.readouterr().out
    assert json.loads((tmp_path / "eval.json").read_text())["averages"]["mean_over_samples"]["mpjve"] > 0
    coco = [{"image_id": i, "category_id": 1, "score": 1.0,
             "keypoints": sum(([300.0 + 5 * (j % 5) + i, 200.0 + 20 * j, 2] for j in range(17)), [])}
            for i in range(2)]                                         # 2 frames: shorter than T = 3
    (tmp_path / "kp.json").write_text(json.dumps(coco))
    assert main(["lift", str(tmp_path / "kp.json"), "--out", str(tmp_path / "lifted"), "--model",
                 str(run / "last.pt"), "--no-animation"]) == 0
    assert load_poses_3d(tmp_path / "lifted" / "poses_3d.npz").poses_3d.shape == (2, 17, 3)
    capsys.readouterr()
    assert main(["train", "temporal", "--data", str(small_benchmark_path), "--out", str(tmp_path / "flip"),
                 "--flip", "--joint-dropout", "0.05", "--max-steps", "1", "--threads", "1", "--quiet",
                 "--set", "hidden_size=16", "sequence_length=3"]) == 0          # augmented windows
    assert json.loads((tmp_path / "flip" / "run.json").read_text())["data"]["flip"] is True


def test_a_camera_aware_temporal_model_trains_on_windows_and_lifts_each_track_with_its_camera(small_benchmark):
    from poselift.intrinsics import Intrinsics

    source = WindowSource(small_benchmark, 5, "train", "noisy", cameras=(0, 1, 2, 3), stride=8)
    model = tiny_model(input_normalization="camera")
    assert model.reads_intrinsics and model.normalizer.input_dim == 36
    model.normalizer.fit_source(source)                                  # windows carry (B, T, 2) intrinsics
    batch = source.batch(torch.arange(16), torch.Generator().manual_seed(0))
    terms = model.loss(batch)
    terms["loss"].backward()
    assert torch.isfinite(terms["loss"])
    assert all(parameter.grad is not None for parameter in model.encoder.parameters())
    tracks = batch["keypoints_2d"][:2]                                   # two tracks of 5 frames, two cameras
    cameras = Intrinsics(batch["focal"][:2, :1], batch["principal"][:2, :1], batch["radial"][:2, :1],
                         batch["tangential"][:2, :1])                    # (2, 1, ...): one per track
    together = model.lift(tracks, intrinsics=cameras)
    for track in range(2):
        alone = model.lift(tracks[track], intrinsics=cameras.map(lambda value: value[track, 0]))
        torch.testing.assert_close(together[track], alone, atol=1e-4, rtol=0)
    with pytest.raises(PoseliftError, match="reads the camera intrinsics"):
        model.lift(tracks[0])
