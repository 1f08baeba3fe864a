"""Linear mixed models: MixedLM, FormulaModel's lme4 syntax and their pooling, against R.

Reference values: tests/r/make_fixtures_mixed.R (lme4 1.1 lmer with a tight
optimizer, mitml 0.4 testEstimates(..., extra.pars = TRUE, df.com = G - p)) on
mice-completed popmis data sets (tests/fixtures/popmis_completed.csv, m = 5).
Both sides optimize a (RE)ML criterion numerically, so agreement is to the
optimizers' tolerance: 1e-5 relative is asserted (about 1e-6 is reached).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from conftest import load_completed, load_fixture
from sklearn.exceptions import ConvergenceWarning
from statsmodels.regression.mixed_linear_model import MixedLM as SMMixedLM

from skmipool import Estimate, MIPooledEstimator, pool
from skmipool.datasets import load_popmis
from skmipool.models import FormulaError, FormulaModel, MixedLM

MIXED_RTOL = 1e-5  # the optimizers' agreement (lme4's nloptwrap, statsmodels' BFGS)
SLOPES = {"intercept": None, "slope": ["sex"]}
FORMULAS = {
    "intercept": "popular ~ sex + texp + (1 | school)",
    "slope": "popular ~ sex + texp + (1 + sex | school)",
}


@pytest.fixture(scope="module")
def fixtures():
    return load_fixture("mixed_r.json")["models"]


@pytest.fixture(scope="module")
def completed():
    data = load_completed("popmis_completed.csv")
    return [g.drop(columns=[".imp", ".id"]).reset_index(drop=True) for _, g in data.groupby(".imp")]


@pytest.fixture(scope="module")
def estimator_fits(completed):
    return {
        name: [
            MixedLM(groups="school", random_slopes=slopes).fit(
                d[["sex", "texp", "school"]], d["popular"]
            )
            for d in completed
        ]
        for name, slopes in SLOPES.items()
    }


def _assert_pooled_equals_mitml(res, expected, vc_expected):
    np.testing.assert_allclose(res.estimate, expected["estimate"], rtol=MIXED_RTOL)
    np.testing.assert_allclose(res.std_error, expected["std_error"], rtol=MIXED_RTOL)
    np.testing.assert_allclose(res.df, expected["df"], rtol=MIXED_RTOL)
    np.testing.assert_allclose(res.riv, expected["riv"], rtol=MIXED_RTOL)
    np.testing.assert_allclose(res.fmi, expected["fmi"], rtol=MIXED_RTOL)
    np.testing.assert_allclose(res.statistic, expected["statistic"], rtol=MIXED_RTOL)
    vc = res.variance_components
    assert list(vc.index) == list(vc_expected)  # mitml's names and order
    np.testing.assert_allclose(vc["estimate"], list(vc_expected.values()), rtol=MIXED_RTOL)


# ------------------------------------------------------------ one fit against lmer


@pytest.mark.parametrize("name", ["intercept", "slope"])
def test_each_reml_fit_equals_lmer(name, fixtures, estimator_fits):
    for fit, r in zip(estimator_fits[name], fixtures[name]["fits"], strict=True):
        np.testing.assert_allclose(fit.params_, r["fixef"], rtol=MIXED_RTOL)
        np.testing.assert_allclose(fit.cov_, r["vcov"], rtol=MIXED_RTOL)
        vc = r["variance_components"]
        assert list(fit.variance_components_.index) == list(vc)
        np.testing.assert_allclose(fit.variance_components_, list(vc.values()), rtol=MIXED_RTOL)
        assert fit.loglike_ == pytest.approx(r["loglik"], rel=1e-9)
        assert fit.nobs_ == r["nobs"] == 2000 and fit.n_groups_ == 100 and fit.converged_


def test_ml_fit_equals_lmer_reml_false(fixtures, completed):
    for d, r in zip(completed, fixtures["intercept_ml"]["fits"], strict=True):
        fit = MixedLM(groups="school", method="ml").fit(d[["sex", "texp", "school"]], d["popular"])
        assert not r["reml"]
        np.testing.assert_allclose(fit.params_, r["fixef"], rtol=MIXED_RTOL)
        np.testing.assert_allclose(fit.cov_, r["vcov"], rtol=MIXED_RTOL)
        np.testing.assert_allclose(
            fit.variance_components_, list(r["variance_components"].values()), rtol=MIXED_RTOL
        )
        assert fit.loglike_ == pytest.approx(r["loglik"], rel=1e-9)


def test_icc_is_the_intercept_variance_share(estimator_fits):
    vc = estimator_fits["intercept"][0].variance_components_
    tau, sigma2 = vc["Intercept~~Intercept|school"], vc["Residual~~Residual"]
    assert vc["ICC|school"] == pytest.approx(tau / (tau + sigma2), rel=1e-14)


def test_standard_errors_are_lme4s_not_the_full_inverse_hessian(estimator_fits, fixtures):
    """statsmodels' bse_fe inverts the full Hessian (fixed x variance block included):
    about 2% off lme4's vcov for the intercept here; ours is sigma² (X'V⁻¹X)⁻¹."""
    fit = estimator_fits["slope"][0]
    r_se = np.sqrt(np.diag(fixtures["slope"]["fits"][0]["vcov"]))
    assert abs(fit.results_.bse_fe.iloc[0] / r_se[0] - 1) > 1e-3
    np.testing.assert_allclose(fit.std_error_, r_se, rtol=MIXED_RTOL)


# ------------------------------------------------------------ pooled against mitml


@pytest.mark.parametrize("name", ["intercept", "slope"])
def test_pooled_estimator_fits_equal_mitml(name, fixtures, estimator_fits):
    res = pool(estimator_fits[name])
    expected = fixtures[name]["pooled"]
    assert res.dfcom == fixtures[name]["dfcom"] == 97  # G - p = 100 - 3
    assert list(res.terms) == ["intercept", "sex", "texp"]
    _assert_pooled_equals_mitml(res, expected, expected["extra_pars"])


@pytest.mark.parametrize("name", ["intercept", "slope"])
def test_large_sample_pooling_equals_mitml_default(name, fixtures, estimator_fits):
    """dfcom=None overrides the G - p rule: mitml's default df.com = NULL."""
    res = pool(estimator_fits[name], dfcom=None)
    expected = fixtures[name]["pooled_large_sample"]
    assert np.isinf(res.dfcom)
    _assert_pooled_equals_mitml(res, expected, expected["extra_pars"])


@pytest.mark.parametrize("name", ["intercept", "slope"])
def test_formula_model_equals_mitml(name, fixtures, completed):
    fits = [FormulaModel(FORMULAS[name]).fit(d) for d in completed]
    assert all(f.results_.model.reml for f in fits)
    res = pool(fits)
    assert list(res.terms) == ["Intercept", "sex", "texp"]
    expected = fixtures[name]["pooled"]
    _assert_pooled_equals_mitml(res, expected, expected["extra_pars"])
    # model="mixed" is the same model
    again = FormulaModel(FORMULAS[name], model="mixed").fit(completed[0])
    np.testing.assert_array_equal(again.params_, fits[0].params_)


def test_statsmodels_mixedlm_results_pool_fixed_effects_only(fixtures, completed):
    """pool() on statsmodels' own fits: no "Group Var" among the terms and no t-test of it."""
    fits = []
    for d in completed:
        model = SMMixedLM(d["popular"], sm.add_constant(d[["sex", "texp"]]), groups=d["school"])
        fits.append(model.fit(reml=True, method=["bfgs"], gtol=1e-8))
    res = pool(fits)
    assert list(res.terms) == ["const", "sex", "texp"]
    assert res.dfcom == 97
    expected = fixtures["intercept"]["pooled"]
    # statsmodels names the random intercept of an array model "Group": the group is "group"
    vc = {k.replace("|school", "|group"): v for k, v in expected["extra_pars"].items()}
    _assert_pooled_equals_mitml(res, expected, vc)


def test_statsmodels_formula_mixedlm_names_the_group(completed):
    import statsmodels.formula.api as smf

    fits = [
        smf.mixedlm("popular ~ sex + texp", d, groups="school").fit(method=["bfgs"])
        for d in completed[:2]
    ]
    res = pool(fits)
    assert list(res.terms) == ["Intercept", "sex", "texp"]
    assert list(res.variance_components.index) == [
        "Intercept~~Intercept|school",
        "Residual~~Residual",
        "ICC|school",
    ]


def test_mipooled_estimator_pools_mixed_models_with_the_cluster_rule():
    df = load_popmis()
    mi = MIPooledEstimator(
        FormulaModel("popular ~ sex + texp + (1 | school)"), n_imputations=3, random_state=1
    ).fit(df[["school", "popular", "sex", "texp"]])
    assert mi.pooled_.dfcom == 97
    assert "ICC|school" in mi.pooled_.variance_components.index
    assert "Variance components" in str(mi.pooled_.summary())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # only the outcome is imputed
        big = MIPooledEstimator(
            MixedLM(groups="school"), n_imputations=3, random_state=1, dfcom=None
        ).fit(df[["school", "sex", "texp"]], df["popular"])
    assert np.isinf(big.pooled_.dfcom)


def test_pool_refuses_mixing_reml_and_ml(completed):
    d = completed[0]
    X, y = d[["sex", "texp", "school"]], d["popular"]
    with pytest.raises(ValueError, match="REML"):
        pool([MixedLM(groups="school").fit(X, y), MixedLM(groups="school", method="ml").fit(X, y)])


def test_variance_components_are_never_tested():
    """Averaged over imputations, as mitml's extra.pars: estimate, min, max and nothing else."""
    vc = {"Intercept~~Intercept|g": 0.5, "Residual~~Residual": 1.0}
    ests = [Estimate([1.0 + i / 10], [0.01], names=["b"], variance_components=vc) for i in range(3)]
    table = pool(ests, dfcom=None).variance_components
    assert list(table.columns) == ["estimate", "min", "max"]


# ------------------------------------------------------------ the estimator


def test_random_slopes_by_position_for_arrays(completed):
    d = completed[0]
    X = d[["sex", "texp", "school"]].to_numpy(dtype=float)
    fit = MixedLM(groups=2, random_slopes=[0]).fit(X, d["popular"].to_numpy())
    assert list(fit.params_.index) == ["intercept", "x0", "x1"]
    assert "x0~~x0|x2" in fit.variance_components_.index
    named = MixedLM(groups="school", random_slopes=["sex"]).fit(
        d[["sex", "texp", "school"]], d["popular"]
    )
    np.testing.assert_allclose(fit.params_.to_numpy(), named.params_.to_numpy(), rtol=1e-8)


def test_predict_is_the_population_level_prediction(estimator_fits, completed):
    fit = estimator_fits["slope"][0]
    X = completed[0][["sex", "texp", "school"]]
    expected = fit.intercept_ + X[["sex", "texp"]].to_numpy() @ fit.coef_
    np.testing.assert_allclose(fit.predict(X), expected)
    fm = FormulaModel(FORMULAS["slope"]).fit(completed[0])
    np.testing.assert_allclose(fm.predict(completed[0]), expected, rtol=MIXED_RTOL)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "MixedLM needs groups="),
        ({"groups": "class"}, "groups='class' is not a column of X"),
        ({"groups": "school", "random_slopes": ["age"]}, "random_slopes names 'age'"),
        ({"groups": "school", "random_slopes": ["school"]}, "cannot have a random slope"),
        ({"groups": "school", "random_slopes": ["sex", "sex"]}, "names 'sex' twice"),
    ],
)
def test_estimator_arguments(kwargs, message, completed):
    d = completed[0]
    with pytest.raises(ValueError, match=message):
        MixedLM(**kwargs).fit(d[["sex", "texp", "school"]], d["popular"])


# ------------------------------------------------------------ bad input


def test_cluster_column_with_missing_values_is_an_error_naming_it():
    df = load_popmis()
    df.loc[[3, 10], "school"] = np.nan
    with pytest.raises(ValueError, match="cluster column 'school' of MixedLM has 2 missing"):
        MIPooledEstimator(MixedLM(groups="school"), n_imputations=2).fit(
            df[["school", "sex", "texp"]], df["popular"]
        )
    with pytest.raises(ValueError, match="cluster column 'school' of FormulaModel has 2"):
        MIPooledEstimator(FormulaModel(FORMULAS["intercept"]), n_imputations=2).fit(
            df[["school", "popular", "sex", "texp"]]
        )
    complete = load_popmis().dropna()
    complete.iloc[[0, 5], complete.columns.get_loc("school")] = np.nan
    with pytest.raises(ValueError, match="cluster column 'school' has 2 missing values"):
        FormulaModel(FORMULAS["intercept"]).fit(complete)
    with pytest.raises(ValueError, match="groups column 'school' has 2 missing values"):
        MixedLM(groups="school").fit(complete[["sex", "texp", "school"]], complete["popular"])


def _small(n_clusters, size, seed=0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_clusters), size)
    x = rng.normal(size=g.size)
    y = x + rng.normal(size=n_clusters)[g] + rng.normal(size=g.size)
    return pd.DataFrame({"x": x, "g": g, "y": y})


@pytest.mark.parametrize(
    ("n_clusters", "size", "slopes", "message"),
    [
        (1, 30, None, "column 'g' has a single cluster"),
        (30, 1, None, "column 'g' has one observation per cluster"),
        (15, 2, ["x"], "30 observations for 15 clusters x 2 random effects"),
    ],
)
def test_clusters_that_identify_no_variance(n_clusters, size, slopes, message):
    d = _small(n_clusters, size)
    with pytest.raises(ValueError, match=message):
        MixedLM(groups="g", random_slopes=slopes).fit(d[["x", "g"]], d["y"])


def test_non_convergence_warns_once_naming_the_imputations():
    df = load_popmis()
    with pytest.warns(ConvergenceWarning, match=r"random-slope mixed model .* \[in all") as got:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "X has no missing values", UserWarning)
            MIPooledEstimator(
                MixedLM(groups="school", random_slopes=["sex"], max_iter=1),
                n_imputations=2,
                random_state=0,
            ).fit(df[["school", "sex", "texp"]], df["popular"])
    assert sum(issubclass(w.category, ConvergenceWarning) for w in got) == 1  # collected once


def test_pool_names_the_statsmodels_fits_that_did_not_converge(completed):
    fits = []
    for i, d in enumerate(completed[:3]):
        model = SMMixedLM(d["popular"], sm.add_constant(d[["sex", "texp"]]), groups=d["school"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.append(model.fit(method=["bfgs"], maxiter=1 if i == 1 else 100))
    assert [f.converged for f in fits] == [True, False, True]
    with pytest.warns(ConvergenceWarning, match=r"the fits of imputation 2 \(of 3\)"):
        pool(fits)


# ------------------------------------------------------------ formula syntax


@pytest.mark.parametrize(
    ("formula", "model", "message"),
    [
        ("popular ~ sex + (sex || school)", "ols", "uncorrelated random effects"),
        ("popular ~ sex + (1 | school) + (0 + sex | school)", "ols", "only one random-effect"),
        ("popular ~ sex + (1 | school/room)", "ols", "must be one column"),
        ("popular ~ sex + (1 | school)", "poisson", "generalized linear mixed models"),
        ("popular ~ sex + texp", "mixed", "model='mixed' needs a random-effect term"),
    ],
)
def test_formula_random_effects_refused_by_name(formula, model, message):
    df = load_popmis().dropna().assign(room=1)
    with pytest.raises(FormulaError, match=message):
        FormulaModel(formula, model=model).fit(df)


def test_formula_random_slope_without_intercept_and_implied_intercept(completed):
    d = completed[0]
    implied = FormulaModel("popular ~ sex + texp + (sex | school)").fit(d)
    explicit = FormulaModel(FORMULAS["slope"]).fit(d)
    np.testing.assert_array_equal(implied.params_, explicit.params_)
    no_intercept = FormulaModel("popular ~ sex + texp + (0 + sex | school)").fit(d)
    assert list(no_intercept.variance_components_.index) == [
        "sex~~sex|school",
        "Residual~~Residual",
    ]  # no random intercept: no ICC (as mitml)


def test_formula_model_refit_without_random_effects_drops_the_components(completed):
    fm = FormulaModel(FORMULAS["intercept"]).fit(completed[0])
    assert hasattr(fm, "variance_components_")
    fm.set_params(formula="popular ~ sex + texp").fit(completed[0])
    assert not hasattr(fm, "variance_components_")
    assert fm.get_estimate().variance_components is None


def test_user_guide_mixed_model_example_runs():
    """The popmis example of the user guide's "Clustered data: mixed models", as written."""
    import re
    from pathlib import Path

    guide = (Path(__file__).parents[1] / "docs" / "user_guide.md").read_text()
    section = guide.split("## Clustered data: mixed models", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    namespace = {}
    exec(compile(block, "user_guide.md", "exec"), namespace)
    pooled = namespace["mi"].pooled_
    assert pooled.dfcom == 97 and "sex~~sex|school" in pooled.variance_components.index


def test_fit_where_statsmodels_optimizer_stops_short_is_polished():
    """stanford2 (first completed set), survival time in days by cluster cid: statsmodels'
    BFGS and CG stop with gradient -3.5; scipy's BFGS on the same criterion reaches
    lme4's optimum. R: lmer(time ~ age + t5 + (1 | cid)) gives VarCorr 76503.44 and
    572810.09, logLik -1473.726 (printed to 7 digits)."""
    data = load_completed("stanford2_completed.csv")
    d = data[data[".imp"] == 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fit = MixedLM(groups="cid").fit(d[["age", "t5", "cid"]], d["time"].astype(float))
    vc = fit.variance_components_
    assert fit.converged_
    assert vc["Intercept~~Intercept|cid"] == pytest.approx(76503.44, rel=1e-6)
    assert vc["Residual~~Residual"] == pytest.approx(572810.09, rel=1e-6)
    assert fit.loglike_ == pytest.approx(-1473.726, abs=5e-4)
