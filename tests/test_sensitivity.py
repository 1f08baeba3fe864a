"""Delta adjustment (ChainedImputer(delta=...)) and tipping_point (each test a few seconds)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer

from skmipool import (
    MIPooledEstimator,
    OutcomeOnlyImputationWarning,
    TippingPointResult,
    tipping_point,
)
from skmipool.datasets import load_nhanes2
from skmipool.impute import ChainedImputer


@pytest.fixture(scope="module")
def nhanes():
    return load_nhanes2()


def _outcome_missing_in_one_group(seed=0, n=200):
    """y ~ z with y missing (MAR) in a third of the z = 1 rows only."""
    rng = np.random.default_rng(seed)
    z = rng.binomial(1, 0.5, n).astype(float)
    y = 10.0 + 0.35 * z + rng.normal(size=n)
    y[(z == 1) & (rng.uniform(size=n) < 0.35)] = np.nan
    return pd.DataFrame({"z": z}), pd.Series(y, name="y")


def test_delta_zero_is_the_plain_imputation_bit_for_bit(nhanes):
    plain = ChainedImputer(random_state=3).fit_transform(nhanes)
    zero = ChainedImputer(random_state=3, delta={"bmi": 0.0, "hyp": 0}).fit_transform(nhanes)
    pd.testing.assert_frame_equal(plain, zero, check_exact=True)


def test_numeric_imputations_move_by_exactly_delta(nhanes):
    """One incomplete column: the shifted draws are the plain draws plus delta."""
    data = nhanes[["age", "chl", "bmi"]].dropna(subset=["chl"])
    missing = data["bmi"].isna().to_numpy()
    plain = ChainedImputer(random_state=1, max_iter=1).fit_transform(data)
    shifted = ChainedImputer(random_state=1, max_iter=1, delta={"bmi": 2.5}).fit_transform(data)
    moved = shifted["bmi"].to_numpy() - plain["bmi"].to_numpy()
    np.testing.assert_allclose(moved[missing], 2.5, rtol=0, atol=1e-12)
    assert np.all(moved[~missing] == 0.0)  # observed values untouched
    assert shifted["bmi"][missing].mean() - plain["bmi"][missing].mean() == pytest.approx(2.5)


def test_binary_column_shifts_its_log_odds():
    rng = np.random.default_rng(2)
    n = 600
    x = rng.normal(size=n)
    b = pd.Series(rng.uniform(size=n) < 1 / (1 + np.exp(-x)))
    frame = pd.DataFrame({"x": x, "b": b.where(rng.uniform(size=n) > 0.4)})  # b: object, NaN
    frame["b"] = frame["b"].astype("boolean")
    missing = frame["b"].isna()
    share = {
        d: ChainedImputer(random_state=0, delta={"b": d}).fit_transform(frame)["b"][missing].mean()
        for d in (-2.0, 0.0, 2.0)
    }
    assert share[-2.0] < share[0.0] < share[2.0]
    assert share[-2.0] < 0.25 and share[2.0] > 0.75  # two units of log odds: a large shift


def test_transform_applies_delta_too(nhanes):
    imp = ChainedImputer(random_state=1, max_iter=1, delta={"bmi": 100.0})
    data = nhanes[["age", "chl", "bmi"]].dropna(subset=["chl"])
    imp.fit(data)
    out = imp.transform(data)
    assert (out["bmi"][data["bmi"].isna()] > 100).all()


@pytest.mark.parametrize(
    ("delta", "error", "match"),
    [
        ({"weight": 1.0}, ValueError, "delta names column 'weight', which is not a column"),
        ({"age": 1.0}, ValueError, "column 'age', which has no missing values"),
        ({"bmi": "high"}, TypeError, "delta for column 'bmi' must be a finite number"),
        ({"bmi": np.nan}, TypeError, "delta for column 'bmi' must be a finite number"),
        ({"hyp": True}, TypeError, "delta for column 'hyp' must be a finite number"),
    ],
)
def test_bad_delta_is_named(nhanes, delta, error, match):
    with pytest.raises(error, match=match):
        ChainedImputer(delta=delta).fit(nhanes)


def test_tipping_point_refits_with_the_same_seeds():
    X, y = _outcome_missing_in_one_group()
    mi = MIPooledEstimator(n_imputations=5, random_state=7)
    tp = tipping_point(mi, X, y, "y", [-1.5, -0.75, 0.75, 1.5], term="z")
    assert isinstance(tp, TippingPointResult)
    # delta = 0 is the plain fit, bit for bit
    with pytest.warns(OutcomeOnlyImputationWarning):  # said by the plain fit, not by tipping_point
        plain = MIPooledEstimator(n_imputations=5, random_state=7).fit(X, y).pooled_.to_frame()
    assert tp.table.loc[0.0, "estimate"] == plain.loc["z", "estimate"]
    assert tp.table.loc[0.0, "p_value"] == plain.loc["z", "p_value"]
    # y is imputed from z alone and only in z = 1 rows: the z effect moves by delta times the
    # share of imputed rows among z = 1, exactly (same draws, shifted)
    share = y[X["z"] == 1].isna().mean()
    np.testing.assert_allclose(
        np.diff(tp.table["estimate"]), np.diff(tp.table.index) * share, rtol=1e-9
    )


def test_tipping_delta_is_the_smallest_shift_that_changes_the_conclusion():
    X, y = _outcome_missing_in_one_group()
    mi = MIPooledEstimator(n_imputations=5, random_state=7)
    grid = np.round(np.arange(-3.0, 3.01, 0.5), 2)
    tp = tipping_point(mi, X, y, "y", grid, term="z", level=0.95)
    significant = tp.table["significant"]
    assert significant.loc[0.0] != significant.loc[-3.0]  # the design does tip within the grid
    flipped = [d for d in tp.table.index if significant.loc[d] != significant.loc[0.0]]
    assert tp.tipping_delta == min(flipped, key=abs)
    assert (tp.table["significant"] == (tp.table["p_value"] < 0.05)).all()
    assert "the conclusion changes at delta" in str(tp)


def test_tipping_point_bad_input(nhanes):
    X, y = nhanes[["age", "bmi"]], nhanes["chl"]
    mi = MIPooledEstimator(n_imputations=2, random_state=0)
    with pytest.raises(ValueError, match="term 'weight' is not a term of the analysis"):
        tipping_point(mi, X, y, "bmi", [1.0], term="weight")
    with pytest.raises(ValueError, match="deltas must be a non-empty list"):
        tipping_point(mi, X, y, "bmi", [], term="bmi")
    with pytest.raises(TypeError, match="deltas must hold real numbers"):
        tipping_point(mi, X, y, "bmi", [1.0, "a"], term="bmi")
    with pytest.raises(ValueError, match="deltas must be finite numbers"):
        tipping_point(mi, X, y, "bmi", [1.0, np.inf], term="bmi")
    with pytest.raises(TypeError, match="imputer is SimpleImputer"):
        tipping_point(MIPooledEstimator(imputer=SimpleImputer()), X, y, "bmi", [1.0], term="bmi")
    with pytest.raises(TypeError, match="must be a MIPooledEstimator"):
        tipping_point(ChainedImputer(), X, y, "bmi", [1.0], term="bmi")


def test_plot_tipping_point():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skmipool.plotting import plot_tipping_point

    X, y = _outcome_missing_in_one_group()
    tp = tipping_point(
        MIPooledEstimator(n_imputations=3, random_state=7), X, y, "y", [-3, 3], term="z"
    )
    ax = plot_tipping_point(tp)
    assert ax.get_ylabel() == "z"
    assert len(ax.lines) >= 2  # the estimate and the zero line
    plt.close("all")
