"""Pipelines as the analysis model, and the default analysis of categorical predictors.

Every pooled number is checked against statsmodels fits of the same design, built
here from each completed dataset (``keep_imputations=True``) and pooled with
``skmipool.pool``.
"""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy.interpolate import BSpline
from sklearn.compose import ColumnTransformer
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.feature_selection import SelectKBest, f_regression
from sklearn.impute import IterativeImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, PoissonRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    OneHotEncoder,
    PolynomialFeatures,
    SplineTransformer,
    StandardScaler,
    TargetEncoder,
)

from skmipool import Estimate, MIPooledEstimator, pool
from skmipool._contrasts import TreatmentContrasts
from skmipool.datasets import load_boys, load_nhanes2
from skmipool.estimands import average_marginal_effect, predictions
from skmipool.models import OLSRegressor

OLS_TOL = 1e-8
GLM_TOL = 1e-6


def _columns(res):
    """Estimates, SEs, FMI and log df (df can be in the thousands: compared relatively)."""
    frame = res.to_frame()
    return np.column_stack([frame[["estimate", "std_error", "fmi"]], np.log(frame["df"])])


def _max_diff(ours, ref):
    return float(np.max(np.abs(_columns(ours) - _columns(ref))))


@pytest.fixture(scope="module")
def nhanes2():
    return load_nhanes2()


# -------------------------------------------------------------- the designs, by hand


def _dummies(column, levels):
    """Treatment contrasts of one column: 1{x = level} for the levels after the first."""
    return np.column_stack([(column.astype(object) == lv).to_numpy(float) for lv in levels[1:]])


def _scaled(x):
    return (x - x.mean()) / x.std(ddof=0)  # StandardScaler: population SD


def _spline_basis(x, n_knots=4, k=3):
    """SplineTransformer(n_knots, degree=k, include_bias=False): uniform knots on the
    data range, extended by k equal steps each side (de Boor 1978), last basis dropped."""
    inner = np.linspace(x.min(), x.max(), n_knots)
    step = inner[1] - inner[0]
    t = np.r_[inner[0] - step * np.arange(k, 0, -1), inner, inner[-1] + step * np.arange(1, k + 1)]
    return BSpline.design_matrix(np.asarray(x, float), t, k).toarray()[:, :-1]


def _ols_pool(completed, design, names):
    fits = [sm.OLS(d["chl"].to_numpy(), sm.add_constant(design(d))).fit() for d in completed]
    return pool(fits, names=names)


# ------------------------------------------------------------------ A. pipelines


def _nhanes_pipeline(final=None):
    ct = ColumnTransformer(
        [
            ("cat", OneHotEncoder(drop="first", sparse_output=False), ["age", "hyp"]),
            ("num", StandardScaler(), ["bmi"]),
        ]
    )
    return make_pipeline(ct, final if final is not None else LinearRegression())


def test_pipeline_ols_equals_statsmodels_on_the_same_design(nhanes2):
    X, y = nhanes2.drop(columns="chl"), nhanes2["chl"]
    mi = MIPooledEstimator(
        _nhanes_pipeline(), n_imputations=5, random_state=3, keep_imputations=True
    ).fit(X, y)
    names = ["intercept", "cat__age_40-59", "cat__age_60-99", "cat__hyp_yes", "num__bmi"]
    assert list(mi.terms_) == names

    def design(d):
        return np.column_stack(
            [
                _dummies(d["age"], ["20-39", "40-59", "60-99"]),
                _dummies(d["hyp"], ["no", "yes"]),
                _scaled(d["bmi"]),
            ]
        )

    ref = _ols_pool(mi.imputations_, design, names)
    assert _max_diff(mi.pooled_, ref) < OLS_TOL
    assert np.allclose(mi.conf_int(), ref.conf_int(), rtol=0, atol=OLS_TOL)
    # one model term per input column, taken from the fitted encoder, not from the names
    assert mi.pooled_.model_terms == {
        "age": ["cat__age_40-59", "cat__age_60-99"],
        "hyp": ["cat__hyp_yes"],
        "bmi": ["num__bmi"],
    }
    table = mi.pooled_.wald_test_terms()
    assert table["df1"].to_dict() == {"age": 2, "hyp": 1, "bmi": 1}
    assert np.isclose(table.loc["bmi", "statistic"], ref.wald_test(["num__bmi"]).statistic)
    # coef_ and intercept_ are the final step's
    assert np.allclose(mi.coef_, ref.estimate.to_numpy()[1:], atol=OLS_TOL)


def test_pipeline_with_a_spline_basis_equals_statsmodels(nhanes2):
    X, y = nhanes2.drop(columns="chl"), nhanes2["chl"]
    ct = ColumnTransformer(
        [
            ("cat", OneHotEncoder(drop="first", sparse_output=False), ["age"]),
            ("sp", SplineTransformer(n_knots=4, include_bias=False), ["bmi"]),
        ]
    )
    pipe = make_pipeline(ct, LinearRegression())
    mi = MIPooledEstimator(pipe, n_imputations=4, random_state=5, keep_imputations=True)
    mi.fit(X[["age", "bmi"]], y)
    names = list(mi.terms_)
    assert names[3:] == [f"sp__bmi_sp_{i}" for i in range(5)]

    def design(d):
        return np.column_stack(
            [_dummies(d["age"], ["20-39", "40-59", "60-99"]), _spline_basis(d["bmi"])]
        )

    ref = _ols_pool(mi.imputations_, design, names)
    assert _max_diff(mi.pooled_, ref) < OLS_TOL
    assert mi.pooled_.model_terms["bmi"] == names[3:]
    assert mi.pooled_.wald_test_terms()["df1"].to_dict() == {"age": 2, "bmi": 5}


def _glm_data(seed=0, n=300):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    g = rng.choice(["a", "b", "c"], size=n)
    eta = -0.3 + 0.6 * x + np.select([g == "b", g == "c"], [0.5, -0.4], 0.0)
    frame = pd.DataFrame({"x": 3.0 + 2.0 * x, "g": g})
    frame.loc[rng.random(n) < 0.2, "x"] = np.nan
    frame.loc[rng.random(n) < 0.15, "g"] = np.nan
    binary = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    counts = rng.poisson(np.exp(eta)).astype(float)
    return frame, binary, counts


@pytest.mark.parametrize(
    ("final", "outcome", "family"),
    [
        (LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12), "binary", "logit"),
        (PoissonRegressor(alpha=0, solver="newton-cholesky", tol=1e-12), "counts", "poisson"),
    ],
)
def test_pipeline_glms_equal_statsmodels(final, outcome, family):
    X, binary, counts = _glm_data()
    y = binary if outcome == "binary" else counts
    pipe = make_pipeline(
        ColumnTransformer(
            [
                ("g", OneHotEncoder(drop="first", sparse_output=False), ["g"]),
                ("x", StandardScaler(), ["x"]),
            ]
        ),
        final,
    )
    mi = MIPooledEstimator(pipe, n_imputations=3, random_state=2, keep_imputations=True).fit(X, y)
    assert list(mi.terms_) == ["intercept", "g__g_b", "g__g_c", "x__x"]
    fam = sm.families.Binomial() if family == "logit" else sm.families.Poisson()
    fits = []
    for d in mi.imputations_:
        Z = sm.add_constant(np.column_stack([_dummies(d["g"], ["a", "b", "c"]), _scaled(d["x"])]))
        fits.append(sm.GLM(y, Z, family=fam).fit(tol=1e-12))
    # a GLM's complete-data df is n - p in both (mice's df.residual)
    ref = pool(fits, names=list(mi.terms_))
    assert _max_diff(mi.pooled_, ref) < GLM_TOL
    assert mi.pooled_.model_terms == {"g": ["g__g_b", "g__g_c"], "x": ["x__x"]}


def test_skmipool_models_as_the_final_step_are_renamed(nhanes2):
    X, y = nhanes2.drop(columns="chl"), nhanes2["chl"]
    ours = MIPooledEstimator(_nhanes_pipeline(OLSRegressor()), n_imputations=3, random_state=4)
    sk = MIPooledEstimator(_nhanes_pipeline(), n_imputations=3, random_state=4)
    ours.fit(X, y)
    sk.fit(X, y)
    assert list(ours.terms_) == list(sk.terms_)
    assert _max_diff(ours.pooled_, sk.pooled_) < OLS_TOL
    assert ours.pooled_.model_terms == sk.pooled_.model_terms


def test_unmappable_steps_make_every_column_a_term(nhanes2):
    X, y = nhanes2[["bmi"]], nhanes2["chl"]
    pipe = make_pipeline(PolynomialFeatures(2, include_bias=False), LinearRegression())
    mi = MIPooledEstimator(pipe, n_imputations=3, random_state=0).fit(X, y)
    assert list(mi.terms_) == ["intercept", "bmi", "bmi^2"]
    assert mi.pooled_.model_terms == {"bmi": ["bmi"], "bmi^2": ["bmi^2"]}


def test_sparse_preprocessing_is_densified(nhanes2):
    X, y = nhanes2.drop(columns="chl"), nhanes2["chl"]
    ct = ColumnTransformer(
        [("cat", OneHotEncoder(drop="first"), ["age", "hyp"])],
        remainder="passthrough",
        sparse_threshold=1.0,
    )
    pipe = make_pipeline(ct, PoissonRegressor(alpha=0, solver="newton-cholesky", tol=1e-9))
    dense = make_pipeline(
        ColumnTransformer(
            [("cat", OneHotEncoder(drop="first", sparse_output=False), ["age", "hyp"])],
            remainder="passthrough",
        ),
        PoissonRegressor(alpha=0, solver="newton-cholesky", tol=1e-9),
    )
    a = MIPooledEstimator(pipe, n_imputations=3, random_state=1).fit(X, y)
    b = MIPooledEstimator(dense, n_imputations=3, random_state=1).fit(X, y)
    assert list(a.terms_) == list(b.terms_)
    assert _max_diff(a.pooled_, b.pooled_) < GLM_TOL


def test_pipeline_predict_and_prediction_estimand_equal_statsmodels(nhanes2):
    X, y = nhanes2.drop(columns="chl"), nhanes2["chl"]
    at = X.dropna().iloc[:3]
    kw = {"n_imputations": 4, "random_state": 8, "keep_imputations": True}
    mi = MIPooledEstimator(_nhanes_pipeline(), **kw).fit(X, y)
    pred = MIPooledEstimator(_nhanes_pipeline(), estimand=predictions(at), **kw).fit(X, y)

    fits, refs, means = [], [], []
    for d in mi.imputations_:
        mean, sd = d["bmi"].mean(), d["bmi"].std(ddof=0)

        def design(rows, mean=mean, sd=sd):
            cats = [_dummies(rows["age"], ["20-39", "40-59", "60-99"])]
            cats.append(_dummies(rows["hyp"], ["no", "yes"]))
            return sm.add_constant(np.column_stack([*cats, (rows["bmi"] - mean) / sd]))

        fit = sm.OLS(d["chl"].to_numpy(), design(d)).fit()
        Z = design(at)
        means.append(Z @ fit.params)
        refs.append(Estimate(Z @ fit.params, Z @ fit.cov_params() @ Z.T, dfcom=fit.df_resid))
        fits.append(fit)
    ref = pool(refs, names=list(pred.terms_))
    assert _max_diff(pred.pooled_, ref) < OLS_TOL
    assert np.max(np.abs(mi.predict(at) - np.mean(means, axis=0))) < OLS_TOL
    assert mi.predict(X.iloc[:6]).shape == (6,)  # incomplete rows: imputed, then predicted


def test_marginal_effect_through_a_scaler_is_per_unit_of_the_input(nhanes2):
    X = nhanes2[["age", "bmi"]].assign(age=lambda d: d["age"].cat.codes.replace(-1, np.nan))
    y = (nhanes2["chl"].fillna(nhanes2["chl"].median()) > 190).astype(int)
    model = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12)
    kw = {"n_imputations": 3, "random_state": 6}
    ame = average_marginal_effect("bmi")
    plain = MIPooledEstimator(model, estimand=ame, **kw).fit(X, y)
    scaled = MIPooledEstimator(make_pipeline(StandardScaler(), model), estimand=ame, **kw)
    scaled.fit(X, y)
    assert list(scaled.terms_) == ["dydx(bmi)"]
    # the same model in other units: dy/d(bmi), not dy/d(standardised bmi)
    assert _max_diff(scaled.pooled_, plain.pooled_) < GLM_TOL
    raw_coef = MIPooledEstimator(make_pipeline(StandardScaler(), model), **kw).fit(X, y)
    assert abs(raw_coef.pooled_.estimate["bmi"] - scaled.pooled_.estimate.iloc[0]) > 1e-3


def test_marginal_effect_in_the_categorical_default_is_the_slope(nhanes2):
    X, y = nhanes2.drop(columns="chl"), nhanes2["chl"]
    kw = {"n_imputations": 3, "random_state": 1}
    ame = MIPooledEstimator(estimand=average_marginal_effect("bmi"), **kw).fit(X, y)
    coef = MIPooledEstimator(**kw).fit(X, y)
    # a linear model: the AME of bmi is its coefficient, with the same SE
    assert abs(ame.pooled_.estimate.iloc[0] - coef.pooled_.estimate["bmi"]) < 1e-8
    assert abs(ame.pooled_.std_error.iloc[0] - coef.pooled_.std_error["bmi"]) < 1e-8


def test_marginal_effect_of_an_encoded_column_is_refused(nhanes2):
    X, y = nhanes2.drop(columns="chl"), nhanes2["chl"]
    mi = MIPooledEstimator(
        _nhanes_pipeline(), estimand=average_marginal_effect("age"), n_imputations=2
    )
    with pytest.raises(ValueError, match="OneHotEncoder"):
        mi.fit(X, y)
    default = MIPooledEstimator(estimand=average_marginal_effect("hyp"), n_imputations=2)
    with pytest.raises(ValueError, match="'hyp' is categorical"):
        default.fit(X, y)


def test_a_level_met_in_some_imputations_only_is_named():
    rng = np.random.default_rng(0)
    n = 60
    X = pd.DataFrame({"x": rng.normal(size=n), "code": rng.integers(0, 3, n).astype(float)})
    y = X["x"] + X["code"] + rng.normal(size=n)
    X.loc[:5, "code"] = np.nan
    pipe = make_pipeline(
        ColumnTransformer(
            [("c", OneHotEncoder(drop="first", sparse_output=False), ["code"])],
            remainder="passthrough",
        ),
        LinearRegression(),
    )
    # IterativeImputer imputes numbers, so the encoder meets new "levels" such as 1.37
    mi = MIPooledEstimator(pipe, IterativeImputer(sample_posterior=True), n_imputations=3)
    with pytest.raises(ValueError, match=r"imputation 2 reports other terms.*\['code'\]"):
        mi.fit(X, y)


@pytest.mark.parametrize(
    "step", [TargetEncoder(), SelectKBest(f_regression, k=1)], ids=["target", "select"]
)
def test_a_step_that_learns_from_y_is_refused_before_imputing(nhanes2, step):
    X, y = nhanes2[["bmi", "hyp"]], nhanes2["chl"]
    cols = ["hyp"] if isinstance(step, TargetEncoder) else ["bmi"]
    pipe = make_pipeline(ColumnTransformer([("s", step, cols)]), LinearRegression())

    class Boom(IterativeImputer):
        def fit_transform(self, X, y=None):
            raise AssertionError("imputed before the check")

    with pytest.raises(ValueError, match=r"learns from the outcome y.*bootstrap"):
        MIPooledEstimator(pipe, imputer=Boom(), n_imputations=2).fit(X, y)


def test_bootstrap_variance_runs_through_a_pipeline(nhanes2):
    X, y = nhanes2.drop(columns="chl"), nhanes2["chl"]
    pipe = make_pipeline(StandardScaler(), LinearRegression())
    mi = MIPooledEstimator(
        pipe, variance="bootstrap", n_bootstrap=20, n_imputations=2, random_state=0
    ).fit(X[["bmi"]], y)
    assert list(mi.terms_) == ["intercept", "bmi"]


# ------------------------------------------------ B. categorical default analysis


def test_default_analysis_matches_lm_with_factors(nhanes2):
    X, y = nhanes2.drop(columns="chl"), nhanes2["chl"]
    mi = MIPooledEstimator(n_imputations=20, random_state=1, keep_imputations=True).fit(X, y)
    ref = pool([smf.ols("chl ~ age + bmi + hyp", d).fit() for d in mi.imputations_])
    ref_names = ["intercept" if n == "Intercept" else n for n in ref.terms]
    assert sorted(mi.terms_) == sorted(ref_names)  # patsy's names; patsy puts factors first
    ours = mi.pooled_.to_frame().loc[ref_names]
    theirs = ref.to_frame().set_axis(ref_names)
    cols = ["estimate", "std_error", "df", "fmi", "riv"]
    assert np.max(np.abs(ours[cols].to_numpy() - theirs[cols].to_numpy())) < OLS_TOL
    table = mi.pooled_.wald_test_terms()
    assert list(table.index) == ["age", "bmi", "hyp"]
    assert table["df1"].tolist() == [2, 1, 1]
    ref_table = ref.wald_test_terms().loc[["age", "bmi", "hyp"]]
    assert np.max(np.abs(table.to_numpy() - ref_table.to_numpy())) < OLS_TOL


def test_default_analysis_predicts_new_rows_with_categories(nhanes2):
    X, y = nhanes2.drop(columns="chl"), nhanes2["chl"]
    mi = MIPooledEstimator(n_imputations=3, random_state=2, keep_imputations=True).fit(X, y)
    new = pd.DataFrame(
        {
            "age": pd.Categorical(["60-99", "20-39"], categories=["20-39", "40-59", "60-99"]),
            "bmi": [25.0, 30.0],
            "hyp": pd.Categorical(["yes", "no"], categories=["no", "yes"]),
        }
    )
    fits = [smf.ols("chl ~ age + bmi + hyp", d).fit() for d in mi.imputations_]
    expected = np.mean([f.predict(new).to_numpy() for f in fits], axis=0)
    assert np.max(np.abs(mi.predict(new) - expected)) < OLS_TOL
    # text instead of a categorical dtype, and a missing level: imputed, then predicted
    text = new.astype({"age": object, "hyp": object})
    text.loc[1, "hyp"] = np.nan
    assert np.isfinite(mi.predict(text)).all()


def test_default_analysis_codes_booleans_and_text_like_patsy():
    rng = np.random.default_rng(3)
    n = 80
    X = pd.DataFrame(
        {
            "flag": pd.array(rng.random(n) < 0.5, dtype="boolean"),
            "city": rng.choice(["paris", "berlin", "rome"], n).astype(object),
            "x": rng.normal(size=n),
        }
    )
    y = X["x"] + X["flag"].astype(float) + rng.normal(size=n)
    X.loc[:4, "flag"] = pd.NA
    X.loc[5:9, "city"] = np.nan
    X_before = X.copy()
    mi = MIPooledEstimator(n_imputations=3, random_state=0, keep_imputations=True).fit(X, y)
    pd.testing.assert_frame_equal(X, X_before)
    # sorted levels, the first one the reference (R's factor())
    assert list(mi.terms_) == [
        "intercept",
        "flag[T.True]",
        "city[T.paris]",
        "city[T.rome]",
        "x",
    ]
    fits = []
    for d in mi.imputations_:
        d = d.assign(flag=d["flag"].astype(bool))
        fits.append(smf.ols("y ~ flag + city + x", d.assign(y=y.to_numpy())).fit())
    ref = pool(fits, names=list(mi.terms_))
    assert _max_diff(mi.pooled_, ref) < OLS_TOL


def test_treatment_contrasts_keep_the_categorical_order_ordered_too():
    X = pd.DataFrame(
        {"gen": pd.Categorical(["G2", "G1", "G3"], categories=["G1", "G2", "G3"], ordered=True)}
    )
    enc = TreatmentContrasts().fit(X)
    assert list(enc.get_feature_names_out()) == ["gen[T.G2]", "gen[T.G3]"]
    assert enc.transform(X).tolist() == [[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]


@pytest.mark.filterwarnings("ignore:Reiter's small-sample df")
@pytest.mark.parametrize("as_categorical", [False, True], ids=["text", "categorical"])
def test_boys_with_defaults_gives_one_term_per_predictor(as_categorical):
    boys = load_boys()
    X, y = boys[["age", "wgt", "hc", "gen", "phb", "reg"]].copy(), boys["hgt"]
    if as_categorical:  # the loader may give Tanner stages as ordered categoricals
        X["gen"] = pd.Categorical(X["gen"], categories=[f"G{i}" for i in range(1, 6)], ordered=True)
        X["phb"] = pd.Categorical(X["phb"], categories=[f"P{i}" for i in range(1, 7)], ordered=True)
        X["reg"] = X["reg"].astype("category")
    mi = MIPooledEstimator(n_imputations=2, random_state=1).fit(X, y)
    table = mi.pooled_.wald_test_terms()
    assert table["df1"].to_dict() == {"age": 1, "wgt": 1, "hc": 1, "gen": 4, "phb": 5, "reg": 4}
    assert "gen[T.G2]" in mi.terms_ and "phb[T.P6]" in mi.terms_


def test_a_category_in_no_row_is_refused(nhanes2):
    X = nhanes2.drop(columns="chl").assign(hyp=lambda d: d["hyp"].cat.add_categories(["unknown"]))
    with pytest.raises(ValueError, match=r"'hyp' has categories \['unknown'\] that occur in no"):
        MIPooledEstimator(n_imputations=2).fit(X, nhanes2["chl"])


# ------------------------------------------------------------------- C. bad input


def test_unknown_level_at_predict_is_named(nhanes2):
    X, y = nhanes2.drop(columns="chl"), nhanes2["chl"]
    mi = MIPooledEstimator(n_imputations=2, random_state=0).fit(X, y)
    new = X.dropna().iloc[:2].astype({"age": object})
    new.iloc[0, 0] = "100+"
    with pytest.raises(ValueError, match=r"column 'age' has levels \['100\+'\]"):
        mi.predict(new)


@pytest.mark.filterwarnings("ignore:Found unknown categories")
def test_unknown_level_is_ignored_when_the_encoder_says_so(nhanes2):
    X, y = nhanes2.drop(columns="chl"), nhanes2["chl"]
    enc = OneHotEncoder(drop="first", sparse_output=False, handle_unknown="ignore")
    pipe = make_pipeline(
        ColumnTransformer([("cat", enc, ["age", "hyp"])], remainder="passthrough"),
        LinearRegression(),
    )
    mi = MIPooledEstimator(pipe, n_imputations=2, random_state=0).fit(X, y)
    rows = X.dropna().iloc[:1].astype({"age": object})
    ref = rows.copy()
    rows.iloc[0, 0] = "100+"
    ref.iloc[0, 0] = "20-39"  # the dropped reference level: all dummies zero, as for "100+"
    assert np.allclose(mi.predict(rows), mi.predict(ref), rtol=0, atol=1e-10)


def test_bare_linear_model_with_categorical_X_is_refused_before_imputing(nhanes2):
    X, y = nhanes2.drop(columns="chl"), nhanes2["chl"]

    class Boom(IterativeImputer):
        def fit_transform(self, X, y=None):
            raise AssertionError("imputed before the check")

    with pytest.raises(ValueError, match=r"\['age', 'hyp'\].*OneHotEncoder\(drop=\"first\"\)"):
        MIPooledEstimator(LinearRegression(), imputer=Boom(), n_imputations=2).fit(X, y)


def test_inputs_are_not_modified(nhanes2):
    X, y = nhanes2.drop(columns="chl"), nhanes2["chl"]
    X_before, y_before = X.copy(), y.copy()
    for estimator in (None, _nhanes_pipeline()):
        mi = MIPooledEstimator(estimator, n_imputations=2, random_state=0).fit(X, y)
        mi.predict(X)
        pd.testing.assert_frame_equal(X, X_before)
        pd.testing.assert_series_equal(y, y_before)
