"""ChainedImputer's tree methods (cart, rf), passive imputation and bounds (issue 18, part 5)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from skmipool import MIPooledEstimator
from skmipool.datasets import load_nhanes2
from skmipool.impute import ChainedImputer
from skmipool.impute._trees import tree_model
from skmipool.models import FormulaModel


def _interaction_data(seed, n):
    """y = x1 + x2 + x1 x2 + e, e ~ N(0, 1); y missing at random given x2 (about 40%)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    df = pd.DataFrame({"x1": x1, "x2": x2, "y": x1 + x2 + x1 * x2 + rng.normal(size=n)})
    p = 1 / (1 + np.exp(0.5 - x2))  # logistic(-0.5 + x2)
    df.loc[rng.random(n) < p, "y"] = np.nan
    return df


@pytest.mark.parametrize("method", ["cart", "rf"])
def test_tree_methods_are_reproducible_and_impute_observed_values(method):
    df = _interaction_data(0, 300)
    first = ChainedImputer(method=method, random_state=3).fit_transform(df)
    again = ChainedImputer(method=method, random_state=3).fit_transform(df)
    other = ChainedImputer(method=method, random_state=4).fit_transform(df)
    assert first.equals(again)
    assert not first.equals(other)
    miss = df["y"].isna()
    assert np.isin(first.loc[miss, "y"], df.loc[~miss, "y"]).all()
    assert first.loc[~miss].equals(df.loc[~miss])


@pytest.mark.parametrize("method", ["cart", "rf"])
def test_tree_donors_come_from_the_missing_rows_leaf(method):
    """A step function of x: every leaf holds one level of y, so the donor's value is exact."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 3, size=600)
    y = np.floor(x) * 10.0
    X = np.column_stack([x, y])
    X[rng.random(600) < 0.3, 1] = np.nan
    out = ChainedImputer(method=method, random_state=0).fit_transform(X)
    # rows near a step may fall in a leaf that straddles it; all others are exact for cart.
    # rf's leaves also hold rows left out of the tree's own bootstrap (mice's donors, too),
    # and one of those may lie across a step the tree placed between its bootstrap rows
    miss = np.isnan(X[:, 1])
    far = miss & (np.abs(x - np.round(x)) > 0.05)
    exact = (out[far, 1] == np.floor(x[far]) * 10.0).mean()
    assert exact == 1.0 if method == "cart" else exact > 0.98


@pytest.mark.parametrize("method", ["cart", "rf"])
def test_tree_methods_impute_categories_from_their_leaves(method):
    rng = np.random.default_rng(2)
    n = 800
    x = rng.normal(size=n)
    level = np.where(x < -0.5, "low", np.where(x < 0.5, "mid", "high"))
    df = pd.DataFrame({"x": x, "g": pd.Categorical(level, categories=["low", "mid", "high"])})
    df.loc[rng.random(n) < 0.3, "g"] = np.nan
    out = ChainedImputer(method=method, random_state=0).fit_transform(df)
    assert out["g"].dtype == df["g"].dtype
    miss = df["g"].isna().to_numpy()
    agree = (out.loc[miss, "g"].astype(str).to_numpy() == level[miss]).mean()
    assert agree > 0.9  # the tree splits on x; a leaf straddling a cut-off may err
    point = ChainedImputer(method=method, sample_posterior=False).fit_transform(df)
    far = miss & (np.abs(np.abs(x) - 0.5) > 0.1)
    assert (point.loc[far, "g"].astype(str).to_numpy() == level[far]).all()


def test_without_draws_cart_imputes_the_leaf_mean():
    df = _interaction_data(5, 400)
    imp = ChainedImputer(method="cart", sample_posterior=False, max_iter=1)
    out = imp.fit_transform(df)
    miss = df["y"].isna()
    # no bootstrap without draws: the tree's own prediction is the leaf mean of observed rows
    # (its predictors are the design's, centred at the observed means)
    tree = imp._models[2].fitted_
    predicted = tree.predict(df.loc[miss, ["x1", "x2"]].to_numpy() - imp._offsets[:2])
    np.testing.assert_allclose(out.loc[miss, "y"], predicted, rtol=1e-12)
    assert np.unique(predicted).size < 0.5 * miss.sum()  # leaves, not rows


def test_rf_draws_donors_uniformly_from_the_union_of_its_leaves():
    """Two trees, a row whose leaves hold {1, 2} and {2, 2, 2}: P(2) = 4 / 5."""
    model = tree_model("rf", False, 0, 2)
    model.keys_ = np.array([0, 10])
    model.starts_ = np.array([0, 2])
    model.counts_ = np.array([2, 3])
    model.donor_values_ = np.array([1.0, 2.0, 2.0, 2.0, 2.0])
    model.width_, model.cols_ = 10, np.array([0])

    class Fixed:
        def apply(self, X):
            return np.zeros((X.shape[0], 2), dtype=np.intp)

    model.fitted_ = Fixed()
    draws = model.impute(np.zeros((40000, 1)), np.random.default_rng(0), True)
    assert set(np.unique(draws)) == {1.0, 2.0}
    assert abs((draws == 2.0).mean() - 0.8) < 0.01  # SE 0.002
    assert model.impute(np.zeros((1, 1)), None, False)[0] == pytest.approx(9.0 / 5.0)


def test_tree_methods_run_on_nhanes2_and_transform():
    df = load_nhanes2()
    imp = ChainedImputer(method="rf", n_trees=5, random_state=0).fit(df)
    assert set(imp.methods_.values()) == {"rf"}
    assert imp.transform(df).notna().all().all()


def test_delta_shifts_tree_imputations_of_numbers_and_refuses_categories():
    df = _interaction_data(0, 200)
    plain = ChainedImputer(method="cart", random_state=1).fit_transform(df)
    shifted = ChainedImputer(method="cart", delta={"y": 5.0}, random_state=1).fit_transform(df)
    miss = df["y"].isna()
    np.testing.assert_allclose(shifted.loc[miss, "y"] - plain.loc[miss, "y"], 5.0)
    df2 = load_nhanes2()
    with pytest.raises(ValueError, match=r"'hyp'.*'cart'"):
        ChainedImputer(method="cart", delta={"hyp": 1.0}).fit(df2)


REPS = 40
N = 5000


@pytest.mark.slow
def test_tree_methods_keep_the_interaction_that_pmm_attenuates():
    """Pooled interaction coefficient of y ~ x1 * x2 (true 1) after imputing y.

    y = x1 + x2 + x1 x2 + e, n = 5000, y missing at random given x2 (about
    40%, more for large x2, where the interaction is strongest); M = 5; 40
    replications (about 15 s on one core: cart 3 s, rf 9 s, pmm 2 s). pmm and
    norm model y linearly in x1 and x2 and attenuate the interaction; the
    trees find it. Their leaves still mix recipients with donors of somewhat
    different x, a smoothing bias that falls with n (cart: -0.19 at n = 500,
    -0.09 at 2000, -0.04 at 5000; rf: -0.35, -0.11, -0.06; pmm: -0.38,
    -0.33, -0.29). Asserted: |bias| of cart and rf below 0.08 (8% of the
    effect) plus 3 Monte Carlo SEs (about 0.01 at 40 replications), and pmm's
    bias beyond -0.2, printed.
    """
    model = FormulaModel("y ~ x1 * x2")
    bias = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in ("cart", "rf", "pmm"):
            est = []
            for seed in range(REPS):
                imputer = ChainedImputer(method=method, max_iter=1)
                mi = MIPooledEstimator(model, imputer, n_imputations=5, random_state=seed)
                est.append(mi.fit(_interaction_data(seed, N), None).pooled_.to_frame())
            coef = np.array([e.loc["x1:x2", "estimate"] for e in est])
            mcse = coef.std(ddof=1) / np.sqrt(REPS)
            bias[method] = (coef.mean() - 1.0, mcse)
            print(f"{method}: bias of x1:x2 {coef.mean() - 1.0:+.3f} (MC SE {mcse:.3f})")
    for method in ("cart", "rf"):
        b, mcse = bias[method]
        assert abs(b) < 0.08 + 3 * mcse, (method, b)
    assert bias["pmm"][0] < -0.2


def _body(seed=0, n=300):
    """Height, weight and bmi (derived from them), each about 20% missing."""
    rng = np.random.default_rng(seed)
    hgt = rng.normal(170, 10, n)
    wgt = rng.normal(70, 10, n) + 0.5 * (hgt - 170)
    df = pd.DataFrame({"bmi": wgt / (hgt / 100) ** 2, "hgt": hgt, "wgt": wgt})
    df["sex"] = pd.Categorical(np.where(rng.random(n) < 0.5, "f", "m"))
    for c in ("bmi", "hgt", "wgt"):
        df.loc[rng.random(n) < 0.2, c] = np.nan
    return df


def _bmi(d):
    return d.wgt / (d.hgt / 100) ** 2


@pytest.mark.parametrize("method", [None, "cart"])
def test_passive_column_equals_its_formula_on_the_completed_data(method):
    df = _body()
    imp = ChainedImputer(method=method, passive={"bmi": _bmi}, random_state=0)
    out = imp.fit_transform(df)
    miss = df["bmi"].isna()
    np.testing.assert_array_equal(out.loc[miss, "bmi"], _bmi(out)[miss])
    assert out.loc[~miss, "bmi"].equals(df.loc[~miss, "bmi"])  # observed cells kept
    assert imp.methods_["bmi"] == "passive"
    assert imp.visit_sequence_[-1] == "bmi"  # after its sources
    new = imp.transform(df)
    np.testing.assert_array_equal(new.loc[miss, "bmi"], _bmi(new)[miss])


def test_passive_on_arrays_gets_positional_columns():
    X = _body().drop(columns="sex").to_numpy()
    out = ChainedImputer(passive={0: lambda d: d[2] / (d[1] / 100) ** 2}, random_state=1).fit(X)
    completed = out.transform(X)
    miss = np.isnan(X[:, 0])
    np.testing.assert_allclose(
        completed[miss, 0], completed[miss, 2] / (completed[miss, 1] / 100) ** 2
    )


def test_bounds_squeeze_imputations_after_delta():
    df = _body()
    imp = ChainedImputer(bounds={"wgt": (60, 80)}, delta={"wgt": 30.0}, random_state=0)
    out = imp.fit_transform(df)
    miss = df["wgt"].isna()
    assert out.loc[miss, "wgt"].between(60, 80).all()
    assert (out.loc[miss, "wgt"] == 80).mean() > 0.9  # the shift pushed most past the top
    assert out.loc[~miss, "wgt"].equals(df.loc[~miss, "wgt"])
    assert imp.transform(df).loc[miss, "wgt"].between(60, 80).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"passive": {"bmi": lambda d: d.nope}}, ValueError, r"passive\['bmi'\] raised"),
        (
            {"passive": {"bmi": lambda d: d.wgt[:10]}},
            ValueError,
            r"passive\['bmi'\].*shape \(10,\)",
        ),
        ({"passive": {"bmi": lambda d: 3.0}}, ValueError, r"passive\['bmi'\].*one value per row"),
        ({"passive": {"bmi": lambda d: d.wgt / 0}}, ValueError, r"passive\['bmi'\].*infinite"),
        ({"passive": {"bmi": "wgt / hgt"}}, TypeError, r"passive\['bmi'\] must be a function"),
        ({"passive": {"nope": _bmi}}, ValueError, r"passive names column 'nope'"),
        (
            {"passive": {"bmi": _bmi}, "method": {"bmi": "pmm"}},
            ValueError,
            "'bmi' is passive.*method",
        ),
        ({"bounds": {"sex": (0, 1)}}, ValueError, "bounds names column 'sex'.*not numeric"),
        ({"bounds": {"wgt": (80, 60)}}, ValueError, "'wgt'.*low must not exceed high"),
        ({"bounds": {"wgt": 60}}, TypeError, "bounds for column 'wgt' must be a pair"),
    ],
)
def test_bad_passive_and_bounds_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        ChainedImputer(**kwargs).fit(_body())


def test_user_guide_passive_example_runs():
    import re
    from pathlib import Path

    guide = (Path(__file__).parents[1] / "docs" / "user_guide.md").read_text()
    section = guide.split("### Trees, derived columns and bounds")[1].split("\n## ")[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    exec(compile(block, "user_guide.md", "exec"), {})
