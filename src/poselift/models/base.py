"""The model contract: what every poselift model is to the training loop, checkpoints, evaluation and lifting.

A model is a :class:`LiftingModel`: an ``nn.Module`` with a ``config`` dataclass, a registered
``kind`` and the hooks below, each with its default here. Nothing outside this class probes a
model with ``getattr``/``hasattr``: a model that needs other behaviour overrides a hook.

===========================  ===========================================================================
``kind``                     registry key (``poselift.models.registry.MODEL_KINDS``), stored in checkpoints
``layout``                   keypoint layout of the 2D input and 3D output ("h36m17")
``source_kind``              training samples: "frames", "pairs", "views" or "windows" (recipes.SOURCE_BUILDERS)
``output_frame``             frame of :meth:`lift`'s poses: "camera" (root-relative, camera axes) or
                             "canonical" (V-VIPE's body-aligned frame)
``sequence_model``           True when the model lifts whole tracks (:meth:`lift_sequences`), not frames
``ddp_find_unused_parameters``  DistributedDataParallel's flag (True when a stage leaves weights unused)
``normalizer``               the input/output encoder, fitted on the training source before training
``reads_intrinsics``         True when :meth:`lift` needs ``intrinsics=`` (the "camera" 2D encoding;
                             default False: the argument is ignored)
``prepare_config``           classmethod: the config completed from the training data (default: unchanged)
``window_length``            classmethod: consecutive frames per training sample (default 1)
``training_stage``           name of the current stage of a staged loss (default None: one stage);
                             the loop starts a fresh Adam when it changes
``learning_rate_factor``     factor on the loop's learning-rate schedule (default 1.0; e.g. a warm-up)
``after_optimizer_step``     called after every optimiser step (default: the backbone's per-row max-norm)
``loss``                     ``loss(batch) -> {"loss": scalar to minimise, ...logged terms}``
``lift``                     2D keypoints (px) -> 3D poses (mm) in ``output_frame``; ``intrinsics``: the
                             :class:`poselift.intrinsics.Intrinsics` of the camera that took them
``fuse_for_inference``       a copy for inference only, same outputs, faster (default: the model itself)
===========================  ===========================================================================
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from poselift.errors import PoseliftError
from poselift.models.backbone import BackboneConfig, apply_max_norm

SOURCE_KINDS = ("frames", "pairs", "views", "windows")
OUTPUT_FRAMES = ("camera", "canonical")


class LiftingModel(nn.Module):
    """Base class of every poselift model; see the module docstring for the contract."""

    kind: ClassVar[str] = ""
    layout: ClassVar[str] = "h36m17"
    source_kind: ClassVar[str] = "frames"
    output_frame: ClassVar[str] = "camera"
    sequence_model: ClassVar[bool] = False
    ddp_find_unused_parameters: ClassVar[bool] = False
    config: Any
    normalizer: Any

    @classmethod
    def prepare_config(cls, config, train_source, epochs: int | None = None):
        """The config completed from the training source before the model is built (default: unchanged)."""
        return config

    @classmethod
    def pretrained_checkpoint(cls, config) -> str | None:
        """Path of a checkpoint this config builds on (V-VIPE's stage 1), or None (the default). The
        recipe (:func:`poselift.recipes.new_model`) reads it and builds the model with
        :meth:`from_pretrained`, so no model file reads checkpoints."""
        return None

    @classmethod
    def from_pretrained(cls, config, checkpoint: dict, path: str):
        """The model of ``config`` built on ``checkpoint`` (the dict :func:`poselift.checkpoint.load_checkpoint`
        returns for :meth:`pretrained_checkpoint`'s file, named ``path`` in messages)."""
        raise NotImplementedError(f"{cls.__name__} builds on no checkpoint")

    @classmethod
    def window_length(cls, config) -> int:
        """Consecutive frames in one training sample (1 for single-frame models)."""
        return 1

    @property
    def training_stage(self) -> str | None:
        """Name of the current stage of a staged loss; None for a model with one stage."""
        return None

    @property
    def learning_rate_factor(self) -> float:
        """Factor on the training loop's learning-rate schedule at this point of training."""
        return 1.0

    def after_optimizer_step(self) -> None:
        """Run by the loop after every optimiser step: the backbone's per-row max-norm projection
        ("row" mode; "matrix" mode clips inside the forward pass and needs nothing here)."""
        if isinstance(self.config, BackboneConfig) and self.config.projects_max_norm:
            apply_max_norm(self, self.config.max_norm)

    @property
    def reads_intrinsics(self) -> bool:
        """True when :meth:`lift` needs the camera's intrinsics (a model with the "camera" 2D encoding)."""
        return False

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Training loss of a batch: ``{"loss": scalar to minimise, other terms to log}``."""
        raise NotImplementedError

    def lift(self, keypoints_2d, confidence=None, batch_size: int = 4096, layout: str = "h36m17", intrinsics=None):
        """``(..., J, 2)`` px keypoints of ``layout`` -> ``(..., 17, 3)`` mm poses in :attr:`output_frame`
        (a layout other than H36M-17 is converted first, one the anatomy contradicts refused:
        :func:`poselift.conventions.as_h36m17`); ``intrinsics`` (:class:`poselift.intrinsics.Intrinsics`,
        leading dims broadcasting against the keypoints' without J) for a model that :attr:`reads_intrinsics`."""
        raise PoseliftError(f"a {self.kind!r} model does not lift 2D keypoints")

    def lift_sequences(self, keypoints_2d, confidence, sequence_lengths, batch_size: int = 4096, intrinsics=None):
        """Whole tracks at once (models with ``sequence_model = True``)."""
        raise PoseliftError(f"a {self.kind!r} model lifts single frames, not sequences")

    def fuse_for_inference(self) -> "LiftingModel":
        """A copy for inference only (same outputs, faster); by default the model itself."""
        return self
