"""The schedule ``poselift train KIND`` defaults to (poselift.schedules)."""

from poselift.models.kinds import BUILTIN_MODEL_KINDS
from poselift.schedules import CONVERGED_SCHEDULES, PAPER_DECAYS, PRECONVERGENCE_SCHEDULE, default_schedule


def test_the_baseline_runs_its_converged_schedule_the_others_the_short_one():
    assert default_schedule("baseline") == {"epochs": 11, "batch_size": 256, "lr": 1e-3, "converged": True}
    for kind in BUILTIN_MODEL_KINDS:
        schedule = default_schedule(kind)
        assert set(schedule) == {"epochs", "batch_size", "lr", "converged"}
        assert schedule["converged"] == (kind in CONVERGED_SCHEDULES)
        if kind not in CONVERGED_SCHEDULES:
            assert schedule == {"epochs": 20, "batch_size": 64, "lr": 1e-3, "converged": False}, kind
    assert default_schedule("a_kind_of_someone_else") == {**PRECONVERGENCE_SCHEDULE, "converged": False}


def test_a_schedule_is_a_fresh_dict_and_the_paper_decays_48_times():
    schedule = default_schedule("baseline")
    schedule["epochs"] = 1
    assert default_schedule("baseline")["epochs"] == 11 and CONVERGED_SCHEDULES["baseline"]["epochs"] == 11
    default_schedule("temporal")["lr"] = 1.0
    assert PRECONVERGENCE_SCHEDULE["lr"] == 1e-3
    # Martinez et al.: a decay every 100k steps over ~200 epochs of ~24k steps
    assert PAPER_DECAYS == round(200 * 24_000 / 100_000)
