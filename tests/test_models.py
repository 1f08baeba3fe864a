"""skmipool.models against R (fixtures from tests/r/make_fixtures_models.R) and as estimators."""

import functools
import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from conftest import RTOL, load_completed, load_fixture, sklearn_check_params
from sklearn.base import clone
from statsmodels.duration.hazard_regression import PHReg

from skmipool import MIPooledEstimator, compare, pool
from skmipool.datasets import load_nhanes, load_stanford2
from skmipool.models import (
    CoxPHRegressor,
    FormulaModel,
    GLMRegressor,
    LogitClassifier,
    MixedLM,
    OLSRegressor,
    PoissonRegressor,
    concordance_index,
    cox_score_residuals,
)

TIDY = ["estimate", "std_error", "statistic", "df", "p_value", "conf_low", "conf_high", "riv"]
TIDY += ["lambda", "fmi"]
DFCOM = {"auto": "auto", "dfcom_100": 100, "dfcom_inf": None, "dfcom_1": 1}
AGE_LEVELS = ["20-39", "40-59", "60-99"]


@pytest.fixture(scope="module")
def r_models():
    return load_fixture("models_r.json")


def _completed(name):
    data = load_completed(name)
    return [g.drop(columns=[".imp", ".id"]).reset_index(drop=True) for _, g in data.groupby(".imp")]


def _stanford2():
    out = []
    for d in _completed("stanford2_completed.csv"):
        out.append(d.assign(old=(d["age"] >= 45).astype(int)))
    return out


def _nhanes2():
    return [
        d.assign(age=pd.Categorical(d["age"], AGE_LEVELS), hyp=pd.Categorical(d["hyp"]))
        for d in _completed("nhanes2_completed.csv")
    ]


def _close(actual, expected, rtol=RTOL, what=""):
    np.testing.assert_allclose(
        np.asarray(actual, float), np.asarray(expected, float), rtol=rtol, atol=0, err_msg=what
    )


def _assert_tidy(res, expected, terms, rtol=RTOL):
    frame = res.to_frame()
    assert list(frame.index) == list(np.atleast_1d(terms))
    for col in TIDY:
        _close(frame[col], expected[col], rtol=rtol, what=col)
    _close(res.within, expected["ubar"], rtol=rtol, what="ubar")
    _close(res.between, expected["b"], rtol=rtol, what="b")
    assert res.dfcom == expected["dfcom"]


# --------------------------------------------------------------------- Cox vs R

COX = {
    # fixture name: (estimator, X columns)
    "cox": (CoxPHRegressor(), ["age", "t5"]),
    "cox_cluster": (CoxPHRegressor(cov_type="cluster", cluster="cid"), ["age", "t5", "cid"]),
    "cox_null_cluster": (CoxPHRegressor(cov_type="cluster", cluster="cid"), ["age", "cid"]),
    "cox_breslow_cluster": (
        CoxPHRegressor(ties="breslow", cov_type="cluster", cluster="cid"),
        ["age", "t5", "cid"],
    ),
    "cox_robust": (CoxPHRegressor(cov_type="robust"), ["age", "t5"]),
    "cox_strata_cluster": (
        CoxPHRegressor(strata="old", cov_type="cluster", cluster="cid"),
        ["age", "t5", "old", "cid"],
    ),
}
COX_FORMULA = {
    "cox": FormulaModel("Surv(time, status) ~ age + t5", model="cox"),
    "cox_cluster": FormulaModel("Surv(time, status) ~ age + t5 + cluster(cid)", model="cox"),
    "cox_null_cluster": FormulaModel("Surv(time, status) ~ age + cluster(cid)", model="cox"),
    "cox_breslow_cluster": FormulaModel(
        "Surv(time, status) ~ age + t5",
        model="cox",
        ties="breslow",
        cluster="cid",
        cov_type="cluster",
    ),
    "cox_robust": FormulaModel("Surv(time, status) ~ age + t5", model="cox", cov_type="robust"),
    "cox_strata_cluster": FormulaModel(
        "Surv(time, status) ~ age + t5 + strata(old) + cluster(cid)", model="cox"
    ),
}


@functools.cache
def _cox_fits(name):
    """The fits of one Cox model on the five completed datasets (cached: pooling reads only)."""
    est, cols = COX[name]
    return tuple(clone(est).fit(d[cols], d[["time", "status"]]) for d in _stanford2())


@pytest.mark.parametrize("name", list(COX))
def test_cox_per_imputation_matches_coxph(r_models, name):
    """coef, (robust) vcov, naive vcov, log partial likelihood and events of each fit."""
    for fit, ref in zip(_cox_fits(name), r_models["models"][name]["fits"], strict=True):
        _close(fit.coef_, ref["coef"], what="coef")
        _close(fit.cov_, ref["vcov"], rtol=1e-9, what="vcov")
        _close(fit.naive_cov_, ref["naive_vcov"], rtol=1e-9, what="naive vcov")
        _close(fit.loglike_, ref["loglik"], what="loglik")
        assert fit.n_events_ == ref["nevent"]
        assert fit.nobs_ == ref["n"]
        assert fit.dfcom_ == ref["nevent"] - np.size(ref["coef"])


@pytest.mark.parametrize("dfcom", list(DFCOM))
@pytest.mark.parametrize("name", [n for n in COX if n != "cox_null_cluster"])
def test_cox_pooled_matches_mice(r_models, name, dfcom):
    """summary(pool(fit, dfcom)) of mice: estimate, SE, df, p, CI, fmi; dfcom auto = events - p."""
    expected = r_models["models"][name]["pooled"][dfcom]
    res = pool(_cox_fits(name), dfcom=DFCOM[dfcom])
    # 1e-7: riv and fmi of age rest on a between-imputation variance ~1e-4 of the total.
    # (cox_null_cluster is left out: age is complete, so B = 0, where mice floors lambda
    # at 1e-4 and skmipool takes the exact limit; see tests/r/make_fixtures.R.)
    _assert_tidy(res, expected, expected["term"], rtol=1e-7)


def test_mice_floors_a_user_dfcom_at_one(r_models):
    """mice's get.dfcom returns max(dfcom, 1): pool(dfcom = 0.5) is pool(dfcom = 1) in R.

    skmipool takes dfcom = 0.5 as given (df shrinks further); the notebook shows both.
    """
    pooled = r_models["models"]["cox_cluster"]["pooled"]
    _close(pooled["dfcom_0.5"]["df"], pooled["dfcom_1"]["df"], rtol=1e-12)
    res = pool(_cox_fits("cox_cluster"), dfcom=0.5)
    assert np.all(res.df < np.asarray(pooled["dfcom_1"]["df"]))


@pytest.mark.parametrize("name", list(COX))
def test_cox_formula_equals_array_route(name):
    array_res = pool(_cox_fits(name))
    formula_res = pool([clone(COX_FORMULA[name]).fit(d) for d in _stanford2()])
    pd.testing.assert_frame_equal(
        formula_res.to_frame(), array_res.to_frame(), check_exact=False, rtol=1e-12
    )


def test_statsmodels_own_cluster_sandwich_differs_under_efron(r_models):
    """Why CoxPHRegressor computes the sandwich itself.

    statsmodels' PHReg.fit(groups=) uses Breslow-type score residuals even with
    ties="efron", so its cluster-robust SEs miss R's by a fraction of a percent
    on stanford2 (which has tied event times); ours match to rounding error.
    """
    d = _stanford2()[0]
    ref = np.sqrt(np.diag(r_models["models"]["cox_cluster"]["fits"][0]["vcov"]))
    model = PHReg(d["time"], d[["age", "t5"]], status=d["status"], ties="efron")
    theirs = np.sqrt(np.diag(model.fit(groups=d["cid"].to_numpy()).cov_params()))
    ours = CoxPHRegressor(cov_type="cluster", cluster="cid").fit(
        d[["age", "t5", "cid"]], d[["time", "status"]]
    )
    rel_theirs = np.abs(theirs / ref - 1)
    assert 1e-4 < rel_theirs.max() < 0.01
    _close(ours.std_error_, ref, rtol=1e-10)


def test_cox_score_residuals_sum_to_zero_and_match_breslow_statsmodels():
    d = _stanford2()[0]
    X = d[["age", "t5"]].to_numpy()
    for ties in ("efron", "breslow"):
        fit = CoxPHRegressor(ties=ties).fit(d[["age", "t5"]], d[["time", "status"]])
        resid = cox_score_residuals(d["time"], d["status"], X, fit.coef_, ties=ties)
        assert np.abs(resid.sum(axis=0)).max() < 1e-8 * np.abs(resid).max()
    model = PHReg(d["time"], X, status=d["status"], ties="breslow")
    beta = model.fit().params
    np.testing.assert_allclose(
        cox_score_residuals(d["time"], d["status"], X, beta, ties="breslow"),
        model.score_residuals(beta),
        rtol=1e-10,
        atol=1e-12,
    )


def test_cox_tests_match_mice(r_models):
    """D1 and D2 (likelihood) of age + t5 against age, cluster-robust, as mice::D1/D2."""
    full, null = _cox_fits("cox_cluster"), _cox_fits("cox_null_cluster")
    for method, use, key in (("D1", "wald", "cox_D1"), ("D2", "likelihood", "cox_D2_likelihood")):
        res = compare(full, null, method=method, use=use)
        ref = r_models["tests"][key]
        _close(
            [res.statistic, res.df1, res.df2, res.p_value, res.riv],
            [ref["statistic"], ref["df1"], ref["df2"], ref["p_value"], ref["riv"]],
            rtol=1e-7,
            what=key,
        )
    assert np.isfinite(compare(full, null, method="D3").statistic)


def test_cox_concordance_matches_r(r_models):
    d = _stanford2()[0]
    fit = CoxPHRegressor().fit(d[["age", "t5"]], d[["time", "status"]])
    c = fit.score(d[["age", "t5"]], d[["time", "status"]])
    assert c == pytest.approx(r_models["models"]["cox"]["concordance"], rel=1e-12)


# ------------------------------------------------------------ OLS and GLMs vs R


def _r_terms(names):
    out = []
    for n in names:
        if n == "(Intercept)":
            out.append("intercept")
        else:
            m = re.fullmatch(r"age(\d\d-\d\d)", n)
            out.append(f"age[T.{m.group(1)}]" if m else n)
    return out


def test_ols_pooled_matches_mice_lm(model_fixtures):
    fits = [
        OLSRegressor().fit(d[["age", "bmi", "hyp"]], d["chl"])
        for d in _completed("nhanes_completed.csv")
    ]
    expected = model_fixtures["lm"]["pooled"]
    _assert_tidy(pool(fits), expected, _r_terms(expected["term"]))


def test_logit_pooled_matches_mice_glm_binomial(r_models):
    fits = [LogitClassifier().fit(d[["bmi", "chl"]], d["hyp"]) for d in _nhanes2()]
    assert fits[0].classes_.tolist() == ["no", "yes"]
    for fit, ref in zip(fits, r_models["models"]["logit"]["fits"], strict=True):
        _close(fit.coef_.ravel(), ref["coef"][1:], rtol=1e-10)
        _close(fit.cov_, ref["vcov"], rtol=1e-10)
        _close(fit.loglike_, ref["loglik"], rtol=1e-10)
    for dfcom in DFCOM:
        expected = r_models["models"]["logit"]["pooled"][dfcom]
        _assert_tidy(pool(fits, dfcom=DFCOM[dfcom]), expected, _r_terms(expected["term"]), 1e-10)


def test_poisson_pooled_matches_mice_glm_poisson(model_fixtures):
    fits = [
        PoissonRegressor().fit(d[["age", "bmi"]], d["chl"])
        for d in _completed("nhanes_completed.csv")
    ]
    expected = model_fixtures["poisson"]["pooled"]
    _assert_tidy(pool(fits), expected, _r_terms(expected["term"]))


@pytest.mark.parametrize(
    ("name", "formula", "model"),
    [("lm_factor", "chl ~ age + bmi", "ols"), ("poisson_factor", "chl ~ age + bmi", "poisson")],
)
def test_formula_with_categorical_levels_matches_mice(r_models, name, formula, model):
    """Term names come from the formula, with the categorical levels (R: age40-59)."""
    fits = [FormulaModel(formula, model=model).fit(d) for d in _nhanes2()]
    for dfcom in DFCOM:
        expected = r_models["models"][name]["pooled"][dfcom]
        terms = ["Intercept" if t == "intercept" else t for t in _r_terms(expected["term"])]
        _assert_tidy(pool(fits, dfcom=DFCOM[dfcom]), expected, terms, rtol=1e-8)


def test_formula_logit_codes_factor_outcome_like_r(r_models):
    fits = [FormulaModel("hyp ~ bmi + chl", model="logit").fit(d) for d in _nhanes2()]
    assert fits[0].classes_.tolist() == ["no", "yes"]
    expected = r_models["models"]["logit"]["pooled"]["auto"]
    _assert_tidy(pool(fits), expected, ["Intercept", "bmi", "chl"], rtol=1e-10)


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster"])
def test_ols_covariances_match_sandwich(r_models, cov_type):
    """vcov(lm), sandwich::vcovHC(type=) and vcovCL(cluster = ~cid, type = "HC1")."""
    d = _stanford2()[0].assign(logtime=lambda f: np.log(f["time"]))
    ref = r_models["robust"]["ols"]
    cluster = "cid" if cov_type == "cluster" else None
    fit = OLSRegressor(cov_type=cov_type, cluster=cluster).fit(
        d[["age", "t5", "cid"]] if cluster else d[["age", "t5"]], d["logtime"]
    )
    _close(fit.params_, ref["coef"], rtol=1e-10)
    _close(fit.cov_, ref[cov_type], rtol=1e-9)
    assert list(fit.params_.index) == ["intercept", "age", "t5"]
    formula = FormulaModel("np.log(time) ~ age + t5", cov_type=cov_type, cluster=cluster).fit(d)
    _close(formula.cov_, ref[cov_type], rtol=1e-9)


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC0", "cluster"])
def test_logit_covariances_match_sandwich(r_models, cov_type):
    d = _stanford2()[0]
    ref = r_models["robust"]["logit"]
    cols = ["age", "t5", "cid"] if cov_type == "cluster" else ["age", "t5"]
    cluster = "cid" if cov_type == "cluster" else None
    fit = LogitClassifier(cov_type=cov_type, cluster=cluster).fit(d[cols], d["status"])
    _close(fit.params_, ref["coef"], rtol=1e-10)
    _close(fit.cov_, ref[cov_type], rtol=1e-10)
    glm = GLMRegressor("binomial", cov_type=cov_type, cluster=cluster).fit(d[cols], d["status"])
    _close(glm.cov_, fit.cov_, rtol=1e-12)


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.DomainWarning")
def test_array_and_formula_routes_pool_alike():
    data = _completed("nhanes_completed.csv")
    cases = [
        (OLSRegressor(), FormulaModel("chl ~ age + bmi + hyp")),
        (PoissonRegressor(), FormulaModel("chl ~ age + bmi + hyp", model="poisson")),
        (GLMRegressor("gamma"), FormulaModel("chl ~ age + bmi + hyp", model="glm", family="gamma")),
        (
            GLMRegressor("poisson"),
            FormulaModel("chl ~ age + bmi + hyp", model=sm.GLM, family="poisson"),
        ),
    ]
    for est, formula in cases:
        a = pool([clone(est).fit(d[["age", "bmi", "hyp"]], d["chl"]) for d in data]).to_frame()
        f = pool([clone(formula).fit(d) for d in data]).to_frame()
        assert list(f.index) == ["Intercept", "age", "bmi", "hyp"]
        np.testing.assert_allclose(f.to_numpy(), a.to_numpy(), rtol=1e-8)


def test_likelihood_tests_read_results(test_fixtures):
    """compare() unwraps results_: D2 (likelihood) and D3 as mitml for lm and a logit."""
    nh = _completed("nhanes_completed.csv")
    full = [OLSRegressor().fit(d[["age", "bmi", "hyp"]], d["chl"]) for d in nh]
    null = [OLSRegressor().fit(d[["age"]], d["chl"]) for d in nh]
    for method, use, key in (("D3", "wald", "D3_lm"), ("D2", "likelihood", "D2_likelihood")):
        res = compare(full, null, method=method, use=use)
        ref = test_fixtures[key]
        _close(
            [res.statistic, res.df2, res.p_value],
            [ref["statistic"], ref["df2"], ref["p_value"]],
            rtol=1e-7,
            what=key,
        )
    nh2 = _nhanes2()
    full = [LogitClassifier().fit(d[["bmi", "chl"]], d["hyp"]) for d in nh2]
    null = [LogitClassifier().fit(d[["bmi"]], d["hyp"]) for d in nh2]
    res = compare(full, null, method="D3")
    ref = test_fixtures["logit_D3"]
    _close(
        [res.statistic, res.df2, res.p_value],
        [ref["statistic"], ref["df2"], ref["p_value"]],
        rtol=1e-6,
    )


# ------------------------------------------------------- MIPooledEstimator route


def test_mipooled_formula_model_imputes_outcome_and_predictors():
    df = load_nhanes()
    mi = MIPooledEstimator(FormulaModel("chl ~ age + bmi"), n_imputations=3, random_state=0)
    mi.fit(df, None)
    assert list(mi.terms_) == ["Intercept", "age", "bmi"]
    assert mi.dfcom_ == 25 - 3
    assert mi.coef_.shape == (3,)
    assert all(isinstance(e, FormulaModel) for e in mi.estimators_)
    # the pooled result is Rubin's rules over the M fits
    manual = pool(mi.estimators_)
    np.testing.assert_allclose(mi.pooled_.estimate, manual.estimate, rtol=1e-12)


def test_mipooled_cox_cluster_on_stanford2():
    df = load_stanford2()
    df["cid"] = (df["id"] / 10).round() + 1
    model = FormulaModel("Surv(time, status) ~ age + t5 + cluster(cid)", model="cox")
    mi = MIPooledEstimator(model, n_imputations=3, random_state=1).fit(df, None)
    assert list(mi.terms_) == ["age", "t5"]
    assert mi.dfcom_ == df["status"].sum() - 2
    assert np.all(mi.df_ > 1) and np.all(mi.df_ <= mi.dfcom_)


def test_mipooled_cox_reads_outcome_columns_from_x():
    """CoxPHRegressor(time=, event=) takes y=None: the outcome is imputed with X, as in mice."""
    df = load_stanford2()
    df["cid"] = (df["id"] / 10).round() + 1
    cox = CoxPHRegressor(cov_type="cluster", cluster="cid", time="time", event="status")
    X = df[["time", "status", "age", "t5", "cid"]]
    mi = MIPooledEstimator(cox, n_imputations=3, random_state=1).fit(X, None)
    formula = FormulaModel("Surv(time, status) ~ age + t5 + cluster(cid)", model="cox")
    mi_formula = MIPooledEstimator(formula, n_imputations=3, random_state=1).fit(X, None)
    assert list(mi.terms_) == ["age", "t5"]
    pd.testing.assert_frame_equal(mi.pooled_.to_frame(), mi_formula.pooled_.to_frame(), rtol=1e-10)
    with pytest.raises(ValueError, match="set both"):
        CoxPHRegressor(time="time").fit(X, None)
    with pytest.raises(ValueError, match="read the outcome from X"):
        cox.fit(X, X[["time", "status"]])


def test_cox_constant_or_collinear_columns_are_named():
    X, time, status = _cox_data()
    y = np.column_stack([time, status])
    with pytest.raises(ValueError, match=r"\['one'\] are constant"):
        CoxPHRegressor().fit(X[["age"]].assign(one=1.0), y)
    with pytest.raises(ValueError, match="linear combinations"):
        CoxPHRegressor().fit(X[["age"]].assign(age2=X["age"] + 3.0), y)


def test_mipooled_array_route_with_cluster_column():
    df = load_stanford2()
    df["cid"] = (df["id"] / 10).round() + 1
    X, y = df[["age", "t5", "cid"]], np.log(df["time"])
    mi = MIPooledEstimator(
        OLSRegressor(cov_type="cluster", cluster="cid"), n_imputations=3, random_state=2
    ).fit(X, y)
    assert list(mi.terms_) == ["intercept", "age", "t5"]
    assert mi.coef_.shape == (2,) and isinstance(mi.intercept_, float)
    mi = MIPooledEstimator(LogitClassifier(), n_imputations=3, random_state=2)
    mi.fit(df[["age", "t5"]], df["status"])
    assert mi.coef_.shape == (1, 2) and mi.predict_proba(df[["age", "t5"]]).shape == (184, 2)


# ------------------------------------------------------------------ behaviour


def _cox_data():
    d = _stanford2()[0]
    return d[["age", "t5", "cid", "old"]], d["time"].to_numpy(), d["status"].to_numpy()


def test_cox_outcome_forms_agree():
    X, time, status = _cox_data()
    forms = [
        np.array(
            list(zip(status.astype(bool), time, strict=True)),
            dtype=[("event", "?"), ("time", "f8")],
        ),
        np.array(
            list(zip(status.astype(bool), time, strict=True)),
            dtype=[("Status", "?"), ("Survival_in_days", "f8")],
        ),  # scikit-survival order
        pd.DataFrame({"status": status, "time": time}),
        pd.DataFrame({"a": time, "b": status}),  # unnamed: R's Surv(time, event) order
        np.column_stack([time, status]),
    ]
    coefs = [CoxPHRegressor().fit(X[["age", "t5"]], y).coef_ for y in forms]
    for c in coefs[1:]:
        np.testing.assert_allclose(c, coefs[0], rtol=1e-12)


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (lambda t, s: pd.DataFrame({"a": s, "b": t}), "event indicator .* 0/1"),
        (lambda t, s: t, "both the survival time and the event"),
        (lambda t, s: pd.DataFrame({"time": t, "status": 0 * s}), "no events"),
        (lambda t, s: pd.DataFrame({"time": -t, "status": s}), "non-negative"),
        (lambda t, s: None, "requires y"),
    ],
)
def test_cox_outcome_errors(y, match):
    X, time, status = _cox_data()
    with pytest.raises(ValueError, match=match):
        CoxPHRegressor().fit(X[["age", "t5"]], y(time, status))


def test_cox_predict_is_linear_predictor_and_strata_excluded():
    X, time, status = _cox_data()
    fit = CoxPHRegressor(strata="old", cov_type="cluster", cluster="cid").fit(
        X, pd.DataFrame({"time": time, "status": status})
    )
    assert list(fit.params_.index) == ["age", "t5"]
    np.testing.assert_allclose(fit.predict(X), X[["age", "t5"]].to_numpy() @ fit.coef_)
    formula = FormulaModel("Surv(time, status) ~ age + t5 + strata(old)", model="cox")
    d = X.assign(time=time, status=status)
    np.testing.assert_allclose(formula.fit(d).predict(d), fit.predict(X), rtol=1e-10)
    assert 0.5 < fit.score(X, np.column_stack([time, status])) < 1


def test_concordance_counts_ties_like_r():
    # a censored time tied with an event time counts as later; tied risks count one half
    assert concordance_index([1, 1, 2], [1, 0, 1], [2.0, 1.0, 1.0]) == pytest.approx(1.0)
    assert concordance_index([1, 2, 3], [1, 1, 1], [1.0, 1.0, 0.0]) == pytest.approx(2.5 / 3)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: OLSRegressor(cluster="cid"), "cov_type='cluster'|cov_type=\"cluster\""),
        (lambda: OLSRegressor(cov_type="cluster"), "needs the cluster ids"),
        (lambda: OLSRegressor(cov_type="cluster", cluster="nope"), "'nope' is not a column"),
        (lambda: CoxPHRegressor(cov_type="cluster"), "needs the cluster ids"),
        (lambda: CoxPHRegressor(cluster="cid"), 'cov_type="cluster"'),
    ],
)
def test_cluster_parameter_errors(make, match):
    X, time, status = _cox_data()
    y = np.column_stack([time, status]) if "Cox" in type(make()).__name__ else time
    with pytest.raises(ValueError, match=match):
        make().fit(X, y)


def test_design_errors_name_columns():
    df = load_nhanes()
    with pytest.raises(ValueError, match=r"missing values \(NaN\) in columns \['bmi'\]"):
        OLSRegressor().fit(df[["age", "bmi"]], df["age"])
    d = _nhanes2()[0]
    with pytest.raises(ValueError, match=r"columns \['age'\] of X are not numeric"):
        OLSRegressor().fit(d[["age", "bmi"]], d["chl"])
    with pytest.raises(ValueError, match=r"\['const'\] are linear combinations"):
        OLSRegressor().fit(d[["bmi"]].assign(const=1.0), d["chl"])
    with pytest.raises(ValueError, match="cluster='cid' names a column"):
        OLSRegressor(cov_type="cluster", cluster="cid").fit(d[["bmi", "chl"]].to_numpy(), d["chl"])
    with pytest.raises(ValueError, match="Only binary classification"):
        LogitClassifier().fit(d[["bmi", "chl"]], d["age"])
    with pytest.raises(ValueError, match="Poisson family needs y non-negative"):
        PoissonRegressor().fit(d[["bmi"]], -d["chl"])


def test_array_input_positions_and_names():
    d = _stanford2()[0]
    X = d[["age", "cid", "t5"]].to_numpy()
    fit = OLSRegressor(cov_type="cluster", cluster=1).fit(X, d["time"])
    assert list(fit.params_.index) == ["intercept", "x0", "x2"]
    ref = OLSRegressor(cov_type="cluster", cluster="cid").fit(d[["age", "cid", "t5"]], d["time"])
    np.testing.assert_allclose(fit.cov_, ref.cov_, rtol=1e-12)
    assert fit.predict(X).shape == (184,)


@pytest.mark.parametrize(
    ("model", "data", "match"),
    [
        (FormulaModel("time ~ age", model="cox"), None, r"Surv\(time, event\)"),
        (FormulaModel("chl ~ age + cluster(hyp)"), None, "Cox-formula syntax"),
        (FormulaModel("chl ~ age + bmi"), "nan", r"columns \['bmi', 'chl'\] used by the formula"),
        (FormulaModel("chl ~ age", model="glm"), None, "needs family"),
        (FormulaModel("chl ~ age", strata="hyp"), None, "Cox models only"),
        (FormulaModel("chl age"), None, "exactly one '~'"),
        (FormulaModel("chl ~ age", cov_type="HC3", model="poisson"), None, "not available"),
    ],
)
def test_formula_errors(model, data, match):
    df = load_nhanes() if data == "nan" else _completed("nhanes_completed.csv")[0]
    with pytest.raises(ValueError, match=match):
        model.fit(df)


def test_formula_rejects_y_and_arrays():
    df = _completed("nhanes_completed.csv")[0]
    with pytest.raises(ValueError, match="no y"):
        FormulaModel("chl ~ age").fit(df, df["chl"])
    with pytest.raises(TypeError, match="DataFrame"):
        FormulaModel("chl ~ age").fit(df.to_numpy())


def test_formula_statsmodels_class_and_predict():
    d = _nhanes2()[0]
    probit = FormulaModel("hyp ~ bmi + chl", model=sm.Probit).fit(d.assign(hyp=d["hyp"] == "yes"))
    assert list(probit.params_.index) == ["Intercept", "bmi", "chl"]
    assert probit.dfcom_ == 22
    logit = FormulaModel("hyp ~ bmi + chl", model="logit").fit(d)
    clf = LogitClassifier().fit(d[["bmi", "chl"]], d["hyp"])
    np.testing.assert_allclose(logit.predict(d), clf.predict_proba(d[["bmi", "chl"]])[:, 1])
    np.testing.assert_allclose(logit.predict(d[["chl", "bmi"]]), logit.predict(d))


def test_fitted_models_pickle_clone_and_get_estimate():
    d = _completed("nhanes_completed.csv")[0]
    fit = OLSRegressor(cov_type="HC1").fit(d[["age", "bmi"]], d["chl"])
    again = pickle.loads(pickle.dumps(fit))
    np.testing.assert_array_equal(again.predict(d[["age", "bmi"]]), fit.predict(d[["age", "bmi"]]))
    est = fit.get_estimate()
    assert est.names == ("intercept", "age", "bmi") and est.dfcom == 22 and est.nobs == 25
    assert est.loglike == pytest.approx(fit.results_.llf)
    assert clone(fit).get_params() == fit.get_params()


# ------------------------------------------------- docstrings and sklearn checks


def _documented_attributes(cls) -> set[str]:
    doc = cls.__doc__
    section = doc.split("Attributes\n    ----------\n")[1].split("\n\n")[0]
    return {m.group(1) for m in re.finditer(r"^    (\w+_) :", section, flags=re.M)}


def _fitted(cls):
    d = _stanford2()[0]
    if cls is CoxPHRegressor:
        return cls().fit(d[["age", "t5"]], d[["time", "status"]])
    if cls is FormulaModel:
        return cls("status ~ age + t5", model="logit").fit(d.assign(status=d["status"] > 0))
    if cls is LogitClassifier:
        return cls().fit(d[["age", "t5"]], d["status"])
    if cls is MixedLM:
        return cls(groups="cid").fit(d[["age", "t5", "cid"]], d["time"])
    return cls().fit(d[["age", "t5"]], d["time"])


def _attributes(fitted) -> set[str]:
    return {a for a in vars(fitted) if a.endswith("_") and not a.startswith("_")}


@pytest.mark.parametrize(
    "cls",
    [
        OLSRegressor,
        GLMRegressor,
        PoissonRegressor,
        LogitClassifier,
        CoxPHRegressor,
        MixedLM,
        FormulaModel,
    ],
)
def test_docstring_lists_the_fitted_attributes(cls):
    fitted = [_fitted(cls)]
    if cls is CoxPHRegressor:  # the frailty attributes are set by a frailty fit only
        d = _stanford2()[0]
        frailty = cls(frailty="gaussian", groups="cid")
        fitted.append(frailty.fit(d[["age", "t5", "cid"]], d[["time", "status"]]))
    if cls is FormulaModel:  # a frailty and a mixed model add their attributes
        d = _stanford2()[0]
        fitted.append(cls("Surv(time, status) ~ age + (1 | cid)", model="cox").fit(d))
        fitted.append(FormulaModel("log(time) ~ age + t5 + (1 | cid)").fit(d))
    attrs = set().union(*(_attributes(f) for f in fitted))
    assert attrs == _documented_attributes(cls)


SKLEARN_CHECKS = sklearn_check_params(
    [OLSRegressor(), GLMRegressor(), PoissonRegressor(), LogitClassifier()],
    lambda est: type(est).__name__,
)


@pytest.mark.parametrize(("estimator", "check"), SKLEARN_CHECKS)
def test_sklearn_compatible_estimator(estimator, check):
    # CoxPHRegressor (a survival y) and FormulaModel (a DataFrame with the outcome inside)
    # cannot take the generic X, y of these checks; the tests above cover them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


@pytest.mark.parametrize(
    ("model", "values", "message"),
    [
        ("logit", [1.0, 2.0], "the Binomial family needs y between 0 and 1"),
        ("poisson", [-1.0, 2.0], "the Poisson family needs y non-negative"),
    ],
)
def test_formula_outcome_outside_the_family_support(model, values, message):
    """As R's glm: a 1/2-coded outcome is not silently fitted as a binomial proportion."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=40), "y": rng.choice(values, size=40)})
    with pytest.raises(ValueError, match=message):
        FormulaModel("y ~ x", model=model).fit(df)
