"""PooledResult's API and the validation of pooling inputs."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from skmipool import Estimate, compare, how_many_imputations, pool, pool_estimates
from skmipool._fits import EstimationSampleWarning, MissingDfcomWarning


@pytest.fixture
def result():
    rng = np.random.default_rng(42)
    q = rng.normal([1.0, -0.5, 0.2], 0.2, size=(6, 3))
    a = rng.normal(size=(6, 3, 3)) * 0.1
    cov = a @ np.swapaxes(a, 1, 2) + np.eye(3) * 0.05
    return pool_estimates(q, cov, dfcom=40, names=["a", "b", "c"])


def test_hand_computation(result):
    q = result.estimates.to_numpy()
    u = result.covariances
    m = 6
    ubar = u.mean(0)
    b = np.cov(q, rowvar=False)
    t = ubar + (1 + 1 / m) * b
    np.testing.assert_allclose(result.total_cov.to_numpy(), t, rtol=1e-12)
    np.testing.assert_allclose(result.between_cov.to_numpy(), b, rtol=1e-12)
    np.testing.assert_allclose(result.within_cov.to_numpy(), ubar, rtol=1e-12)
    np.testing.assert_allclose(result.total, np.diag(t), rtol=1e-12)
    lam = (1 + 1 / m) * np.diag(b) / np.diag(t)
    df_old = (m - 1) / lam**2
    df_obs = 41 / 43 * 40 * (1 - lam)
    np.testing.assert_allclose(result.df, df_old * df_obs / (df_old + df_obs), rtol=1e-12)
    se = np.sqrt(np.diag(t))
    np.testing.assert_allclose(result.std_error, se, rtol=1e-12)
    p = 2 * stats.t.sf(np.abs(q.mean(0) / se), result.df)
    np.testing.assert_allclose(result.p_value, p, rtol=1e-10)
    riv = (1 + 1 / m) * np.diag(b) / np.diag(ubar)
    fmi = (riv + 2 / (result.df + 3)) / (riv + 1)
    np.testing.assert_allclose(result.fmi, fmi, rtol=1e-12)
    np.testing.assert_allclose(result.relative_efficiency, 1 / (1 + fmi / m), rtol=1e-12)


def test_pandas_out_labelled_by_term(result):
    for attr in (
        "estimate",
        "std_error",
        "statistic",
        "df",
        "p_value",
        "riv",
        "lambda_",
        "fmi",
        "relative_efficiency",
        "within",
        "between",
        "total",
    ):
        value = getattr(result, attr)
        assert isinstance(value, pd.Series)
        assert list(value.index) == ["a", "b", "c"]
    assert list(result.total_cov.columns) == ["a", "b", "c"]
    assert result.n_imputations == 6 and result.dfcom == 40


def test_conf_int_uses_t_quantiles(result):
    ci = result.conf_int(0.9)
    assert list(ci.columns) == ["lower", "upper"]
    half = stats.t.ppf(0.95, result.df) * result.std_error
    np.testing.assert_allclose(ci["upper"], result.estimate + half, rtol=1e-12)
    np.testing.assert_allclose(ci["lower"], result.estimate - half, rtol=1e-12)
    assert (result.conf_int(0.99)["upper"] > ci["upper"]).all()


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, 95])
def test_level_outside_unit_interval_is_an_error(result, level):
    with pytest.raises(ValueError, match="level must lie strictly between 0 and 1"):
        result.conf_int(level)


def test_to_frame_exponentiate(result):
    plain = result.to_frame()
    expo = result.to_frame(exponentiate=True)
    np.testing.assert_allclose(expo["estimate"], np.exp(plain["estimate"]))
    np.testing.assert_allclose(expo["conf_low"], np.exp(plain["conf_low"]))
    np.testing.assert_allclose(expo["conf_high"], np.exp(plain["conf_high"]))
    np.testing.assert_array_equal(expo["std_error"], plain["std_error"])
    np.testing.assert_array_equal(expo["p_value"], plain["p_value"])


def test_summary_prints_table_and_footer(result):
    text = str(result.summary())
    for piece in (
        "estimate",
        "std_error",
        "[0.025",
        "0.975]",
        "Imputations (M): 6",
        "Complete-data df: 40",
        "Largest FMI",
        "Smallest df",
        "Smallest relative efficiency",
        "Recommended M (von Hippel 2020)",
    ):
        assert piece in text
    footer = result.summary().footer
    assert footer["Largest FMI"] == pytest.approx(result.fmi.max())
    assert footer["Smallest df"] == pytest.approx(result.df.min())
    html = result._repr_html_()
    assert "<table" in html and "Largest FMI" in html
    assert str(result) == text


def test_how_many_imputations_quadratic_rule():
    # von Hippel (2020): 1 + 0.5 (fmi_upper / cv)^2 with logit-scale upper bound
    fmi, m = 0.3, 20
    upper = 1 / (1 + np.exp(-(np.log(0.3 / 0.7) + stats.norm.ppf(0.975) * np.sqrt(2 / m))))
    assert how_many_imputations(fmi, m) == int(np.ceil(1 + 0.5 * (upper / 0.05) ** 2))
    assert how_many_imputations([0.1, 0.3], m) == how_many_imputations(0.3, m)
    assert how_many_imputations(0.3, 20, cv=0.1) < how_many_imputations(0.3, 20)


def test_variances_and_full_matrices_agree_per_term(result):
    diag = pool_estimates(result.estimates, result.variances, dfcom=40)
    pd.testing.assert_frame_equal(diag.to_frame(), result.to_frame(), rtol=1e-12)
    assert not diag.has_full_covariances
    with pytest.raises(ValueError, match="only variances were pooled"):
        diag.within_cov  # noqa: B018


def test_names_from_dataframe():
    est = pd.DataFrame({"slope": [1.0, 1.1, 0.9], "icpt": [0.0, 0.1, 0.2]})
    res = pool_estimates(est, np.full((3, 2), 0.01))
    assert list(res.terms) == ["slope", "icpt"]
    assert list(pool_estimates(est.to_numpy(), np.full((3, 2), 0.01)).terms) == ["x0", "x1"]


def test_inputs_are_not_modified():
    q = np.array([[1.0, 2.0], [1.5, 2.5], [1.2, 2.2]])
    u = np.array([[0.1, 0.2], [0.1, 0.2], [0.1, 0.2]])
    q0, u0 = q.copy(), u.copy()
    pool_estimates(q, u, dfcom=10)
    np.testing.assert_array_equal(q, q0)
    np.testing.assert_array_equal(u, u0)


def test_pickle_round_trip(result):
    again = pickle.loads(pickle.dumps(result))
    pd.testing.assert_frame_equal(again.to_frame(), result.to_frame())


# ----------------------------------------------------------------- validation


def test_fewer_than_two_imputations():
    with pytest.raises(ValueError, match="at least 2 imputations"):
        pool_estimates(np.array([[1.0]]), np.array([[0.1]]))
    with pytest.raises(ValueError, match="at least 2 imputations"):
        pool([Estimate([1.0], [0.1])])


def test_non_finite_estimate_names_imputation_and_term():
    with pytest.raises(ValueError, match=r"imputation 2: the estimate of term 'b' is nan"):
        pool_estimates(np.array([[1.0, 2.0], [1.0, np.nan]]), np.ones((2, 2)), names=["a", "b"])


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf, np.nan])
def test_non_positive_variance_names_imputation(bad):
    u = np.array([[0.1, 0.2], [0.1, bad], [0.1, 0.2]])
    with pytest.raises(ValueError, match=r"imputation 2: the variance of term 'x1'"):
        pool_estimates(np.ones((3, 2)), u)


def test_indefinite_covariance_is_an_error():
    cov = np.tile(np.array([[1.0, 2.0], [2.0, 1.0]]), (3, 1, 1))
    with pytest.raises(ValueError, match=r"imputation 1: .*not positive semi-definite"):
        pool_estimates(np.ones((3, 2)), cov)


def test_one_indefinite_covariance_among_good_ones_is_named():
    good = np.eye(3)
    # an entry beyond the variances: the mean is positive definite, the check still looks
    big = np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    with pytest.raises(
        ValueError, match=r"imputation 2: .*semi-definite \(smallest eigenvalue -1\)"
    ):
        pool_estimates(np.ones((3, 3)), np.stack([good, big, good]))
    # entries within the variances, eigenvalues 2, 2, -1: it pulls the mean below zero
    signs = np.array([[1.0, 1.0, -1.0], [1.0, 1.0, 1.0], [-1.0, 1.0, 1.0]])
    with pytest.raises(
        ValueError, match=r"imputation 3: .*semi-definite \(smallest eigenvalue -1\)"
    ):
        pool_estimates(np.ones((3, 3)), np.stack([0.01 * good, 0.01 * good, signs]))
    # entries within the variances and a positive definite mean: each imputation is checked
    # on its own, so the indefinite one is still named
    with pytest.raises(
        ValueError, match=r"imputation 3: .*semi-definite \(smallest eigenvalue -0.1\)"
    ):
        pool_estimates(np.ones((3, 3)), np.stack([good, good, 0.1 * signs]))


def test_singular_covariances_pass():
    """Positive semi-definite with an eigenvalue 0 (or -1e-17 from rounding) is valid."""
    rng = np.random.default_rng(0)
    covs = []
    for _ in range(4):
        a = rng.normal(size=(5, 3))
        covs.append(a @ a.T)  # rank 3 of 5
    res = pool_estimates(rng.normal(size=(4, 5)), np.stack(covs))
    assert np.all(np.isfinite(res.std_error))


def test_asymmetric_covariance_is_an_error():
    cov = np.tile(np.eye(2), (3, 1, 1))
    cov[2, 0, 1] = 0.5
    with pytest.raises(ValueError, match="imputation 3: the covariance matrix is not symmetric"):
        pool_estimates(np.ones((3, 2)), cov)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"covariances must have shape .* got shape \(3, 3\)"):
        pool_estimates(np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="names has 1 entries but the estimates have 2 terms"):
        pool_estimates(np.ones((3, 2)), np.ones((3, 2)), names=["a"])


@pytest.mark.parametrize("dfcom", [0, -3, np.nan])
def test_dfcom_must_be_positive(dfcom):
    with pytest.raises(ValueError, match="dfcom must be positive"):
        pool_estimates(np.ones(3), np.ones(3), dfcom=dfcom)
    with pytest.raises(ValueError, match="dfcom must be positive"):
        pool([Estimate([1.0], [0.1]), Estimate([1.2], [0.1])], dfcom=dfcom)


def test_dfcom_bad_string():
    with pytest.raises(ValueError, match='dfcom must be "auto"'):
        pool([Estimate([1.0], [0.1]), Estimate([1.2], [0.1])], dfcom="big")


def test_different_terms_name_the_imputation():
    fits = [
        Estimate([1, 2], np.eye(2), names=["a", "b"]),
        Estimate([1, 2], np.eye(2), names=["a", "b"]),
        Estimate([1, 2], np.eye(2), names=["a", "c"]),
    ]
    with pytest.raises(ValueError, match=r"imputation 3 reports other terms .*missing \['b'\]"):
        pool(fits, dfcom=None)
    swapped = [fits[0], Estimate([2, 1], np.eye(2), names=["b", "a"])]
    with pytest.raises(ValueError, match=r"imputation 2 .*different order"):
        pool(swapped, dfcom=None)


def test_unknown_dfcom_warns_and_assumes_large_sample():
    fits = [Estimate([1.0], [0.1]), Estimate([1.2], [0.1])]
    with pytest.warns(MissingDfcomWarning, match="large sample"):
        res = pool(fits)
    assert np.isinf(res.dfcom)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pool(fits, dfcom=None).dfcom == np.inf
        assert pool(fits, dfcom=12).dfcom == 12


def test_nobs_differing_warns():
    rng = np.random.default_rng(0)
    fits = []
    for n in (40, 40, 38):
        X = sm.add_constant(rng.normal(size=(n, 1)))
        fits.append(sm.OLS(X @ [1, 1] + rng.normal(size=n), X).fit())
    with (
        pytest.warns(EstimationSampleWarning, match="number of observations differs"),
        pytest.warns(EstimationSampleWarning, match="complete-data df differ"),
    ):
        res = pool(fits)
    assert res.dfcom == 36  # the smallest residual df, and a warning that they differ
    assert list(res.nobs) == [40, 40, 38]


def test_unreadable_fit_names_imputation():
    with pytest.raises(TypeError, match="imputation 2: cannot read an estimate"):
        pool([Estimate([1.0], [0.1]), object()])


def test_wald_test_needs_full_covariances():
    res = pool_estimates(np.random.default_rng(1).normal(size=(4, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="needs the full covariance matrices"):
        res.wald_test()
    assert res.wald_test("x0").df1 == 1
    with pytest.raises(KeyError, match="unknown terms"):
        res.wald_test(["zz"])


def test_wald_test_single_term_equals_squared_t_when_b_zero():
    """With B = 0 and infinite dfcom, D1 for one term is the squared z statistic."""
    q = np.tile([1.0, 2.0], (4, 1))
    cov = np.tile(np.diag([0.25, 1.0]), (4, 1, 1))
    res = pool_estimates(q, cov)
    test = res.wald_test("x0")
    assert test.statistic == pytest.approx(4.0)  # (1 / sqrt(0.25))^2
    assert np.isinf(test.df2)
    assert test.p_value == pytest.approx(stats.chi2.sf(4.0, 1))
    joint = res.wald_test()
    assert joint.statistic == pytest.approx((4.0 + 4.0) / 2)  # (z_a^2 + z_b^2) / k


def test_fits_of_different_models_are_not_pooled_together():
    """Issue 13: M OLS fits and M logit fits passed together were pooled into one table."""
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    X = sm.add_constant(rng.normal(size=(80, 1)))
    y = (X @ [0.2, 1.0] + rng.logistic(size=80) > 0).astype(float)
    ols = [sm.OLS(y, X).fit() for _ in range(2)]
    logit = [sm.GLM(y, X, family=sm.families.Binomial()).fit() for _ in range(2)]
    probit = sm.GLM(y, X, family=sm.families.Binomial(sm.families.links.Probit())).fit()
    with pytest.raises(ValueError, match=r"imputation 3 is a GLM\(Binomial, logit\) fit, "):
        pool(ols + logit)
    with pytest.raises(ValueError, match=r"GLM\(Binomial, probit\) fit, imputation 1 a GLM"):
        pool([*logit, probit])
    with pytest.raises(ValueError, match="imputation 2 is a"):
        compare([ols[0], logit[0]], [sm.OLS(y, X[:, :1]).fit()] * 2)
    assert pool(logit).n_imputations == 2  # one kind of model pools as before


def test_scikit_learn_fits_of_different_models_are_not_pooled_together():
    from sklearn.linear_model import LinearRegression, LogisticRegression

    rng = np.random.default_rng(4)
    X = rng.normal(size=(80, 2))
    y = (X[:, 0] + rng.logistic(size=80) > 0).astype(float)
    ols = (LinearRegression().fit(X, y), X, y)
    logit = (LogisticRegression(C=np.inf).fit(X, y), X, y)
    with pytest.raises(ValueError, match=r"imputation 2 is a LogisticRegression\(logit\) fit"):
        pool([ols, logit])


def _vc_estimates(components):
    return [
        Estimate([1.0 + i / 10], [0.04], names=["a"], dfcom=20, variance_components=vc)
        for i, vc in enumerate(components)
    ]


def test_variance_components_are_averaged_never_tested():
    """mitml's extra.pars: each component is the mean of its M estimates, no SE or test."""
    comps = [{"g": 0.5, "res": 1.0}, {"g": 0.6, "res": 1.2}, {"g": 0.9, "res": 1.1}]
    res = pool(_vc_estimates(comps))
    vc = res.variance_components
    assert list(vc.index) == ["g", "res"]
    assert list(vc.columns) == ["estimate", "min", "max"]
    np.testing.assert_allclose(vc["estimate"], [2.0 / 3, 1.1])
    np.testing.assert_allclose(vc["min"], [0.5, 1.0])
    np.testing.assert_allclose(vc["max"], [0.9, 1.2])
    assert res.variance_component_estimates.shape == (3, 2)
    assert list(res.terms) == ["a"]  # the components are not terms
    assert "Variance components" in str(res.summary())


def test_variance_components_must_match_between_imputations():
    comps = [{"g": 0.5, "res": 1.0}, {"g": 0.6}, {"g": 0.9, "res": 1.1}]
    with pytest.raises(ValueError, match=r"imputation 2 has variance components \['g'\]"):
        pool(_vc_estimates(comps))


def test_variance_components_validated():
    with pytest.raises(ValueError, match="'g' is not finite"):
        Estimate([1.0], [0.1], variance_components={"g": np.nan})
    with pytest.raises(ValueError, match="3 rows for 2 imputations"):
        pool_estimates(np.ones(2), np.ones(2), variance_components=pd.DataFrame({"g": [1, 2, 3]}))
    assert pool_estimates(np.array([1.0, 2.0]), np.ones(2)).variance_components is None
