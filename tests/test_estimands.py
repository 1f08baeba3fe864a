"""Inference scales and estimands beyond coefficients (issue: estimands and scales)."""

import pickle

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from conftest import RTOL, load_completed
from scipy import special, stats
from sklearn.linear_model import LinearRegression, LogisticRegression

from skmipool import Estimate, MIPooledEstimator, pool, pool_estimates, pool_r_squared
from skmipool.estimands import (
    average_marginal_effect,
    correlation,
    predictions,
    r_squared,
    scalar,
)


def _completed(name):
    data = load_completed(name)
    return [g.drop(columns=[".imp", ".id"]).reset_index(drop=True) for _, g in data.groupby(".imp")]


# -------------------------------------------------------------- scales


@pytest.mark.parametrize(
    ("scale", "values"),
    [
        ("log", [1.5, 2.0, 1.8]),
        ("logit", [0.2, 0.3, 0.25]),
        ("fisher_z", [0.4, -0.1, 0.2]),
        ("cloglog", [0.6, 0.7, 0.65]),
    ],
)
def test_named_scales_pool_on_the_transformed_scale(scale, values):
    q = np.array(values)
    v = np.array([0.01, 0.012, 0.011])
    res = pool_estimates(q, v, transform=scale, dfcom=50)
    forward, deriv, inverse = {
        "log": (np.log, lambda x: 1 / x, np.exp),
        "logit": (special.logit, lambda p: 1 / (p * (1 - p)), special.expit),
        "fisher_z": (np.arctanh, lambda r: 1 / (1 - r**2), np.tanh),
        "cloglog": (
            lambda s: np.log(-np.log(s)),
            lambda s: 1 / (s * np.log(s)),
            lambda x: np.exp(-np.exp(x)),
        ),
    }[scale]
    by_hand = pool_estimates(forward(q), deriv(q) ** 2 * v, dfcom=50)  # delta method by hand
    assert res.scale == scale
    np.testing.assert_allclose(res.std_error, by_hand.std_error, rtol=1e-12)
    np.testing.assert_allclose(res.df, by_hand.df, rtol=1e-12)
    np.testing.assert_allclose(res.estimate, inverse(by_hand.estimate), rtol=1e-12)
    ci, ci_hand = res.conf_int(), by_hand.conf_int()
    lo, hi = inverse(ci_hand["lower"]), inverse(ci_hand["upper"])
    np.testing.assert_allclose(ci["lower"], np.minimum(lo, hi), rtol=1e-12)
    np.testing.assert_allclose(ci["upper"], np.maximum(lo, hi), rtol=1e-12)
    assert (ci["lower"] < res.estimate).all() and (res.estimate < ci["upper"]).all()
    assert f"pooled on the {scale} scale" in str(res.summary())
    again = pickle.loads(pickle.dumps(res))
    pd.testing.assert_frame_equal(again.to_frame(), res.to_frame())


def test_custom_triple_and_inference_input():
    q = np.array([[2.0], [2.5], [2.2]])
    v = np.full((3, 1), 0.04)
    triple = (np.sqrt, np.square, lambda x: 0.5 / np.sqrt(x))
    res = pool_estimates(q, v, transform=triple)
    assert res.scale == "sqrt"
    on_inference = pool_estimates(
        np.sqrt(q), 0.25 / q * v, transform=triple, input_scale="inference"
    )
    pd.testing.assert_frame_equal(res.to_frame(), on_inference.to_frame())


def test_scale_domain_errors_name_imputation():
    with pytest.raises(ValueError, match=r"imputation 2: the value 1.2 is outside the domain"):
        pool_estimates(np.array([0.5, 1.2, 0.4]), np.full(3, 0.01), transform="logit")
    with pytest.raises(ValueError, match="unknown scale 'probit'"):
        pool_estimates(np.ones(3) * 0.5, np.full(3, 0.01), transform="probit")
    with pytest.raises(ValueError, match='input_scale must be "reporting" or "inference"'):
        pool_estimates(np.ones(3) * 0.5, np.full(3, 0.01), transform="logit", input_scale="raw")


def test_exponentiate_refused_on_transformed_result():
    res = pool_estimates(np.array([0.5, 0.6, 0.4]), np.full(3, 0.01), transform="logit")
    with pytest.raises(ValueError, match="exponentiate=True needs estimates on the identity"):
        res.to_frame(exponentiate=True)


def test_exponentiated_glm_interval_is_exp_of_t_interval(model_fixtures):
    fits = [
        Estimate(f["coef"], np.asarray(f["vcov"]), names=f["names"], dfcom=f["df_residual"])
        for f in model_fixtures["logit"]["fits"]
    ]
    res = pool(fits)
    odds = res.to_frame(exponentiate=True)
    ci = res.conf_int()
    np.testing.assert_allclose(odds["conf_low"], np.exp(ci["lower"]), rtol=1e-14)
    np.testing.assert_allclose(odds["estimate"], np.exp(res.estimate), rtol=1e-14)


def test_mixed_scales_are_an_error():
    fits = [
        Estimate([0.1], [0.01], scale="logit"),
        Estimate([0.2], [0.01], scale="logit"),
        Estimate([0.3], [0.01]),
    ]
    with pytest.raises(ValueError, match="imputation 3 is on the 'identity' scale"):
        pool(fits, dfcom=None)
    with pytest.raises(ValueError, match="already on the 'logit' scale"):
        pool(fits[:2], dfcom=None, transform="logit")


# -------------------------------------------------------- predictions


@pytest.fixture(scope="module")
def logit_fits():
    """Logistic regressions (x1, x2) on M = 5 completed datasets of one MAR sample."""
    rng = np.random.default_rng(11)
    n = 300
    x = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=n)
    y = (rng.random(n) < special.expit(-0.5 + 0.8 * x[:, 0] - 0.6 * x[:, 1])).astype(int)
    X = pd.DataFrame(x, columns=["x1", "x2"])
    X.loc[rng.random(n) < 0.3, "x1"] = np.nan
    return X, pd.Series(y, name="y")


def test_predicted_probability_pooled_on_logit_scale(logit_fits):
    X, y = logit_fits
    at = pd.DataFrame({"x1": [0.0], "x2": [0.0]})
    kw = {"n_imputations": 5, "random_state": 4}
    lr = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000)
    mi = MIPooledEstimator(lr, estimand=predictions(at), **kw).fit(X, y)
    coef = MIPooledEstimator(lr, **kw).fit(X, y)  # same seeds: same imputations and fits
    # by hand: the logit at (0, 0) is the intercept; pool logits and SEs, then expit
    logits = coef.estimates_["intercept"].to_numpy()
    ses2 = coef.covariances_[:, 0, 0]
    hand = pool_estimates(logits, ses2, dfcom=coef.dfcom_)
    assert mi.pooled_.scale == "logit"
    np.testing.assert_allclose(mi.pooled_.estimate, special.expit(hand.estimate), rtol=1e-12)
    np.testing.assert_allclose(mi.pooled_.std_error, hand.std_error, rtol=1e-12)
    ci, hand_ci = mi.pooled_.conf_int(), hand.conf_int()
    np.testing.assert_allclose(ci["lower"], special.expit(hand_ci["lower"]), rtol=1e-12)
    np.testing.assert_allclose(ci["upper"], special.expit(hand_ci["upper"]), rtol=1e-12)
    # ... and it differs from averaging the M probabilities
    mean_prob = special.expit(logits).mean()
    assert abs(mi.pooled_.estimate.iloc[0] - mean_prob) > 1e-6
    assert list(mi.terms_) == ["pred[0]"]


def test_predictions_on_link_scale_and_linear_model(logit_fits):
    X, y = logit_fits
    at = pd.DataFrame({"x1": [0.0, 1.0], "x2": [0.0, -1.0]}, index=["a", "b"])
    lin = MIPooledEstimator(estimand=predictions(at), n_imputations=3, random_state=0)
    lin.fit(X, y.astype(float))
    coef = MIPooledEstimator(n_imputations=3, random_state=0).fit(X, y.astype(float))
    assert list(lin.terms_) == ["pred[a]", "pred[b]"] and lin.pooled_.scale == "identity"
    Z = np.column_stack([np.ones(2), at.to_numpy()])
    np.testing.assert_allclose(lin.pooled_.estimate, Z @ coef.pooled_.estimate, rtol=1e-10)
    t_cov = Z @ coef.pooled_.total_cov.to_numpy() @ Z.T
    np.testing.assert_allclose(lin.pooled_.std_error, np.sqrt(np.diag(t_cov)), rtol=1e-10)
    link = MIPooledEstimator(
        LogisticRegression(C=np.inf),
        estimand=predictions(at, "link"),
        n_imputations=3,
        random_state=0,
    ).fit(X, y)
    assert link.pooled_.scale == "identity"
    assert (link.pooled_.estimate.abs() < 10).all()


def test_predictions_need_complete_rows():
    with pytest.raises(ValueError, match="X_at has missing values"):
        predictions(pd.DataFrame({"x1": [np.nan], "x2": [0.0]}))
    with pytest.raises(ValueError, match='scale must be "response" or "link"'):
        predictions(pd.DataFrame({"x1": [0.0]}), scale="probability")


# ------------------------------------------------------- marginal effects


def test_ame_in_linear_model_equals_pooled_coefficient(logit_fits):
    X, y = logit_fits
    kw = {"n_imputations": 4, "random_state": 2}
    ame = MIPooledEstimator(estimand=average_marginal_effect(["x1", "x2"]), **kw).fit(X, y * 1.0)
    coef = MIPooledEstimator(**kw).fit(X, y * 1.0)
    np.testing.assert_allclose(
        ame.pooled_.estimate, coef.pooled_.estimate[["x1", "x2"]], rtol=1e-12
    )
    np.testing.assert_allclose(ame.pooled_.std_error, coef.std_error_[["x1", "x2"]], rtol=1e-12)
    np.testing.assert_allclose(ame.df_, coef.df_[["x1", "x2"]], rtol=1e-12)
    assert list(ame.terms_) == ["dydx(x1)", "dydx(x2)"]
    assert ame.pooled_.wald_test().df1 == 2  # a D1 test on the estimand works


def test_ame_in_logit_model_equals_statsmodels_margeff():
    """Per imputation the AME and its SE equal statsmodels' get_margeff; so does the pool."""
    data = _completed("nhanes2_completed.csv")
    ours, theirs = [], []
    for d in data:
        y = (d["hyp"] == "yes").astype(float).to_numpy()
        X = d[["bmi", "chl"]]
        sm_fit = sm.Logit(y, sm.add_constant(X)).fit(disp=0, method="newton", tol=1e-14)
        marg = sm_fit.get_margeff(at="overall", method="dydx")
        theirs.append(
            Estimate(
                marg.margeff,
                marg.margeff_cov,
                names=["dydx(bmi)", "dydx(chl)"],
                dfcom=sm_fit.df_resid,
            )
        )
        lr = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
        ours.append(average_marginal_effect(["bmi", "chl"])(lr, X, y))
        np.testing.assert_allclose(ours[-1].estimate, marg.margeff, rtol=1e-5)
        np.testing.assert_allclose(ours[-1].covariance, marg.margeff_cov, rtol=1e-4)
    a, b = pool(ours).to_frame(), pool(theirs).to_frame()
    pd.testing.assert_frame_equal(a, b, rtol=1e-4)


def test_ame_at_representative_values(logit_fits):
    X, y = logit_fits
    at = pd.DataFrame({"x1": [0.0], "x2": [0.0]})
    mer = MIPooledEstimator(
        LogisticRegression(C=np.inf),
        n_imputations=3,
        random_state=0,
        estimand=average_marginal_effect("x1", at=at),
    ).fit(X, y)
    coef = MIPooledEstimator(LogisticRegression(C=np.inf), n_imputations=3, random_state=0).fit(
        X, y
    )
    # at x = 0: dp/dx1 = p(1 - p) beta_1 with p = expit(intercept), per imputation
    p = special.expit(coef.estimates_["intercept"])
    np.testing.assert_allclose(
        mer.estimates_.iloc[:, 0], p * (1 - p) * coef.estimates_["x1"], rtol=1e-12
    )
    with pytest.raises(Exception, match="not a term of the model"):
        MIPooledEstimator(estimand=average_marginal_effect("zz"), n_imputations=2).fit(X, y)


# ------------------------------------------------------ correlation and R²


def test_correlation_on_fisher_z_matches_r(test_fixtures):
    expected = test_fixtures["correlation_bmi_chl"]
    ests = [correlation("bmi", "chl")(None, d, None) for d in _completed("nhanes_completed.csv")]
    np.testing.assert_allclose([e.estimate[0] for e in ests], expected["z"], rtol=RTOL)
    res = pool(ests, dfcom=None)
    assert res.scale == "fisher_z"
    np.testing.assert_allclose(res.estimate.iloc[0], expected["estimate"], rtol=RTOL)
    np.testing.assert_allclose(res.std_error.iloc[0], expected["std_error"], rtol=RTOL)
    np.testing.assert_allclose(res.df.iloc[0], expected["df"], rtol=RTOL)
    np.testing.assert_allclose(res.fmi.iloc[0], expected["fmi"], rtol=RTOL)
    ci = res.conf_int().iloc[0]
    np.testing.assert_allclose(
        [ci["lower"], ci["upper"]], [expected["conf_low"], expected["conf_high"]], rtol=RTOL
    )


def test_correlation_with_named_outcome():
    X = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 6]})
    y = pd.Series([2.0, 1, 4, 3, 6, 5], name="b")
    est = correlation("a", "b")(None, X, y)
    assert est.estimate[0] == pytest.approx(np.arctanh(np.corrcoef(X["a"], y)[0, 1]))
    with pytest.raises(KeyError, match="not found"):
        correlation("a", "zz")(None, X, y)


@pytest.mark.parametrize("adjusted", [False, True])
def test_r_squared_estimand_matches_pool_r_squared_and_mice(test_fixtures, adjusted):
    data = _completed("nhanes_completed.csv")
    ests, fits = [], []
    for d in data:
        X, y = d[["age", "bmi", "hyp"]], d["chl"]
        ests.append(r_squared(adjusted)(LinearRegression().fit(X, y), X, y))
        fits.append(sm.OLS(y, sm.add_constant(X)).fit())
    res = pool(ests, dfcom=None)
    expected = test_fixtures["adj_r_squared" if adjusted else "r_squared"]
    np.testing.assert_allclose(res.estimate.iloc[0], expected["estimate"], rtol=RTOL)
    np.testing.assert_allclose(res.fmi.iloc[0], expected["fmi"], rtol=RTOL)
    ci = res.conf_int().iloc[0]
    np.testing.assert_allclose(
        [ci["lower"], ci["upper"]], [expected["conf_low"], expected["conf_high"]], rtol=RTOL
    )
    table = pool_r_squared(fits, adjusted=adjusted)
    np.testing.assert_allclose(table["estimate"].iloc[0], res.estimate.iloc[0], rtol=1e-12)


def test_scalar_estimand_on_logit_scale(logit_fits):
    X, y = logit_fits

    def share(est, Xc, yc):
        return float(np.mean(yc))

    def share_var(est, Xc, yc):
        p = float(np.mean(yc))
        return p * (1 - p) / len(yc)

    mi = MIPooledEstimator(
        estimand=scalar(share, share_var, scale="logit", name="share"),
        n_imputations=3,
        random_state=0,
    ).fit(X, y)
    assert mi.pooled_.scale == "logit"
    p = y.mean()
    assert mi.pooled_.estimate.iloc[0] == pytest.approx(p)  # y is complete: every share equal
    assert mi.std_error_.iloc[0] == pytest.approx(np.sqrt(1 / (len(y) * p * (1 - p))))


def test_estimator_scale_parameter(logit_fits):
    X, y = logit_fits

    def share(est, Xc, yc):
        return Estimate([float(np.mean(Xc["x1"] > 0))], [[0.25 / len(Xc)]], names=["share"])

    mi = MIPooledEstimator(estimand=share, scale="logit", n_imputations=3, random_state=0)
    with pytest.warns(UserWarning, match="large sample"):
        mi.fit(X, y)
    assert mi.pooled_.scale == "logit"
    assert 0 < mi.pooled_.conf_int()["lower"].iloc[0] < mi.pooled_.estimate.iloc[0]


# ------------------------------------------------------------- coverage


@pytest.mark.slow
def test_pooled_probability_interval_covers():
    """Coverage of the logit-scale interval of P(y = 1 | x1 = x2 = 0) under MAR."""
    reps, n = 200, 300
    truth = special.expit(-0.5)
    rng = np.random.default_rng(99)
    at = pd.DataFrame({"x1": [0.0], "x2": [0.0]})
    hits = []
    for _ in range(reps):
        x = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=n)
        y = (rng.random(n) < special.expit(-0.5 + 0.8 * x[:, 0] - 0.6 * x[:, 1])).astype(int)
        X = pd.DataFrame(x, columns=["x1", "x2"])
        miss = rng.random(n) < special.expit(-1.2 + 1.0 * y + 0.5 * x[:, 1])  # MAR
        X.loc[miss, "x1"] = np.nan
        mi = MIPooledEstimator(
            LogisticRegression(C=np.inf),
            estimand=predictions(at),
            n_imputations=5,
            random_state=int(rng.integers(2**31)),
        )
        mi.fit(X, y)
        ci = mi.pooled_.conf_int().iloc[0]
        hits.append(ci["lower"] <= truth <= ci["upper"])
    coverage = float(np.mean(hits))
    tol = 2 * np.sqrt(0.95 * 0.05 / reps)
    print(f"\ncoverage of the pooled probability interval: {coverage:.3f} ({reps} reps)")
    assert 0.95 - tol <= coverage <= 0.95 + tol
    assert stats.binomtest(int(sum(hits)), reps, 0.95).pvalue > 0.01
