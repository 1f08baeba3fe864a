"""ChainedImputer (issue 8): scikit-learn contract, dtypes, each method's statistics, coverage."""

import copy
import json
import pickle
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from conftest import sklearn_check_params
from mar_simulation import mar_datasets
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils._param_validation import InvalidParameterError
from statsmodels.miscmodels.ordinal_model import OrderedModel

from skmipool import DeterministicImputationWarning, MIPooledEstimator, pool
from skmipool.datasets import load_boys, load_nhanes, load_nhanes2
from skmipool.impute import ChainedImputer, _models
from skmipool.impute._models import (
    ROW_BLOCK,
    LrdModel,
    MidastouchModel,
    PmmModel,
    PolrModel,
    _polr_draw,
    _polr_newton,
    block_starts,
    compose,
    match_donors,
    nearest_block,
    sort_order,
)
from skmipool.impute._multilevel import _ClusterLevelData

FIXTURES = Path(__file__).parent / "fixtures"

# ------------------------------------------------------------ estimator checks

CHECKED_ESTIMATORS = [
    ChainedImputer(random_state=0),
    ChainedImputer(method="norm", sample_posterior=False, keep_trace=True, random_state=0),
]
SKLEARN_CHECKS = sklearn_check_params(CHECKED_ESTIMATORS, lambda est: est.method)


@pytest.mark.parametrize(("estimator", "check"), SKLEARN_CHECKS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_attributes_docstring_in_step_with_code(mixed):
    doc = ChainedImputer.__doc__
    section = doc.split("Attributes\n    ----------\n")[1].split("\n\n    See Also")[0]
    documented = set(re.findall(r"^    (\w+) :", section, flags=re.M))
    public = set()
    for imp in (ChainedImputer(keep_trace=True), ChainedImputer()):
        fitted = imp.fit(mixed)
        public |= {a for a in vars(fitted) if a.endswith("_") and not a.startswith("_")}
    assert public == documented


# ---------------------------------------------------------------- helpers


def _logistic(z):
    return 1 / (1 + np.exp(-z))


def _mar_numeric(n=1000, seed=0):
    """x1 = 1 + 0.8 x2 + e; y = 1 + 0.5 x1 + 0.5 x2 + e; ~40% of x1 missing, MAR on y and x2."""
    rng = np.random.default_rng(seed)
    x2 = rng.normal(size=n)
    x1 = 1 + 0.8 * x2 + rng.normal(scale=0.6, size=n)
    y = 1 + 0.5 * x1 + 0.5 * x2 + rng.normal(size=n)
    miss = rng.random(n) < _logistic(-0.6 + 1.2 * (y - y.mean()) / y.std() + 0.5 * x2)
    return pd.DataFrame({"x1": np.where(miss, np.nan, x1), "x2": x2, "y": y})


def _mar_binary(n=1500, seed=1):
    """b ~ Bernoulli(logistic(-0.5 + x)); y = x + 0.8 b + e; ~35% of b missing, MAR on y."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    b = (rng.random(n) < _logistic(-0.5 + x)).astype(float)
    y = x + 0.8 * b + rng.normal(size=n)
    miss = rng.random(n) < _logistic(-0.8 + 1.2 * (y - y.mean()) / y.std())
    return pd.DataFrame({"x": x, "b": np.where(miss, np.nan, b), "y": y})


C_LEVELS = np.array(["low", "mid", "high"], dtype=object)
C_LOGITS = np.array([[0.0, 0.0], [0.3, 1.0], [-0.2, 2.0]])  # (intercept, slope on x) per level
C_EFFECTS = np.array([0.0, 0.5, 1.0])


def _mar_categorical(n=3000, seed=2):
    """c in {low, mid, high}, multinomial logit in x; y = x + effect(c) + e; c MAR on x and y."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    eta = C_LOGITS[:, 0] + np.outer(x, C_LOGITS[:, 1])
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    code = (p.cumsum(axis=1) < rng.random(n)[:, None]).sum(axis=1)
    y = x + C_EFFECTS[code] + rng.normal(size=n)
    miss = rng.random(n) < _logistic(-1.0 + 0.8 * x + 0.4 * y)
    c = pd.Categorical(np.where(miss, None, C_LEVELS[code]), categories=C_LEVELS)
    return pd.DataFrame({"x": x, "c": c, "y": y}), C_LEVELS[code]


def _completed(imputer, data, m=10):
    """m completed datasets, each from a clone with its own seed."""
    return [clone(imputer).set_params(random_state=s).fit_transform(data) for s in range(m)]


def _pooled_ols(datasets, formula):
    return pool([smf.ols(formula, data=d).fit() for d in datasets])


def _within_sampling_error(result, truth: dict, z=3.5):
    """|pooled estimate - truth| < z pooled SEs for every term in truth."""
    for term, value in truth.items():
        est, se = result.estimate[term], result.std_error[term]
        assert abs(est - value) < z * se, f"{term}: {est:.4f} vs {value} (SE {se:.4f})"


# ------------------------------------------------------- each method's statistics


@pytest.mark.parametrize("method", ["pmm", "norm", "midastouch"])
def test_numeric_methods_recover_mean_and_slopes(method):
    data = _mar_numeric()
    done = _completed(ChainedImputer(method=method), data)
    # E[x1] = 1; the regression of y on x1, x2 has slopes 0.5, 0.5 (MAR: both recoverable)
    _within_sampling_error(_pooled_ols(done, "x1 ~ 1"), {"Intercept": 1.0})
    slopes = _pooled_ols(done, "y ~ x1 + x2")
    _within_sampling_error(slopes, {"Intercept": 1.0, "x1": 0.5, "x2": 0.5})
    # the check has power: the complete-case mean of x1 is off by many SEs under this MAR
    cc = smf.ols("x1 ~ 1", data=data.dropna()).fit()
    assert abs(cc.params["Intercept"] - 1.0) > 5 * cc.bse["Intercept"]
    # the imputations vary between seeds (B > 0) and the FMI is that of a real imputation
    assert 0.1 < slopes.fmi["x1"] < 0.7


@pytest.mark.parametrize("method", ["pmm", "midastouch"])
def test_donor_methods_impute_observed_values_only(method):
    data = _mar_numeric()
    missing = data["x1"].isna()
    out = ChainedImputer(method=method, random_state=0).fit_transform(data)
    assert out.loc[missing, "x1"].isin(data.loc[~missing, "x1"]).all()


def test_pmm_donors_are_a_bayesian_bootstrap_of_the_observed_rows():
    """Each fit draws its donor pool: n_obs draws with replacement, ~63% distinct rows."""
    data = _mar_numeric(n=2000)
    observed = np.sort(data["x1"].dropna().to_numpy())
    n_obs = observed.size
    pools = []
    for seed in range(3):
        imp = ChainedImputer(method="pmm", random_state=seed, max_iter=2)
        model = imp.fit(data)._models[0]
        assert model.donor_values_.size == n_obs == model.midpoints_.size + model.block_
        assert model.block_ == 5  # the donors drawn from
        assert np.all(np.diff(model.midpoints_) >= 0)  # still sorted for the search
        assert np.isin(model.donor_values_, observed).all()
        distinct = np.unique(model.donor_values_).size
        expected = n_obs * (1 - (1 - 1 / n_obs) ** n_obs)  # 1 - 1/e of the rows
        assert abs(distinct - expected) < 5 * np.sqrt(n_obs * 0.1), (distinct, expected)
        pools.append(model.donor_values_)
    assert not np.array_equal(pools[0], pools[1])  # drawn anew by every fit
    # mice's pmm, and imputation without draws, match among all observed rows once each
    for imp in (
        ChainedImputer(method="pmm", donor_bootstrap=False, random_state=0),
        ChainedImputer(method="pmm", sample_posterior=False),
    ):
        model = imp.fit(data)._models[0]
        np.testing.assert_array_equal(np.sort(model.donor_values_), observed)


def test_norm_imputes_beyond_the_observed_values():
    data = _mar_numeric()
    missing = data["x1"].isna()
    out = ChainedImputer(method="norm", random_state=0).fit_transform(data)
    assert not out.loc[missing, "x1"].isin(data.loc[~missing, "x1"]).any()


def test_logreg_recovers_proportion_and_effect():
    data = _mar_binary()
    done = _completed(ChainedImputer(method={"b": "logreg"}), data)
    assert all(set(d["b"].unique()) == {0.0, 1.0} for d in done)
    # truth of P(b = 1): E[logistic(-0.5 + x)], x ~ N(0, 1), by quadrature
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    p_b = float(np.sum(weights * _logistic(-0.5 + nodes)) / np.sqrt(2 * np.pi))
    _within_sampling_error(_pooled_ols(done, "b ~ 1"), {"Intercept": p_b})
    _within_sampling_error(_pooled_ols(done, "y ~ x + b"), {"Intercept": 0.0, "x": 1.0, "b": 0.8})
    # the logistic imputation model itself: slope 1 of the logit of b on x (y left out)
    logit = pool([smf.logit("b ~ x", data=d).fit(disp=0) for d in done])
    assert abs(logit.estimate["x"] - 1.0) < 4 * logit.std_error["x"]


def test_polyreg_recovers_category_effects():
    data, _ = _mar_categorical()
    done = _completed(ChainedImputer(), data)
    assert all(d["c"].dtype == data["c"].dtype for d in done)
    fit = _pooled_ols(done, "y ~ x + C(c, Treatment('low'))")
    terms = {
        "x": 1.0,
        "C(c, Treatment('low'))[T.mid]": C_EFFECTS[1],
        "C(c, Treatment('low'))[T.high]": C_EFFECTS[2],
    }
    _within_sampling_error(fit, terms)


def test_imputed_categories_track_the_conditional_distribution():
    data, truth = _mar_categorical(n=6000)
    missing = data["c"].isna().to_numpy()
    out = ChainedImputer(predictor_matrix={"c": ["x"]}, random_state=3).fit_transform(data)
    imputed = out["c"].to_numpy()[missing]
    assert set(imputed) <= set(C_LEVELS)
    # c is MAR given x here (the model uses only x), so within bins of x the imputed levels
    # follow the observed conditional distribution, and both follow the truth
    bins = pd.qcut(data["x"], 3, labels=False).to_numpy()
    for k in range(3):
        imp_k = pd.Series(imputed[bins[missing] == k]).value_counts(normalize=True)
        obs_k = data.loc[(bins == k) & ~missing, "c"].value_counts(normalize=True)
        n_k = int(np.sum(bins[missing] == k))
        for level in C_LEVELS:
            p = obs_k.get(level, 0.0)
            tol = 4 * np.sqrt(p * (1 - p) / n_k) + 0.02  # binomial error + parameter draw
            assert abs(imp_k.get(level, 0.0) - p) < tol, (k, level, imp_k.to_dict(), p)
    low, high = (
        pd.Series(imputed[bins[missing] == k]).value_counts(normalize=True) for k in (0, 2)
    )
    assert low["low"] > 0.5 > high["low"]  # the imputations depend on x, as the truth does
    # and the missing rows' true levels are recovered better than by the marginal
    hit = np.mean(imputed == truth[missing])
    marginal = pd.Series(truth[missing]).value_counts(normalize=True)
    assert hit > np.sum(marginal**2) + 0.03


# ------------------------------------------------------- ordered categories (polr)

POLR_SLOPES = np.array([1.0, -0.5, 2.0])
POLR_CUTS = np.array([-2.0, 0.0, 1.5, 3.0])


def _ordinal(n=800, seed=0):
    """Codes 0..4 from the proportional-odds model: latent x'beta + logistic noise, cut."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 2.0, 0.5]
    y = np.digitize(X @ POLR_SLOPES + rng.logistic(size=n), POLR_CUTS)
    return X, y


def _column(X, y):
    """What PolrModel.fit reads: the observed rows' predictors and codes."""
    k = X.shape[1]
    return SimpleNamespace(X_obs=X, y_obs=y.astype(float), cols=np.arange(k), design_width=k)


@pytest.fixture(scope="module")
def ordered_reference():
    """statsmodels' OrderedModel (logit) on centred predictors: P(Y <= k) = F(cut_k - x'b)."""
    X, y = _ordinal()
    Xc = X - X.mean(axis=0)
    with warnings.catch_warnings():  # bfgs warns that it cannot reach gtol = 1e-10 exactly
        warnings.simplefilter("ignore")
        model = OrderedModel(y, Xc, distr="logit")
        res = model.fit(method="bfgs", disp=0, maxiter=5000, gtol=1e-10)
    cuts = res.model.transform_threshold_params(res.params)[1:-1]
    # statsmodels' parameters: slopes, then the first cut and log increments (our psi)
    return X, y, res.params[:3], cuts, res.bse[:3], res.bse[3:]


def test_polr_fit_equals_statsmodels_ordered_model(ordered_reference):
    X, y, slopes, cuts, se_slopes, _ = ordered_reference
    Xc = X - X.mean(axis=0)
    cum = np.cumsum(np.bincount(y))[:-1] / y.size
    start = (np.log(cum / (1 - cum)), np.zeros(3))
    theta, beta, _ = _polr_newton(Xc, y, 5, np.zeros(3), start, pseudo=0.0)
    assert np.max(np.abs(beta - slopes)) < 1e-6
    assert np.max(np.abs(theta - cuts)) < 1e-6
    # with the slope prior and the pseudo-observations (the defaults), within 0.05 SE
    model = PolrModel(5).fit(_column(X, y), np.random.default_rng(0), draw=False)
    assert np.all(np.abs(model.coef_ - slopes) < 0.05 * se_slopes)
    assert np.all(np.abs(model.thresholds_ - cuts) < 0.05)


def test_polr_parameter_draws_spread_like_the_standard_errors(ordered_reference):
    X, y, slopes, cuts, se_slopes, se_psi = ordered_reference
    data = _column(X, y)
    fits = [PolrModel(5).fit(data, np.random.default_rng(s), draw=True) for s in range(2)]
    assert not np.allclose(fits[0].coef_, fits[1].coef_)  # the draw varies between seeds
    assert np.all(np.diff(fits[0].thresholds_) > 0)
    Xc = X - X.mean(axis=0)
    theta, beta, H = _polr_newton(Xc, y, 5, np.zeros(3), (cuts, slopes), pseudo=0.0)
    n_draws = 2000
    draws = [_polr_draw(theta, beta, H, np.random.default_rng(s)) for s in range(n_draws)]
    t, b = (np.array(d) for d in zip(*draws, strict=True))
    psi = np.column_stack([t[:, 0], np.log(np.diff(t, axis=1))])
    # sd of a sample sd of n normal draws: sd / sqrt(2 (n - 1)); 5 of those as tolerance
    tol = 5 / np.sqrt(2 * (n_draws - 1))
    np.testing.assert_array_less(np.abs(b.std(axis=0, ddof=1) / se_slopes - 1), tol)
    np.testing.assert_array_less(np.abs(psi.std(axis=0, ddof=1) / se_psi - 1), tol)
    np.testing.assert_array_less(np.abs(b.mean(axis=0) - beta), 5 * se_slopes / np.sqrt(n_draws))


def test_polr_imputes_levels_with_their_predicted_probabilities(ordered_reference):
    X, y = ordered_reference[:2]
    model = PolrModel(5).fit(_column(X, y), np.random.default_rng(0), draw=True)
    D = np.repeat(X[:4], 5000, axis=0)
    codes = model.impute(D, np.random.default_rng(1), draw=True)
    proba = model.predict_proba(X[:4])
    for i in range(4):
        freq = np.bincount(codes[i * 5000 : (i + 1) * 5000].astype(int), minlength=5) / 5000
        assert np.all(np.abs(freq - proba[i]) < 4 * np.sqrt(proba[i] * (1 - proba[i]) / 5000))
    # without draws, the most probable level
    np.testing.assert_array_equal(model.impute(X[:4], None, draw=False), proba.argmax(axis=1))


def test_polr_stays_finite_with_an_empty_level_and_perfect_prediction():
    x = np.linspace(-1, 1, 60)[:, None]
    y = np.where(x[:, 0] < -0.3, 0, np.where(x[:, 0] < 0.4, 1, 3))  # level 2 empty, separated
    cum = np.array([0.3, 0.6, 0.65])
    prior = np.array([np.var(x) / 16])  # LogitModel's slope prior
    theta, beta, _ = _polr_newton(x, y, 4, prior, (np.log(cum / (1 - cum)), np.zeros(1)))
    assert np.all(np.isfinite(theta)) and np.all(np.diff(theta) > 0) and 0 < beta[0] < 100


def test_polr_is_the_default_for_ordered_categoricals_and_keeps_their_dtype():
    boys = load_boys()
    imp = ChainedImputer(max_iter=3, random_state=0)
    out = imp.fit_transform(boys)
    assert imp.methods_["gen"] == imp.methods_["phb"] == "polr"
    assert imp.methods_["reg"] == "polyreg" and imp.methods_["hgt"] == "lrd"
    assert out.dtypes.equals(boys.dtypes) and out["gen"].cat.ordered
    assert int(out.isna().sum().sum()) == 0
    two = pd.DataFrame(
        {
            "o2": pd.Categorical(["a", "b", None, "a"], categories=["a", "b"], ordered=True),
            "x": [0.0, 1.0, 2.0, 3.0],
        }
    )
    assert ChainedImputer().fit(two).methods_["o2"] == "logreg"


def test_imputed_tanner_stages_of_boys_track_age():
    boys = load_boys()
    out = ChainedImputer(random_state=0).fit_transform(boys)
    young = (boys["age"] < 8).to_numpy()
    for col in ("gen", "phb"):
        missing = boys[col].isna().to_numpy()
        codes = out[col].cat.codes.to_numpy()
        # the few observed stages below 8 years are all stage 1; so are the imputed ones
        assert np.mean(codes[missing & young] == 0) > 0.95
        older = ~young
        fits = {}
        for name, rows in (("observed", ~missing & older), ("imputed", missing & older)):
            age = boys.loc[rows, ["age"]].to_numpy() - 8.0
            fits[name] = OrderedModel(codes[rows], age, distr="logit").fit(
                method="bfgs", disp=0, maxiter=500
            )
        b_obs, b_imp = (fits[k].params[0] for k in ("observed", "imputed"))
        se = np.hypot(fits["observed"].bse[0], fits["imputed"].bse[0])
        # the levels rise with age in both, with slopes that agree within sampling error
        assert b_imp > 0.5 and abs(b_imp - b_obs) < 4 * se, (col, b_obs, b_imp, se)
        # and within age bands the mean stage of the imputed rows is the observed one
        bands = np.digitize(boys["age"].to_numpy(), [8, 12, 14, 16, 18])
        for band in range(1, 6):
            obs = codes[~missing & (bands == band)]
            imp = codes[missing & (bands == band)]
            tol = 4 * np.sqrt(obs.var() / obs.size + obs.var() / imp.size) + 0.1
            assert abs(imp.mean() - obs.mean()) < tol, (col, band, obs.mean(), imp.mean())


def test_polr_falls_back_to_polyreg_naming_the_column(monkeypatch):
    def fail(*args, **kwargs):
        raise np.linalg.LinAlgError("singular")

    monkeypatch.setattr(_models, "_polr_newton", fail)
    data = load_boys()[["age", "hgt", "gen"]]
    with pytest.warns(ConvergenceWarning, match="'polr' failed for column 'gen'"):
        out = ChainedImputer(max_iter=2, random_state=0).fit_transform(data)
    assert out["gen"].notna().all() and out["gen"].dtype == data["gen"].dtype


def test_polr_without_draws_and_in_transform():
    boys = load_boys()[["age", "hgt", "gen"]]
    train, test = boys.iloc[::2], boys.iloc[1::2]
    imp = ChainedImputer(sample_posterior=False, max_iter=3).fit(train)
    first, second = imp.transform(test), imp.transform(test)
    pd.testing.assert_frame_equal(first, second)
    assert first["gen"].notna().all() and first["gen"].dtype == boys["gen"].dtype
    drawn = ChainedImputer(max_iter=3, random_state=0).fit(train)
    assert not drawn.transform(test)["gen"].equals(drawn.transform(test)["gen"])


# -------------------------------------------------------------- dtypes in and out


@pytest.fixture(scope="module")
def mixed():
    """A frame with every supported kind of column, 20% missing in all but `full`."""
    rng = np.random.default_rng(0)
    n = 300
    x = rng.normal(size=n)
    df = pd.DataFrame(
        {
            "x": x,
            "cat": pd.Categorical(rng.choice(["a", "b", "c"], n), categories=["a", "b", "c", "z"]),
            "s": pd.Series(rng.choice(["u", "v"], n), dtype="str"),
            "o": pd.Series(rng.choice(["p", "q", "r"], n), dtype=object),
            "bo": pd.Series(rng.random(n) < 0.4, dtype=object),
            "nb": pd.Series(rng.random(n) < 0.5, dtype="boolean"),
            "i": pd.Series(rng.integers(0, 5, n), dtype="Int64"),
            "f32": x.astype(np.float32),
            "full": rng.normal(size=n),
        },
        index=pd.RangeIndex(100, 100 + n, name="id"),
    )
    for col in df.columns[:-1]:
        df.loc[rng.random(n) < 0.2, col] = None
    return df


def test_dataframe_out_keeps_index_columns_dtypes_and_observed_cells(mixed):
    imp = ChainedImputer(random_state=0)
    out = imp.fit_transform(mixed)
    assert out.index.equals(mixed.index) and out.columns.equals(mixed.columns)
    assert int(out.isna().sum().sum()) == 0
    expected = mixed.dtypes.copy()
    expected["bo"] = np.dtype(bool)  # an object column of booleans comes back as bool
    pd.testing.assert_series_equal(out.dtypes, expected)
    assert list(out["cat"].cat.categories) == ["a", "b", "c", "z"]
    assert "z" not in set(out["cat"])  # a level never observed is never imputed
    for col in mixed.columns:
        seen = mixed[col].notna()
        assert (out.loc[seen, col].astype(object) == mixed.loc[seen, col].astype(object)).all()
    assert imp.methods_ == {
        "x": "lrd",
        "cat": "polyreg",
        "s": "logreg",
        "o": "polyreg",
        "bo": "logreg",
        "nb": "logreg",
        "i": "pmm",  # at most 5 distinct observed values: pmm keeps them
        "f32": "lrd",
        "full": "lrd",  # complete: modelled only if missing at transform
    }


def test_integer_column_imputed_by_norm_comes_back_float(mixed):
    out = ChainedImputer(method={"i": "norm"}, random_state=0).fit_transform(mixed)
    assert out["i"].dtype == np.float64


def test_numeric_column_imputed_as_levels():
    data = load_nhanes()  # hyp is 1/2 coded as float
    out = ChainedImputer(method={"hyp": "logreg"}, random_state=0).fit_transform(data)
    assert set(out["hyp"]) == {1.0, 2.0}
    out = ChainedImputer(method={"age": "polyreg", "hyp": "polyreg"}, random_state=0)
    assert set(out.fit_transform(data)["hyp"]) <= {1.0, 2.0}


def test_array_in_float_array_out_and_set_output():
    data = _mar_numeric(n=200)
    arr = data.to_numpy()
    out = ChainedImputer(random_state=0).fit_transform(arr)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out[~np.isnan(arr)], arr[~np.isnan(arr)])
    imp = ChainedImputer(random_state=0).set_output(transform="pandas")
    frame = imp.fit_transform(arr)
    assert list(frame.columns) == ["x0", "x1", "x2"]
    np.testing.assert_array_equal(frame.to_numpy(), out)
    assert list(ChainedImputer().fit(data).get_feature_names_out()) == ["x1", "x2", "y"]


def test_same_seed_same_result_other_seed_other_result(mixed):
    a = ChainedImputer(random_state=7).fit_transform(mixed)
    b = ChainedImputer(random_state=7).fit_transform(mixed)
    c = ChainedImputer(random_state=8).fit_transform(mixed)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_columns_with_integer_labels():
    data = _mar_numeric(n=200)
    data.columns = [10, 20, 30]
    out = ChainedImputer(method={10: "norm"}, random_state=0).fit_transform(data)
    assert list(out.columns) == [10, 20, 30] and not out.isna().any().any()


# ------------------------------------------------------------ without draws


def test_sample_posterior_false_is_deterministic_and_flagged_by_mi(mixed):
    a = ChainedImputer(sample_posterior=False, random_state=0).fit_transform(mixed)
    b = ChainedImputer(sample_posterior=False, random_state=1).fit_transform(mixed)
    pd.testing.assert_frame_equal(a, b)
    data = _mar_numeric(n=200)
    mi = MIPooledEstimator(
        imputer=ChainedImputer(sample_posterior=False), n_imputations=2, random_state=0
    )
    with pytest.warns(DeterministicImputationWarning):
        mi.fit(data[["x1", "x2"]], data["y"])


def test_sample_posterior_false_norm_imputes_the_regression_prediction():
    data = _mar_numeric(n=300)
    missing = data["x1"].isna()
    out = ChainedImputer(method="norm", sample_posterior=False, ridge=0.0).fit_transform(data)
    ols = smf.ols("x1 ~ x2 + y", data=data.dropna()).fit()
    np.testing.assert_allclose(out.loc[missing, "x1"], ols.predict(data[missing]), rtol=1e-10)


# ------------------------------------------------------------ transform


def test_transform_new_data_uses_fitted_parameters_plus_fresh_draws():
    data = _mar_numeric(n=400)
    imp = ChainedImputer(method="norm", random_state=0).fit(data)
    new = _mar_numeric(n=50, seed=9)
    first = imp.transform(new)
    assert not first.isna().any().any()
    pd.testing.assert_frame_equal(first[new.notna()].dropna(), new.dropna())
    again = copy.deepcopy(imp)
    second, replay = imp.transform(new), again.transform(new)
    assert not first.equals(second)  # fresh draws on every call ...
    pd.testing.assert_frame_equal(second, replay)  # ... from the fitted random state


def test_transform_without_draws_repeats_the_last_model():
    data = _mar_numeric(n=300)
    imp = ChainedImputer(method="norm", sample_posterior=False, ridge=0.0).fit(data)
    new = _mar_numeric(n=40, seed=5)
    missing = new["x1"].isna()
    ols = smf.ols("x1 ~ x2 + y", data=data.dropna()).fit()
    out = imp.transform(new)
    np.testing.assert_allclose(out.loc[missing, "x1"], ols.predict(new[missing]), rtol=1e-10)


def test_transform_imputes_columns_complete_at_fit_and_rows_missing_several_cells():
    data = _mar_numeric(n=400)
    new = data.iloc[:30].copy()
    new["y"] = np.nan  # complete at fit, as MIPooledEstimator.predict does with the outcome
    new.loc[new.index[:10], "x2"] = np.nan
    out = ChainedImputer(method="pmm", random_state=0).fit(data).transform(new)
    assert not out.isna().any().any()
    assert out["y"].isin(data["y"]).all()  # pmm: donors from the completed training data
    out = ChainedImputer(random_state=0).fit(data).transform(new)  # lrd: within the range
    assert not out.isna().any().any()
    assert out["y"].between(data["y"].min(), data["y"].max()).all()


def test_transform_on_complete_data_returns_it(mixed):
    imp = ChainedImputer(random_state=0).fit(mixed)
    full = imp.transform(mixed).iloc[:20]
    pd.testing.assert_frame_equal(imp.transform(full), full)


def test_transform_categories_and_unknown_levels(mixed):
    imp = ChainedImputer(random_state=0).fit(mixed)
    out = imp.transform(mixed.iloc[:50])
    assert out.dtypes.equals(imp.fit_transform(mixed).dtypes)
    bad = mixed.iloc[:5].copy()
    bad.iloc[0, bad.columns.get_loc("o")] = "never seen"
    with pytest.raises(ValueError, match="column 'o' has levels \\['never seen'\\]"):
        imp.transform(bad)


def test_pickled_imputer_transforms_the_same():
    data = _mar_numeric(n=200)
    imp = ChainedImputer(random_state=0).fit(data)
    clone_ = pickle.loads(pickle.dumps(imp))
    pd.testing.assert_frame_equal(imp.transform(data), clone_.transform(data))


# ------------------------------------------------------------ trace


def test_trace_holds_mean_and_sd_per_iteration():
    data = _mar_numeric(n=300)
    data.loc[data.index[:30], "x2"] = np.nan
    imp = ChainedImputer(max_iter=4, keep_trace=True, random_state=0)
    out = imp.fit_transform(data)
    trace = imp.trace_
    assert trace.shape == (4, 4) and trace.index.name == "iteration"
    assert list(trace.index) == [1, 2, 3, 4]
    assert list(trace["mean"].columns) == ["x1", "x2"] == list(trace["sd"].columns)
    last = out.loc[data["x1"].isna(), "x1"]
    assert trace.loc[4, ("mean", "x1")] == pytest.approx(last.mean())
    assert trace.loc[4, ("sd", "x1")] == pytest.approx(last.std())
    assert not hasattr(ChainedImputer(random_state=0).fit(data), "trace_")


# ------------------------------------------- predictor matrix, visit sequence, method


def test_predictor_matrix_forms_agree():
    data = _mar_numeric(n=500)
    as_dict = {"x1": ["x2"]}
    as_array = np.array([[0, 1, 0], [1, 0, 1], [1, 1, 0]])
    as_frame = pd.DataFrame(as_array.astype(bool), index=data.columns, columns=data.columns)
    outs = [
        ChainedImputer(predictor_matrix=pm, random_state=0).fit_transform(data)
        for pm in (as_dict, as_array, as_frame.iloc[::-1, ::-1])
    ]
    pd.testing.assert_frame_equal(outs[0], outs[1])
    pd.testing.assert_frame_equal(outs[0], outs[2])
    imp = ChainedImputer(predictor_matrix=as_dict).fit(data)
    assert imp.predictor_matrix_.loc["x1"].tolist() == [False, True, False]


def test_predictor_matrix_decides_what_the_imputations_depend_on():
    rng = np.random.default_rng(4)
    y = rng.normal(size=600)
    x1 = y + rng.normal(scale=0.5, size=600)  # corr(x1, y) = 0.89; x2 is noise
    data = pd.DataFrame({"x1": x1, "x2": rng.normal(size=600), "y": y})
    missing = rng.random(600) < 0.3
    data.loc[missing, "x1"] = np.nan
    without_y = ChainedImputer(predictor_matrix={"x1": ["x2"]}, random_state=0)
    r_without = np.corrcoef(without_y.fit_transform(data).loc[missing, "x1"], y[missing])[0, 1]
    r_with = np.corrcoef(
        ChainedImputer(random_state=0).fit_transform(data).loc[missing, "x1"], y[missing]
    )[0, 1]
    assert abs(r_without) < 0.15 and r_with > 0.8


def test_predictor_matrix_for_arrays_by_position():
    arr = _mar_numeric(n=200).to_numpy()
    a = ChainedImputer(predictor_matrix={0: [1]}, random_state=0).fit_transform(arr)
    b = ChainedImputer(predictor_matrix={"x0": ["x1"]}, random_state=0).fit_transform(arr)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("pm", "message"),
    [
        (np.ones((2, 2)), "shape \\(n_features, n_features\\) = \\(3, 3\\); got \\(2, 2\\)"),
        (np.full((3, 3), 2), "booleans or 0/1"),
        ({"x1": ["nope"]}, "predictor_matrix\\['x1'\\] names column 'nope'"),
        ({"zz": ["x2"]}, "predictor_matrix names column 'zz'"),
        ({"x1": "x2"}, "must be a list of column names"),
        (
            pd.DataFrame(np.ones((3, 3)), index=["x1", "x2", "q"], columns=["x1", "x2", "y"]),
            "index \\(targets\\) lack \\['y'\\] and have unknown labels \\['q'\\]",
        ),
    ],
)
def test_predictor_matrix_errors(pm, message):
    with pytest.raises(ValueError, match=message):
        ChainedImputer(predictor_matrix=pm).fit(_mar_numeric(n=50))


def test_visit_sequences():
    data = _mar_numeric(n=300)
    data.loc[data.index[:20], "y"] = np.nan
    data.loc[data.index[20:30], "x2"] = np.nan
    order = {
        "roman": ["x1", "x2", "y"],
        "arabic": ["y", "x2", "x1"],
        "monotone": ["x2", "y", "x1"],
        "revmonotone": ["x1", "y", "x2"],
    }
    for name, expected in order.items():
        assert ChainedImputer(visit_sequence=name).fit(data).visit_sequence_ == expected
    explicit = ChainedImputer(visit_sequence=["y", "x1", "x2", "x1"]).fit(data)
    assert explicit.visit_sequence_ == ["y", "x1", "x2", "x1"]
    with pytest.raises(ValueError, match="omits the incomplete columns \\['x2'\\]"):
        ChainedImputer(visit_sequence=["y", "x1"]).fit(data)


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ({"cat": "norm"}, "'norm' for column 'cat' needs a numeric column"),
        ({"o": "pmm"}, "'pmm' for column 'o' needs a numeric column"),
        ({"o": "midastouch"}, "'midastouch' for column 'o' needs a numeric column"),
        ({"cat": "logreg"}, "two levels, but column 'cat' has 3"),
        ({"x": "logreg"}, "numeric column 'x' has \\d+ distinct observed values"),
        ({"x": "polyreg"}, "at most 50"),
        ({"cat": "polr"}, "'polr' imputes ordered categories, but column 'cat' is categorical"),
        ({"x": "polr"}, "'polr' imputes ordered categories, but column 'x' is numeric"),
        ({"nope": "pmm"}, "method names column 'nope', which is not a column of X"),
        ({"x": "lasso"}, "method for column 'x' is 'lasso'; choose one of"),
        ("logreg", "numeric column 'x' has"),
    ],
)
def test_invalid_methods_name_the_column(mixed, method, message):
    with pytest.raises(ValueError, match=message):
        ChainedImputer(method=method).fit(mixed)


def test_method_string_sets_numeric_columns_only(mixed):
    imp = ChainedImputer(method="norm", random_state=0).fit(mixed)
    assert imp.methods_["x"] == imp.methods_["f32"] == "norm"
    assert imp.methods_["cat"] == "polyreg" and imp.methods_["bo"] == "logreg"


def test_invalid_parameter_values_are_rejected():
    with pytest.raises(InvalidParameterError):
        ChainedImputer(method="lasso").fit(_mar_numeric(n=50))
    with pytest.raises(InvalidParameterError):
        ChainedImputer(max_iter=0).fit(_mar_numeric(n=50))


def test_bad_columns_are_named():
    data = _mar_numeric(n=50)
    data["empty"] = np.nan
    with pytest.raises(ValueError, match=re.escape("columns ['empty'] are entirely missing")):
        ChainedImputer().fit(data)
    data = _mar_numeric(n=50)
    data["when"] = pd.date_range("2020-01-01", periods=50)
    with pytest.raises(ValueError, match="column 'when' has dtype datetime64"):
        ChainedImputer().fit(data)
    data = _mar_numeric(n=50)
    data.loc[0, "x2"] = np.inf
    with pytest.raises(ValueError, match="column 'x2' contains infinite values"):
        ChainedImputer().fit(data)


def test_complete_columns_are_left_untouched():
    data = _mar_numeric(n=200)
    out = ChainedImputer(random_state=0).fit_transform(data)
    pd.testing.assert_series_equal(out["x2"], data["x2"])
    pd.testing.assert_series_equal(out["y"], data["y"])


# ------------------------------------------------------------ predictive mean matching


def test_sort_order_is_a_stable_argsort():
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 1000, 40_000):
        x = rng.standard_t(2, size=n) * 10.0 ** rng.integers(-300, 300, size=n)
        np.testing.assert_array_equal(sort_order(x), np.argsort(x, kind="stable"))
    special = np.array([0.0, -0.0, np.inf, -np.inf, -1e-310, 1e-310, 2.5, -2.5, 2.5, 0.0])
    np.testing.assert_array_equal(special[sort_order(special)], np.sort(special))
    ties = np.round(rng.normal(size=5000), 1)  # many ties: kept in input order
    np.testing.assert_array_equal(sort_order(ties), np.argsort(ties, kind="stable"))
    # with 16 000 values, values within 2**-38 (relative) of each other count as tied
    close = np.linspace(1.0, 2.0, 16_000)
    close[:3] = [1.5 + 1e-13, 1.5, 1.5 + 1e-9]
    order = sort_order(close)
    first = np.flatnonzero(np.isin(order, [0, 1, 2]))
    np.testing.assert_array_equal(order[first], [0, 1, 2])


def test_sort_order_in_place_and_composition_by_blocks():
    """sort_order(overwrite=True) turns x into the order in its own memory, and compose
    writes first[second] over second; both run by blocks of rows, so sizes that span
    several blocks (and a ragged last one) are checked."""
    rng = np.random.default_rng(4)
    n = 2 * ROW_BLOCK + 123
    x = rng.normal(size=n)
    x[:50] = -0.0
    x[50:100] = 0.0
    x[100:200] = np.round(x[100:200], 1)  # ties
    key = x.copy()
    order = sort_order(key, overwrite=True)
    assert np.shares_memory(order, key)
    np.testing.assert_array_equal(order, np.argsort(x + 0.0, kind="stable"))
    first = rng.integers(0, 10**6, size=n).astype(np.int32)
    second = rng.permutation(n)
    expected = first[second]
    out = compose(first, second)
    assert out is second
    np.testing.assert_array_equal(second, expected)


def test_pmm_refit_reuses_its_arrays_and_midpoints_are_the_blocks_boundaries():
    """A refit on the same number of rows writes into the previous fit's arrays (the
    chain makes no new n_obs arrays per visit) with new values; the kept midpoints give
    the same blocks as the search over the sorted predictions."""
    rng = np.random.default_rng(5)
    n, k = 3000, 3
    design = rng.normal(size=(n, k))
    y = design @ np.array([1.0, -0.5, 0.2]) + rng.normal(size=n)
    data = _ClusterLevelData(design, np.arange(n), np.arange(k), y)
    model = PmmModel(ridge=1e-5, donors=5).fit(data, rng, draw=True)
    values, mids = model.donor_values_, model.midpoints_
    first = values.copy()
    model.fit(data, rng, draw=True)
    assert model.donor_values_ is values and model.midpoints_ is mids
    assert not np.array_equal(first, values)  # a new bootstrap of the donors
    assert model.block_ == 5 and mids.size == n - 5 and np.all(np.diff(mids) >= 0)
    # lrd's donors give residuals (value minus the sorted prediction); with the same draws
    # as pmm, pmm's values minus lrd's residuals are the sorted predictions
    lrd = LrdModel(ridge=1e-5, donors=5).fit(data, np.random.default_rng(6), draw=True)
    pmm = PmmModel(ridge=1e-5, donors=5).fit(data, np.random.default_rng(6), draw=True)
    pred = pmm.donor_values_ - lrd.donor_values_
    assert np.all(np.diff(pred) >= -1e-12)
    np.testing.assert_allclose(lrd.midpoints_, (pred[:-5] + pred[5:]) / 2, rtol=0, atol=1e-12)
    query = rng.normal(scale=2.0, size=500)
    np.testing.assert_array_equal(
        block_starts(lrd.midpoints_, query), nearest_block(pred, query, 5)
    )


def test_donor_search_matches_brute_force():
    rng = np.random.default_rng(0)
    pred = np.sort(np.round(rng.normal(size=500), 1))  # many ties
    query = rng.normal(scale=1.5, size=2000)
    dist = np.abs(pred[None, :] - query[:, None])
    for d in (1, 3, 5):
        idx = match_donors(pred, query, d, rng, draw=True)
        kth = np.sort(dist, axis=1)[:, d - 1]
        assert np.all(np.abs(pred[idx] - query) <= kth + 1e-12)  # always among the d nearest
        nearest = match_donors(pred, query, d, rng, draw=False)
        np.testing.assert_allclose(np.abs(pred[nearest] - query), dist.min(axis=1))
    # each of the d nearest is drawn, about equally often
    pred = np.arange(100.0)
    idx = match_donors(pred, np.full(5000, 50.2), 5, rng, draw=True)
    counts = np.bincount(idx, minlength=100)[48:53]
    assert counts.sum() == 5000 and counts.min() > 850
    # fewer observed rows than donors: every row is a donor
    assert set(match_donors(np.array([0.0, 1.0]), np.zeros(50), 5, rng, True)) == {0, 1}


class _Column:
    """The fields of a column's data that MidastouchModel.fit reads (all predictors kept)."""

    def __init__(self, X, y):
        self.X_obs, self.y_obs = X, y
        self.cols, self.design_width = np.arange(X.shape[1]), X.shape[1]


def test_midastouch_distances_are_those_of_leave_one_out_fits():
    """d_ij = z_i'theta(-i) - z_j'theta(-i), theta(-i) the weighted least-squares fit
    without donor i (Gaffert et al. 2016), by brute force; kappa from the weighted R^2."""
    rng = np.random.default_rng(1)
    n, k = 40, 3
    X, Xmis = rng.normal(size=(n, k)), rng.normal(size=(7, k))
    y = X @ np.array([1.0, 0.5, -0.3]) + rng.normal(size=n)
    model = MidastouchModel(ridge=0.0).fit(_Column(X, y), np.random.default_rng(5), True)
    omega = np.bincount(np.random.default_rng(5).integers(0, n, size=n), minlength=n)
    donors = np.flatnonzero(omega)  # rows drawn by the bootstrap
    Z, Zmis = np.column_stack([np.ones(n), X]), np.column_stack([np.ones(7), Xmis])
    brute = np.empty((7, donors.size))
    for col, i in enumerate(donors):
        w = omega.astype(float)
        w[i] = 0.0
        theta = np.linalg.solve(Z.T @ (w[:, None] * Z), Z.T @ (w * y))
        brute[:, col] = Z[i] @ theta - Zmis @ theta
    # the model's donors are sorted by prediction: put brute force in that order
    order = [np.flatnonzero(y[donors] == v)[0] for v in model.donor_values_]
    ours = (
        model.own_[None, :]
        - (model.constant_ + Xmis @ model.weights_)[:, None]
        + (Xmis - model.mean_) @ model.slope_.T
    )
    np.testing.assert_allclose(ours, brute[:, order], atol=1e-12)
    np.testing.assert_allclose(np.exp(model.log_weight_), omega[donors][order])
    theta = np.linalg.solve(Z.T @ (omega[:, None] * Z), Z.T @ (omega * y))
    resid, centred = y - Z @ theta, y - omega @ y / n
    r2 = 1 - (omega @ resid**2) / (omega @ centred**2)
    assert model.kappa_ == pytest.approx(min((50 * r2 / (1 - r2)) ** (3 / 8), 100))


def test_midastouch_draws_donors_by_distance_and_window_keeps_the_nearest():
    rng = np.random.default_rng(2)
    n = 600
    X = rng.normal(size=(n, 2))
    y = X @ np.array([1.0, -1.0]) + rng.normal(scale=1.5, size=n)
    Xmis = rng.normal(size=(400, 2))
    full = MidastouchModel(0.0, window=n).fit(_Column(X, y), np.random.default_rng(0), False)
    narrow = MidastouchModel(0.0, window=16).fit(_Column(X, y), np.random.default_rng(0), False)
    # without draws: the nearest donor in d, which lies among the 16 nearest predictions
    nearest = full.impute(Xmis, rng, False)
    np.testing.assert_array_equal(narrow.impute(Xmis, rng, False), nearest)
    # with draws, P(donor i) is proportional to |d_i|^-kappa (weights 1 without bootstrap)
    d = (
        full.own_[None, :]
        - (full.constant_ + Xmis @ full.weights_)[:, None]
        + (Xmis - full.mean_) @ full.slope_.T
    )
    probs = np.abs(d) ** -full.kappa_
    probs /= probs.sum(axis=1, keepdims=True)
    row = np.argmin(probs.max(axis=1))  # a recipient between donors: several are drawn
    x, prob = Xmis[row : row + 1], probs[row]
    draws = 20_000
    drawn = full.impute(np.repeat(x, draws, axis=0), rng, True)
    top = np.argsort(prob)[::-1][:4]
    counts = np.array([np.sum(drawn == full.donor_values_[i]) for i in top])
    expected = draws * prob[top]
    assert np.all(np.abs(counts - expected) < 4 * np.sqrt(expected)), (counts, expected)
    assert 2 < full.kappa_ < 10 and prob[top[0]] < 0.6  # the check has power: several donors


# --------------------------------------------------------- MIPooledEstimator, pipelines


def test_mipooled_estimator_with_chained_imputer():
    df = load_nhanes()
    X, y = df[["age", "bmi", "hyp"]], df["chl"]
    mi = MIPooledEstimator(imputer=ChainedImputer(), n_imputations=5, random_state=0).fit(X, y)
    assert list(mi.terms_) == ["intercept", "age", "bmi", "hyp"]
    assert (mi.fmi_ > 0).all() and np.isfinite(mi.std_error_).all()
    seeds = {imp.random_state for imp in mi.imputers_}
    assert len(seeds) == 5  # every clone its own seed
    assert np.isfinite(mi.predict(X)).all()  # predict completes X with the fitted imputers


def test_categorical_data_through_a_pipeline():
    df = load_nhanes2()
    data = df[df["chl"].notna()]
    X, y = data[["age", "bmi", "hyp"]], data["chl"]
    encode = ColumnTransformer(
        [("levels", OneHotEncoder(drop="first"), ["age", "hyp"])], remainder="passthrough"
    )
    model = make_pipeline(ChainedImputer(random_state=0), encode, LinearRegression()).fit(X, y)
    assert np.isfinite(model.predict(X)).all()


def test_pooled_fmi_reflects_between_imputation_variance():
    data = _mar_numeric(n=500)
    X, y = data[["x1", "x2"]], data["y"]
    mi = MIPooledEstimator(imputer=ChainedImputer(method="norm"), n_imputations=20, random_state=0)
    mi.fit(X, y)
    frac = data["x1"].isna().mean()
    assert 0.5 * frac < mi.fmi_["x1"] < 1.5 * frac


# ------------------------------------------------------------ coverage (slow)

COVERAGE_REPS = 500
COVERAGE_SEED = 2026  # mar_datasets(500, n=200, seed=2026): the data of mice's fixture


def _mice_mar_coverage():
    """R mice's norm, pmm and midastouch on the coverage datasets (tests/r/mice_mar_coverage.R)."""
    with open(FIXTURES / "mice_mar_coverage.json") as f:
        return json.load(f)


def test_mice_coverage_fixture_was_made_from_these_datasets():
    fixture = _mice_mar_coverage()
    assert (fixture["m"], fixture["maxit"]) == (5, 10)  # as MIPooledEstimator below
    for method in ("norm", "pmm", "midastouch"):
        assert len(fixture[method]["estimates"]) == len(fixture[method]["std_errors"]) == 500
    data = fixture["data"]
    sets = list(mar_datasets(COVERAGE_REPS, n=200, seed=COVERAGE_SEED))
    x1 = np.concatenate([X["x1"].to_numpy() for X, _, _ in sets])
    y = np.concatenate([y.to_numpy() for _, y, _ in sets])
    assert data["reps"] == COVERAGE_REPS and data["rows"] == y.size
    assert data["missing_x1"] == np.isnan(x1).sum()
    np.testing.assert_allclose(data["sum_y"], y.sum(), rtol=1e-12)
    np.testing.assert_allclose(data["sum_x1_observed"], np.nansum(x1), rtol=1e-12)


def _binomial_tolerance(p, reps):
    return 2.5 * np.sqrt(p * (1 - p) / reps)


@pytest.fixture(scope="module")
def mar_runs():
    """x1 slope over 500 MAR replications (tests/mar_simulation.py design), six imputers:
    one row per arm and replication (about 175 s on one core, 35 s of it midastouch's).

    The IterativeImputer arm is the issue's reference: ``sample_posterior=True`` without
    MIPooledEstimator's imputation bootstrap. It runs with ``max_iter=1`` and
    ``skip_complete=True``: x1 is the only incomplete column and its predictors are
    complete, so every sweep refits the same model and redraws, and the models of complete
    columns impute nothing; the imputations have the distribution of ``max_iter=10`` at a
    fifth of the time.
    """
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    arms = {
        "ChainedImputer() [lrd, default]": (ChainedImputer(), "auto"),
        "ChainedImputer(pmm)": (ChainedImputer(method="pmm"), "auto"),
        "pmm, donor_bootstrap=False [mice]": (
            ChainedImputer(method="pmm", donor_bootstrap=False),
            "auto",
        ),
        "ChainedImputer(norm)": (ChainedImputer(method="norm"), "auto"),
        "ChainedImputer(midastouch)": (ChainedImputer(method="midastouch"), "auto"),
        "IterativeImputer": (
            IterativeImputer(sample_posterior=True, max_iter=1, skip_complete=True),
            False,
        ),
    }
    rows = []
    for rep, (X, y, seed) in enumerate(mar_datasets(COVERAGE_REPS, n=200, seed=COVERAGE_SEED)):
        for arm, (imputer, bootstrap) in arms.items():
            mi = MIPooledEstimator(
                imputer=imputer,
                n_imputations=5,
                random_state=seed,
                imputation_bootstrap=bootstrap,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mi.fit(X, y)
            ci = mi.conf_int().loc["x1"]
            rows.append(
                {
                    "arm": arm,
                    "rep": rep,
                    "estimate": mi.pooled_.estimate["x1"],
                    "se": mi.std_error_["x1"],
                    "covered": ci["lower"] <= 0.5 <= ci["upper"],
                    "B": mi.estimates_["x1"].var(ddof=1),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def mar_coverage(mar_runs):
    """Coverage, bias, mean SE, SD of the estimates, mean B, SE/SD and bias/SD per arm
    (printed)."""
    sim = mar_runs.groupby("arm", sort=False)
    table = pd.DataFrame(
        {
            "coverage": sim["covered"].mean(),
            "bias": sim["estimate"].mean() - 0.5,
            "mean_se": sim["se"].mean(),
            "sd_estimate": sim["estimate"].std(),
            "mean_B": sim["B"].mean(),
        }
    )
    table["se_sd"] = table["mean_se"] / table["sd_estimate"]
    mice = _mice_mar_coverage()
    for method in ("pmm", "norm", "midastouch"):
        table.loc[f"R mice {method} (fixture)"] = pd.Series(mice[method])[table.columns]
    table["bias_sd"] = table["bias"] / table["sd_estimate"]
    print(f"\nx1 slope, {COVERAGE_REPS} MAR replications, n = 200, M = 5")
    print(table.round(4).to_string())
    return table


@pytest.mark.slow
def test_pmm_covers_and_its_se_sd_beats_iterative_imputer(mar_coverage):
    """pmm with bootstrapped donors: 95% coverage, SE/SD nearer 1 than IterativeImputer's."""
    pmm, iterative = (
        mar_coverage.loc["ChainedImputer(pmm)"],
        mar_coverage.loc["IterativeImputer"],
    )
    tol = _binomial_tolerance(0.95, COVERAGE_REPS)
    assert abs(pmm["coverage"] - 0.95) < tol, f"coverage {pmm['coverage']:.3f} +- {tol:.3f}"
    assert abs(pmm["se_sd"] - 1) < abs(iterative["se_sd"] - 1)
    assert abs(pmm["se_sd"] - 1) < 0.08
    # the bootstrapped donors carry the variance that matching among fixed donors misses
    mice_style = mar_coverage.loc["pmm, donor_bootstrap=False [mice]"]
    assert pmm["mean_B"] > 1.3 * mice_style["mean_B"]


@pytest.mark.slow
def test_norm_coverage_and_se_sd_beat_iterative_imputer(mar_coverage):
    norm, iterative = mar_coverage.loc["ChainedImputer(norm)"], mar_coverage.loc["IterativeImputer"]
    tol = _binomial_tolerance(0.95, COVERAGE_REPS)
    assert abs(norm["coverage"] - 0.95) < tol, f"coverage {norm['coverage']:.3f} +- {tol:.3f}"
    assert abs(norm["se_sd"] - 1) < abs(iterative["se_sd"] - 1)
    # the parameter draws make B larger than IterativeImputer's noise around point estimates
    assert norm["mean_B"] > 1.3 * iterative["mean_B"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arm", "method"),
    [
        ("ChainedImputer(norm)", "norm"),
        ("pmm, donor_bootstrap=False [mice]", "pmm"),
        ("ChainedImputer(midastouch)", "midastouch"),
    ],
)
def test_norm_and_mice_style_pmm_match_r_mice(mar_runs, mar_coverage, arm, method):
    """Same 500 datasets, independent imputations: the statistics of R mice's runs."""
    ours, mice = mar_coverage.loc[arm], _mice_mar_coverage()[method]
    tol = np.sqrt(2) * _binomial_tolerance(mice["coverage"], COVERAGE_REPS)  # two binomials
    assert abs(ours["coverage"] - mice["coverage"]) < tol
    assert abs(ours["bias"] - mice["bias"]) < 0.01
    assert abs(ours["se_sd"] - mice["se_sd"]) < 0.05
    assert abs(ours["mean_B"] / mice["mean_B"] - 1) < 0.15
    # paired by dataset: the pooled SEs of one method agree on average to a few percent
    runs = mar_runs[mar_runs["arm"] == arm].sort_values("rep")
    ratio = runs["se"].to_numpy() / np.asarray(mice["std_errors"])
    assert abs(ratio.mean() - 1) < 0.03, ratio.mean()
    assert np.corrcoef(runs["estimate"], mice["estimates"])[0, 1] > 0.9


@pytest.mark.slow
def test_bootstrapped_donors_widen_the_se_of_mice_pmm(mar_runs):
    """Paired by dataset, the default's SEs exceed those of R mice's pmm (the power of the
    SE comparison above: the two pmm variants differ by far more than its tolerance)."""
    runs = mar_runs[mar_runs["arm"] == "ChainedImputer(pmm)"].sort_values("rep")
    ratio = runs["se"].to_numpy() / np.asarray(_mice_mar_coverage()["pmm"]["std_errors"])
    assert ratio.mean() > 1.08, ratio.mean()


# The issue's target for a default numeric method on this design: coverage within the
# binomial tolerance of 0.95 (2.58 binomial SEs at COVERAGE_REPS), SE/SD >= 0.95 and
# |bias| < 0.15 SD. The default, lrd, meets all three; the other methods fail one each.
ISSUE_TARGET_ARMS = [
    "ChainedImputer() [lrd, default]",
    pytest.param(
        "ChainedImputer(pmm)",
        marks=pytest.mark.xfail(strict=True, reason="bias about -0.3 SD: sparse donors"),
    ),
    pytest.param(
        "ChainedImputer(midastouch)",
        marks=pytest.mark.xfail(strict=True, reason="bias about -0.4 SD, as R mice's"),
    ),
    pytest.param(
        "ChainedImputer(norm)",
        marks=pytest.mark.xfail(strict=True, reason="SE/SD 0.94 (R mice: 0.947)"),
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("arm", ISSUE_TARGET_ARMS)
def test_issue_target_coverage_se_sd_and_bias(mar_coverage, arm):
    """The issue's criteria for the default numeric method, on the shared 500 replications
    (cost: under 1 s on top of the mar_runs fixture, about 150 s, shared with the tests
    above; 500 replications give the coverage a tolerance of 0.025). The default
    meets them; each other arm fails at least one criterion and is marked
    xfail(strict): an arm that comes to meet them all fails this test, so that the mark
    can be revisited."""
    row = mar_coverage.loc[arm]
    tol = 2.58 * np.sqrt(0.95 * 0.05 / COVERAGE_REPS)
    assert abs(row["coverage"] - 0.95) < tol, f"coverage {row['coverage']:.3f} +- {tol:.3f}"
    assert row["se_sd"] >= 0.95, f"SE/SD {row['se_sd']:.3f}"
    assert abs(row["bias_sd"]) < 0.15, f"bias/SD {row['bias_sd']:.3f}"


def test_workspace_cross_products_follow_the_updates(mixed):
    """The running D'D and D'1 equal those of the design after any sequence of imputations."""
    from skmipool.impute._workspace import Workspace

    imp = ChainedImputer(random_state=0)
    imp.fit(mixed)
    values = imp._training.copy()
    work = Workspace(values, imp._specs, imp._offsets)
    rng = np.random.default_rng(0)
    for j in [0, 1, 4, 0, 2, 6, 1]:  # numeric and categorical columns, some twice
        rows = np.flatnonzero(rng.random(values.shape[0]) < 0.3)
        pool_ = imp._training[:, j]
        work.update(j, rows, pool_[rng.integers(0, pool_.size, rows.size)])
        np.testing.assert_allclose(work.gram, work.design.T @ work.design, atol=1e-9)
        np.testing.assert_allclose(work.sums, work.design.sum(axis=0), atol=1e-9)
