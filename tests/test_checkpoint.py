"""Checkpoints: what a file holds, reading it back, clear errors for files that are not checkpoints,
RNG state, format-1 files, and the weights-only export."""

import random
import re

import numpy as np
import pytest
import torch

from _ddp_worker import SyntheticPoseSource, small_model
from poselift.checkpoint import (
    FORMAT_VERSION,
    capture_rng_state,
    load_checkpoint,
    load_model,
    restore_rng_state,
    save_checkpoint,
)
from poselift.errors import FormatError, PoseliftError
from poselift.models.baseline import BaselineConfig, BaselineLifter


def test_bad_checkpoints_raise_clear_errors(tmp_path):
    missing = tmp_path / "missing.pt"
    with pytest.raises(PoseliftError, match="missing.pt: checkpoint file not found"):
        load_model(missing)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(FormatError, match="corrupt.pt: not a readable poselift checkpoint"):
        load_model(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(FormatError, match="foreign.pt: not a poselift checkpoint"):
        load_model(foreign)
    newer = tmp_path / "newer.pt"
    save_checkpoint(newer, model=small_model(0))
    checkpoint = torch.load(newer, weights_only=True)
    checkpoint["format_version"] = FORMAT_VERSION + 1
    torch.save(checkpoint, newer)
    with pytest.raises(FormatError, match=f"newer.pt: checkpoint format version {FORMAT_VERSION + 1} is newer"):
        load_model(newer)
    truncated = tmp_path / "truncated.pt"
    save_checkpoint(truncated, model=small_model(0))
    truncated.write_bytes(truncated.read_bytes()[:1000])
    with pytest.raises(FormatError, match="truncated.pt"):
        load_model(truncated)


def test_rng_state_round_trip():
    generator = torch.Generator().manual_seed(3)
    state = capture_rng_state(generator)
    draws = lambda: (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=generator))
    first = draws()
    restore_rng_state(state, generator)
    second = draws()
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert first[2] == second[2] and torch.equal(first[3], second[3])


def load_as_older_format(tmp_path, model, version: int, added_fields) -> torch.nn.Module:
    """Save ``model``, rewrite the file as format ``version`` (without the fields added since) and load it."""
    from poselift.checkpoint import load_model, save_checkpoint

    save_checkpoint(tmp_path / "new.pt", model=model)
    old = torch.load(tmp_path / "new.pt", weights_only=True)
    old["format_version"] = version
    for key in added_fields:
        del old["model_config"][key]
    torch.save(old, tmp_path / "old.pt")
    return load_model(tmp_path / "old.pt")


def test_a_format_1_checkpoint_rebuilds_the_backbone_it_was_trained_with(tmp_path):
    """Checkpoints written before the backbone options existed have none of them: they were He-initialised,
    dense input layer, per-row max-norm, and must load as such whatever today's defaults are."""
    from poselift.checkpoint import VERSION_1_BACKBONE

    torch.manual_seed(2)
    model = BaselineLifter(BaselineConfig(hidden_size=16, num_blocks=1, input_normalization="pose",
                                          **VERSION_1_BACKBONE))
    keypoints, poses = torch.randn(32, 17, 2) * 50 + 500, torch.randn(32, 17, 3) * 200
    model.normalizer.fit(keypoints, None, poses)
    loaded = load_as_older_format(tmp_path, model, 1, VERSION_1_BACKBONE)
    assert {key: getattr(loaded.config, key) for key in VERSION_1_BACKBONE} == VERSION_1_BACKBONE
    torch.testing.assert_close(loaded.eval().lift(keypoints), model.eval().lift(keypoints))


def fitted_model(seed: int = 0, **overrides) -> BaselineLifter:
    """A small baseline whose normaliser is fitted on synthetic frames (so it lifts)."""
    model = small_model(seed, **overrides)
    frames = SyntheticPoseSource(256, seed=4).tensors
    model.normalizer.fit(frames["keypoints_2d"], frames["confidence"], frames["poses_3d"])
    return model


def test_a_checkpoint_holds_the_model_and_training_state_and_reads_back(tmp_path):
    from poselift.train import TrainConfig

    model = fitted_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    frames = SyntheticPoseSource(64, seed=5).tensors
    model.train()
    model.loss(frames)["loss"].backward()
    optimizer.step()
    scheduler.step()
    path = save_checkpoint(tmp_path / "run" / "model.pt", model=model, optimizer=optimizer, scheduler=scheduler,
                           step=7, epoch=2, train_config=TrainConfig(epochs=3, seed=11), extra={"position": 5})
    assert path == tmp_path / "run" / "model.pt" and [p.name for p in path.parent.iterdir()] == ["model.pt"]
    checkpoint = load_checkpoint(path)
    assert checkpoint["format_version"] == FORMAT_VERSION and checkpoint["model_kind"] == "baseline"
    assert checkpoint["layout"] == "h36m17" and checkpoint["model_config"]["hidden_size"] == 32
    assert (checkpoint["step"], checkpoint["epoch"], checkpoint["extra"]) == (7, 2, {"position": 5})
    assert checkpoint["train_config"]["epochs"] == 3 and checkpoint["train_config"]["seed"] == 11
    assert checkpoint["scheduler_state"]["_last_lr"] == [5e-4] and checkpoint["rng_state"] is None
    restored = torch.optim.Adam(small_model(1).parameters(), lr=1e-3)
    restored.load_state_dict(checkpoint["optimizer_state"])
    assert torch.equal(restored.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    loaded = load_model(path)
    assert isinstance(loaded, BaselineLifter) and not loaded.training
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    keypoints = SyntheticPoseSource(4, seed=6).tensors["keypoints_2d"]
    assert torch.equal(loaded.lift(keypoints), model.eval().lift(keypoints))


def test_a_wrapped_model_is_saved_as_the_model_inside():
    class Wrapper(torch.nn.Module):                                  # what (Distributed)DataParallel looks like
        def __init__(self, module):
            super().__init__()
            self.module = module

    from poselift.checkpoint import unwrap_model

    model = small_model(0)
    assert unwrap_model(Wrapper(Wrapper(model))) is model and unwrap_model(model) is model


def test_a_checkpoint_that_does_not_fit_this_poselift_names_the_file(tmp_path):
    from poselift.checkpoint import model_from_checkpoint

    save_checkpoint(tmp_path / "good.pt", model=small_model(0))
    good = load_checkpoint(tmp_path / "good.pt")
    cases = {
        "unknown model kind 'martinez'; this poselift knows baseline": {**good, "model_kind": "martinez"},
        "keypoint layout 'coco17'; 'baseline' models of this poselift work on 'h36m17'": {**good, "layout": "coco17"},
        "bad model_config for 'baseline'.*width": {**good, "model_config": {**good["model_config"], "width": 3}},
        "weights do not fit the 'baseline' model": {**good, "model_config": {**good["model_config"], "hidden_size": 16}},
    }
    for message, checkpoint in cases.items():
        torch.save(checkpoint, tmp_path / "bad.pt")
        with pytest.raises(FormatError, match=f"^{re.escape(str(tmp_path / 'bad.pt'))}: .*{message}"):
            load_model(tmp_path / "bad.pt")
        with pytest.raises(FormatError, match=f"^given.pt: .*{message}"):
            model_from_checkpoint(checkpoint, "given.pt")


def test_export_keeps_the_weights_only_in_half_precision(tmp_path):
    from poselift.checkpoint import export_model

    model = fitted_model()
    optimizer = torch.optim.Adam(model.parameters())
    save_checkpoint(tmp_path / "last.pt", model=model, optimizer=optimizer, step=3, rng_state=capture_rng_state())
    half = load_checkpoint(export_model(tmp_path / "last.pt", tmp_path / "half.pt", info={"command": "train"}))
    assert half["optimizer_state"] is None and half["rng_state"] is None and half["step"] == 3
    assert half["extra"] == {"export": {"source": str(tmp_path / "last.pt"), "float16": True, "command": "train"}}
    for name, value in half["model_state"].items():
        original = model.state_dict()[name]
        if name.startswith("normalizer.") or not original.is_floating_point():
            assert value.dtype == original.dtype and torch.equal(value, original), name
        else:
            assert value.dtype == torch.float16, name
            torch.testing.assert_close(value.float(), original, rtol=1e-3, atol=1e-4)
    keypoints = SyntheticPoseSource(8, seed=6).tensors["keypoints_2d"]
    expected = model.eval().lift(keypoints)
    lifted = load_model(tmp_path / "half.pt").lift(keypoints)
    assert 0 < float((lifted - expected).abs().max()) < 0.01 * float(expected.abs().max())
    full = export_model(tmp_path / "last.pt", tmp_path / "full.pt", half=False)
    assert torch.equal(load_model(full).lift(keypoints), expected)


@pytest.mark.parametrize("kind", ["temporal", "siamese", "consensus", "selfsup"])
def test_a_format_2_checkpoint_keeps_the_reading_it_was_trained_with(kind, tmp_path):
    """Format 3 changed the defaults of four models to the papers' and authors' readings; a file
    written before has none of the new fields and must rebuild the model it was trained as."""
    from poselift.checkpoint import FIELDS_ADDED
    from poselift.models.registry import build_model

    old_fields = FIELDS_ADDED[3][kind]
    small = {"temporal": dict(hidden_size=8), "siamese": dict(hidden_size=16, embedding_vectors=4),
             "consensus": dict(hidden_size=8, num_blocks=1, group_selection="random", group_size=8,
                               min_groups_per_joint=1),
             "selfsup": dict(hidden_size=16, num_blocks=1)}[kind]
    torch.manual_seed(3)
    loaded = load_as_older_format(tmp_path, build_model(kind, {**small, **old_fields}), 2, old_fields)
    assert {key: getattr(loaded.config, key) for key in old_fields} == old_fields
    assert all(getattr(build_model(kind, small).config, key) != value for key, value in old_fields.items())
