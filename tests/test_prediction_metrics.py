"""Pooled performance measures (skmipool.metrics): each imputation's figure equals
scikit-learn's / statsmodels', its variance the published formula, and the pooling is
pool_estimates on the metric's inference scale."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import special
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import brier_score_loss, r2_score, roc_auc_score

from skmipool import MIPooledEstimator, pool_estimates, pool_r_squared
from skmipool._performance import (
    auc_delong,
    auc_hanley_mcneil,
    calibration_intercept,
    calibration_slope,
)
from skmipool.metrics import calibration_table, pool_predictions, pool_scores, score_imputations


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(3)
    n = 150
    y = rng.integers(0, 2, n)
    # predictions with ties (rounded) and signal
    preds = [np.round(special.expit(1.2 * y - 0.6 + rng.normal(size=n)), 2) for _ in range(4)]
    return y, preds


@pytest.fixture(scope="module")
def continuous():
    rng = np.random.default_rng(4)
    n = 90
    y = rng.normal(size=n)
    preds = [0.7 * y + rng.normal(scale=0.6, size=n) for _ in range(5)]
    return y, preds


def test_per_imputation_figures_equal_sklearn(binary, continuous):
    y, preds = binary
    table = score_imputations(preds, y)
    assert np.allclose(table["roc_auc"], [roc_auc_score(y, p) for p in preds], atol=1e-12)
    assert np.allclose(table["brier"], [brier_score_loss(y, p) for p in preds], atol=1e-12)
    yc, pc = continuous
    table = score_imputations(pc, yc, task="regression")
    assert np.allclose(table["r2"], [r2_score(yc, p) for p in pc])
    rmse = [np.sqrt(np.mean((yc - p) ** 2)) for p in pc]
    assert np.allclose(table["rmse"], rmse)


def test_delong_variance_equals_the_pairwise_definition(binary):
    y, preds = binary
    p = preds[0]
    pos, neg = p[y == 1], p[y == 0]
    # DeLong et al. (1988): psi(x, y) = 1, 1/2, 0; V10 and V01 by brute force
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    expected = v10.var(ddof=1) / pos.size + v01.var(ddof=1) / neg.size
    auc, var = auc_delong(y, p)
    assert auc == pytest.approx(psi.mean())
    assert var == pytest.approx(expected, rel=1e-12)


def test_hanley_mcneil_variance_by_hand():
    # two positives, two negatives, AUC = 0.75
    y = np.array([1, 1, 0, 0])
    p = np.array([0.9, 0.3, 0.5, 0.1])
    auc, var = auc_hanley_mcneil(y, p)
    q1, q2 = 0.75 / 1.25, 2 * 0.75**2 / 1.75
    assert auc == 0.75
    assert var == pytest.approx((0.75 * 0.25 + (q1 - 0.5625) + (q2 - 0.5625)) / 4)


def test_calibration_equals_statsmodels_logit(binary):
    y, preds = binary
    p = np.clip(preds[1], 1e-6, 1 - 1e-6)
    lp = special.logit(p)
    slope = sm.Logit(y, sm.add_constant(lp)).fit(disp=0)
    s = calibration_slope(y, p)
    assert s.value == pytest.approx(slope.params[1], rel=1e-6)
    assert np.sqrt(s.variance) == pytest.approx(slope.bse[1], rel=1e-5)
    icpt = sm.Logit(y, np.ones((y.size, 1)), offset=lp).fit(disp=0)
    a = calibration_intercept(y, p)
    assert a.value == pytest.approx(icpt.params[0], rel=1e-6)
    assert np.sqrt(a.variance) == pytest.approx(icpt.bse[0], rel=1e-5)


def test_calibrated_predictions_have_slope_one_and_intercept_zero():
    rng = np.random.default_rng(8)
    p = special.expit(rng.normal(scale=1.5, size=20000))
    y = rng.random(p.size) < p
    out = pool_predictions([p, p], y, ["calibration_intercept", "calibration_slope"])
    assert abs(out.loc["calibration_intercept", "estimate"]) < 0.05
    assert abs(out.loc["calibration_slope", "estimate"] - 1) < 0.05
    # too extreme predictions (overfitting): slope clearly below 1
    extreme = special.expit(2 * special.logit(p))
    out = pool_predictions([extreme, extreme], y, "calibration_slope")
    assert out.loc["calibration_slope", "conf_high"] < 0.55


def test_pooling_equals_pool_estimates_on_the_inference_scale(binary, continuous):
    y, preds = binary
    out = pool_predictions(preds, y, ["roc_auc", "brier"], level=0.9)
    aucs = np.array([auc_delong(y, p) for p in preds])
    ref = pool_estimates(aucs[:, 0], aucs[:, 1], transform="logit")  # delta method inside
    assert out.loc["roc_auc", "estimate"] == pytest.approx(ref.estimate.iloc[0], rel=1e-10)
    assert out.loc["roc_auc", "std_error"] == pytest.approx(ref.std_error.iloc[0], rel=1e-10)
    ci = ref.conf_int(0.9)
    assert out.loc["roc_auc", "conf_low"] == pytest.approx(ci["lower"].iloc[0], rel=1e-10)
    assert out.loc["roc_auc", "fmi"] == pytest.approx(ref.fmi.iloc[0], rel=1e-10)
    assert out.loc["roc_auc", "scale"] == "logit"
    assert 0.5 < out.loc["roc_auc", "conf_low"] < out.loc["roc_auc", "conf_high"] < 1
    yc, pc = continuous
    out = pool_predictions(pc, yc, task="regression")
    sq = [(yc - p) ** 2 for p in pc]
    rmse = np.array([np.sqrt(s.mean()) for s in sq])
    var = np.array([s.var(ddof=1) / s.size / (4 * s.mean()) for s in sq])  # delta: var(MSE)/4MSE
    ref = pool_estimates(rmse, var, transform="log")
    assert out.loc["rmse", "estimate"] == pytest.approx(ref.estimate.iloc[0], rel=1e-10)
    assert out.loc["rmse", "std_error"] == pytest.approx(ref.std_error.iloc[0], rel=1e-10)

    class Fit:  # what pool_r_squared reads from an OLS fit
        def __init__(self, r2, n):
            self.rsquared, self.nobs = r2, n

    ref = pool_r_squared([Fit(r2_score(yc, p), yc.size) for p in pc])
    assert out.loc["r2", "estimate"] == pytest.approx(ref["estimate"].iloc[0], rel=1e-10)
    assert out.loc["r2", "conf_low"] == pytest.approx(ref["conf_low"].iloc[0], rel=1e-10)


def test_hanley_mcneil_option_changes_only_the_variance(binary):
    y, preds = binary
    d = pool_predictions(preds, y, "roc_auc")
    h = pool_predictions(preds, y, "roc_auc", auc_variance="hanley_mcneil")
    assert d.loc["roc_auc", "estimate"] == h.loc["roc_auc", "estimate"]
    assert d.loc["roc_auc", "std_error"] != h.loc["roc_auc", "std_error"]


@pytest.fixture(scope="module")
def fitted_classifier():
    rng = np.random.default_rng(11)
    n = 200
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    y = pd.Series((rng.random(n) < special.expit(X["a"] - X["b"])).astype(int), name="y")
    X.loc[rng.random(n) < 0.3, "a"] = np.nan
    mi = MIPooledEstimator(
        LogisticRegression(C=np.inf), n_imputations=4, random_state=1, keep_imputations=True
    )
    return mi.fit(X, y), X, y


def test_pool_scores_scores_each_imputation_on_its_own_completed_data(fitted_classifier):
    mi, X, y = fitted_classifier
    out = pool_scores(mi, X, y)
    completed = [c[X.columns] for c in mi.imputations_]  # the fit's completed data
    aucs = [
        roc_auc_score(y, e.predict_proba(x)[:, 1])
        for e, x in zip(mi.estimators_, completed, strict=True)
    ]
    assert len(set(np.round(aucs, 12))) > 1  # the imputations differ
    var = [
        auc_delong(y.to_numpy(), e.predict_proba(x)[:, 1])[1]
        for e, x in zip(mi.estimators_, completed, strict=True)
    ]
    ref = pool_estimates(aucs, var, transform="logit")
    assert out.loc["roc_auc", "estimate"] == pytest.approx(ref.estimate.iloc[0])
    assert out.loc["roc_auc", "fmi"] > 0
    assert list(out.index) == ["roc_auc", "brier", "calibration_intercept", "calibration_slope"]
    # apparent calibration of a maximum-likelihood logistic model: slope near 1
    assert abs(out.loc["calibration_slope", "estimate"] - 1) < 0.1
    # completed without the outcome, the imputed "a" carries noise: predictions too extreme
    new = pool_scores(mi, X, y, completions="transform")
    assert new.loc["calibration_slope", "estimate"] < 0.9
    with pytest.raises(ValueError, match="keep_imputations=True"):
        pool_scores(mi, X.iloc[:50], y.iloc[:50], completions="fit")


def test_pool_scores_with_labels_scores_the_second_class(fitted_classifier):
    mi, X, y = fitted_classifier
    labelled = MIPooledEstimator(LogisticRegression(C=np.inf), n_imputations=4, random_state=1)
    labelled.fit(X, y.map({0: "no", 1: "yes"}))
    a = pool_scores(labelled, X, y.map({0: "no", 1: "yes"}), "roc_auc")
    b = pool_scores(mi, X, y, "roc_auc", completions="transform")
    assert a.loc["roc_auc", "estimate"] == pytest.approx(b.loc["roc_auc", "estimate"])


def test_bad_input_is_named(fitted_classifier):
    mi, X, y = fitted_classifier
    with pytest.raises(ValueError, match=r"y has 1 missing value.*observed outcomes"):
        pool_scores(mi, X, y.astype(float).where(y.index != 3))
    with pytest.raises(ValueError, match="y has 1 class"):
        pool_scores(mi, X, pd.Series(1, index=y.index))
    with pytest.raises(ValueError, match="level must lie strictly between 0 and 1"):
        pool_scores(mi, X, y, level=1.5)
    with pytest.raises(ValueError, match="metrics: unknown metric"):
        pool_scores(mi, X, y, "auc")
    with pytest.raises(ValueError, match=r"metrics: \['r2'\].*classifier"):
        pool_scores(mi, X, y, "r2")
    reg = MIPooledEstimator(LinearRegression(), n_imputations=2, random_state=0).fit(
        X, y.astype(float)
    )
    with pytest.raises(ValueError, match=r"metrics: \['roc_auc'\].*regressor"):
        pool_scores(reg, X, y, "roc_auc")
    with pytest.raises(ValueError, match="separates the classes perfectly"):
        pool_predictions([y.to_numpy(), y.to_numpy()], y, "roc_auc")


def test_calibration_table_groups_by_risk_and_averages_over_imputations(fitted_classifier):
    mi, X, y = fitted_classifier
    table = calibration_table(mi, X, y, n_bins=4)
    preds = [
        e.predict_proba(c[X.columns])[:, 1]
        for e, c in zip(mi.estimators_, mi.imputations_, strict=True)
    ]
    lowest = [y.to_numpy()[np.argsort(p, kind="stable")[:50]].mean() for p in preds]
    assert table["n"].tolist() == [50, 50, 50, 50]
    assert table.loc[1, "observed"] == pytest.approx(np.mean(lowest))
    assert table["predicted"].is_monotonic_increasing
    assert (table["observed_min"] <= table["observed"]).all()
    with pytest.raises(ValueError, match="n_bins"):
        calibration_table(mi, X, y, n_bins=1)


def test_plot_calibration_draws_the_groups(fitted_classifier):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skmipool.plotting import plot_calibration

    mi, X, y = fitted_classifier
    ax = plot_calibration(mi, X, y, n_bins=5)
    groups = ax.get_lines()[1]
    assert np.allclose(groups.get_xdata(), calibration_table(mi, X, y, n_bins=5)["predicted"])
    assert "slope" in groups.get_label()
    plt.close("all")
