"""The schedule ``poselift train KIND`` runs by default (no PyTorch import: the CLI's help lists it).

Martinez et al. decay the learning rate by 0.96 every 100k steps over ~200 epochs of Human3.6M
(~24k steps each), i.e. :data:`PAPER_DECAYS` = 48 decays in all; the recipes keep those 48 decays
over our (shorter) runs.
"""

from __future__ import annotations

PAPER_DECAYS = 48
# What ``poselift train KIND`` runs when --epochs / --batch-size / --lr are not given. A kind whose
# learning curve was measured to convergence (benchmarks/learning_curves.py, docs/<kind>.md) has its
# converged schedule in CONVERGED_SCHEDULES; the others keep the short schedule every earlier figure
# of theirs was measured with (20 epochs of batch 64), which is NOT converged.
PRECONVERGENCE_SCHEDULE = {"epochs": 20, "batch_size": 64, "lr": 1e-3}
CONVERGED_SCHEDULES: dict[str, dict] = {
    # docs/baseline.md, benchmarks/results/curves/baseline: validation P#1 stops gaining (< 1 % per doubling)
    # after 5,664 steps of batch 256 (1.45 M samples: gt at that budget, noisy already at half of it);
    # on all seven training people and every frame (134,512 samples, 525 steps an epoch) that is 11 epochs.
    "baseline": {"epochs": 11, "batch_size": 256, "lr": 1e-3},
}


def default_schedule(kind: str) -> dict:
    """``{"epochs", "batch_size", "lr", "converged"}``: the schedule ``poselift train KIND`` defaults to."""
    converged = kind in CONVERGED_SCHEDULES
    return {**PRECONVERGENCE_SCHEDULE, **CONVERGED_SCHEDULES.get(kind, {}), "converged": converged}
