"""Every public function checks its own arguments: the error names the argument (issue 13)."""

import numpy as np
import pytest

from skmipool import (
    MIPooledEstimator,
    barnard_rubin_df,
    combine_chi_square,
    how_many_imputations,
    pool_estimates,
)
from skmipool.datasets import load_nhanes


@pytest.fixture(scope="module")
def result():
    est = np.array([[1.0, 2.0], [1.1, 2.2], [0.9, 2.1]])
    return pool_estimates(est, np.tile(np.eye(2) * 0.1, (3, 1, 1)), names=["a", "b"])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: how_many_imputations(float("nan"), 5), ValueError, "fmi must be fractions"),
        (lambda: how_many_imputations(1.5, 5), ValueError, "fmi must be fractions"),
        (lambda: how_many_imputations([], 5), ValueError, "fmi must be fractions"),
        (lambda: how_many_imputations(0.3, 0), ValueError, "n_imputations must be an integer"),
        (lambda: how_many_imputations(0.3, 5.0), TypeError, "n_imputations must be an integer"),
        (lambda: how_many_imputations(0.3, 5, cv=0), ValueError, r"cv must lie in \(0"),
        (lambda: how_many_imputations(0.3, 5, cv="a"), TypeError, "cv must be a real number"),
        (lambda: combine_chi_square([1.0, 2.0, 3.0], 0), ValueError, "k must be an integer"),
        (lambda: combine_chi_square([1.0, 2.0, 3.0], 1.5), TypeError, "k must be an integer"),
        (lambda: combine_chi_square([1j, 2.0], 1), TypeError, "d has complex values"),
        (lambda: barnard_rubin_df(1, 0.2, 10), ValueError, "m must be an integer >= 2"),
        (lambda: barnard_rubin_df(5, 1.5, 10), ValueError, r"lambda_ must lie in \[0, 1\]"),
        (lambda: barnard_rubin_df(5, [0.2 + 1j], 10), TypeError, "lambda_ has complex"),
        (
            lambda: pool_estimates(np.array([1, 2, 3], dtype=complex), [0.1, 0.1, 0.1]),
            TypeError,
            "estimates has complex values",
        ),
        (
            lambda: pool_estimates((x for x in [1.0, 2.0, 3.0]), [0.1, 0.1, 0.1]),
            TypeError,
            "estimates is a generator",
        ),
        (
            lambda: pool_estimates(np.array(["a", "b"], dtype=object), [0.1, 0.1]),
            TypeError,
            "estimates must hold real numbers",
        ),
        (
            lambda: pool_estimates([1.0, 1.1, 0.9], ["x", "y", "z"]),
            TypeError,
            "covariances must hold real numbers",
        ),
        (
            lambda: pool_estimates([1.0, 1.1, 0.9], [0.1, 0.1, 0.1], names="slope"),
            TypeError,
            r"names must be a sequence of 1 term names, not the single string 'slope'",
        ),
    ],
)
def test_bad_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_one_name_as_a_list_is_fine():
    res = pool_estimates([1.0, 1.1, 0.9], [0.1, 0.1, 0.1], names=["slope"])
    assert list(res.terms) == ["slope"]


def test_wald_test_of_no_terms(result):
    with pytest.raises(ValueError, match=r"terms is empty.*\['a', 'b'\]"):
        result.wald_test([])
    with pytest.raises(ValueError, match="at least one row and 2 columns"):
        result.wald_test(restriction=np.empty((0, 2)))


def test_dfcom_inf_is_a_large_sample_in_the_estimator():
    df = load_nhanes()
    X, y = df[["age", "bmi"]], df["chl"]
    inf = MIPooledEstimator(dfcom=np.inf, n_imputations=2, random_state=0).fit(X, y)
    none = MIPooledEstimator(dfcom=None, n_imputations=2, random_state=0).fit(X, y)
    assert inf.dfcom_ == np.inf
    np.testing.assert_array_equal(inf.df_, none.df_)


def test_overflowing_between_variance_gives_scale_advice_not_nan():
    est = np.array([[1e160, 1.0], [-1e160, 1.1], [3e160, 0.9]])
    with pytest.raises(ValueError, match=r"term 'big' overflows .*3e\+160.*Rescale"):
        pool_estimates(est, np.ones((3, 2)), names=["big", "small"])


def test_nullable_pandas_estimates_are_numbers():
    """pandas' Float64 / Int64 extension dtypes are real numbers, not objects."""
    import pandas as pd

    est = pd.DataFrame({"a": [1.0, 1.2, 0.8], "b": [2, 3, 4]}).astype(
        {"a": "Float64", "b": "Int64"}
    )
    res = pool_estimates(est, np.full((3, 2), 0.1))
    assert res.estimate.tolist() == [1.0, 3.0]
