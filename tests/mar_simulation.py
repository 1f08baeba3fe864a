"""MAR coverage simulation for MIPooledEstimator (used by the slow tests and the docs).

Design: n = 200; x1, x2 standard normal with correlation 0.5;
y = 1 + 0.5 x1 + 0.5 x2 + e, e ~ N(0, 1); x1 missing with probability
logistic(a + 1.5 z(y)), a chosen so that about 35% of x1 is missing (MAR:
missingness depends on the observed y only). Each replication fits
``MIPooledEstimator`` (default ChainedImputer(), OLS, M imputations; or the
imputer given) and records whether each 95% interval covers the truth.

Run ``python tests/mar_simulation.py [reps]`` to print the table quoted in
docs/user_guide.md.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd

from skmipool import MIPooledEstimator

TRUTH = pd.Series({"intercept": 1.0, "x1": 0.5, "x2": 0.5})


def mar_data(n: int, rng: np.random.Generator, frac: float = 0.35):
    x = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], size=n)
    y = 1.0 + 0.5 * x[:, 0] + 0.5 * x[:, 1] + rng.normal(size=n)
    z = (y - y.mean()) / y.std()
    miss = rng.random(n) < 1 / (1 + np.exp(-(np.log(frac / (1 - frac)) + 1.5 * z)))
    X = pd.DataFrame({"x1": np.where(miss, np.nan, x[:, 0]), "x2": x[:, 1]})
    return X, pd.Series(y, name="y")


def mar_datasets(reps: int, *, n: int = 200, seed: int = 2026):
    """The replications' data: yields ``(X, y, imputation_seed)`` ``reps`` times.

    One generator draws each dataset and then the integer seed of its
    imputations, so every user of the simulation (the slow tests, the docs
    table, tests/r/write_mar_datasets.py for R) sees the same datasets.
    """
    rng = np.random.default_rng(seed)
    for _ in range(reps):
        X, y = mar_data(n, rng)
        yield X, y, int(rng.integers(2**31 - 1))


def simulate(
    reps: int,
    *,
    impute_target: bool = True,
    n: int = 200,
    m: int = 5,
    seed: int = 2026,
    imputer=None,
    n_jobs=None,
) -> pd.DataFrame:
    """One row per replication and term: estimate, std_error, covered, missing fraction."""
    rows = []
    for rep, (X, y, imputation_seed) in enumerate(mar_datasets(reps, n=n, seed=seed)):
        est = MIPooledEstimator(
            imputer=imputer,
            n_imputations=m,
            impute_target=impute_target,
            random_state=imputation_seed,
            n_jobs=n_jobs,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
        ci = est.conf_int()
        for term in TRUTH.index:
            rows.append(
                {
                    "rep": rep,
                    "term": term,
                    "estimate": est.pooled_.estimate[term],
                    "std_error": est.std_error_[term],
                    "covered": ci.loc[term, "lower"] <= TRUTH[term] <= ci.loc[term, "upper"],
                    "missing": X["x1"].isna().mean(),
                }
            )
    return pd.DataFrame(rows)


def summarise(sim: pd.DataFrame) -> pd.DataFrame:
    """Coverage, bias, bias / SE, mean SE and SD of the estimates, per term."""
    g = sim.groupby("term", sort=False)
    out = pd.DataFrame(
        {
            "coverage": g["covered"].mean(),
            "bias": g["estimate"].mean() - TRUTH,
            "mean_se": g["std_error"].mean(),
            "sd_estimate": g["estimate"].std(),
        }
    )
    out["bias_over_se"] = out["bias"] / out["mean_se"]
    return out


if __name__ == "__main__":
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    for target in (True, False):
        sim = simulate(reps, impute_target=target)
        print(
            f"impute_target={target}, {reps} replications, "
            f"{100 * sim['missing'].mean():.0f}% of x1 missing"
        )
        print(summarise(sim).round(3).to_string(), "\n")
