"""No silent wrong coefficients: every fit is checked against its estimating equations,
and predictors collinear in their observed rows are refused before imputing."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import linalg
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, PoissonRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skmipool._adapters as adapters
import skmipool._collinearity as collinearity
from skmipool import Estimate, ImputationError, MIPooledEstimator
from skmipool._adapters import STEP_TOLERANCE, coef_estimate
from skmipool._collinearity import check_observed_collinearity
from skmipool.datasets import load_nhanes2
from skmipool.impute import ChainedImputer

# ------------------------------------------------ (a) coefficients that miss the equations


def _income_in_cents(n=300, seed=0):
    """Income in cents (sd 1.5e6) beside a 0/1 flag: scales 1e6 apart."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "income": rng.normal(5e6, 1.5e6, n),
            "a": rng.integers(0, 2, n).astype(float),
            "x3": rng.normal(size=n),
        }
    )
    y = pd.Series(1.29 * X["a"] + 2e-7 * X["income"] + 0.5 * X["x3"] + rng.normal(size=n))
    X.loc[rng.random(n) < 0.2, "x3"] = np.nan
    X.loc[rng.random(n) < 0.1, "income"] = np.nan
    return X, y


def test_linear_regression_zeroes_a_small_scale_direction():
    """The bug itself: LinearRegression's lstsq cutoff (tol=1e-6) zeroes 'a' and 'x3'."""
    X, y = _income_in_cents()
    cc = X.dropna()
    sklearn_coef = LinearRegression().fit(cc, y[cc.index]).coef_
    ols = sm.OLS(y[cc.index], sm.add_constant(cc)).fit().params
    assert abs(sklearn_coef[1]) < 1e-10  # 'a': zeroed
    assert ols["a"] == pytest.approx(1.1126, abs=1e-3)  # the least-squares answer
    with pytest.raises(ValueError, match=r"a: .* -> 1\.113 \(") as info:
        coef_estimate(LinearRegression().fit(cc, y[cc.index]), cc, y[cc.index])
    assert "Rescale the column 'income'" in str(info.value)
    assert "skmipool.models.OLSRegressor" in str(info.value)


def test_wrong_coefficients_are_refused_naming_the_imputation():
    X, y = _income_in_cents()
    mi = MIPooledEstimator(LinearRegression(), n_imputations=3, random_state=0)
    with pytest.raises(
        ImputationError,
        match=r"imputation 1: computing the estimand failed: ValueError: the fitted "
        r"coefficients do not solve the model's estimating equations.*a: -?[0-9.e-]+ -> 1\.1",
    ) as info:
        mi.fit(X, y)
    message = str(info.value)
    assert "x3: " in message  # the second zeroed direction is named too
    assert "'income' varies 3e+06 times more than 'a'" in message
    assert "tol=1e-06" in message


def test_rescaled_column_gives_the_least_squares_answer():
    X, y = _income_in_cents()
    X["income"] = X["income"] / 1e5  # thousands of dollars
    mi = MIPooledEstimator(LinearRegression(), n_imputations=3, random_state=0).fit(X, y)
    # the 1.29 of the simulation, within its standard error (about 0.12)
    assert mi.pooled_.estimate["a"] == pytest.approx(1.29, abs=0.3)
    assert mi.pooled_.std_error["a"] > 0.05


class _WrongOnSecondFit(LinearRegression):
    """A LinearRegression whose second fit leaves its first slope off by one."""

    calls = 0

    def fit(self, X, y, sample_weight=None):
        super().fit(X, y, sample_weight)
        _WrongOnSecondFit.calls += 1
        if _WrongOnSecondFit.calls == 2:
            self.coef_[0] += 1.0
        return self


def test_the_message_names_the_imputation_that_failed():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x1": rng.normal(size=80), "x2": rng.normal(size=80)})
    y = X["x1"] + rng.normal(size=80)
    X.loc[:15, "x2"] = np.nan
    _WrongOnSecondFit.calls = 0
    mi = MIPooledEstimator(_WrongOnSecondFit(), n_imputations=3, random_state=0)
    with pytest.raises(ImputationError, match=r"^imputation 2: .*x1: .* -> .*\(\d+(\.\d+)? SE\)"):
        mi.fit(X, y)


def test_unconverged_logistic_and_poisson_fits_are_refused():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 3)) * [1.0, 50.0, 0.02], columns=["u", "v", "w"])
    eta = 0.5 + X @ [0.8, 0.01, 20.0]
    yb = (rng.random(400) < 1 / (1 + np.exp(-eta))).astype(int)
    yp = rng.poisson(np.exp(eta / 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        logit = LogisticRegression(C=np.inf, max_iter=3).fit(X, yb)
        poisson = PoissonRegressor(alpha=0, max_iter=3).fit(X, yp)
    with pytest.raises(ValueError, match=r"solver='lbfgs'.*skmipool.models.LogitClassifier"):
        coef_estimate(logit, X, yb)
    with pytest.raises(ValueError, match=r"solver='lbfgs'.*skmipool.models.GLMRegressor"):
        coef_estimate(poisson, X, yp)
    # converged (newton-cholesky, tight tol): accepted, and equal to statsmodels
    logit = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-10).fit(X, yb)
    ref = sm.Logit(yb, sm.add_constant(X)).fit(disp=0)
    np.testing.assert_allclose(coef_estimate(logit, X, yb).estimate, ref.params, rtol=1e-6)


def test_default_lbfgs_fits_pass_with_room_to_spare(monkeypatch):
    """nhanes2's hyp ~ bmi + chl (logistic, lbfgs at tol=1e-4): steps far below the bar."""
    steps = []
    real = adapters._check_solves_score

    def record(est, design, sqrt_w, pearson, **kw):
        q, _ = np.linalg.qr(design.array() * sqrt_w[:, None])
        steps.append(np.linalg.norm(q.T @ pearson) / np.sqrt(kw["phi"]))
        return real(est, design, sqrt_w, pearson, **kw)

    monkeypatch.setattr(adapters, "_check_solves_score", record)
    df = load_nhanes2()
    X, y = df[["bmi", "chl"]], (df["hyp"] == "yes").astype(int)
    keep = y.index[df["hyp"].notna()]
    MIPooledEstimator(LogisticRegression(C=np.inf), n_imputations=5, random_state=0).fit(
        X.loc[keep], y[keep]
    )
    assert len(steps) == 5
    assert max(steps) < STEP_TOLERANCE / 10


def _step_parts(step):
    """||Q'r||, the Newton step delta and the standard errors (phi = 1) of a _UnitStep."""
    r_inv = linalg.solve_triangular(step.r, np.eye(step.r.shape[0]))
    se = np.linalg.norm(r_inv, axis=1) / step.length
    return np.linalg.norm(step.g), (r_inv @ step.g) / step.length, se


def _designs(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return {  # name: (features, normal equations trusted)
        "independent": (x, True),
        "cents beside a flag": (
            np.column_stack([rng.normal(5e6, 1.5e6, n), rng.integers(0, 2, n), x[:, 0]]),
            True,
        ),
        "correlated 1 - 5e-7": (np.column_stack([x[:, 0], x[:, 0] + 1e-3 * x[:, 1]]), True),
        # a column of 1e6 + N(0, 1) beside the intercept: cond(Zw) about 2e6, QR fallback
        "large offset": (np.column_stack([1e6 + x[:, 0], x[:, 1]]), False),
    }


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", list(_designs()))
def test_normal_equations_step_equals_the_qr_step(name, weighted, monkeypatch):
    """The check's Q'r from the p x p normal equations equals the QR's, or falls back to it."""
    X, trusted = _designs()[name]
    rng = np.random.default_rng(1)
    n = X.shape[0]
    design = adapters._Design(X, intercept=True)
    sqrt_w = np.sqrt(rng.uniform(0.05, 0.25, n)) if weighted else None
    pearson = rng.normal(size=n) + 0.3 * X[:, -1]  # residuals with a score far from 0
    gram = design.gram(sqrt_w)
    Z = design.array()
    qr = adapters._step_from_qr(Z if sqrt_w is None else Z * sqrt_w[:, None], pearson)
    score = design.rdot(pearson if sqrt_w is None else sqrt_w * pearson)
    fast = adapters._step_from_gram(gram, score)
    assert (fast is not None) == trusted
    used = adapters._unit_step(design, sqrt_w, pearson, gram)  # what the check uses
    g, delta, se = _step_parts(qr)
    g_used, delta_used, se_used = _step_parts(used)
    assert g_used == pytest.approx(g, rel=1e-8)
    np.testing.assert_allclose(delta_used / se, delta / se, rtol=0, atol=1e-8)
    np.testing.assert_allclose(se_used, se, rtol=1e-8)
    if not trusted:  # the fallback is needed: the normal equations are off by far more
        monkeypatch.setattr(adapters, "_NORMAL_EQUATIONS_RCOND", 0.0)
        forced = adapters._step_from_gram(gram, score)
        assert forced is None or np.max(np.abs(_step_parts(forced)[2] / se - 1)) > 1e-6


def test_an_exact_fit_is_not_refused():
    """Residuals at rounding level (y = x exactly) are no reason to refuse."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x0": rng.normal(size=50), "x1": rng.normal(size=50)})
    y = X["x0"].copy()
    X.loc[:9, "x1"] = np.nan
    mi = MIPooledEstimator(LinearRegression(), n_imputations=2, random_state=0).fit(X, y)
    assert mi.pooled_.estimate["x0"] == pytest.approx(1.0)


# ------------------------------------------------- (b) collinear in the observed rows


def _doubled(n=200, seed=0):
    """x2 = 2 x1 wherever both are observed; each has its own missing values."""
    rng = np.random.default_rng(seed)
    x1, x3 = rng.normal(size=n), rng.normal(size=n)
    X = pd.DataFrame({"x1": x1, "x2": 2 * x1, "x3": x3})
    y = pd.Series(x1 + 0.5 * x3 + rng.normal(size=n))
    X.loc[rng.random(n) < 0.2, "x1"] = np.nan
    X.loc[rng.random(n) < 0.2, "x2"] = np.nan
    return X, y


class _CountingImputer(ChainedImputer):
    fits = 0

    def fit(self, X, y=None):
        _CountingImputer.fits += 1
        return super().fit(X, y)


def test_collinear_pair_is_refused_before_imputing():
    """Issue example (b): was x1 = -9195 (SE 9642), x2 = 4598 (SE 4821), no warning."""
    X, y = _doubled()
    _CountingImputer.fits = 0
    mi = MIPooledEstimator(imputer=_CountingImputer(), n_imputations=3, random_state=0)
    with pytest.raises(ValueError) as info:
        mi.fit(X, y)
    assert not isinstance(info.value, ImputationError)
    assert _CountingImputer.fits == 0
    assert str(info.value).startswith(
        "columns ['x1', 'x2'] of X are collinear in the 130 rows where they are all observed "
        "(x2 = 2 * x1): "
    )
    assert "Drop one of them" in str(info.value)


def test_collinear_pair_in_an_array_and_in_a_scaling_pipeline():
    X, y = _doubled()
    X["x2"] = 3.0 - 0.5 * X["x2"]  # x2 = 3 - x1: an offset and a negative slope
    with pytest.raises(ValueError, match=r"\['x0', 'x1'\] .* \(x1 = -1 \* x0 \+ 3\)"):
        MIPooledEstimator(n_imputations=2, random_state=0).fit(X.to_numpy(), y)
    X["x2"] = -3.0 - X["x1"]
    with pytest.raises(ValueError, match=r"\(x2 = -1 \* x1 - 3\)"):
        MIPooledEstimator(n_imputations=2, random_state=0).fit(X, y)
    pipe = make_pipeline(StandardScaler(), LinearRegression())
    with pytest.raises(ValueError, match=r"columns \['x1', 'x2'\] of X are collinear"):
        MIPooledEstimator(pipe, n_imputations=2, random_state=0).fit(X, y)


def test_dependence_of_three_columns_found_in_the_complete_cases():
    rng = np.random.default_rng(2)
    n = 120
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["u", "v", "w", "z"])
    X["w"] = X["u"] - 2 * X["v"]
    for col in ["u", "v", "w"]:
        X.loc[rng.random(n) < 0.15, col] = np.nan
    y = X["z"] + rng.normal(size=n)
    n_cc = len(X.dropna())
    with pytest.raises(
        ValueError,
        match=rf"columns \['u', 'v', 'w'\] of X are collinear in the {n_cc} rows where they are "
        r"all observed \(one is a linear combination of the others\)",
    ):
        MIPooledEstimator(n_imputations=2, random_state=0).fit(X, y)


def test_no_false_alarm_on_few_complete_cases_near_collinearity_or_other_estimands():
    rng = np.random.default_rng(3)
    n = 60
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=list("abcdef"))
    X["f"] = X["a"] + 1e-4 * rng.normal(size=n)  # correlation 0.999999995: not exact
    for k, col in enumerate("bcde"):  # 6 complete cases for 6 columns: always dependent
        X.loc[[i for i in range(n) if i % 5 != k and i >= 6], col] = np.nan
    assert len(X.dropna()) == 6
    y = X["a"] + rng.normal(size=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mi = MIPooledEstimator(n_imputations=2, random_state=0).fit(X, y)
    assert mi.pooled_.estimate.size == 7
    # a column constant in the complete cases but not elsewhere is identified: no error
    X2, y2 = _doubled()
    X2["x2"] = rng.normal(size=len(X2))
    X2["flag"] = np.where(X2["x1"].isna(), rng.integers(0, 2, len(X2)), 0.0)
    X2.loc[X2.index[:5], "flag"] = np.nan
    MIPooledEstimator(n_imputations=2, random_state=0).fit(X2, y2)
    # the relation matters for coefficients only: a callable estimand is not refused
    Xd, yd = _doubled()
    mean_y = MIPooledEstimator(
        estimand=lambda est, X, y: Estimate([float(np.mean(y))], [[1.0]]),
        n_imputations=2,
        random_state=0,
    )
    mean_y.fit(Xd, yd)


def test_moments_give_pandas_pairwise_correlations_and_the_complete_cases_gram(monkeypatch):
    monkeypatch.setattr(collinearity, "_BLOCK", 1000)  # several blocks, one of them short
    rng = np.random.default_rng(5)
    n = 4321
    X = pd.DataFrame(rng.normal(size=(n, 5)) * [1, 1e3, 1e-3, 1, 1] + [0, 1e5, 0, 7, 0])
    X[3] = X[0] + 0.1 * X[3]
    X.loc[X[4] > 0, 4] = 2.0  # constant in the rows where column 2 is observed: NaN
    for j in range(5):
        X.loc[rng.random(n) < [0.3, 0.0, 0.1, 0.5, 0.2][j], j] = np.nan
    X.loc[X[4] < 0, 2] = np.nan
    moments = collinearity._Moments(X.to_numpy())
    expected = X.corr(min_periods=10).to_numpy()
    corr = moments.pairwise_correlations()
    assert np.isnan(expected[2, 4])  # column 4 is constant where column 2 is observed
    known = ~np.isnan(expected)
    np.testing.assert_allclose(corr[known], expected[known], rtol=0, atol=1e-12)
    assert collinearity._collinear_pair(list("abcde"), X.to_numpy(), moments) is None
    complete = X.dropna().to_numpy()
    centred = complete - complete.mean(axis=0)
    gram = moments.cc_cross - np.outer(moments.cc_sums, moments.cc_sums) / moments.cc_rows
    assert moments.cc_rows == len(complete)
    direct = (centred.T @ centred)[:4, :4]  # column 4 is constant there: left out
    unit = np.sqrt(np.outer(np.diag(direct), np.diag(direct)))
    np.testing.assert_allclose(gram[:4, :4] / unit, direct / unit, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(moments.cc_varying, [True, True, True, True, False])


def test_relations_between_columns_with_large_means():
    """Columns of 1e6 +- 1 or 1e6 +- 0.001: relations judged on their variation, not rounding."""
    rng = np.random.default_rng(6)
    n = 500
    x = 1e6 + rng.normal(size=n)
    X = pd.DataFrame({"a": x, "b": np.round(3 * x, 7), "c": rng.normal(size=n)})
    X.loc[rng.random(n) < 0.2, "a"] = np.nan
    with pytest.raises(
        ValueError, match=r"columns \['a', 'b'\] of X are collinear in the \d+ rows"
    ):
        check_observed_collinearity(X, LinearRegression(), "coef")
    # 1 - r = 5e-11 (b = a + 1e-5 sd(a) noise): close, but no exact relation
    x = 1e6 + 1e-3 * rng.normal(size=n)
    X = pd.DataFrame({"a": x, "b": x + 1e-8 * rng.normal(size=n), "c": rng.normal(size=n)})
    X.loc[rng.random(n) < 0.2, "a"] = np.nan
    check_observed_collinearity(X, LinearRegression(), "coef")


def test_an_unchecked_pipeline_still_meets_the_rank_check_of_the_completed_data():
    """A ColumnTransformer may drop columns, so X is not checked; the design still is."""
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)})
    X["c"] = 2 * X["b"]  # complete: imputation cannot break it
    X.loc[:5, "a"] = np.nan
    pipe = make_pipeline(
        ColumnTransformer([("keep", "passthrough", ["a", "b", "c"])]), LinearRegression()
    )
    y = X["b"] + rng.normal(size=50)
    with pytest.raises(ImputationError, match=r"imputation 1: .*rank 3 < 4 columns"):
        MIPooledEstimator(pipe, n_imputations=2, random_state=0).fit(X, y)


def _far_value_frame(seed, far, collinear):
    """2000 rows; a far value in a row where b is missing moves a's centre far from the
    rows a and b share (the reviewer's cases for the moments' lost digits)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(50, 10, 2000)
    b = 2 * x + 1 if collinear else rng.standard_normal(2000)
    X = pd.DataFrame({"a": x, "b": b, "c": rng.standard_normal(2000)})
    X.loc[0, "a"] = far
    X.loc[:299, "b"] = np.nan
    return X


@pytest.mark.parametrize("far", [3e8, 1e10, 1e12])
def test_collinear_pair_found_beside_a_far_value(far):
    """A far value elsewhere in a must not hide b = 2 a + 1 in the shared rows."""
    with pytest.raises(ValueError, match=r"columns \['a', 'b'\] of X are collinear in the 1700"):
        check_observed_collinearity(_far_value_frame(0, far, True), LinearRegression(), "coef")


@pytest.mark.parametrize("seed", range(6))
def test_independent_columns_beside_a_far_value_pass(seed):
    """No false refusal and no LinAlgError from a gram that lost its digits."""
    check_observed_collinearity(_far_value_frame(seed, 1e13, False), LinearRegression(), "coef")
