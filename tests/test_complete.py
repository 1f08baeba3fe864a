"""MIPooledEstimator.complete: mice's complete(imp, action) from keep_imputations=True."""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from skmipool import MIPooledEstimator
from skmipool.datasets import load_nhanes

M = 3


@pytest.fixture(scope="module")
def nhanes():
    df = load_nhanes()
    df.index = [f"r{i}" for i in range(len(df))]  # an index that is not 0..n-1
    return df


@pytest.fixture(scope="module")
def fitted(nhanes):
    mi = MIPooledEstimator(n_imputations=M, keep_imputations=True, random_state=2)
    return mi.fit(nhanes[["age", "bmi", "hyp"]], nhanes["chl"])


def test_long_is_mice_layout(fitted, nhanes):
    long = fitted.complete("long")
    n = len(nhanes)
    assert list(long.columns) == [".imp", ".id", "age", "bmi", "hyp", "chl"]
    assert long.index.equals(pd.RangeIndex(M * n))
    assert long[".imp"].tolist() == [m for m in range(1, M + 1) for _ in range(n)]
    assert long[".id"].tolist() == list(range(1, n + 1)) * M
    assert not long.isna().any().any()
    for m in range(1, M + 1):
        block = long[long[".imp"] == m].drop(columns=[".imp", ".id"])
        np.testing.assert_array_equal(block.to_numpy(), fitted.imputations_[m - 1].to_numpy())
    # observed cells are the data; the imputed cells differ between imputations
    observed = nhanes["bmi"].notna().to_numpy()
    for m in range(1, M + 1):
        got = long.loc[long[".imp"] == m, "bmi"].to_numpy()
        np.testing.assert_array_equal(got[observed], nhanes["bmi"].to_numpy()[observed])
    first, second = (long.loc[long[".imp"] == m, "bmi"].to_numpy() for m in (1, 2))
    assert (first[~observed] != second[~observed]).any()


def test_stacked_list_and_one_imputation(fitted, nhanes):
    stacked = fitted.complete("stacked")
    assert list(stacked.columns) == ["age", "bmi", "hyp", "chl"]
    assert len(stacked) == M * len(nhanes)
    frames = fitted.complete("list")
    assert len(frames) == M and all(f.index.equals(nhanes.index) for f in frames)
    second = fitted.complete(2)
    assert second.equals(fitted.imputations_[1]) and second.index.equals(nhanes.index)
    second.iloc[0, 1] = -1.0  # a copy: the fitted estimator keeps its data
    assert fitted.imputations_[1].iloc[0, 1] != -1.0
    np.testing.assert_array_equal(stacked.to_numpy(), np.vstack([f.to_numpy() for f in frames]))


def test_bad_kind_and_missing_imputations(fitted, nhanes):
    for bad in (0, M + 1, "wide", True):
        with pytest.raises(ValueError, match="kind"):
            fitted.complete(bad)
    plain = MIPooledEstimator(n_imputations=2, random_state=0)
    with pytest.raises(NotFittedError):
        plain.complete()
    plain.fit(nhanes[["age", "bmi"]], nhanes["chl"])
    with pytest.raises(ValueError, match="keep_imputations=True"):
        plain.complete("long")


def test_array_input_names_columns_like_fit():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    X[:8, 1] = np.nan
    y = X[:, 0] + rng.normal(size=40)
    mi = MIPooledEstimator(n_imputations=2, keep_imputations=True, random_state=0).fit(X, y)
    assert list(mi.complete("long").columns[2:4]) == ["x0", "x1"]
