"""Plots of a multiple imputation: estimates per imputation, FMI, imputed values.

matplotlib is an optional dependency (``pip install "skmipool[plot]"``); it is
imported when a function is called, not when this module is imported. Every
function draws on ``ax`` when given, otherwise on a new figure, and returns
what it drew on.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import stats

from skmipool._results import PooledResult, check_level, how_many_imputations, t_quantile
from skmipool._sensitivity import TippingPointResult
from skmipool.explore import md_pattern, traces
from skmipool.metrics import calibration_table, pool_scores

__all__ = [
    "plot_calibration",
    "plot_density",
    "plot_estimates",
    "plot_fmi",
    "plot_imputed",
    "plot_md_pattern",
    "plot_strip",
    "plot_tipping_point",
    "plot_trace",
]

# mice's colours: observed data blue, imputed data red
_OBSERVED = "#006CC2"
_IMPUTED = "#B61A51"


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            'skmipool.plotting needs matplotlib: pip install "skmipool[plot]" '
            "(or pip install matplotlib)."
        ) from exc
    return plt


def _as_result(result) -> PooledResult:
    """A PooledResult from itself or from a fitted estimator's ``pooled_``."""
    if isinstance(result, PooledResult):
        return result
    if hasattr(result, "get_params") and hasattr(result, "fit"):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(result, "pooled_")
        return result.pooled_
    raise TypeError(
        f"result must be a skmipool.PooledResult or a fitted MIPooledEstimator; got "
        f"{type(result).__name__}."
    )


def _select_terms(result: PooledResult, terms) -> list[str]:
    available = [str(t) for t in result.terms]
    if terms is None:
        return available
    wanted = [terms] if isinstance(terms, str) else [str(t) for t in terms]
    if not wanted:
        raise ValueError(f"terms is empty; choose from {available} (or None for all).")
    unknown = [t for t in wanted if t not in available]
    if unknown:
        raise ValueError(f"terms {unknown} are not in the result; its terms are {available}.")
    return wanted


def _panel_axes(plt, names: list[str], m: int, ax):
    """One Axes per term: the given ones, or a new grid of up to two columns."""
    n = len(names)
    if ax is not None:
        axes = np.ravel(np.asarray(ax, dtype=object))
        if axes.size != n:
            raise ValueError(
                f"ax: got {axes.size} Axes for {n} terms; pass one Axes per term (in the "
                f"order of terms) or select a single term, e.g. terms={names[0]!r}."
            )
        return axes
    ncols = 1 if n == 1 else 2
    nrows = -(-n // ncols)
    height = 0.3 * (m + 1) + 1.2
    fig, grid = plt.subplots(
        nrows, ncols, figsize=(4.5 * ncols, height * nrows), squeeze=False, layout="constrained"
    )
    grid = grid.ravel()
    for extra in grid[n:]:
        fig.delaxes(extra)
    return grid[:n]


def plot_estimates(result, terms=None, level: float = 0.95, ax=None):
    """Forest plot of the M completed-data estimates and the pooled estimate, per term.

    Each term gets its own panel (terms are on different scales): one row per
    imputation with its estimate and ``level`` interval, and a last row
    "pooled" with Rubin's pooled estimate and its interval, drawn as a
    diamond with a thick line. The dashed vertical line marks the pooled
    estimate.

    Parameters
    ----------
    result : PooledResult or fitted MIPooledEstimator
        The pooled result (an estimator's ``pooled_`` is used).
    terms : str or list of str, optional
        Terms to plot, default all.
    level : float, default=0.95
        Confidence level of the intervals.
    ax : matplotlib Axes or array-like of Axes, optional
        One Axes per term plotted. Default: a new figure with a grid of
        panels (two columns when there are several terms).

    Returns
    -------
    matplotlib Axes or ndarray of Axes
        A single Axes when one term is plotted, otherwise a 1-d array with one
        Axes per term in the order of ``terms`` (matplotlib's ``squeeze``
        convention).

    Notes
    -----
    Completed-data intervals are ``estimate ± q sqrt(variance)`` with ``q``
    the ``(1 + level) / 2`` quantile of t(dfcom) when the result's complete-data
    df is finite and of the standard normal otherwise, i.e. the interval each
    completed-data analysis would report. The pooled interval is
    :meth:`PooledResult.conf_int`: t with Rubin's (dfcom infinite) or Barnard &
    Rubin's (1999) df.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from skmipool import pool_estimates
    >>> from skmipool.plotting import plot_estimates
    >>> res = pool_estimates(np.array([1.0, 1.2, 0.9]), np.array([0.04, 0.05, 0.04]), dfcom=30)
    >>> ax = plot_estimates(res)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['imputation 1', 'imputation 2', 'imputation 3', 'pooled']
    >>> plt.close("all")
    """
    plt = _pyplot()
    result = _as_result(result)
    level = check_level(level)
    names = _select_terms(result, terms)
    m = result.n_imputations
    estimates, variances = result.estimates, result.variances
    dfcom = result.dfcom
    q = float(t_quantile(0.5 + level / 2.0, dfcom))  # t(inf) is the normal
    ci = result.conf_int(level)
    pooled_est = result.estimate
    completed_ref = f"t({dfcom:g})" if np.isfinite(dfcom) else "normal"

    axes = _panel_axes(plt, names, m, ax)
    rows = np.arange(m, dtype=float)
    for panel, term in zip(axes, names, strict=True):
        est = estimates[term].to_numpy()
        half = q * np.sqrt(variances[term].to_numpy())
        panel.errorbar(
            est,
            rows,
            xerr=half,
            fmt="o",
            color="0.35",
            markersize=4,
            linewidth=1,
            capsize=0,
            label=f"imputations ({completed_ref} intervals)",
        )
        center = float(pooled_est[term])
        lower, upper = float(ci.loc[term, "lower"]), float(ci.loc[term, "upper"])
        panel.errorbar(
            np.array([center]),
            np.array([float(m)]),
            xerr=np.array([[center - lower], [upper - center]]),
            fmt="D",
            color="C3",
            markersize=8,
            linewidth=2.5,
            capsize=0,
            label="pooled (Rubin's rules)",
        )
        panel.axvline(center, color="C3", linestyle="--", linewidth=0.8, zorder=0)
        panel.axhline(m - 0.5, color="0.8", linewidth=0.8, zorder=0)
        panel.set_yticks(np.arange(m + 1))
        panel.set_yticklabels([f"imputation {i}" for i in range(1, m + 1)] + ["pooled"])
        panel.set_ylim(m + 0.6, -0.6)  # imputation 1 on top, pooled at the bottom
        panel.set_xlabel("estimate")
        panel.set_title(f"{term} ({level:.0%} intervals)")
    return axes[0] if len(axes) == 1 else axes


def plot_fmi(result, ax=None):
    """Fraction of missing information and relative increase in variance per term.

    Grouped bars of FMI and RIV for every term; the title gives M and the
    number of imputations recommended by von Hippel's (2020) rule for the
    largest FMI (:func:`skmipool.how_many_imputations`).

    Parameters
    ----------
    result : PooledResult or fitted MIPooledEstimator
        The pooled result (an estimator's ``pooled_`` is used).
    ax : matplotlib Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from skmipool import pool_estimates
    >>> from skmipool.plotting import plot_fmi
    >>> res = pool_estimates(np.array([1.0, 1.2, 0.9]), np.array([0.04, 0.05, 0.04]), dfcom=30)
    >>> ax = plot_fmi(res)
    >>> ax.get_ylabel()
    'FMI, RIV'
    >>> plt.close("all")
    """
    plt = _pyplot()
    result = _as_result(result)
    names = [str(t) for t in result.terms]
    fmi, riv = result.fmi.to_numpy(), result.riv.to_numpy()
    m = result.n_imputations
    recommended = how_many_imputations(np.nanmax(fmi), m)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(names) + 2.0), 3.5), layout="constrained")
    x = np.arange(len(names))
    width = 0.38
    fmi_bars = ax.bar(x - width / 2, fmi, width, label="FMI", color="C0")
    riv_bars = ax.bar(x + width / 2, riv, width, label="RIV", color="C1")
    ax.bar_label(fmi_bars, fmt="%.2f", fontsize="small")
    ax.bar_label(riv_bars, fmt="%.2f", fontsize="small")
    ax.set_xticks(x)
    ax.set_xticklabels(
        names, rotation=30 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center"
    )
    ax.set_xlabel("term")
    ax.set_ylabel("FMI, RIV")
    ax.set_title(
        f"Missing information (M = {m}); recommended M = {recommended}\n"
        f"(von Hippel 2020, largest FMI {np.nanmax(fmi):.2f})"
    )
    ax.legend()
    ax.margins(y=0.15)
    return ax


def _fit_columns(estimator) -> list[str]:
    """Names of the columns given to fit: features (``x0``, ... for arrays), then outcome."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        names = [f"x{j}" for j in range(getattr(estimator, "n_features_in_", 0))]
    return [str(c) for c in names] + [str(c) for c in getattr(estimator, "_target_columns", [])]


def _observed_values(estimator, column, X, y, n_imputed: int) -> np.ndarray:
    """The observed values of ``column`` in the data given to fit, checked against it."""
    in_frame = isinstance(X, pd.DataFrame) and column in X.columns
    if column in getattr(estimator, "_target_columns", []) and not in_frame:
        if y is None:
            raise ValueError(
                f"column {column!r} is the outcome: pass its observed values as y=, or a "
                f"DataFrame X that contains {column!r}."
            )
        values = y
    elif X is None:
        raise ValueError(
            f"X is required: pass the data given to fit as X=, for the observed values of "
            f"{column!r} (the estimator does not keep the data)."
        )
    elif isinstance(X, pd.DataFrame):
        if not in_frame:
            raise ValueError(
                f"column {column!r} is not in X; pass the data given to fit (it must contain "
                f"{column!r})."
            )
        values = X[column]
    else:  # an array given to fit: its columns are named x0, x1, ...
        arr = np.asarray(X, dtype=object)
        j = int(column[1:]) if re.fullmatch(r"x\d+", str(column)) else -1
        if arr.ndim != 2 or not 0 <= j < arr.shape[1]:
            raise ValueError(
                f"X has shape {arr.shape}, without a column {column!r}; pass the data given to fit."
            )
        values = arr[:, j]
    values = pd.Series(np.asarray(values, dtype=object).ravel())
    missing = values.isna().to_numpy()
    if int(missing.sum()) != n_imputed:
        raise ValueError(
            f"column {column!r} has {int(missing.sum())} missing values in the data passed, "
            f"but {n_imputed} were imputed in fit: pass the same data that was given to fit."
        )
    try:
        return values[~missing].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"column {column!r} is not numeric; plot_imputed draws numeric columns only."
        ) from None


def _density_line(ax, values, grid, **style):
    """Gaussian KDE of ``values`` on ``grid``; a vertical line for < 2 distinct values."""
    if np.unique(values).size < 2:
        return ax.axvline(values[0], **style)
    density = stats.gaussian_kde(values)(grid)
    (line,) = ax.plot(grid, density, **style)
    return line


def plot_imputed(estimator, column, X=None, *, y=None, kind: str = "density", ax=None):
    """Observed against imputed values of one column, per imputation.

    The visual check of mice's ``densityplot`` and ``stripplot``: imputed
    values (red) should look plausible next to the observed ones (blue). Under
    MAR they may differ in distribution, but values far outside the observed
    range or a density of a very different shape call the imputation model
    into question.

    Parameters
    ----------
    estimator : fitted MIPooledEstimator
        Provides the imputed values of every column that had missing values.
    column : str
        Column name as in the data given to fit (``"x0"``, ``"x1"``, ... for an
        array X); the outcome is named by ``y``'s name.
    X : DataFrame or array-like, optional
        The data given to fit, for the observed values (the estimator does not
        keep the data). Required for a feature column; it may also be a
        DataFrame that contains the outcome column.
    y : array-like, optional
        The outcome given to fit, when ``column`` is the outcome and X does not
        contain it.
    kind : {"density", "strip"}, default="density"
        ``"density"``: Gaussian kernel density (:class:`scipy.stats.gaussian_kde`)
        of the observed values (thick blue) and of each imputation's imputed
        values (thin red); a set with fewer than two distinct values is drawn
        as a vertical line at that value. ``"strip"``: jittered points at x = 0
        (observed) and x = 1..M (each completed column: its observed values in
        blue, imputed in red), as in mice's stripplot.
    ax : matplotlib Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from skmipool import MIPooledEstimator
    >>> from skmipool.datasets import load_nhanes
    >>> from skmipool.plotting import plot_imputed
    >>> df = load_nhanes()
    >>> X, y = df[["age", "bmi", "hyp"]], df["chl"]
    >>> mi = MIPooledEstimator(n_imputations=2, random_state=0).fit(X, y)
    >>> ax = plot_imputed(mi, "bmi", X)
    >>> len(ax.get_lines())  # observed + one line per imputation
    3
    >>> ax = plot_imputed(mi, "chl", df, kind="strip")
    >>> ax.get_xlabel()
    'imputation (0 = observed)'
    >>> plt.close("all")
    """
    if kind not in ("density", "strip"):
        raise ValueError(f'kind must be "density" or "strip"; got {kind!r}.')
    plt = _pyplot()
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "pooled_")
    imputed_by_column = getattr(estimator, "_imputed_values", None)
    if imputed_by_column is None:
        raise TypeError(
            f"estimator must be a fitted skmipool.MIPooledEstimator; got "
            f"{type(estimator).__name__}."
        )
    if column not in imputed_by_column:
        with_missing = [str(c) for c in imputed_by_column]
        known = _fit_columns(estimator)
        if str(column) not in known:
            raise ValueError(
                f"column {column!r} was not in the data given to fit; its columns are {known}."
            )
        raise ValueError(
            f"column {column!r} had no missing values, so nothing was imputed; columns with "
            f"imputed values: {with_missing}."
        )
    imputed = np.asarray(imputed_by_column[column], dtype=float)  # (M, n_missing)
    m = imputed.shape[0]
    observed = _observed_values(estimator, column, X, y, imputed.shape[1])
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.5), layout="constrained")

    if kind == "density":
        everything = np.concatenate([observed, imputed.ravel()])
        lo, hi = float(everything.min()), float(everything.max())
        pad = 0.25 * (hi - lo) if hi > lo else 1.0
        grid = np.linspace(lo - pad, hi + pad, 256)
        _density_line(
            ax,
            observed,
            grid,
            color=_OBSERVED,
            linewidth=2.5,
            label=f"observed (n={observed.size})",
        )
        for i in range(m):
            _density_line(
                ax,
                imputed[i],
                grid,
                color=_IMPUTED,
                linewidth=1,
                label=f"imputed (M={m}, n={imputed.shape[1]} each)" if i == 0 else "_nolegend_",
            )
        ax.set_xlabel(str(column))
        ax.set_ylabel("density")
    else:
        rng = np.random.default_rng(0)  # fixed jitter: the same data give the same picture

        def jitter(x, n):
            return x + rng.uniform(-0.12, 0.12, size=n)

        n_obs, n_mis = observed.size, imputed.shape[1]
        obs_x = np.concatenate([jitter(i, n_obs) for i in range(m + 1)])
        imp_x = np.concatenate([jitter(i, n_mis) for i in range(1, m + 1)])
        ax.scatter(
            obs_x,
            np.tile(observed, m + 1),
            s=14,
            facecolors="none",
            edgecolors=_OBSERVED,
            label="observed",
        )
        ax.scatter(imp_x, imputed.ravel(), s=14, color=_IMPUTED, label="imputed")
        ax.set_xticks(np.arange(m + 1))
        ax.set_xticklabels([str(i) for i in range(m + 1)])
        ax.set_xlabel("imputation (0 = observed)")
        ax.set_ylabel(str(column))
    ax.set_title(f"{column}: observed and imputed values")
    ax.legend(fontsize="small")
    return ax


def _imputed_columns(estimator, columns) -> list:
    """The columns to draw: those named, or every column that had imputed values."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "pooled_")
    imputed = getattr(estimator, "_imputed_values", None)
    if imputed is None:
        raise TypeError(
            f"estimator must be a fitted skmipool.MIPooledEstimator; got "
            f"{type(estimator).__name__}."
        )
    if columns is None:
        if not imputed:
            raise ValueError("nothing was imputed: the data given to fit had no missing values.")
        return list(imputed)
    return [columns] if isinstance(columns, str) else list(columns)


def _per_column(estimator, X, y, columns, kind: str, ax):
    plt = _pyplot()
    names = _imputed_columns(estimator, columns)
    if ax is not None:
        axes = np.ravel(np.asarray(ax, dtype=object))
        if axes.size != len(names):
            raise ValueError(
                f"ax: got {axes.size} Axes for {len(names)} columns {names}; pass one Axes "
                f"per column."
            )
    else:
        ncols = min(3, len(names))
        nrows = -(-len(names) // ncols)
        fig, grid = plt.subplots(
            nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False, layout="constrained"
        )
        axes = grid.ravel()
        for extra in axes[len(names) :]:
            fig.delaxes(extra)
        axes = axes[: len(names)]
    for panel, column in zip(axes, names, strict=True):
        plot_imputed(estimator, column, X, y=y, kind=kind, ax=panel)
        panel.set_title(str(column))
    return axes[0] if len(axes) == 1 else axes


def plot_strip(estimator, X=None, *, y=None, columns=None, ax=None):
    """Observed and imputed values of every imputed column, per imputation (mice's ``stripplot``).

    One panel per column: x = 0 shows the observed values, x = 1..M each
    completed column, observed values in blue and imputed ones in red (see
    :func:`plot_imputed` with ``kind="strip"``).

    Parameters
    ----------
    estimator : fitted MIPooledEstimator
    X : DataFrame or array-like, optional
        The data given to fit, for the observed values (required for feature columns).
    y : array-like, optional
        The outcome given to fit, when it was imputed and X does not contain it.
    columns : str or list of str, optional
        Columns to draw; default every column that had missing values.
    ax : matplotlib Axes or array-like of Axes, optional
        One Axes per column; default a new figure with a grid of panels.

    Returns
    -------
    matplotlib Axes or ndarray of Axes
        One Axes per column (a single Axes for one column).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from skmipool import MIPooledEstimator
    >>> from skmipool.datasets import load_nhanes
    >>> from skmipool.plotting import plot_strip
    >>> df = load_nhanes()
    >>> mi = MIPooledEstimator(n_imputations=3, random_state=0)
    >>> mi = mi.fit(df.drop(columns="chl"), df["chl"])
    >>> [a.get_title() for a in plot_strip(mi, df)]
    ['bmi', 'hyp', 'chl']
    >>> plt.close("all")
    """
    return _per_column(estimator, X, y, columns, "strip", ax)


def plot_density(estimator, X=None, *, y=None, columns=None, ax=None):
    """Densities of observed and imputed values per imputation (mice's ``densityplot``).

    One panel per column: the kernel density of the observed values (thick
    blue) and one of the imputed values of each imputation (thin red); see
    :func:`plot_imputed` with ``kind="density"``.

    Parameters
    ----------
    estimator : fitted MIPooledEstimator
    X : DataFrame or array-like, optional
        The data given to fit, for the observed values (required for feature columns).
    y : array-like, optional
        The outcome given to fit, when it was imputed and X does not contain it.
    columns : str or list of str, optional
        Columns to draw; default every column that had missing values.
    ax : matplotlib Axes or array-like of Axes, optional
        One Axes per column; default a new figure with a grid of panels.

    Returns
    -------
    matplotlib Axes or ndarray of Axes
        One Axes per column (a single Axes for one column).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from skmipool import MIPooledEstimator
    >>> from skmipool.datasets import load_nhanes
    >>> from skmipool.plotting import plot_density
    >>> df = load_nhanes()
    >>> mi = MIPooledEstimator(n_imputations=3, random_state=0)
    >>> mi = mi.fit(df.drop(columns="chl"), df["chl"])
    >>> ax = plot_density(mi, df, columns="bmi")
    >>> len(ax.get_lines())  # observed + one per imputation
    4
    >>> plt.close("all")
    """
    return _per_column(estimator, X, y, columns, "density", ax)


def plot_trace(source, columns=None, ax=None):
    """Chain means and SDs of the imputed values per sweep, one line per imputation.

    mice's ``plot(imp)``: for every incomplete column a panel of the mean and
    a panel of the SD of its imputed values after each iteration, one line
    per imputation (chain). Converged chains mix and show no trend; chains
    that still drift, or stay apart, need more iterations (``max_iter``) or a
    better imputation model. :func:`skmipool.explore.convergence` puts a
    number (R-hat) on it.

    Parameters
    ----------
    source : fitted MIPooledEstimator or list of fitted ChainedImputer
        Fitted with ``ChainedImputer(keep_trace=True)``.
    columns : str or list of str, optional
        Columns to draw; default every imputed column.
    ax : array-like of Axes of shape (n_columns, 2), optional
        Where to draw (mean left, SD right); default a new figure.

    Returns
    -------
    ndarray of Axes of shape (n_columns, 2)

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from skmipool import MIPooledEstimator
    >>> from skmipool.datasets import load_nhanes
    >>> from skmipool.impute import ChainedImputer
    >>> from skmipool.plotting import plot_trace
    >>> df = load_nhanes()
    >>> mi = MIPooledEstimator(imputer=ChainedImputer(keep_trace=True, max_iter=5),
    ...                        n_imputations=3, random_state=0)
    >>> axes = plot_trace(mi.fit(df[["age", "bmi", "hyp"]], df["chl"]))
    >>> axes.shape, len(axes[0, 0].get_lines())
    ((3, 2), 3)
    >>> plt.close("all")
    """
    plt = _pyplot()
    table = traces(source)
    available = list(dict.fromkeys(table.columns.get_level_values("column")))
    if columns is None:
        names = available
    else:
        names = [columns] if isinstance(columns, str) else list(columns)
        unknown = [c for c in names if c not in available]
        if unknown:
            raise ValueError(f"columns {unknown} have no trace; traced columns: {available}.")
    if ax is None:
        _, axes = plt.subplots(
            len(names), 2, figsize=(8, 2.2 * len(names)), squeeze=False, layout="constrained"
        )
    else:
        axes = np.asarray(ax, dtype=object).reshape(-1, 2)
        if axes.shape[0] != len(names):
            raise ValueError(f"ax: need {len(names)} x 2 Axes (mean, sd per column).")
    iterations = table.index.to_numpy()
    for row, column in zip(axes, names, strict=True):
        for panel, stat in zip(row, ("mean", "sd"), strict=True):
            chains = table[stat][column]
            for m in chains.columns:
                panel.plot(iterations, chains[m].to_numpy(), linewidth=1, label=f"imputation {m}")
            panel.set_title(f"{stat} {column}")
            panel.set_xlabel("iteration")
    return axes


def plot_md_pattern(data, ax=None):
    """The missing-data patterns drawn as mice's ``md.pattern`` draws them.

    One row of cells per pattern (blue observed, red missing), the most
    complete pattern on top; its count on the left, its number of missing
    columns on the right, each column's number of missing values below.

    Parameters
    ----------
    data : DataFrame or 2-d array-like
        The incomplete data, or the table of :func:`skmipool.explore.md_pattern`
        (with its margins).
    ax : matplotlib Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from skmipool.datasets import load_nhanes
    >>> from skmipool.plotting import plot_md_pattern
    >>> ax = plot_md_pattern(load_nhanes())
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['age', 'hyp', 'bmi', 'chl']
    >>> plt.close("all")
    """
    plt = _pyplot()
    is_table = (
        isinstance(data, pd.DataFrame)
        and {"count", "n_missing"} <= set(data.columns)
        and "total" in data.index
    )
    table = data if is_table else md_pattern(data)
    body = table.drop(index="total")
    variables = [c for c in table.columns if c not in ("count", "n_missing")]
    cells = body[variables].to_numpy()
    k, p = cells.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.7 * p, 0.8 + 0.4 * k), layout="constrained")
    from matplotlib.colors import ListedColormap

    ax.imshow(cells, cmap=ListedColormap([_IMPUTED, _OBSERVED]), vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(np.arange(p))
    ax.set_xticklabels([str(v) for v in variables])
    ax.xaxis.tick_top()
    ax.set_yticks(np.arange(k))
    ax.set_yticklabels([str(c) for c in body["count"]])
    ax.set_ylabel("rows with the pattern")
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(np.arange(k))
    right.set_yticklabels([str(c) for c in body["n_missing"]])
    right.set_ylabel("missing columns")
    totals = table.loc["total", variables]
    ax.set_xlabel(
        "missing values: "
        + ", ".join(f"{v} {int(n)}" for v, n in totals.items())
        + f" (total {int(table.loc['total', 'n_missing'])})"
    )
    return ax


def plot_tipping_point(result: TippingPointResult, ax=None):
    """The pooled estimate of a term and its interval along delta, with the tipping point.

    The estimate (line) and its confidence band against delta, a horizontal
    line at 0, and a vertical line at the tipping delta when a delta tried
    changes the conclusion (see :func:`skmipool.tipping_point`).

    Parameters
    ----------
    result : TippingPointResult
        From :func:`skmipool.tipping_point`.
    ax : matplotlib Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from skmipool import MIPooledEstimator, tipping_point
    >>> from skmipool.datasets import load_nhanes2
    >>> from skmipool.plotting import plot_tipping_point
    >>> df = load_nhanes2()
    >>> mi = MIPooledEstimator(n_imputations=5, random_state=1)
    >>> tp = tipping_point(mi, df[["age", "bmi"]], df["chl"], "bmi", [-4, 4], term="bmi")
    >>> plot_tipping_point(tp).get_xlabel()
    "delta (shift of the imputed 'bmi')"
    >>> plt.close("all")
    """
    if not isinstance(result, TippingPointResult):
        raise TypeError(
            f"plot_tipping_point needs the result of skmipool.tipping_point; got "
            f"{type(result).__name__}."
        )
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.5), layout="constrained")
    t = result.table
    delta = t.index.to_numpy(dtype=float)
    ax.fill_between(
        delta,
        t["conf_low"],
        t["conf_high"],
        alpha=0.25,
        color="C0",
        label=f"{result.level:.0%} interval",
    )
    ax.plot(delta, t["estimate"], marker="o", color="C0", label="pooled estimate")
    ax.axhline(0.0, color="black", linewidth=0.8)
    if result.tipping_delta is not None:
        ax.axvline(result.tipping_delta, color=_IMPUTED, linestyle="--", label="tipping point")
    ax.set_xlabel(f"delta (shift of the imputed {result.column!r})")
    ax.set_ylabel(result.term)
    ax.set_title(f"Tipping-point analysis of {result.term!r}")
    ax.legend(fontsize="small")
    return ax


def plot_calibration(estimator, X, y, *, n_bins: int = 10, completions: str = "auto", ax=None):
    """Calibration plot of a pooled risk model: observed against predicted risk.

    Groups of predicted risk (:func:`skmipool.metrics.calibration_table`): the
    mean over the imputations of each group's observed event rate against its
    mean prediction, a vertical bar for the range over the imputations, the
    diagonal of perfect calibration, and the pooled calibration intercept and
    slope (:func:`skmipool.metrics.pool_scores`) in the legend.

    Parameters
    ----------
    estimator : fitted MIPooledEstimator (a classifier)
    X, y : data
        X may contain NaN; y complete.
    n_bins : int, default=10
        Number of groups of predicted risk.
    completions : {"auto", "fit", "transform"}, default="auto"
        See :func:`skmipool.metrics.pool_scores`.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skmipool import MIPooledEstimator
    >>> from skmipool.datasets import load_boys
    >>> from skmipool.plotting import plot_calibration
    >>> boys = load_boys().dropna(subset=["bmi"])
    >>> X, y = boys[["age", "hc"]], (boys["bmi"] > 18).astype(int)
    >>> mi = MIPooledEstimator(LogisticRegression(C=np.inf), n_imputations=3,
    ...                        random_state=0).fit(X, y)
    >>> plot_calibration(mi, X, y).get_xlabel()
    'predicted risk'
    >>> plt.close("all")
    """
    table = calibration_table(estimator, X, y, n_bins=n_bins, completions=completions)
    cal = pool_scores(
        estimator, X, y, ["calibration_intercept", "calibration_slope"], completions=completions
    )
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5), layout="constrained")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="ideal")
    ax.vlines(table["predicted"], table["observed_min"], table["observed_max"], color=_OBSERVED)
    a = cal.loc["calibration_intercept", "estimate"]
    b = cal.loc["calibration_slope", "estimate"]
    ax.plot(
        table["predicted"],
        table["observed"],
        marker="o",
        color=_OBSERVED,
        label=f"groups (mean of M); intercept {a:.2f}, slope {b:.2f}",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted risk")
    ax.set_ylabel("observed proportion")
    ax.set_title("Calibration, pooled over imputations")
    ax.legend(fontsize="small", loc="upper left")
    return ax
