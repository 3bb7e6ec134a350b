"""The pure helpers of the benchmark scripts: the convergence rule of the learning curves, table cells."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from learning_curves import converged_index  # noqa: E402
from sweep import mean_std, over_seeds  # noqa: E402


def test_a_doubling_that_gains_less_than_the_tolerance_converges():
    assert converged_index([100.0, 80.0, 70.0, 69.5, 69.0], 0.01) == 2      # 70 -> 69.5 gains 0.7 %
    assert converged_index([100.0, 80.0, 70.0], 0.01) is None                 # still falling fast
    assert converged_index([100.0, 101.0], 0.01) == 0                         # getting worse counts too
    assert converged_index([100.0, 98.0], 0.05) == 0 and converged_index([100.0, 98.0], 0.01) is None


def test_table_cells_over_seeds():
    row = over_seeds([{"mpjpe": 10.0}, {"mpjpe": 12.0}, {"mpjpe": 14.0}], ["mpjpe"])["mpjpe"]
    assert row["mean"] == 12.0 and row["std"] == 2.0 and mean_std(row) == "12.0 ± 2.0"
    assert mean_std(over_seeds([{"mpjpe": 10.04}], ["mpjpe"])["mpjpe"], digits=2) == "10.04"
