"""Pooled numbers against R mice 3.15 (fixtures from tests/r/make_fixtures.R)."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from conftest import RTOL, load_completed
from statsmodels.duration.hazard_regression import PHReg

from skmipool import Estimate, pool, pool_estimates

TIDY_COLUMNS = [
    "estimate",
    "std_error",
    "statistic",
    "df",
    "p_value",
    "conf_low",
    "conf_high",
    "riv",
    "lambda",
    "fmi",
]


def _assert_close(actual, expected, rtol=RTOL, atol=0.0, what=""):
    np.testing.assert_allclose(
        np.asarray(actual, float), np.asarray(expected, float), rtol=rtol, atol=atol, err_msg=what
    )


# ------------------------------------------------------------------ pool.scalar


def test_scalar_fixture_covers_the_grid(scalar_cases):
    grid = {(c["m"], c["dfcom"], c["b_zero"]) for c in scalar_cases}
    assert grid == {
        (m, d, b) for m in (2, 3, 5, 100) for d in (np.inf, 4, 30, 1000) for b in (False, True)
    }


@pytest.mark.parametrize("idx", range(32))
def test_pool_scalar_matches_mice(scalar_cases, idx):
    case = scalar_cases[idx]
    res = pool_estimates(np.asarray(case["Q"]), np.asarray(case["U"]), dfcom=case["dfcom"])
    _assert_close(res.estimate, case["qbar"], what="qbar")
    _assert_close(res.within, case["ubar"], what="ubar")
    _assert_close(res.between, case["b"], atol=1e-300, what="b")
    _assert_close(res.total, case["t"], what="t")
    _assert_close(res.riv, case["riv"], atol=1e-300, what="riv")
    _assert_close(res.lambda_, case["lambda"], atol=1e-300, what="lambda")
    _assert_close(res.df, case["df"], what="df")
    _assert_close(res.fmi, case["fmi"], atol=1e-300, what="fmi")
    assert res.dfcom == case["dfcom"]
    assert np.all(np.isfinite(res.fmi))


def test_b_zero_finite_dfcom_is_exact_limit():
    """B = 0 with finite dfcom: df = dfcom (dfcom + 1) / (dfcom + 3), not NaN (mice #441, #726)."""
    res = pool_estimates(np.full(5, 2.0), np.full(5, 0.3), dfcom=30)
    assert res.df.iloc[0] == pytest.approx(30 * 31 / 33, rel=1e-12)
    assert res.between.iloc[0] == 0.0
    assert res.total.iloc[0] == pytest.approx(0.3)
    assert np.isfinite(res.p_value.iloc[0])


def test_b_zero_infinite_dfcom_is_normal_reference():
    res = pool_estimates(np.full(4, 1.0), np.full(4, 0.25), dfcom=None)
    assert np.isinf(res.df.iloc[0])
    assert res.fmi.iloc[0] == 0.0
    ci = res.conf_int()
    assert ci.loc["x0", "upper"] == pytest.approx(1.0 + 1.959963984540054 * 0.5, rel=1e-12)
    assert res.p_value.iloc[0] == pytest.approx(2 * 0.022750131948179195, rel=1e-9)


def test_lambda_near_one_stays_finite():
    """Within variance tiny relative to B: lambda -> 1, df -> 0 but finite and positive."""
    res = pool_estimates(np.array([0.0, 10.0, -10.0]), np.full(3, 1e-12), dfcom=20)
    assert 0 < res.df.iloc[0] < 1e-6
    assert np.isfinite(res.fmi.iloc[0])


# ---------------------------------------------------------------- model fixtures


def _pool_r_arrays(fixture, dfcom="auto"):
    fits = [
        Estimate(f["coef"], np.asarray(f["vcov"]), names=f["names"], dfcom=f.get("df_residual"))
        for f in fixture["fits"]
    ]
    return pool(fits, dfcom=dfcom)


def _assert_tidy(res, expected, rtol=RTOL):
    frame = res.to_frame()
    assert list(frame.index) == expected["term"]
    for col in TIDY_COLUMNS:
        _assert_close(frame[col], expected[col], rtol=rtol, what=col)
    _assert_close(res.within, expected["ubar"], rtol=rtol, what="ubar")
    _assert_close(res.between, expected["b"], rtol=rtol, what="b")
    _assert_close(res.total, expected["t"], rtol=rtol, what="t")


@pytest.mark.parametrize("model", ["lm", "lm_null", "poisson", "logit", "logit_null"])
def test_pooling_r_arrays_reproduces_mice(model_fixtures, model):
    """Pooling R's own per-imputation coefficients and vcov reproduces summary(pool())."""
    fx = model_fixtures[model]
    res = _pool_r_arrays(fx)
    assert res.dfcom == fx["pooled"]["dfcom"]
    _assert_tidy(res, fx["pooled"])


def test_lm_infinite_dfcom_matches_mice(model_fixtures):
    res = _pool_r_arrays(model_fixtures["lm"], dfcom=None)
    _assert_tidy(res, model_fixtures["lm_dfcom_inf"]["pooled"])
    assert np.isinf(res.dfcom)


@pytest.mark.parametrize("model", ["cox", "cox_cluster"])
def test_cox_r_arrays_match_mice(model_fixtures, model):
    """mice takes nevent - p as dfcom for coxph; with cluster() it pools the robust SEs."""
    fx = model_fixtures[model]
    dfcom = fx["fits"][0]["nevent"] - len(fx["fits"][0]["coef"])
    res = _pool_r_arrays({"fits": fx["fits"]}, dfcom=dfcom)
    assert res.dfcom == fx["pooled"]["dfcom"] == 111
    _assert_tidy(res, fx["pooled"])


# ------------------------------------------------------- refit with statsmodels


def _completed(name):
    data = load_completed(name)
    return [g.drop(columns=[".imp", ".id"]) for _, g in data.groupby(".imp")]


def test_ols_refit_equals_mice(model_fixtures):
    fits = [smf.ols("chl ~ age + bmi + hyp", d).fit() for d in _completed("nhanes_completed.csv")]
    res = pool(fits)
    assert res.dfcom == 21
    expected = dict(model_fixtures["lm"]["pooled"])
    expected["term"] = ["Intercept", "age", "bmi", "hyp"]
    _assert_tidy(res, expected)


def test_logit_refit_equals_mice(model_fixtures):
    fits = []
    for d in _completed("nhanes2_completed.csv"):
        d = d.assign(hyp=(d["hyp"] == "yes").astype(float))
        fits.append(smf.glm("hyp ~ bmi + chl", d, family=sm.families.Binomial()).fit(tol=1e-14))
    res = pool(fits)
    expected = dict(model_fixtures["logit"]["pooled"])
    expected["term"] = ["Intercept", "bmi", "chl"]
    _assert_tidy(res, expected, rtol=1e-8)


def test_discrete_logit_refit_equals_mice(model_fixtures):
    """statsmodels' Logit (discrete model) gives the same pool as GLM(Binomial)."""
    fits = []
    for d in _completed("nhanes2_completed.csv"):
        y = (d["hyp"] == "yes").astype(float)
        X = sm.add_constant(d[["bmi", "chl"]])
        fits.append(sm.Logit(y, X).fit(disp=0, method="newton", tol=1e-14, maxiter=100))
    res = pool(fits)
    expected = dict(model_fixtures["logit"]["pooled"])
    expected["term"] = ["const", "bmi", "chl"]
    _assert_tidy(res, expected, rtol=1e-7)


def test_poisson_refit_equals_mice(model_fixtures):
    fits = [
        smf.glm("chl ~ age + bmi", d, family=sm.families.Poisson()).fit(tol=1e-14)
        for d in _completed("nhanes_completed.csv")
    ]
    res = pool(fits)
    expected = dict(model_fixtures["poisson"]["pooled"])
    expected["term"] = ["Intercept", "age", "bmi"]
    _assert_tidy(res, expected)


def _cox_fits(cluster=False):
    fits = []
    for d in _completed("stanford2_completed.csv"):
        model = PHReg(d["time"], d[["age", "t5"]], status=d["status"], ties="efron")
        groups = d["cid"].to_numpy() if cluster else None
        fits.append(model.fit(groups=groups))
    return fits


def test_cox_refit_equals_mice(model_fixtures):
    res = pool(_cox_fits())
    assert res.dfcom == 111  # events - p, as mice 3.15 get.dfcom does for coxph
    _assert_tidy(res, model_fixtures["cox"]["pooled"])


def test_statsmodels_ols_with_dataframe_keeps_names():
    rng = np.random.default_rng(3)
    fits = []
    for _ in range(3):
        X = pd.DataFrame({"a": rng.normal(size=30), "b": rng.normal(size=30)})
        y = 1 + X["a"] + rng.normal(size=30)
        fits.append(sm.OLS(y, sm.add_constant(X)).fit())
    res = pool(fits)
    assert list(res.terms) == ["const", "a", "b"]
    assert res.dfcom == 27
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pool(fits)  # no warning when dfcom is known and nobs agree


@pytest.mark.parametrize("kind", ["WLS", "Probit", "Poisson", "GLM-Gamma"])
def test_other_statsmodels_results(kind):
    """WLS, Probit, discrete Poisson and GLM fits: estimates, covariances and n - p read."""
    rng = np.random.default_rng(7)
    fits = []
    for _ in range(4):
        X = sm.add_constant(pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)}))
        eta = X.to_numpy() @ [0.2, 0.5, -0.3]
        if kind == "WLS":
            fit = sm.WLS(eta + rng.normal(size=60), X, weights=rng.uniform(0.5, 2, 60)).fit()
        elif kind == "Probit":
            fit = sm.Probit((rng.random(60) < 0.5 + 0.3 * np.tanh(eta)).astype(float), X).fit(
                disp=0
            )
        elif kind == "Poisson":
            fit = sm.Poisson(rng.poisson(np.exp(eta)), X).fit(disp=0)
        else:
            y = rng.gamma(2.0, np.exp(eta) / 2.0)
            fit = sm.GLM(y, X, family=sm.families.Gamma(sm.families.links.Log())).fit()
        fits.append(fit)
    res = pool(fits)
    assert list(res.terms) == ["const", "a", "b"]
    assert res.dfcom == 57
    q = np.stack([f.params.to_numpy() for f in fits])
    u = np.stack([f.cov_params().to_numpy() for f in fits])
    ref = pool_estimates(q, u, dfcom=57, names=["const", "a", "b"])
    pd.testing.assert_frame_equal(res.to_frame(), ref.to_frame())
