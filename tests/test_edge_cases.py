"""Edge cases found in review: each gives the right number or a clear error."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.linear_model import LinearRegression, LogisticRegression, SGDRegressor

from skmipool import Estimate, ImputationError, MIPooledEstimator, compare, pool_estimates
from skmipool._wald import lrr_df, reiter_df
from skmipool.datasets import load_nhanes
from skmipool.estimands import correlation, predictions
from skmipool.models import FormulaModel


@pytest.fixture(scope="module")
def nhanes():
    df = load_nhanes()
    return df[["age", "bmi", "hyp"]], df["chl"]


def test_contrast_on_variances_only_is_refused():
    q = np.array([[1.0, 1.1], [1.2, 1.0], [0.9, 1.3]])
    res = pool_estimates(q, np.full((3, 2), 0.04))
    with pytest.raises(ValueError, match="contrast of several terms needs the full covariance"):
        res.wald_test(restriction=[[1.0, -1.0]])
    with pytest.raises(ValueError, match="only variances were pooled"):
        res.total_cov  # noqa: B018
    with pytest.raises(ValueError, match="only variances were pooled"):
        res.within_cov  # noqa: B018
    assert res.between_cov.shape == (2, 2)  # B comes from the estimates: always known


def test_variance_frame_is_matched_by_name():
    est = pd.DataFrame({"a": [1.0, 1.2, 0.9], "b": [2.0, 2.1, 1.8]})
    var = pd.DataFrame({"b": [0.09, 0.08, 0.10], "a": [0.04, 0.05, 0.04]})
    res = pool_estimates(est, var)
    ref = pool_estimates(est, var[["a", "b"]].to_numpy())
    pd.testing.assert_frame_equal(res.to_frame(), ref.to_frame())
    with pytest.raises(ValueError, match=r"do not match the term names; differing: \['a', 'c'\]"):
        pool_estimates(est, var.rename(columns={"a": "c"}))


def test_predictions_match_columns_by_name(nhanes):
    X, y = nhanes
    at = X.dropna().iloc[:2]
    kw = {"n_imputations": 3, "random_state": 0}
    a = MIPooledEstimator(estimand=predictions(at), **kw).fit(X, y)
    b = MIPooledEstimator(estimand=predictions(at[["bmi", "hyp", "age"]]), **kw).fit(X, y)
    pd.testing.assert_frame_equal(a.pooled_.to_frame(), b.pooled_.to_frame())
    with pytest.raises(ImputationError, match=r"missing \['hyp'\]"):
        MIPooledEstimator(estimand=predictions(at[["bmi", "age"]]), **kw).fit(X, y)


def test_reiter_df_outside_its_range_falls_back_with_warning():
    # dfcom = 3, k = 2, M = 5, r = 0.3: Reiter's formula gives a negative df (mitml: same)
    with pytest.warns(UserWarning, match="approximation breaks down"):
        v = reiter_df(2, 5, 0.3, 3.0)
    vstar = 3 * 4 / 6
    assert v == pytest.approx(min(lrr_df(2, 5, 0.3), vstar))
    assert 0 < v <= vstar


def test_lrr_df_negative_r_as_mitml():
    """D3's r can be negative; mitml then uses the formula as it stands."""
    t = 2 * 4
    assert lrr_df(2, 5, -0.1) == pytest.approx(4 + (t - 4) * (1 + (1 - 2 / t) / -0.1) ** 2)


def test_refit_leaves_nothing_from_the_previous_fit(nhanes):
    X, y = nhanes
    at = X.dropna().iloc[:2]
    mi = MIPooledEstimator(n_imputations=2, random_state=0, keep_imputations=True).fit(X, y)
    assert hasattr(mi, "coef_") and hasattr(mi, "imputations_")
    mi.set_params(estimand=predictions(at), keep_imputations=False).fit(X, y)
    assert not hasattr(mi, "coef_") and not hasattr(mi, "intercept_")
    assert not hasattr(mi, "imputations_")
    assert list(mi.terms_) == [f"pred[{i}]" for i in at.index]


def test_stochastic_estimators_are_seeded(nhanes):
    X, y = nhanes
    kw = {"variance": "bootstrap", "n_bootstrap": 5, "n_imputations": 2, "random_state": 0}
    a = MIPooledEstimator(SGDRegressor(max_iter=50, tol=None), **kw)
    b = MIPooledEstimator(SGDRegressor(max_iter=50, tol=None), **kw)
    Xs = (X - X.mean()) / X.std()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a.fit(Xs, y)
        b.fit(Xs, y)
    np.testing.assert_array_equal(a.estimates_, b.estimates_)


@pytest.mark.parametrize(
    ("estimator", "message"),
    [
        (LogisticRegression(C=np.inf, class_weight="balanced"), "weighted likelihood"),
        (LinearRegression(positive=True), "positive=True"),
    ],
)
def test_estimators_whose_model_based_se_is_invalid(nhanes, estimator, message):
    X, y = nhanes
    target = (
        (y.fillna(y.mean()) > 185).astype(int) if isinstance(estimator, LogisticRegression) else y
    )
    with pytest.raises(ImputationError, match=message):
        MIPooledEstimator(estimator, n_imputations=2, random_state=0).fit(X, target)


def test_correlation_with_the_outcome_inside_the_estimator(nhanes):
    X, y = nhanes
    mi = MIPooledEstimator(estimand=correlation("bmi", "chl"), n_imputations=3, random_state=0).fit(
        X, y
    )
    assert mi.pooled_.scale == "fisher_z"
    assert -1 < mi.pooled_.estimate.iloc[0] < 1


def test_bootstrap_with_a_formula_model():
    df = load_nhanes()
    mi = MIPooledEstimator(
        FormulaModel("chl ~ age + bmi"),
        variance="bootstrap",
        n_bootstrap=20,
        n_imputations=2,
        random_state=0,
    ).fit(df)
    assert list(mi.terms_) == ["Intercept", "age", "bmi"]
    assert np.isinf(mi.dfcom_)


def test_compare_likelihood_methods_need_likelihoods():
    fits = [Estimate([1.0, 0.5], np.eye(2) * 0.1, names=["a", "b"], dfcom=20) for _ in range(3)]
    null = [Estimate([1.0], [[0.1]], names=["a"], dfcom=21) for _ in range(3)]
    with pytest.raises(TypeError, match="cannot evaluate the log-likelihood of Estimate"):
        compare(fits, null, method="D3")


def test_wald_test_errors():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(4, 2))
    cov = np.tile(np.array([[1.0, 1.0], [1.0, 1.0]]), (4, 1, 1))
    res = pool_estimates(q, cov)
    with pytest.raises(ValueError, match="singular"):
        res.wald_test()
    ok = pool_estimates(q, np.tile(np.eye(2), (4, 1, 1)))
    with pytest.raises(ValueError, match="value has 3 entries for 2 restrictions"):
        ok.wald_test(value=[0, 0, 0])


def test_pool_r_squared_needs_more_than_three_rows():
    from skmipool import pool_r_squared

    X = sm.add_constant(np.arange(3.0))
    fits = [sm.OLS(np.array([1.0, 2.5, 2.9]), X).fit() for _ in range(2)]
    with pytest.raises(ValueError, match="more than 3 observations"):
        pool_r_squared(fits)


@pytest.mark.parametrize("method", ["D2", "D3"])
def test_compare_likelihood_of_an_exact_fit_is_refused(method):
    """Found by the fuzzer: two observations, two parameters gave D3 = -0.33, RIV = 2e31."""
    x = np.array([0.3, 1.7])
    full, null = [], []
    for shift in (0.0, 0.1):
        X = sm.add_constant(x + shift)
        y = np.array([1.0, 2.0 + shift])
        full.append(sm.OLS(y, X).fit())
        null.append(sm.OLS(y, X[:, :1]).fit())
    use = "likelihood" if method == "D2" else "wald"
    with pytest.raises(ValueError, match=r"imputation 1: the full model fits the data exactly"):
        compare(full, null, method=method, use=use)


@pytest.mark.parametrize("method", ["D2", "D3"])
def test_compare_with_collinear_full_model_is_refused(method):
    """Found by the fuzzer: D2 raised a raw LinAlgError, D3 tested 2 restrictions for 1."""
    rng = np.random.default_rng(1)
    full, null = [], []
    for _ in range(2):
        x = rng.normal(size=6)
        X = sm.add_constant(np.column_stack([x, x]))
        y = x + rng.normal(size=6)
        full.append(sm.OLS(y, X).fit())
        null.append(sm.OLS(y, X[:, :1]).fit())
    match = "singular" if method == "D2" else "collinear terms"
    with pytest.raises(ValueError, match=rf"imputation \d: the .*{match}"):
        compare(full, null, method=method)


def test_d1_with_a_numerically_singular_within_covariance_is_refused():
    """Found by the fuzzer: collinear terms whose Ubar was singular only in rounding gave
    D1 = -24.8 with a negative RIV instead of the error for a singular covariance."""
    a = np.array([[1.0, 1.0], [1.0, 1.0 + 1e-15]])  # correlation 1 up to rounding
    cov = np.stack([a * s for s in (1.0, 1.3, 0.8)])
    q = np.array([[0.7, 0.7], [1.2, 1.3], [0.8, 0.7]])
    res = pool_estimates(q, cov, names=["x", "y"])
    with pytest.raises(ValueError, match="covariance of the tested terms is singular"):
        res.wald_test(["x", "y"])
