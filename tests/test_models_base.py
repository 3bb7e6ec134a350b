"""The model contract's base class (poselift.models.base.LiftingModel): the defaults of its hooks."""

import numpy as np
import pytest
import torch
from torch import nn

from poselift.errors import PoseliftError
from poselift.models.base import LiftingModel
from poselift.models.baseline import BaselineConfig, BaselineLifter
from poselift.models.registry import MODEL_KINDS, build_config


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


def test_a_minimal_subclass_gets_every_default():
    class Minimal(LiftingModel):
        kind = "minimal"

        def __init__(self):
            super().__init__()
            self.config = None                                   # not a BackboneConfig: no max-norm to apply
            self.weight = nn.Parameter(torch.ones(2))

    model = Minimal()
    assert (model.layout, model.source_kind, model.output_frame) == ("h36m17", "frames", "camera")
    assert not model.sequence_model and not model.ddp_find_unused_parameters
    assert Minimal.pretrained_checkpoint(model.config) is None
    with pytest.raises(NotImplementedError, match="Minimal builds on no checkpoint"):
        Minimal.from_pretrained(model.config, {}, "stage1.pt")
    with pytest.raises(NotImplementedError):
        model.loss({})
    with pytest.raises(PoseliftError, match="a 'minimal' model does not lift 2D keypoints"):
        model.lift(np.zeros((1, 17, 2)))
    model.after_optimizer_step()
    assert torch.equal(model.weight.detach(), torch.ones(2))
