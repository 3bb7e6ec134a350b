"""Model kinds by name: what ``build_model`` and checkpoints use to rebuild a model.

Each model module adds one entry to :data:`MODEL_KINDS` (``kind -> (config dataclass, model
class)``). A model class has a class attribute ``kind`` equal to its key, a ``config`` attribute
(its dataclass), ``loss(batch) -> dict[str, Tensor]`` (key ``"loss"`` is optimised) and ``lift(...)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from poselift.errors import PoseliftError
from poselift.models.base import LiftingModel
from poselift.models.baseline import BaselineConfig, BaselineLifter
from poselift.models.consensus import ConsensusConfig, ConsensusLifter
from poselift.models.selfsup import SelfSupConfig, SelfSupervisedLifter
from poselift.models.siamese import SiameseConfig, SiameseLifter
from poselift.models.temporal import TemporalConfig, TemporalLifter
from poselift.models.vvipe import PoseVae, PoseVaeConfig, VvipeConfig, VvipeLifter

MODEL_KINDS: dict[str, tuple[type, type[nn.Module]]] = {
    "baseline": (BaselineConfig, BaselineLifter),
    "consensus": (ConsensusConfig, ConsensusLifter),
    "selfsup": (SelfSupConfig, SelfSupervisedLifter),
    "siamese": (SiameseConfig, SiameseLifter),
    "temporal": (TemporalConfig, TemporalLifter),
    "vvipe": (VvipeConfig, VvipeLifter),
    "vvipe_vae": (PoseVaeConfig, PoseVae),
}


def register_model(kind: str, config_class: type, model_class: type[nn.Module]) -> None:
    """Add a model kind (for models defined outside poselift.models)."""
    if not (isinstance(model_class, type) and issubclass(model_class, LiftingModel)):
        raise PoseliftError(f"model class {model_class!r} must subclass poselift.models.base.LiftingModel")
    if model_class.kind != kind:
        raise PoseliftError(f"model class {model_class.__name__} must have kind = {kind!r}")
    if kind in MODEL_KINDS and MODEL_KINDS[kind] != (config_class, model_class):
        raise PoseliftError(f"model kind {kind!r} is already registered")
    MODEL_KINDS[kind] = (config_class, model_class)


def build_config(kind: str, config_dict: dict[str, Any] | None = None):
    """The config dataclass of ``kind`` with the given fields overriding the paper's defaults."""
    if kind not in MODEL_KINDS:
        raise PoseliftError(f"unknown model kind {kind!r}; known: {', '.join(sorted(MODEL_KINDS))}")
    config_class = MODEL_KINDS[kind][0]
    config_dict = dict(config_dict or {})
    known = {field.name for field in dataclasses.fields(config_class)}
    unknown = sorted(set(config_dict) - known)
    if unknown:
        raise PoseliftError(
            f"model kind {kind!r}: unknown config field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    defaults = config_class()
    for name, value in config_dict.items():
        default = getattr(defaults, name)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise PoseliftError(f"model kind {kind!r}: {name} is true or false, got {value!r}")
        if isinstance(default, (int, float)) and not isinstance(default, bool) and isinstance(value, str):
            raise PoseliftError(f"model kind {kind!r}: {name} is a number, got {value!r}")
    return config_class(**config_dict)


def build_model(kind: str, config_dict: dict[str, Any] | None = None) -> nn.Module:
    """A freshly initialised model of ``kind`` (e.g. ``"baseline"``) from config overrides."""
    config = build_config(kind, config_dict)
    return MODEL_KINDS[kind][1](config)
