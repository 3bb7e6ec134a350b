"""Training recipes (poselift.recipes): which people, cameras and samples a model trains and validates on,
and building a new model (on a checkpoint where its config says so)."""

import pytest
import torch

from _ddp_worker import small_model
from poselift.camera import angular_difference_deg, camera_azimuth_deg
from poselift.checkpoint import save_checkpoint
from poselift.data.benchmark import VALIDATION_SUBJECTS
from poselift.data.datasets import FrameSource, MultiViewSource
from poselift.errors import PoseliftError
from poselift.models.baseline import BaselineConfig, BaselineLifter
from poselift.recipes import DataOptions, model_source, new_model, training_sources


def subjects(benchmark, frames) -> set:
    return {benchmark.clips[clip]["subject"] for clip in benchmark.clip_index[frames].tolist()}


def test_validation_modes_pick_the_people_trained_and_validated_on(small_benchmark):
    training_people = subjects(small_benchmark, small_benchmark.frame_mask("train"))
    test_people = subjects(small_benchmark, small_benchmark.frame_mask("test"))
    assert set(VALIDATION_SUBJECTS) < training_people and not training_people & test_people

    train, val = training_sources(small_benchmark, DataOptions(validation="test"))
    assert subjects(small_benchmark, train.frames) == training_people and subjects(small_benchmark, val.frames) == test_people
    test_frames = torch.nonzero(small_benchmark.frame_mask("test")).squeeze(1)
    assert torch.equal(val.frames, test_frames[::5])                      # every 5th frame, no augmentation
    assert val.camera_ids.tolist() == [0, 1, 2, 3] and not val.flip and not val.virtual_cameras

    fit, val_people = training_sources(small_benchmark, DataOptions(validation="people"))
    assert subjects(small_benchmark, fit.frames) == training_people - set(VALIDATION_SUBJECTS)
    assert subjects(small_benchmark, val_people.frames) == set(VALIDATION_SUBJECTS)

    everyone, nothing = training_sources(small_benchmark, DataOptions(validation="none"))
    assert torch.equal(everyone.frames, train.frames) and nothing is None


def test_options_reach_the_training_source_and_protocol_3_keeps_camera_3_unseen(small_benchmark):
    options = DataOptions(input="noisy", flip=True, frame_stride=3, joint_dropout=0.2)
    train, _ = training_sources(small_benchmark, options)
    assert isinstance(train, FrameSource) and train.input == "noisy" and train.flip and train.joint_dropout == 0.2
    assert torch.equal(train.frames, torch.nonzero(small_benchmark.frame_mask("train")).squeeze(1)[::3])

    all_four, _ = training_sources(small_benchmark, DataOptions(virtual_cameras=True, virtual_step_deg=15.0))
    assert len(all_four.virtual_cameras) == 4 * 23                       # every 15 degrees but the camera's own
    train, val = training_sources(small_benchmark, DataOptions(protocol=3, virtual_cameras=True))
    assert train.camera_ids.tolist() == [0, 1, 2] and val.camera_ids.tolist() == [3]
    held_out = camera_azimuth_deg(small_benchmark.cameras[3])
    assert 0 < len(train.virtual_cameras) < 3 * 23
    assert min(angular_difference_deg(camera_azimuth_deg(camera), held_out) for camera in train.virtual_cameras) >= 30 - 1e-6

    views, frames = training_sources(small_benchmark, DataOptions(), "views")
    assert isinstance(views, MultiViewSource) and isinstance(frames, FrameSource)


def test_bad_options_are_refused_with_what_was_asked(small_benchmark):
    with pytest.raises(PoseliftError, match="training protocol must be 1 or 3, got 2"):
        training_sources(small_benchmark, DataOptions(protocol=2))
    with pytest.raises(PoseliftError, match="validation must be one of test, people, none, got 'camera'"):
        training_sources(small_benchmark, DataOptions(validation="camera"))
    with pytest.raises(PoseliftError, match="unknown training source kind 'clips'; known: frames, pairs, windows, views"):
        training_sources(small_benchmark, DataOptions(), "clips")
    longest = max(clip["length"] for clip in small_benchmark.clips)
    with pytest.raises(PoseliftError, match=f"no training windows .*sequence length {longest + 1}, frame stride 1"):
        training_sources(small_benchmark, DataOptions(), "windows", longest + 1)
    with pytest.raises(PoseliftError, match="joint dropout: not available for self-supervised multi-view training"):
        training_sources(small_benchmark, DataOptions(joint_dropout=0.1), "views")
    with pytest.raises(PoseliftError, match="body scale: not available for self-supervised multi-view training"):
        training_sources(small_benchmark, DataOptions(body_scale=True), "views")
    with pytest.raises(PoseliftError, match=r"random cameras: the share of samples must be in \[0, 1\], got 1.5"):
        training_sources(small_benchmark, DataOptions(random_cameras=1.5))


def test_random_cameras_and_body_sizes_reach_the_training_source_but_not_validation(small_benchmark):
    from poselift.data.body_scale import BodyScaleConfig
    from poselift.data.random_cameras import RandomCameraConfig

    train, val = training_sources(small_benchmark, DataOptions(random_cameras=0.3, body_scale=True))
    assert train.random_cameras == RandomCameraConfig(fraction=0.3) and train.body_scale == BodyScaleConfig()
    assert val.random_cameras is None and val.body_scale is None
    plain, _ = training_sources(small_benchmark, DataOptions())
    assert plain.random_cameras is None and plain.body_scale is None


def test_model_source_follows_the_class_and_its_config():
    assert model_source("baseline") == ("frames", 1) and model_source("selfsup") == ("views", 1)
    assert model_source("vvipe_vae") == ("frames", 1) and model_source("temporal", {"sequence_length": 4}) == ("windows", 4)


class BuiltOnACheckpoint(BaselineLifter):
    """A model whose config builds on a baseline checkpoint (as V-VIPE's stage 2 builds on stage 1)."""

    kind = "built_on_a_checkpoint"
    source_path = ""
    received = None

    @classmethod
    def pretrained_checkpoint(cls, config):
        return cls.source_path

    @classmethod
    def from_pretrained(cls, config, checkpoint, path):
        cls.received = (checkpoint["model_kind"], path)
        model = cls(config)
        model.load_state_dict(checkpoint["model_state"])
        return model


def test_new_model_reads_the_checkpoint_a_config_builds_on(tmp_path):
    config = BaselineConfig(hidden_size=32, num_blocks=1, dropout=0.3, input_normalization="pose")
    fresh = new_model(BaselineLifter, config)
    assert type(fresh) is BaselineLifter and fresh.config is config          # no checkpoint: just built
    trained = small_model(1)
    BuiltOnACheckpoint.source_path = str(save_checkpoint(tmp_path / "stage1.pt", model=trained))
    built = new_model(BuiltOnACheckpoint, config)
    assert type(built) is BuiltOnACheckpoint and BuiltOnACheckpoint.received == ("baseline", str(tmp_path / "stage1.pt"))
    for name, value in trained.state_dict().items():
        assert torch.equal(built.state_dict()[name], value), name
    BuiltOnACheckpoint.source_path = str(tmp_path / "missing.pt")
    with pytest.raises(PoseliftError, match="missing.pt: checkpoint file not found"):
        new_model(BuiltOnACheckpoint, config)
