"""The model contract (poselift.models.base.LiftingModel): every kind implements it, its defaults hold,
and the loop, the registry and lifting use the hooks instead of probing models."""

import numpy as np
import pytest
import torch
from torch import nn

from poselift.errors import PoseliftError
from poselift.io.records import Keypoints2D
from poselift.lift import lift_keypoints
from poselift.models.base import OUTPUT_FRAMES, SOURCE_KINDS, LiftingModel
from poselift.models.baseline import BaselineConfig, BaselineLifter
from poselift.models.registry import MODEL_KINDS, build_config, register_model
from poselift.recipes import model_source


def test_every_kind_implements_the_contract():
    for kind, (config_class, model_class) in MODEL_KINDS.items():
        assert issubclass(model_class, LiftingModel) and model_class.kind == kind
        assert model_class.source_kind in SOURCE_KINDS and model_class.output_frame in OUTPUT_FRAMES
        assert model_class.layout == "h36m17"
    assert model_source("temporal", {"sequence_length": 7}) == ("windows", 7)
    assert model_source("baseline") == ("frames", 1) and model_source("siamese") == ("pairs", 1)
    assert MODEL_KINDS["temporal"][1].sequence_model and not MODEL_KINDS["baseline"][1].sequence_model
    assert MODEL_KINDS["vvipe"][1].output_frame == "canonical"


def test_the_defaults_of_the_hooks():
    model = BaselineLifter(BaselineConfig(hidden_size=8, num_blocks=1))
    assert model.training_stage is None and model.learning_rate_factor == 1.0
    assert model.prepare_config(model.config, None) is model.config
    assert LiftingModel.window_length(model.config) == 1
    vae = MODEL_KINDS["vvipe_vae"][1](build_config("vvipe_vae", {"hidden_size": 8, "num_blocks": 1}))
    with pytest.raises(PoseliftError, match="'vvipe_vae' model does not lift 2D"):
        vae.lift(np.zeros((1, 17, 2)))
    with pytest.raises(PoseliftError, match="single frames, not sequences"):
        model.lift_sequences(torch.zeros(1, 17, 2), None, torch.tensor([1]))
    assert vae.fuse_for_inference() is vae


def test_after_optimizer_step_projects_rows_only_in_row_mode():
    for mode, projected in (("row", True), ("matrix", False)):
        torch.manual_seed(0)
        model = BaselineLifter(BaselineConfig(hidden_size=16, num_blocks=1, init="kaiming", max_norm_mode=mode))
        weights = [m.weight.detach().clone() for m in model.modules() if isinstance(m, nn.Linear)]
        model.after_optimizer_step()
        after = [m.weight.detach() for m in model.modules() if isinstance(m, nn.Linear)]
        changed = any(not torch.equal(before, now) for before, now in zip(weights, after))
        assert changed == projected
        if projected:
            assert max(float(w.norm(dim=1).max()) for w in after) <= 1.0 + 1e-6


def test_register_model_refuses_a_class_outside_the_contract():
    class Plain(nn.Module):
        kind = "plain"

    with pytest.raises(PoseliftError, match="must subclass poselift.models.base.LiftingModel"):
        register_model("plain", BaselineConfig, Plain)
    with pytest.raises(PoseliftError, match="must have kind = 'other'"):
        register_model("other", BaselineConfig, BaselineLifter)


def test_lifted_poses_are_labelled_with_the_models_output_frame():
    class CanonicalLifter(BaselineLifter):
        output_frame = "canonical"

    rng = np.random.default_rng(0)
    keypoints = Keypoints2D(keypoints_2d=(rng.normal(size=(4, 17, 2)) * 30 + 500).astype(np.float32),
                            confidence=np.ones((4, 17), np.float32), layout="h36m17", image_size=(1000, 1000))
    for model_class, frame in ((BaselineLifter, "camera"), (CanonicalLifter, "canonical")):
        model = model_class(BaselineConfig(hidden_size=8, num_blocks=1, input_normalization="pose"))
        model.normalizer.fit(torch.from_numpy(keypoints.keypoints_2d), None, torch.randn(4, 17, 3) * 100)
        record, report, _ = lift_keypoints(keypoints, model.eval())
        assert record.frame == frame and report.frames == 4
