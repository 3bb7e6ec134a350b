"""Model kinds by name (poselift.models.registry): building every kind, config overrides, registering."""

import pytest
from torch import nn

from poselift.errors import PoseliftError
from poselift.models.baseline import BaselineConfig, BaselineLifter
from poselift.models.registry import MODEL_KINDS, build_config, build_model, register_model


def test_registry_builds_every_kind():
    assert MODEL_KINDS["baseline"] == (BaselineConfig, BaselineLifter)
    for kind, (config_class, model_class) in MODEL_KINDS.items():
        assert model_class.kind == kind
    model = build_model("baseline", {"hidden_size": 48, "num_blocks": 1})
    assert isinstance(model, BaselineLifter) and model.config.hidden_size == 48 and model.config.dropout == 0.5
    with pytest.raises(PoseliftError, match="unknown model kind 'martinez'.*baseline"):
        build_model("martinez")
    with pytest.raises(PoseliftError, match="unknown config field.*width"):
        build_model("baseline", {"width": 3})


def test_register_model_refuses_a_class_outside_the_contract():
    class Plain(nn.Module):
        kind = "plain"

    with pytest.raises(PoseliftError, match="must subclass poselift.models.base.LiftingModel"):
        register_model("plain", BaselineConfig, Plain)
    with pytest.raises(PoseliftError, match="must have kind = 'other'"):
        register_model("other", BaselineConfig, BaselineLifter)


def test_build_config_refuses_values_of_the_wrong_type():
    config = build_config("baseline", {"hidden_size": 48, "batch_norm": False})
    assert isinstance(config, BaselineConfig) and config.hidden_size == 48 and config.batch_norm is False
    assert build_config("baseline") == BaselineConfig()
    with pytest.raises(PoseliftError, match="model kind 'baseline': batch_norm is true or false, got 'no'"):
        build_config("baseline", {"batch_norm": "no"})
    with pytest.raises(PoseliftError, match="model kind 'baseline': hidden_size is a number, got '48'"):
        build_config("baseline", {"hidden_size": "48"})
    with pytest.raises(PoseliftError, match=r"unknown config field\(s\) depth, width; known: .*hidden_size"):
        build_config("baseline", {"width": 3, "depth": 2})


def test_register_model_adds_a_kind_once():
    class OtherLifter(BaselineLifter):
        kind = "other_test_kind"

    class SecondLifter(BaselineLifter):
        kind = "other_test_kind"

    try:
        register_model("other_test_kind", BaselineConfig, OtherLifter)
        register_model("other_test_kind", BaselineConfig, OtherLifter)           # the same entry again: fine
        model = build_model("other_test_kind", {"hidden_size": 8, "num_blocks": 1})
        assert type(model) is OtherLifter and model.config.hidden_size == 8
        with pytest.raises(PoseliftError, match="model kind 'other_test_kind' is already registered"):
            register_model("other_test_kind", BaselineConfig, SecondLifter)
        assert MODEL_KINDS["other_test_kind"] == (BaselineConfig, OtherLifter)
    finally:
        MODEL_KINDS.pop("other_test_kind", None)
