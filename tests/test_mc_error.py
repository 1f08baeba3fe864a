"""Monte Carlo error of the pooled figures: the jackknife over imputations."""

import warnings

import numpy as np
import pandas as pd
import pytest

from skmipool import MIPooledEstimator, pool_estimates
from skmipool.datasets import load_nhanes2

COLUMNS = ["estimate", "std_error", "df", "p_value", "conf_low", "conf_high", "fmi"]


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(3)
    q = rng.normal([1.0, 2.0, 0.5], [0.3, 0.05, 0.1], size=(6, 3))
    u = rng.uniform(0.02, 0.05, size=(6, 3))
    return pool_estimates(q, u, dfcom=25, names=["a", "b", "c"])


def test_equals_a_direct_jackknife(result):
    """White, Royston & Wood (2011), section 7.1, written out with pool_estimates."""
    q, u = result.estimates.to_numpy(), result.variances.to_numpy()
    m = q.shape[0]
    loo = np.stack(
        [
            pool_estimates(np.delete(q, j, 0), np.delete(u, j, 0), dfcom=25, names=["a", "b", "c"])
            .to_frame(0.9)[COLUMNS]
            .to_numpy()
            for j in range(m)
        ]
    )
    expected = np.sqrt((m - 1) / m * ((loo - loo.mean(axis=0)) ** 2).sum(axis=0))
    np.testing.assert_allclose(result.mc_error(level=0.9).to_numpy(), expected, rtol=1e-12)
    # for the estimate the jackknife is exactly sqrt(B / M)
    np.testing.assert_allclose(
        result.mc_error()["estimate"], np.sqrt(result.between / m), rtol=1e-12
    )


def test_on_the_reporting_scale():
    """A result pooled on the logit scale reports the error of the back-transformed figure."""
    p = np.array([0.30, 0.36, 0.33, 0.28, 0.35])
    res = pool_estimates(p, p * (1 - p) / 200, transform="logit")
    loo = [
        pool_estimates(
            np.delete(p, j), np.delete(p * (1 - p) / 200, j), transform="logit"
        ).estimate.iloc[0]
        for j in range(5)
    ]
    expected = np.sqrt(4 / 5 * np.sum((np.array(loo) - np.mean(loo)) ** 2))
    assert res.mc_error()["estimate"].iloc[0] == pytest.approx(expected, rel=1e-12)


def test_needs_three_imputations_and_handles_b_zero():
    with pytest.raises(ValueError, match="at least 3 imputations"):
        pool_estimates(np.array([1.0, 1.1]), np.array([0.1, 0.1])).mc_error()
    same = pool_estimates(np.ones(4), np.full(4, 0.1), dfcom=30).mc_error()
    assert np.all(same.to_numpy() == 0.0)  # identical imputations: nothing moves


def test_summary_says_when_m_is_too_small(result):
    footer = result.summary().footer
    ratio = float(np.sqrt(result.between / result.n_imputations / result.total).max())
    assert ratio > 0.1
    assert footer["Largest Monte Carlo error of an estimate"] == f"{ratio:.2g} SE (a)"
    needed = footer["M too small for the reported digits"]
    assert f"use about {int(np.ceil(6 * (ratio / 0.1) ** 2))} imputations" in needed
    small_b = pool_estimates(np.array([1.0, 1.001, 0.999]), np.full(3, 0.1), dfcom=30)
    assert "M too small for the reported digits" not in small_b.summary().footer


@pytest.mark.slow
def test_jackknife_matches_the_spread_between_runs():
    """40 fits of M = 10 on nhanes2 with different seeds (about 25 s on one core).

    The standard deviation of each pooled figure over the 40 runs is what the
    Monte Carlo error estimates; its relative standard error is about
    1 / sqrt(2 * 39) = 0.11, so a ratio outside 1 ± 0.33 (3 SE) fails. The
    jackknife of non-linear figures (SE, df, p) is known to run a little low,
    so those are checked on the median over the five terms.
    """
    df = load_nhanes2()
    X, y = df[["age", "bmi", "hyp"]], df["chl"]
    runs, errors = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(40):
            pooled = MIPooledEstimator(n_imputations=10, random_state=seed).fit(X, y).pooled_
            runs.append(pooled.to_frame()[COLUMNS])
            errors.append(pooled.mc_error())
    spread = pd.concat(runs).groupby(level=0).std()
    mean_error = pd.concat(errors).groupby(level=0).mean()
    ratio = mean_error / spread
    print(ratio.round(2))
    assert ratio["estimate"].between(0.67, 1.33).all()
    assert ratio.median().between(0.67, 1.33).all()
