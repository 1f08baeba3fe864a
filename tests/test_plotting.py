"""skmipool.plotting: what is drawn (points, lines, labels) and the errors."""

import sys

import matplotlib
import numpy as np
import pytest
from scipy import stats
from sklearn.exceptions import NotFittedError

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from skmipool import MIPooledEstimator, how_many_imputations, pool_estimates
from skmipool.datasets import load_nhanes
from skmipool.plotting import plot_estimates, plot_fmi, plot_imputed

M = 3
TERMS = ["intercept", "age", "bmi", "hyp"]


@pytest.fixture(scope="module")
def nhanes():
    df = load_nhanes()
    return df, df[["age", "bmi", "hyp"]], df["chl"]


@pytest.fixture(scope="module")
def fitted(nhanes):
    _, X, y = nhanes
    return MIPooledEstimator(n_imputations=M, random_state=0).fit(X, y)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _labels(texts):
    return [t.get_text() for t in texts]


# ---------------------------------------------------------------- plot_estimates


def test_estimates_one_panel_per_term(fitted):
    axes = plot_estimates(fitted)
    assert isinstance(axes, np.ndarray)
    assert axes.shape == (4,)
    assert all(isinstance(ax, plt.Axes) for ax in axes)
    assert len(axes[0].figure.axes) == 4
    for ax, term in zip(axes, TERMS, strict=True):
        assert _labels(ax.get_yticklabels()) == [
            "imputation 1",
            "imputation 2",
            "imputation 3",
            "pooled",
        ]
        assert ax.get_xlabel() == "estimate"
        assert ax.get_title().startswith(term)


def test_estimates_points_and_intervals(fitted):
    res = fitted.pooled_
    ax = plot_estimates(fitted, terms="bmi", level=0.9)
    per_imputation, pooled = ax.containers
    # M points for the imputations, one for the pooled estimate
    np.testing.assert_allclose(per_imputation.lines[0].get_xdata(), res.estimates["bmi"])
    np.testing.assert_allclose(per_imputation.lines[0].get_ydata(), np.arange(M))
    np.testing.assert_allclose(pooled.lines[0].get_xdata(), [res.estimate["bmi"]])
    assert pooled.lines[0].get_marker() == "D"
    # completed-data intervals: t(dfcom), dfcom = n - p = 21 for OLS on nhanes
    q = stats.t.ppf(0.95, res.dfcom)
    half = q * np.sqrt(res.variances["bmi"].to_numpy())
    segments = np.array(per_imputation.lines[2][0].get_segments())
    np.testing.assert_allclose(segments[:, 0, 0], res.estimates["bmi"] - half)
    np.testing.assert_allclose(segments[:, 1, 0], res.estimates["bmi"] + half)
    # pooled interval: conf_int, drawn thicker
    (pooled_segment,) = pooled.lines[2][0].get_segments()
    ci = res.conf_int(0.9).loc["bmi"]
    np.testing.assert_allclose(pooled_segment[:, 0], [ci["lower"], ci["upper"]])
    assert pooled.lines[2][0].get_linewidth()[0] > per_imputation.lines[2][0].get_linewidth()[0]


def test_estimates_normal_intervals_without_dfcom():
    res = pool_estimates(np.array([1.0, 1.2, 0.9]), np.array([0.04, 0.05, 0.04]))
    ax = plot_estimates(res)
    segments = np.array(ax.containers[0].lines[2][0].get_segments())
    half = stats.norm.ppf(0.975) * np.sqrt([0.04, 0.05, 0.04])
    np.testing.assert_allclose(segments[:, 1, 0] - segments[:, 0, 0], 2 * half)


def test_estimates_single_term_list_gives_an_axes_and_result_equals_estimator(fitted):
    ax = plot_estimates(fitted.pooled_, terms=["age"])
    assert isinstance(ax, plt.Axes)
    from_estimator = plot_estimates(fitted, terms="age")
    np.testing.assert_array_equal(
        ax.containers[0].lines[0].get_xdata(), from_estimator.containers[0].lines[0].get_xdata()
    )


def test_estimates_on_given_axes(fitted):
    _, given = plt.subplots(1, 2)
    axes = plot_estimates(fitted, terms=["age", "bmi"], ax=given)
    assert list(axes) == list(given)
    assert axes[1].get_title().startswith("bmi")
    _, one = plt.subplots()
    assert plot_estimates(fitted, terms="hyp", ax=one) is one
    with pytest.raises(ValueError, match="got 1 Axes for 4 terms"):
        plot_estimates(fitted, ax=one)


def test_estimates_errors(fitted, nhanes):
    with pytest.raises(ValueError, match=r"\['sex'\] are not in the result.*'bmi'"):
        plot_estimates(fitted, terms=["bmi", "sex"])
    with pytest.raises(ValueError, match="terms is empty"):
        plot_estimates(fitted, terms=[])
    with pytest.raises(ValueError, match="level"):
        plot_estimates(fitted, level=95)
    with pytest.raises(TypeError, match="PooledResult"):
        plot_estimates(nhanes[0])
    with pytest.raises(NotFittedError):
        plot_estimates(MIPooledEstimator())


# ---------------------------------------------------------------------- plot_fmi


def test_fmi_bars_labels_and_recommended_m(fitted):
    res = fitted.pooled_
    ax = plot_fmi(fitted)
    fmi_bars, riv_bars = ax.containers
    assert [p.get_height() for p in fmi_bars.patches] == pytest.approx(list(res.fmi))
    assert [p.get_height() for p in riv_bars.patches] == pytest.approx(list(res.riv))
    assert _labels(ax.get_xticklabels()) == TERMS
    assert ax.get_ylabel() == "FMI, RIV"
    assert _labels(ax.get_legend().get_texts()) == ["FMI", "RIV"]
    recommended = how_many_imputations(res.fmi.max(), M)
    assert f"recommended M = {recommended}" in ax.get_title()
    assert f"M = {M})" in ax.get_title()


def test_fmi_on_given_axes_and_errors(fitted):
    _, ax = plt.subplots()
    assert plot_fmi(fitted.pooled_, ax=ax) is ax
    with pytest.raises(TypeError, match="PooledResult"):
        plot_fmi(object())


# ------------------------------------------------------------------ plot_imputed


def test_density_lines(fitted, nhanes):
    _, X, _ = nhanes
    ax = plot_imputed(fitted, "bmi", X)
    lines = ax.get_lines()
    assert len(lines) == 1 + M
    observed, *imputed = lines
    assert observed.get_linewidth() > imputed[0].get_linewidth()
    assert observed.get_color() != imputed[0].get_color()
    assert len({line.get_color() for line in imputed}) == 1
    x = observed.get_xdata()
    values = X["bmi"].dropna().to_numpy()
    np.testing.assert_allclose(observed.get_ydata(), stats.gaussian_kde(values)(x))
    for line, draws in zip(imputed, fitted._imputed_values["bmi"], strict=True):
        np.testing.assert_allclose(line.get_ydata(), stats.gaussian_kde(draws)(x))
    assert x.min() <= min(values.min(), fitted._imputed_values["bmi"].min())
    assert ax.get_xlabel() == "bmi"
    assert ax.get_ylabel() == "density"
    assert _labels(ax.get_legend().get_texts()) == ["observed (n=16)", "imputed (M=3, n=9 each)"]


def test_strip_points(fitted, nhanes):
    _, X, _ = nhanes
    ax = plot_imputed(fitted, "bmi", X, kind="strip")
    observed, imputed = ax.collections
    n_obs, n_mis = 16, 9
    assert observed.get_offsets().shape == ((M + 1) * n_obs, 2)
    assert imputed.get_offsets().shape == (M * n_mis, 2)
    np.testing.assert_allclose(imputed.get_offsets()[:, 1], fitted._imputed_values["bmi"].ravel())
    # x: imputation number with jitter; 0 holds the observed values only
    np.testing.assert_array_equal(
        np.round(imputed.get_offsets()[:, 0]), np.repeat(np.arange(1, M + 1), n_mis)
    )
    np.testing.assert_array_equal(
        np.round(observed.get_offsets()[:, 0]), np.repeat(np.arange(M + 1), n_obs)
    )
    assert _labels(ax.get_xticklabels()) == ["0", "1", "2", "3"]
    assert ax.get_xlabel() == "imputation (0 = observed)"
    assert ax.get_ylabel() == "bmi"
    # fixed jitter: the same call draws the same picture
    again = plot_imputed(fitted, "bmi", X, kind="strip")
    np.testing.assert_array_equal(again.collections[1].get_offsets(), imputed.get_offsets())


def test_outcome_column(fitted, nhanes):
    df, X, y = nhanes
    from_y = plot_imputed(fitted, "chl", X, y=y, kind="strip")
    from_frame = plot_imputed(fitted, "chl", df, kind="strip")
    assert from_y.collections[0].get_offsets().shape == ((M + 1) * 15, 2)
    np.testing.assert_array_equal(
        from_y.collections[0].get_offsets(), from_frame.collections[0].get_offsets()
    )
    with pytest.raises(ValueError, match="'chl' is the outcome: pass its observed values as y="):
        plot_imputed(fitted, "chl", X)


def test_fewer_than_two_distinct_values_draws_a_vertical_line(nhanes):
    _, X, y = nhanes
    X = X.copy()
    X.loc[X.index[1:], "bmi"] = X["bmi"].fillna(X["bmi"].mean())  # one missing bmi left
    mi = MIPooledEstimator(n_imputations=2, random_state=0).fit(X, y)
    ax = plot_imputed(mi, "bmi", X)
    _, *imputed = ax.get_lines()
    assert len(imputed) == 2
    for line, draw in zip(imputed, mi._imputed_values["bmi"][:, 0], strict=True):
        np.testing.assert_allclose(line.get_xdata(), [draw, draw])


def test_array_input(nhanes):
    _, X, y = nhanes
    arr = X.to_numpy()
    mi = MIPooledEstimator(n_imputations=2, random_state=0).fit(arr, y.to_numpy())
    ax = plot_imputed(mi, "x1", arr, kind="strip")
    assert ax.collections[1].get_offsets().shape == (2 * 9, 2)
    with pytest.raises(ValueError, match=r"was not in the data given to fit.*'x0', 'x1'"):
        plot_imputed(mi, "bmi", arr)


def test_given_axes(fitted, nhanes):
    _, ax = plt.subplots()
    assert plot_imputed(fitted, "hyp", nhanes[1], ax=ax) is ax


def test_imputed_errors(fitted, nhanes):
    _, X, _ = nhanes
    with pytest.raises(ValueError, match=r"X is required: pass the data given to fit as X="):
        plot_imputed(fitted, "bmi")
    with pytest.raises(ValueError, match=r"'age' had no missing values.*\['bmi', 'hyp', 'chl'\]"):
        plot_imputed(fitted, "age", X)
    with pytest.raises(ValueError, match="'sex' was not in the data given to fit"):
        plot_imputed(fitted, "sex", X)
    with pytest.raises(ValueError, match="has 0 missing values in the data passed, but 9"):
        plot_imputed(fitted, "bmi", X.fillna(0))
    with pytest.raises(ValueError, match="'bmi' is not in X"):
        plot_imputed(fitted, "bmi", X[["age"]])
    with pytest.raises(ValueError, match='kind must be "density" or "strip"'):
        plot_imputed(fitted, "bmi", X, kind="box")
    with pytest.raises(TypeError, match="positional"):
        plot_imputed(fitted, "bmi", X, "strip")
    with pytest.raises(NotFittedError):
        plot_imputed(MIPooledEstimator(), "bmi", X)


# --------------------------------------------------------- matplotlib is optional


def test_missing_matplotlib_names_the_extra(fitted, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    for call in (lambda: plot_estimates(fitted), lambda: plot_fmi(fitted)):
        with pytest.raises(ImportError, match=r'pip install "skmipool\[plot\]"'):
            call()
    with pytest.raises(ImportError, match=r'pip install "skmipool\[plot\]"'):
        plot_imputed(fitted, "bmi", load_nhanes())


def test_importing_the_module_does_not_import_pyplot():
    import subprocess

    code = "import skmipool.plotting, sys; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- the toolkit plots: plot_strip, plot_density, plot_trace, plot_md_pattern


def test_plot_strip_and_density_draw_one_panel_per_imputed_column(fitted, nhanes):
    from skmipool.plotting import plot_density, plot_strip

    df, _, _ = nhanes
    axes = plot_strip(fitted, df)
    assert [a.get_title() for a in axes] == ["bmi", "hyp", "chl"]
    imputed = fitted._imputed_values["bmi"]
    red = axes[0].collections[1].get_offsets()
    np.testing.assert_array_equal(np.sort(red[:, 1]), np.sort(imputed.ravel()))
    axes = plot_density(fitted, df, columns=["bmi", "chl"])
    assert [len(a.get_lines()) for a in axes] == [M + 1, M + 1]
    with pytest.raises(ValueError, match="2 columns"):
        plot_density(fitted, df, columns=["bmi", "chl"], ax=axes[0])
    with pytest.raises(ValueError, match="not in the data"):
        plot_strip(fitted, df, columns="weight")


def test_plot_trace_draws_each_chain(nhanes):
    from skmipool.impute import ChainedImputer
    from skmipool.plotting import plot_trace

    _, X, y = nhanes
    mi = MIPooledEstimator(
        imputer=ChainedImputer(keep_trace=True, max_iter=4), n_imputations=M, random_state=0
    ).fit(X, y)
    axes = plot_trace(mi, columns="bmi")
    assert axes.shape == (1, 2)
    lines = axes[0, 0].get_lines()
    assert len(lines) == M
    np.testing.assert_allclose(lines[1].get_ydata(), mi.imputers_[1].trace_["mean"]["bmi"])
    np.testing.assert_allclose(
        axes[0, 1].get_lines()[0].get_ydata(), mi.imputers_[0].trace_["sd"]["bmi"]
    )
    with pytest.raises(ValueError, match="no trace"):
        plot_trace(mi, columns="age")


def test_plot_md_pattern_labels_counts(nhanes):
    from skmipool.explore import md_pattern
    from skmipool.plotting import plot_md_pattern

    df, _, _ = nhanes
    ax = plot_md_pattern(md_pattern(df))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["13", "3", "1", "1", "7"]
    image = ax.get_images()[0].get_array()
    assert image.shape == (5, 4) and image[0].tolist() == [1, 1, 1, 1]
