"""Statistical validity of the default pipeline and of IterativeImputer with its imputation
bootstrap (slow): coverage and bias under MAR.

The design is in tests/mar_simulation.py (n = 200, ~40% of x1 missing with
probability rising in y, M = 5, 200 replications). Tolerances come from the
Monte Carlo error of the replication count: coverage 0.95 +- 2 sqrt(0.95 0.05 / R)
= [0.92, 0.98] for R = 200, and the estimated bias may exceed 10% of the SE by at
most 2.5 Monte Carlo standard errors (sd / sqrt(R)).
"""

import numpy as np
import pytest
from mar_simulation import simulate, summarise
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer

REPS = 200


@pytest.fixture(scope="module")
def with_outcome():
    return simulate(REPS, impute_target=True, seed=2026)


@pytest.fixture(scope="module")
def iterative_bootstrapped():
    """The old default, IterativeImputer(sample_posterior=True) fitted on a bootstrap
    resample per imputation (imputation_bootstrap="auto"): about 60 s."""
    imputer = IterativeImputer(sample_posterior=True, max_iter=10)
    return simulate(REPS, impute_target=True, seed=2026, imputer=imputer)


@pytest.fixture(scope="module")
def without_outcome():
    return simulate(REPS, impute_target=False, seed=2026)


@pytest.mark.slow
def test_default_pipeline_covers_under_mar(with_outcome):
    table = summarise(with_outcome)
    print("\nimpute_target=True\n", table.round(3))
    half_width = 2 * np.sqrt(0.95 * 0.05 / REPS)
    assert table["coverage"].between(0.95 - half_width, 0.95 + half_width).all(), table
    mc_se = table["sd_estimate"] / np.sqrt(REPS)
    assert (table["bias"].abs() < 0.10 * table["mean_se"] + 2.5 * mc_se).all(), table
    # the pooled SE tracks the sampling SD of the estimates
    assert ((table["mean_se"] / table["sd_estimate"]).between(0.85, 1.2)).all(), table


@pytest.mark.slow
def test_leaving_the_outcome_out_biases_the_slope(with_outcome, without_outcome):
    """van Buuren (FIMD 6.2): an imputation model without y attenuates the slope of x1."""
    good, bad = summarise(with_outcome), summarise(without_outcome)
    print("\nimpute_target=False\n", bad.round(3))
    mc_se = bad.loc["x1", "sd_estimate"] / np.sqrt(REPS)
    assert bad.loc["x1", "bias"] < -4 * mc_se  # toward zero, far beyond Monte Carlo error
    assert bad.loc["x1", "bias"] < good.loc["x1", "bias"] - 0.05
    assert bad.loc["x1", "coverage"] < good.loc["x1", "coverage"]


@pytest.mark.slow
def test_iterative_imputer_with_its_bootstrap_covers_under_mar(iterative_bootstrapped):
    """IterativeImputer stays supported: with the imputation bootstrap its intervals cover."""
    table = summarise(iterative_bootstrapped)
    print("\nIterativeImputer(sample_posterior=True), bootstrapped\n", table.round(3))
    half_width = 2 * np.sqrt(0.95 * 0.05 / REPS)
    assert table["coverage"].between(0.95 - half_width, 0.95 + half_width).all(), table
