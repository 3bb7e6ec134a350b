"""The model contract across every registered kind: each one implements poselift.models.base.LiftingModel,
and lifting labels its poses with the model's output frame. (The hooks' defaults are tested in
test_models_base.py, registering kinds in test_models_registry.py.)"""

import numpy as np
import torch

from poselift.io.records import Keypoints2D
from poselift.lift import lift_keypoints
from poselift.models.base import OUTPUT_FRAMES, SOURCE_KINDS, LiftingModel
from poselift.models.baseline import BaselineConfig, BaselineLifter
from poselift.models.registry import MODEL_KINDS
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
