"""Shared-frailty Cox models against R's coxph(... + frailty()) (tests/r/make_fixtures_frailty.R).

Two tolerances, as the fixture is built:
- at R's frailty variance held fixed (``frailty(g, theta = )``, R's inner loop
  run to a tight tolerance): coefficients, se(coef), se2, loglik and effective
  df to 1e-6 relative;
- the default fit, where R chooses the variance: the variance, the outer-loop
  history and the coefficients to 1e-4 relative, R's own outer-loop tolerance
  (R's inner loop stops at a relative loglik change of 1e-9, which moves its
  coefficients by up to about 4e-5 on kidney).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES, load_completed, load_fixture

from skmipool import Estimate, MIPooledEstimator, pool
from skmipool.datasets import load_stanford2
from skmipool.models import CoxPHRegressor
from skmipool.models._frailty import gamma_correction

FIXED_RTOL = 1e-6
OUTER_RTOL = 1e-4


@pytest.fixture(scope="module")
def r_frailty():
    return load_fixture("frailty_r.json")


def _stanford2() -> pd.DataFrame:
    df = load_stanford2().dropna()
    df["cid"] = (df["id"] / 10).round() + 1  # numpy rounds half to even, as R's round()
    return df


DATA = {
    "stanford2": _stanford2,
    "rats": lambda: pd.read_csv(FIXTURES / "rats.csv"),  # survival::rats
    "kidney": lambda: pd.read_csv(FIXTURES / "kidney.csv"),  # survival::kidney
    "kidney_disease": lambda: pd.read_csv(FIXTURES / "kidney.csv"),
}
CASES = [
    f"{data}_{dist}"
    for data in ("stanford2", "rats", "kidney", "kidney_disease")
    for dist in ("gamma", "gaussian")
]


def _fit(case: dict, **params) -> CoxPHRegressor:
    df = DATA[case["data"]]()
    covariates = [c.strip() for c in case["formula"].split("~")[1].split("+")]
    X = df[[*covariates, case["group"]]]
    model = CoxPHRegressor(frailty=case["distribution"], groups=case["group"], **params)
    return model.fit(X, df[["time", "status"]])


def _first(values, p):
    # a dense (<= 5 clusters) R fit lists the frailty coefficients after the covariates
    return np.atleast_1d(np.asarray(values, dtype=float))[:p]


@pytest.mark.parametrize("name", CASES)
def test_inner_loop_equals_r_at_r_variance(r_frailty, name):
    case = r_frailty["fits"][name]
    r = case["fixed"]
    fit = _fit(case, frailty_variance=case["default"]["theta"])
    p = fit.coef_.size
    np.testing.assert_allclose(fit.coef_, _first(r["coef"], p), rtol=FIXED_RTOL)
    np.testing.assert_allclose(fit.std_error_, _first(r["se"], p), rtol=FIXED_RTOL)
    var2 = np.atleast_2d(np.asarray(r["var2"], dtype=float))[:p, :p]
    se2 = np.sqrt(np.diag(fit.results_.fit.var2))
    np.testing.assert_allclose(se2, np.sqrt(np.diag(var2)), rtol=FIXED_RTOL)  # R's "se2"
    scale = np.sqrt(np.outer(np.diag(var2), np.diag(var2)))  # covariances: relative to scale
    np.testing.assert_allclose(fit.results_.fit.var2 / scale, var2 / scale, atol=FIXED_RTOL)
    np.testing.assert_allclose(fit.loglike_, r["loglik"][1], rtol=FIXED_RTOL)
    np.testing.assert_allclose(fit.effective_df_, r["df"], rtol=FIXED_RTOL)
    assert fit.frailty_variance_ == case["default"]["theta"]


@pytest.mark.parametrize("name", CASES)
def test_frailty_variance_equals_r(r_frailty, name):
    case = r_frailty["fits"][name]
    r = case["default"]
    fit = _fit(case)
    p = fit.coef_.size
    np.testing.assert_allclose(fit.frailty_variance_, r["theta"], rtol=OUTER_RTOL)
    history = fit.results_.fit.history
    assert fit.results_.fit.outer_iterations == r["iter"][0]
    # the variances tried, in R's order; R's loose inner loop (kidney: coefficients
    # 4e-5 off) moves the Gaussian REML residual, a difference near 0, and with it
    # the intermediate steps by up to about 1e-4
    np.testing.assert_allclose(history[:, 0], np.asarray(r["history"])[:, 0], rtol=1e-3)
    np.testing.assert_allclose(fit.coef_, _first(r["coef"], p), rtol=OUTER_RTOL)
    np.testing.assert_allclose(fit.std_error_, _first(r["se"], p), rtol=OUTER_RTOL)


@pytest.mark.parametrize(
    "name, at_bound",
    [
        ("stanford2_gamma", True),
        ("stanford2_gaussian", True),
        ("rats_gamma", False),
        ("rats_gaussian", False),
        ("kidney_gamma", False),
        ("kidney_gaussian", False),
    ],
)
def test_variance_at_its_lower_bound_is_reported_not_warned(r_frailty, name, at_bound):
    # stanford2: R's gamma search ends at 5e-7 and its Gaussian one stops after 10
    # halvings at 0.0013 (every REML residual negative); neither is a failure
    case = r_frailty["fits"][name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = _fit(case)
    assert fit.frailty_at_bound_ is at_bound


def test_gamma_correction_equals_r_history(r_frailty):
    # R's history: (theta, penalized loglik, marginal loglik); the difference is gammacon
    case = r_frailty["fits"]["kidney_gamma"]
    df = DATA["kidney"]()
    events = df.groupby("id")["status"].sum().to_numpy()
    for theta, pll, marginal in case["default"]["history"]:
        np.testing.assert_allclose(pll + gamma_correction(events, theta), marginal, rtol=1e-9)


def test_frailties_and_effective_df(r_frailty):
    case = r_frailty["fits"]["rats_gaussian"]
    fit = _fit(case, frailty_variance=case["default"]["theta"])
    np.testing.assert_allclose(fit.frailties_, case["fixed"]["frail"], rtol=1e-5, atol=1e-8)
    assert list(fit.effective_df_.index) == ["rx", "frailty(litter)"]
    assert fit.frailties_.index.tolist() == sorted(DATA["rats"]()["litter"].unique())


# ------------------------------------------------------------------ pooling


def _completed_fits(distribution="gaussian"):
    long = load_completed("stanford2_completed.csv")
    return [
        CoxPHRegressor(frailty=distribution, groups="cid").fit(
            d[["age", "t5", "cid"]], d[["time", "status"]]
        )
        for _, d in long.groupby(".imp")
    ]


def test_get_estimate_fixed_effects_dfcom_and_variance_component():
    fit = _completed_fits()[0]
    est = fit.get_estimate()
    assert est.names == ("age", "t5")
    assert est.dfcom == fit.n_events_ - 2  # mice's events - p, p fixed effects
    assert dict(est.variance_components) == {"frailty variance": fit.frailty_variance_}
    assert est.model == "CoxPHRegressor: gaussian frailty"


@pytest.mark.parametrize("key, dfcom", [("auto", "auto"), ("dfcom_1", 1)])
def test_pool_equals_mice(r_frailty, key, dfcom):
    r = r_frailty["pooling"]
    fits = _completed_fits()
    for fit, rfit in zip(fits, r["fits"], strict=True):
        np.testing.assert_allclose(fit.frailty_variance_, rfit["theta"], rtol=OUTER_RTOL)
    res = pool(fits, dfcom=dfcom)
    table = res.to_frame()
    expected = r[key]
    assert list(table.index) == expected["term"]
    assert res.dfcom == expected["dfcom"]
    for col in ("estimate", "std_error", "df", "p_value"):
        np.testing.assert_allclose(table[col], expected[col], rtol=1e-5, err_msg=col)
    # the between-imputation variance of age is tiny (riv 2e-4): relative to it, 1e-4
    for col in ("riv", "fmi"):
        np.testing.assert_allclose(table[col], expected[col], rtol=1e-4, err_msg=col)
    thetas = [f["theta"] for f in r["fits"]]
    components = res.variance_components
    np.testing.assert_allclose(
        components.loc["frailty variance", "estimate"], np.mean(thetas), rtol=OUTER_RTOL
    )
    if key == "dfcom_1":  # the question's df: about 0.5
        assert np.all(table["df"] < 0.6)


def test_gamma_and_gaussian_fits_are_not_pooled_together():
    fits = _completed_fits("gaussian")[:2] + _completed_fits("gamma")[:2]
    with pytest.raises(ValueError, match="frailty"):
        pool(fits)


def test_mipooled_estimator_with_frailty():
    df = load_stanford2()
    df["cid"] = (df["id"] / 10).round() + 1
    data = df[["time", "status", "age", "t5", "cid"]]
    model = CoxPHRegressor(frailty="gaussian", groups="cid", time="time", event="status")
    mi = MIPooledEstimator(model, n_imputations=3, random_state=0).fit(data, None)
    assert list(mi.pooled_.to_frame().index) == ["age", "t5"]
    assert "frailty variance" in mi.pooled_.variance_components.index


# ---------------------------------------------------------------- bad input


def _xy():
    df = _stanford2()
    return df[["age", "t5", "cid"]].copy(), df[["time", "status"]]


def test_groups_column_not_in_x():
    X, y = _xy()
    with pytest.raises(ValueError, match="groups='clinic' is not a column of X"):
        CoxPHRegressor(frailty="gamma", groups="clinic").fit(X, y)


def test_groups_column_with_nan_names_it():
    X, y = _xy()
    X.iloc[3, 2] = np.nan
    with pytest.raises(ValueError, match="groups column 'cid' has 1 missing"):
        CoxPHRegressor(frailty="gamma", groups="cid").fit(X, y)


def test_single_cluster_is_refused():
    X, y = _xy()
    X["cid"] = 1.0
    with pytest.raises(ValueError, match="single cluster"):
        CoxPHRegressor(frailty="gaussian", groups="cid").fit(X, y)


def test_one_observation_per_cluster_warns():
    X, y = _xy()
    X["cid"] = np.arange(len(X))
    with pytest.warns(UserWarning, match="one observation"):
        CoxPHRegressor(frailty="gaussian", groups="cid").fit(X, y)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"frailty": "gamma"}, "needs the clusters"),
        ({"groups": "cid"}, "only apply to a frailty model"),
        ({"frailty": "gamma", "groups": "cid", "cov_type": "robust"}, "nonrobust"),
    ],
)
def test_frailty_arguments(params, message):
    X, y = _xy()
    with pytest.raises(ValueError, match=message):
        CoxPHRegressor(**params).fit(X if "groups" in params else X.drop(columns="cid"), y)


def test_estimate_pools_as_plain_records():
    # the variance component travels through Estimate like any other
    e = Estimate([0.1], [0.01], names=["x"], variance_components={"frailty variance": 0.5})
    assert dict(e.variance_components) == {"frailty variance": 0.5}


# ------------------------------------------------------------------ formulas


@pytest.mark.parametrize(
    "term, name",
    [
        ("frailty(cid)", "stanford2_gamma"),  # gamma, as R's frailty()
        ('frailty(cid, distribution = "gaussian")', "stanford2_gaussian"),
        ("(1 | cid)", "stanford2_gaussian"),  # coxme's syntax: the Gaussian frailty
    ],
)
def test_formula_frailty_equals_r(r_frailty, term, name):
    from skmipool.models import FormulaModel

    r = r_frailty["fits"][name]["default"]
    fit = FormulaModel(f"Surv(time, status) ~ age + t5 + {term}", model="cox").fit(_stanford2())
    np.testing.assert_allclose(fit.frailty_variance_, r["theta"], rtol=OUTER_RTOL)
    np.testing.assert_allclose(fit.params_, r["coef"], rtol=OUTER_RTOL)
    np.testing.assert_allclose(fit.std_error_, r["se"], rtol=OUTER_RTOL)
    est = fit.get_estimate()
    assert est.names == ("age", "t5")
    assert dict(est.variance_components) == {"frailty variance": fit.frailty_variance_}


@pytest.mark.parametrize(
    "formula, message",
    [
        ("Surv(time, status) ~ age + (age | cid)", "one random intercept"),
        ("Surv(time, status) ~ age + (1 | cid) + frailty(cid)", "no frailty\\(\\) term beside"),
        ("Surv(time, status) ~ age + frailty(cid) + cluster(cid)", "model-based covariance"),
    ],
)
def test_formula_frailty_errors(formula, message):
    from skmipool.models import FormulaModel

    with pytest.raises(ValueError, match=message):
        FormulaModel(formula, model="cox").fit(_stanford2())


def test_formula_frailty_column_with_nan_names_it():
    from skmipool.models import FormulaModel

    df = _stanford2()
    df.iloc[0, df.columns.get_loc("cid")] = np.nan
    with pytest.raises(ValueError, match="cid"):
        FormulaModel("Surv(time, status) ~ age + frailty(cid)", model="cox").fit(df)
