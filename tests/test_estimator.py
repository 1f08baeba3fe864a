"""MIPooledEstimator: pooling, adapters, scikit-learn citizenship."""

import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from conftest import sklearn_check_params
from mar_simulation import mar_data
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, SimpleImputer
from sklearn.linear_model import (
    GammaRegressor,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    TweedieRegressor,
)
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils import check_random_state

from skmipool import (
    DeterministicImputationWarning,
    Estimate,
    ImputationError,
    MIPooledEstimator,
    pool,
)
from skmipool._adapters import NoStandardErrorError, coef_estimate
from skmipool.datasets import load_boys, load_nhanes, load_nhanes2
from skmipool.impute import ChainedImputer

# ------------------------------------------------------------ estimator checks


CHECKED_ESTIMATORS = [
    MIPooledEstimator(n_imputations=2, random_state=0),
    # multiclass LogisticRegression has no identified coefficient covariance, so the
    # classifier checks (which use 3-class data) run with the within-imputation bootstrap
    MIPooledEstimator(
        LogisticRegression(),
        variance="bootstrap",
        n_bootstrap=3,
        n_imputations=2,
        random_state=0,
    ),
]
SKLEARN_CHECKS = sklearn_check_params(CHECKED_ESTIMATORS, lambda est: type(est.estimator).__name__)


@pytest.mark.parametrize(("estimator", "check"), SKLEARN_CHECKS)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeterministicImputationWarning)
        check(estimator)


# ---------------------------------------------------------------- helpers


def _mar_data(n=200, seed=0, frac=0.35):
    """Two correlated predictors; x1 missing with probability rising in y (MAR)."""
    return mar_data(n, np.random.default_rng(seed), frac)


@pytest.fixture(scope="module")
def nhanes():
    df = load_nhanes()
    return df[["age", "bmi", "hyp"]], df["chl"]


@pytest.fixture(scope="module")
def binary():
    """A binary outcome with overlap (no separation) and 30% missing in x1."""
    X, y = _mar_data(n=150, seed=8, frac=0.3)
    return X, (y > y.median()).map({True: "high", False: "low"})


@pytest.fixture(scope="module")
def fitted(nhanes):
    X, y = nhanes
    return MIPooledEstimator(n_imputations=5, random_state=1).fit(X, y)


# ------------------------------------------------------- pooling is correct


def _hand_loop(X, y, imputer: str):
    """The loop people write by hand: seeds as the estimator draws them, OLS, skmipool.pool."""
    data = pd.concat([X, y], axis=1)
    seeds = check_random_state(1).randint(np.iinfo(np.int32).max, size=5)
    fits = []
    for s in seeds:
        if imputer == "chained":  # the default: draws its own parameters, no bootstrap
            done = ChainedImputer(random_state=int(s)).fit_transform(data).to_numpy()
            fits.append(sm.OLS(done[:, 3], sm.add_constant(done[:, :3])).fit())
            continue
        imp = IterativeImputer(sample_posterior=True, max_iter=10, random_state=int(s))
        if imputer == "iterative, bootstrap":
            rng = np.random.default_rng([int(s), 1])
            while True:
                rows = rng.integers(0, len(data), size=len(data))
                if data.iloc[rows].notna().any().all():
                    break
            done = imp.fit(data.iloc[rows]).transform(data)
        else:
            done = imp.fit_transform(data)
        fits.append(sm.OLS(done[:, 3], sm.add_constant(done[:, :3])).fit())
    return pool(fits)


@pytest.mark.parametrize("imputer", ["chained", "iterative, bootstrap", "iterative"])
def test_equals_hand_written_loop(nhanes, fitted, imputer):
    """Same seeds, same imputer, statsmodels OLS, skmipool.pool: the same numbers."""
    X, y = nhanes
    if imputer == "chained":  # the default imputer
        est = fitted
    else:  # IterativeImputer(sample_posterior=True) is bootstrapped unless told otherwise
        est = MIPooledEstimator(
            imputer=IterativeImputer(sample_posterior=True, max_iter=10),
            n_imputations=5,
            imputation_bootstrap="auto" if imputer == "iterative, bootstrap" else False,
            random_state=1,
        )
        est.fit(X, y)
    ref = _hand_loop(X, y, imputer)
    np.testing.assert_allclose(est.pooled_.estimate, ref.estimate, rtol=1e-10)
    np.testing.assert_allclose(est.std_error_, ref.std_error, rtol=1e-10)
    np.testing.assert_allclose(est.df_, ref.df, rtol=1e-10)
    np.testing.assert_allclose(est.fmi_, ref.fmi, rtol=1e-10)
    assert est.dfcom_ == ref.dfcom == 21  # 25 rows (missing y imputed, as mice) - 4


def test_fitted_attributes(fitted):
    assert list(fitted.terms_) == ["intercept", "age", "bmi", "hyp"]
    assert fitted.coef_.shape == fitted.estimators_[0].coef_.shape == (3,)
    assert isinstance(fitted.intercept_, float)
    np.testing.assert_allclose(fitted.coef_, fitted.pooled_.estimate.iloc[1:])
    assert fitted.intercept_ == pytest.approx(fitted.pooled_.estimate.iloc[0])
    assert fitted.estimates_.shape == (5, 4)
    assert fitted.covariances_.shape == (5, 4, 4)
    assert len(fitted.estimators_) == len(fitted.imputers_) == fitted.n_imputations_ == 5
    assert list(fitted.feature_names_in_) == ["age", "bmi", "hyp"]
    assert fitted.n_features_in_ == 3
    for attr in ("std_error_", "df_", "fmi_", "riv_", "lambda_", "relative_efficiency_"):
        assert list(getattr(fitted, attr).index) == list(fitted.terms_)
    # every imputer is its own clone with its own seed
    seeds = {imp.random_state for imp in fitted.imputers_}
    assert len(seeds) == 5
    assert fitted.imputer is None and fitted.estimator is None  # parameters untouched
    pd.testing.assert_frame_equal(fitted.conf_int(), fitted.pooled_.conf_int())
    assert "Imputations (M): 5" in str(fitted.summary())


def _documented_attributes(cls):
    doc = cls.__doc__
    section = doc.split("Attributes\n    ----------\n")[1].split("\n\n    Notes")[0]
    return set(re.findall(r"^    (\w+) :", section, flags=re.M))


def test_attributes_docstring_in_step_with_code(nhanes, fitted, binary):
    X, y = nhanes
    documented = _documented_attributes(MIPooledEstimator)
    public = {a for a in vars(fitted) if a.endswith("_") and not a.startswith("_")}
    clf = MIPooledEstimator(LogisticRegression(C=np.inf), n_imputations=2, random_state=0)
    clf.fit(*binary)
    public |= {a for a in vars(clf) if a.endswith("_") and not a.startswith("_")}
    kept = MIPooledEstimator(n_imputations=2, keep_imputations=True, random_state=0).fit(X, y)
    public |= {a for a in vars(kept) if a.endswith("_") and not a.startswith("_")}
    auto = MIPooledEstimator(n_imputations="auto", pilot_imputations=3, target_cv=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few imputations: unstable-FMI warning
        auto.fit(X, y)
    public |= {a for a in vars(auto) if a.endswith("_") and not a.startswith("_")}
    assert public == documented


def test_result_identical_for_any_n_jobs(nhanes):
    X, y = nhanes
    a = MIPooledEstimator(n_imputations=4, random_state=3, n_jobs=1).fit(X, y)
    b = MIPooledEstimator(n_imputations=4, random_state=3, n_jobs=2).fit(X, y)
    pd.testing.assert_frame_equal(a.estimates_, b.estimates_, check_exact=True)
    np.testing.assert_array_equal(a.covariances_, b.covariances_)


def test_missing_outcome_rows_are_imputed_and_analysed(nhanes, fitted):
    X, y = nhanes
    assert y.isna().sum() == 10
    assert set(fitted.pooled_.nobs) == {25}  # no row dropped
    with pytest.raises(ValueError, match="y has 10 missing values and impute_target=False"):
        MIPooledEstimator(impute_target=False).fit(X, y)
    keep = y.notna()
    mid = MIPooledEstimator(impute_target=False, n_imputations=3, random_state=0)
    mid.fit(X[keep], y[keep])
    assert set(mid.pooled_.nobs) == {15}


# ------------------------------------------------------------------ adapters


def _glm_data(seed=0, n=300):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    mu = np.exp(0.3 + 0.4 * X[:, 0] - 0.2 * X[:, 1])
    return X, mu, rng


def test_linear_regression_covariance_equals_ols():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = X @ [1, 2, 3] + rng.normal(size=50)
    est = coef_estimate(LinearRegression().fit(X, y), X, y)
    ref = sm.OLS(y, sm.add_constant(X)).fit()
    np.testing.assert_allclose(est.estimate, ref.params, rtol=1e-10)
    np.testing.assert_allclose(est.covariance, ref.cov_params(), rtol=1e-10)
    assert est.dfcom == 46


def test_logistic_regression_covariance_equals_logit():
    X, mu, rng = _glm_data()
    y = (rng.random(300) < mu / (1 + mu)).astype(int)
    lr = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    est = coef_estimate(lr, X, y)
    ref = sm.Logit(y, sm.add_constant(X)).fit(disp=0, method="newton", tol=1e-14)
    np.testing.assert_allclose(est.estimate, ref.params, rtol=1e-5)
    np.testing.assert_allclose(est.covariance, ref.cov_params(), rtol=1e-5)


@pytest.mark.parametrize(
    ("model", "family"),
    [
        (PoissonRegressor(alpha=0, tol=1e-12, max_iter=10_000), "poisson"),
        (GammaRegressor(alpha=0, tol=1e-12, max_iter=10_000), "gamma"),
        (TweedieRegressor(power=1.5, alpha=0, link="log", tol=1e-12, max_iter=10_000), "tweedie"),
        (TweedieRegressor(power=0, alpha=0, tol=1e-12, max_iter=10_000), "gaussian"),
    ],
)
def test_glm_covariances_equal_statsmodels(model, family):
    X, mu, rng = _glm_data(1)
    log = sm.families.links.Log()
    if family == "poisson":
        y, fam, scale = rng.poisson(mu), sm.families.Poisson(), None
    elif family == "gamma":
        y, fam, scale = rng.gamma(2.0, mu / 2.0), sm.families.Gamma(log), "X2"
    elif family == "tweedie":
        y, fam, scale = rng.gamma(2.0, mu / 2.0), sm.families.Tweedie(log, var_power=1.5), "X2"
    else:
        y, fam, scale = mu + rng.normal(size=mu.size), sm.families.Gaussian(), "X2"
    est = coef_estimate(clone(model).fit(X, y), X, y)
    ref = sm.GLM(y, sm.add_constant(X), family=fam).fit(scale=scale, tol=1e-14)
    np.testing.assert_allclose(est.estimate, ref.params, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(est.covariance, ref.cov_params(), rtol=1e-4)
    assert est.dfcom == 297


def test_penalized_logistic_regression_is_refused(nhanes):
    X, y = nhanes
    yb = (y.fillna(y.mean()) > 190).astype(int)
    with pytest.raises(ImputationError, match=r"penalized \(C=1.0\).*C=np.inf") as info:
        MIPooledEstimator(LogisticRegression(), n_imputations=2, random_state=0).fit(X, yb)
    assert "imputation 1" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


def test_penalized_glm_is_refused():
    X, mu, rng = _glm_data()
    y = rng.poisson(mu)
    with pytest.raises(ValueError, match=r"penalized \(alpha=1.0\)"):
        coef_estimate(PoissonRegressor().fit(X, y), X, y)


def test_estimator_without_standard_errors(nhanes):
    X, y = nhanes
    with pytest.raises(NoStandardErrorError, match=r'variance="bootstrap".*estimand=callable'):
        MIPooledEstimator(DecisionTreeRegressor()).fit(X, y)


def test_collinear_columns_are_named():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    X["c"] = X["a"] + X["b"]
    X["d"] = rng.normal(size=40)
    X.loc[:5, "d"] = np.nan
    y = rng.normal(size=40)
    with pytest.raises(
        ValueError, match=r"columns \['a', 'b', 'c'\] of X are collinear in the 34 "
    ):
        MIPooledEstimator(n_imputations=2, random_state=0).fit(X, y)


def test_pool_accepts_estimator_data_tuples():
    rng = np.random.default_rng(0)
    items = []
    for _ in range(3):
        X = rng.normal(size=(30, 2))
        y = X @ [1, 1] + rng.normal(size=30)
        items.append((LinearRegression().fit(X, y), X, y))
    res = pool(items)
    assert list(res.terms) == ["intercept", "x0", "x1"]
    assert res.dfcom == 27


# -------------------------------------------------------- other estimands


def test_bootstrap_variance_close_to_analytic():
    """With little missingness the bootstrap SE is near the OLS SE (MC error ~ sqrt(1/(2B)))."""
    X, y = _mar_data(n=300, seed=0, frac=0.05)
    kw = {"n_imputations": 3, "random_state": 0}
    analytic = MIPooledEstimator(**kw).fit(X, y)
    boot = MIPooledEstimator(variance="bootstrap", n_bootstrap=400, **kw).fit(X, y)
    np.testing.assert_allclose(boot.pooled_.estimate, analytic.pooled_.estimate, rtol=1e-12)
    se_ratio = np.sqrt(boot.pooled_.within / analytic.pooled_.within)
    assert se_ratio.between(0.85, 1.15).all(), se_ratio
    assert np.isinf(boot.dfcom_)  # the bootstrap has no small-sample df
    again = MIPooledEstimator(variance="bootstrap", n_bootstrap=400, **kw).fit(X, y)
    np.testing.assert_array_equal(again.covariances_, boot.covariances_)


def test_callable_estimand(nhanes):
    X, y = nhanes

    def mean_outcome(estimator, Xc, yc):
        yc = np.asarray(yc)
        return Estimate(
            [yc.mean()], [[yc.var(ddof=1) / yc.size]], names=["mean_chl"], dfcom=yc.size - 1
        )

    mi = MIPooledEstimator(estimand=mean_outcome, n_imputations=4, random_state=0).fit(X, y)
    assert list(mi.terms_) == ["mean_chl"]
    assert mi.dfcom_ == 24
    assert not hasattr(mi, "coef_")
    assert 150 < mi.pooled_.estimate.iloc[0] < 230

    def not_an_estimate(estimator, Xc, yc):
        return 1.0

    with pytest.raises(ImputationError, match=r"must return a skmipool\.Estimate"):
        MIPooledEstimator(estimand=not_an_estimate, n_imputations=2).fit(X, y)


def test_binary_classifier(binary):
    X, yb = binary
    mi = MIPooledEstimator(LogisticRegression(C=np.inf), n_imputations=3, random_state=0)
    mi.fit(X, yb)
    assert list(mi.classes_) == ["high", "low"]
    assert mi.coef_.shape == (1, 2) and mi.intercept_.shape == (1,)
    proba = mi.predict_proba(X)
    assert proba.shape == (150, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(mi.predict(X)) <= {"high", "low"}
    keep = X.notna().all(axis=1)
    assert 0.6 <= mi.score(X[keep], yb[keep]) <= 1


def test_perfect_separation_is_refused():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x1": rng.normal(size=60), "x2": rng.normal(size=60)})
    y = (X["x1"] > 0).astype(int)
    X.loc[:5, "x2"] = np.nan
    with pytest.raises(ImputationError, match="perfect separation") as info:
        MIPooledEstimator(LogisticRegression(C=np.inf), n_imputations=2, random_state=0).fit(X, y)
    assert "imputation 1" in str(info.value)


# ---------------------------------------------------------- predictions


def test_predict_averages_the_m_fits_and_repeats(nhanes, fitted):
    X, _ = nhanes
    complete = X.dropna()
    expected = np.mean([e.predict(complete) for e in fitted.estimators_], axis=0)
    np.testing.assert_allclose(fitted.predict(complete), expected)
    with_nan = X.iloc[:8]
    assert with_nan.isna().any().any()
    p1, p2 = fitted.predict(with_nan), fitted.predict(with_nan)
    np.testing.assert_array_equal(p1, p2)
    assert np.isfinite(p1).all()


def test_predict_before_fit_and_on_other_columns(nhanes, fitted):
    X, _ = nhanes
    with pytest.raises(NotFittedError):
        MIPooledEstimator().predict(X)
    with pytest.raises(ValueError, match="feature names"):
        fitted.predict(X.rename(columns={"bmi": "BMI"}))
    with (
        pytest.warns(UserWarning, match="does not have valid feature names"),
        pytest.raises(ValueError, match="3 features"),
    ):
        fitted.predict(X.to_numpy()[:, :2])


def test_pickle_round_trip_predicts_identically(nhanes, fitted):
    X, _ = nhanes
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict(X), fitted.predict(X))
    pd.testing.assert_frame_equal(again.pooled_.to_frame(), fitted.pooled_.to_frame())


# --------------------------------------------------------- deterministic imputers


@pytest.mark.parametrize(
    "imputer",
    [SimpleImputer(), IterativeImputer(sample_posterior=False, random_state=0)],
    ids=["SimpleImputer", "IterativeImputer-no-posterior"],
)
def test_deterministic_imputer_warns(nhanes, imputer):
    X, y = nhanes
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mi = MIPooledEstimator(imputer=imputer, n_imputations=3, random_state=0).fit(X, y)
    messages = [str(w.message) for w in caught]
    assert any(
        issubclass(w.category, DeterministicImputationWarning) and "B = 0" in str(w.message)
        for w in caught
    )
    no_seed = any("has no random_state parameter" in m for m in messages)
    assert no_seed == isinstance(imputer, SimpleImputer)
    assert (mi.pooled_.between == 0).all()


def test_complete_data_warns(nhanes):
    X, y = nhanes
    keep = X.notna().all(axis=1) & y.notna()
    with pytest.warns(DeterministicImputationWarning, match="no missing values"):
        MIPooledEstimator(n_imputations=2).fit(X[keep], y[keep])


# ------------------------------------------------- pipelines and model selection


@pytest.fixture(scope="module")
def boys():
    df = load_boys()[["age", "hgt", "wgt", "hc"]].iloc[::3]
    df = df[df["hgt"].notna()]
    return df[["age", "wgt", "hc"]], df["hgt"]


def test_in_pipeline_with_column_transformer(boys):
    X, y = boys
    pipe = Pipeline(
        [
            (
                "scale",
                ColumnTransformer(
                    [("num", StandardScaler(), ["wgt", "hc"])],
                    remainder="passthrough",
                    verbose_feature_names_out=False,
                ).set_output(transform="pandas"),
            ),
            ("mi", MIPooledEstimator(n_imputations=3, random_state=0)),
        ]
    )
    pipe.fit(X, y)
    mi = pipe.named_steps["mi"]
    assert list(mi.terms_) == ["intercept", "wgt", "hc", "age"]
    assert np.isfinite(pipe.predict(X)).all()
    scores = cross_val_score(pipe, X, y, cv=KFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,) and np.all(scores > 0.5)


def test_grid_search_over_imputer_settings(boys):
    X, y = boys
    grid = GridSearchCV(
        MIPooledEstimator(imputer=IterativeImputer(sample_posterior=True), random_state=0),
        {
            "imputer__max_iter": [3, 10],
            "imputer__n_nearest_features": [None, 2],
            "n_imputations": [2, 3],
        },
        cv=2,
    )
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 8
    assert grid.best_estimator_.n_imputations_ in (2, 3)


def test_nested_params():
    mi = MIPooledEstimator(LinearRegression(), IterativeImputer(sample_posterior=True))
    mi.set_params(imputer__max_iter=3, estimator__fit_intercept=False)
    params = mi.get_params()
    assert params["imputer__max_iter"] == 3 and params["estimator__fit_intercept"] is False
    assert clone(mi).get_params()["imputer__max_iter"] == 3


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_imputations": 1}, "n_imputations"),
        ({"n_imputations": 2.5}, "n_imputations"),
        ({"dfcom": 0}, "dfcom"),
        ({"dfcom": -4}, "dfcom"),
        ({"variance": "jackknife"}, "variance"),
    ],
)
def test_parameter_validation(nhanes, params, match):
    X, y = nhanes
    with pytest.raises(ValueError, match=match):
        MIPooledEstimator(**params).fit(X, y)


def test_fit_without_intercept(nhanes):
    X, y = nhanes
    mi = MIPooledEstimator(
        LinearRegression(fit_intercept=False), n_imputations=2, random_state=0
    ).fit(X, y)
    assert list(mi.terms_) == ["age", "bmi", "hyp"]
    assert mi.intercept_ == 0.0
    assert mi.dfcom_ == 22


def test_input_not_modified(nhanes):
    X, y = nhanes
    X0, y0 = X.copy(), y.copy()
    MIPooledEstimator(n_imputations=2, random_state=0).fit(X, y)
    pd.testing.assert_frame_equal(X, X0)
    pd.testing.assert_series_equal(y, y0)


def test_complete_x_with_missing_outcome_warns_that_imputing_y_adds_nothing(nhanes):
    X, y = nhanes
    keep = X.notna().all(axis=1)
    assert y[keep].isna().any()  # some outcomes are still missing
    with pytest.warns(UserWarning, match=r"only the outcome is imputed \(\d+ value") as record:
        MIPooledEstimator(n_imputations=2, random_state=0).fit(X[keep], y[keep])
    assert any("missing-indicator method" in str(w.message) for w in record)


def test_one_hot_encoding_nan_before_imputation_is_flagged():
    """The trap: NaN one-hot encoded as its own category before MI leaves nothing to impute."""
    X = load_nhanes2()[["age", "hyp"]]
    y = load_nhanes2()["chl"]
    keep = y.notna()
    assert X.loc[keep, "hyp"].isna().any()
    encoded = pd.get_dummies(X[keep], columns=["hyp"], dummy_na=True, drop_first=True, dtype=float)
    encoded["age"] = encoded["age"].cat.codes.astype(float)
    with pytest.warns(DeterministicImputationWarning, match="missing-indicator method"):
        MIPooledEstimator(n_imputations=2, random_state=0).fit(encoded, y[keep])


def test_mostly_imputed_outcome_and_predictor_warn():
    """Issue 13: an outcome observed in 1 of 60 rows was imputed and analysed with no word."""
    rng = np.random.default_rng(5)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    y = pd.Series(X["a"] + rng.normal(size=60), name="y")
    y[10:] = np.nan
    X.loc[: int(0.95 * 60), "b"] = np.nan
    with pytest.warns(UserWarning) as record:
        MIPooledEstimator(n_imputations=2, random_state=0).fit(X, y)
    messages = [str(w.message) for w in record]
    assert any("the outcome is missing in 50 of 60 rows (83%)" in m for m in messages)
    assert any("column 'b' is missing in 58 of 60 rows (97%)" in m for m in messages)


def test_half_missing_predictor_does_not_warn(nhanes):
    X, y = nhanes
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", message="the fraction of missing information")
        MIPooledEstimator(n_imputations=2, random_state=0).fit(X, y)


def test_high_fmi_with_few_imputations_warns():
    X, y = mar_data(40, np.random.default_rng(1), frac=0.8)
    with pytest.warns(UserWarning, match=r"fraction of missing information is 0\.9\d for"):
        MIPooledEstimator(n_imputations=2, random_state=2).fit(X, y)
