"""Look at missing data before imputing it, and at the chains after: R mice's tools.

:func:`md_pattern` (mice's ``md.pattern``), :func:`flux` (``flux``) and
:func:`quickpred` (``quickpred``) describe the incomplete data and pick the
predictors of each column; :func:`traces` and :func:`convergence` (mice's
``chainMean``/``chainVar`` and ``convergence``) judge whether the chained
equations of the M imputations have converged. Plots of them are in
:mod:`skmipool.plotting` (``plot_md_pattern``, ``plot_trace``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.utils.validation import check_is_fitted

from skmipool._estimator import MIPooledEstimator

__all__ = ["chain_diagnostics", "convergence", "flux", "md_pattern", "quickpred", "traces"]


def _as_frame(data, name: str = "data") -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        frame = data
    else:
        arr = np.asarray(data, dtype=object)
        if arr.ndim != 2:
            raise ValueError(f"{name} must be a DataFrame or a 2-d array; got shape {arr.shape}.")
        frame = pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])
    if frame.shape[1] < 2:
        raise ValueError(
            f"{name} must have at least two columns (mice's rule); got {frame.shape[1]}."
        )
    return frame


def md_pattern(data, margins: bool = True) -> pd.DataFrame:
    """The missing-data patterns and how often each occurs (mice's ``md.pattern``).

    Parameters
    ----------
    data : DataFrame or 2-d array-like
        The incomplete data (NaN, None or NA mark a missing value).
    margins : bool, default=True
        Add mice's margins: a column ``n_missing`` (the number of missing
        columns of each pattern) and a last row ``"total"`` with each column's
        number of missing values (its ``count`` is the number of rows and its
        ``n_missing`` the number of missing cells).

    Returns
    -------
    DataFrame
        One row per pattern: ``count``, then one column per variable, 1 when
        observed and 0 when missing. As in mice, the variables are ordered by
        their number of missing values (ties keep the data's order) and the
        patterns by their 0/1 string of missingness in that order, so the
        complete rows come first and the most incomplete last. Rows are
        numbered 0, 1, ... (plus ``"total"``).

    See Also
    --------
    skmipool.plotting.plot_md_pattern : the same table drawn as mice draws it.

    Examples
    --------
    >>> from skmipool.datasets import load_nhanes
    >>> from skmipool.explore import md_pattern
    >>> md_pattern(load_nhanes())
           count  age  hyp  bmi  chl  n_missing
    0         13    1    1    1    1          0
    1          3    1    1    1    0          1
    2          1    1    1    0    1          1
    3          1    1    0    0    1          2
    4          7    1    0    0    0          3
    total     25    0    8    9   10         27
    """
    frame = _as_frame(data)
    missing = frame.isna().to_numpy()
    nmis = missing.sum(axis=0)
    order = np.argsort(nmis, kind="stable")  # R's order(nmis): ties keep their order
    columns = [frame.columns[j] for j in order]
    ordered = missing[:, order]
    # R: pat <- paste(as.numeric(is.na(x)), collapse = ""), then sorted and tabulated
    patterns, counts = np.unique(ordered.astype(np.int8), axis=0, return_counts=True)
    table = pd.DataFrame((1 - patterns).astype(np.int64), columns=columns)
    table.insert(0, "count", counts)
    if not margins:
        return table
    table["n_missing"] = patterns.sum(axis=1)
    total = [len(frame), *nmis[order].tolist(), int(nmis.sum())]
    table.loc["total"] = total
    return table.astype(np.int64)


def _pairs(missing: np.ndarray):
    """mice's ``md.pairs``: counts of rows by the (observed, missing) status of each pair."""
    r = (~missing).astype(np.int64)
    m = missing.astype(np.int64)
    # md.pairs: rr = t(r) %*% r, rm = t(r) %*% (!r), mr = t(!r) %*% r, mm = t(!r) %*% (!r)
    return r.T @ r, r.T @ m, m.T @ r, m.T @ m


def flux(data) -> pd.DataFrame:
    """Influx and outflux of every column (van Buuren 2018, FIMD section 4.1.3; mice's ``flux``).

    Parameters
    ----------
    data : DataFrame or 2-d array-like
        The incomplete data.

    Returns
    -------
    DataFrame
        One row per column with mice's six statistics:

        - ``pobs``: the proportion of observed values;
        - ``influx``: I_j = sum_k sum_i (1 - r_ij) r_ik / sum_k sum_i r_ik, the
          number of variable pairs (j missing, k observed) over the observed cells
          of all columns: how well j connects to the observed data (FIMD eq. 4.1);
        - ``outflux``: O_j = sum_k sum_i r_ij (1 - r_ik) / sum_k sum_i (1 - r_ik),
          pairs (j observed, k missing) over all missing cells: how useful j is
          for imputing the others (FIMD eq. 4.2);
        - ``ainb``: the average over the other columns k of the proportion of
          rows with j missing in which k is observed;
        - ``aout``: the average over the other columns k of the proportion of
          rows with j observed in which k is missing;
        - ``fico``: the fraction of the rows with j observed that are incomplete
          (White & Carlin 2010's fraction of incomplete cases among observed values).

        A column without missing values has ``influx`` 0 and ``ainb`` 0 (mice
        gives 0/0 = NaN terms and skips them: its ``ainb`` is 0 too).

    Examples
    --------
    >>> from skmipool.datasets import load_nhanes
    >>> from skmipool.explore import flux
    >>> flux(load_nhanes())[["pobs", "influx", "outflux"]].round(3)
         pobs  influx  outflux
    age  1.00   0.000    1.000
    bmi  0.64   0.164    0.111
    hyp  0.68   0.123    0.148
    chl  0.60   0.219    0.111
    """
    frame = _as_frame(data)
    missing = frame.isna().to_numpy()
    p = missing.shape[1]
    rr, rm, mr, mm = _pairs(missing)
    with np.errstate(invalid="ignore", divide="ignore"):
        # mice's .avg: sum(row, na.rm = TRUE) / (length(row) - 1), the diagonal's 0/0 dropped
        ainb = np.nansum(mr / (mr + mm), axis=1) / (p - 1)
        aout = np.nansum(rm / (rm + rr), axis=1) / (p - 1)
        outflux = rm.sum(axis=1) / (rm + mm).sum(axis=1)  # FIMD eq. 4.2
        influx = mr.sum(axis=1) / (mr + rr).sum(axis=1)  # FIMD eq. 4.1
    incomplete_row = missing.any(axis=1)
    observed = ~missing
    # mice's fico: sum(!is.na(x) & ici(data)) / sum(!is.na(x))
    with np.errstate(invalid="ignore", divide="ignore"):
        fico = (observed & incomplete_row[:, None]).sum(axis=0) / observed.sum(axis=0)
    return pd.DataFrame(
        {
            "pobs": observed.mean(axis=0),
            "influx": influx,
            "outflux": outflux,
            "ainb": ainb,
            "aout": aout,
            "fico": fico,
        },
        index=frame.columns,
    )


def _numeric_codes(frame: pd.DataFrame) -> np.ndarray:
    """R's ``data.matrix``: numbers stay, factors and text become level codes 1..K."""
    out = np.empty(frame.shape, dtype=float)
    for j, (_, col) in enumerate(frame.items()):
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = col.cat.codes.to_numpy().astype(float)
            out[:, j] = np.where(codes < 0, np.nan, codes + 1.0)
        elif pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
            out[:, j] = col.astype("float64").to_numpy()
        else:  # text: a factor with sorted levels, as R's data.matrix makes
            codes = pd.Categorical(col).codes.astype(float)
            out[:, j] = np.where(codes < 0, np.nan, codes + 1.0)
    return out


def _pairwise_abs_cor(a: np.ndarray, b: np.ndarray, method: str = "pearson") -> np.ndarray:
    """|cor(a_i, b_j)| over the rows where both are observed (R's pairwise.complete.obs).

    Spearman and Kendall rank each pair's rows anew, as R does. A pair with fewer than two
    rows or no variance in them gives 0 (mice sets the NA correlations to 0).
    """
    out = np.zeros((a.shape[1], b.shape[1]))
    a_obs, b_obs = ~np.isnan(a), ~np.isnan(b)
    for i in range(a.shape[1]):
        for j in range(b.shape[1]):
            rows = a_obs[:, i] & b_obs[:, j]
            if rows.sum() < 2:
                continue
            x, y = a[rows, i], b[rows, j]
            if method == "kendall":
                if np.ptp(x) > 0 and np.ptp(y) > 0:
                    out[i, j] = abs(stats.kendalltau(x, y).statistic)
                continue
            if method == "spearman":
                x, y = stats.rankdata(x), stats.rankdata(y)
            x, y = x - x.mean(), y - y.mean()
            denom = np.sqrt((x @ x) * (y @ y))
            if denom > 0:
                out[i, j] = abs(x @ y) / denom
    return out


def _names_in(frame: pd.DataFrame, names, argument: str) -> list:
    if names is None:
        return []
    wanted = [names] if isinstance(names, str) or not isinstance(names, Sequence) else list(names)
    unknown = [n for n in wanted if n not in frame.columns]
    if unknown:
        raise ValueError(
            f"{argument}: columns {unknown} are not in the data; its columns are "
            f"{[str(c) for c in frame.columns]}."
        )
    return wanted


def quickpred(
    data,
    mincor=0.1,
    minpuc: float = 0.0,
    include=None,
    exclude=None,
    method: str = "pearson",
) -> pd.DataFrame:
    """A predictor matrix from the data (mice's ``quickpred``; van Buuren et al. 1999).

    Column k predicts column j when the absolute correlation of k with j, or
    of k with j's response indicator (1 = observed), exceeds ``mincor``, and
    the proportion of usable cases (rows with j missing in which k is observed)
    is at least ``minpuc``. Columns in ``exclude`` never predict, columns in
    ``include`` always do; complete columns get an empty row (nothing to impute).

    Parameters
    ----------
    data : DataFrame or 2-d array-like
        The incomplete data. Categorical and text columns enter the
        correlations by their level codes, as R's ``data.matrix`` makes them.
    mincor : float or array-like of shape (n_columns,), default=0.1
        Minimum absolute correlation; one per target column (row) when an array.
    minpuc : float, default=0
        Minimum proportion of usable cases.
    include : str or list of str, optional
        Columns that predict every other column.
    exclude : str or list of str, optional
        Columns that predict none (applied before ``include``, as in mice).
    method : {"pearson", "spearman", "kendall"}, default="pearson"
        The correlation (computed on the pairwise complete rows).

    Returns
    -------
    DataFrame of int
        0/1 matrix with the columns as index (targets) and columns
        (predictors), ready for ``ChainedImputer(predictor_matrix=...)``.

    Warns
    -----
    UserWarning
        For a column with no variance among its observed values: its
        correlations are undefined, so it predicts nothing and, when
        incomplete, is predicted by nothing but ``include`` (mice's zeros).

    Notes
    -----
    mice matches ``include`` and ``exclude`` partially (``pmatch``); here they
    must be exact column names.

    Examples
    --------
    >>> from skmipool.datasets import load_nhanes
    >>> from skmipool.explore import quickpred
    >>> quickpred(load_nhanes(), mincor=0.3)
         age  bmi  hyp  chl
    age    0    0    0    0
    bmi    1    0    0    1
    hyp    1    0    0    1
    chl    1    1    1    0
    """
    frame = _as_frame(data)
    if method not in ("pearson", "spearman", "kendall"):
        raise ValueError(f'method must be "pearson", "spearman" or "kendall"; got {method!r}.')
    p = frame.shape[1]
    threshold = np.asarray(mincor, dtype=float)
    if threshold.ndim > 1 or (threshold.ndim == 1 and threshold.size != p):
        raise ValueError(
            f"mincor must be a number or one number per column ({p}); got shape {threshold.shape}."
        )
    if not 0 <= float(minpuc) <= 1:
        raise ValueError(f"minpuc must be a proportion in [0, 1]; got {minpuc!r}.")
    excluded = _names_in(frame, exclude, "exclude")
    included = _names_in(frame, include, "include")
    x = _numeric_codes(frame)
    observed = ~np.isnan(x)
    constant = [
        str(c)
        for c, col, obs in zip(frame.columns, x.T, observed.T, strict=True)
        if np.unique(col[obs]).size < 2
    ]
    if constant:
        warnings.warn(
            f"columns {constant} have no variance among their observed values: their "
            f"correlations are undefined, so they predict nothing (mice sets them to 0). Drop "
            f"them, or name them in include= to keep them as predictors.",
            UserWarning,
            stacklevel=2,
        )
    v = _pairwise_abs_cor(x, x, method)
    u = _pairwise_abs_cor(observed.astype(float), x, method)
    # quickpred: maxc <- pmax(|cor(x)|, |cor(r, x)|); predictor when maxc > mincor
    maxc = np.maximum(v, u)
    limit = threshold[:, None] if threshold.ndim == 1 else threshold
    matrix = (maxc > limit).astype(np.int64)
    _, _, mr, mm = _pairs(~observed)
    with np.errstate(invalid="ignore", divide="ignore"):
        puc = mr / (mr + mm)  # proportion of usable cases (FIMD 6.3); NaN rows are complete
    matrix[puc < minpuc] = 0
    position = {c: j for j, c in enumerate(frame.columns)}
    for name in excluded:
        matrix[:, position[name]] = 0
    for name in included:
        matrix[:, position[name]] = 1
    np.fill_diagonal(matrix, 0)
    matrix[observed.all(axis=0), :] = 0
    return pd.DataFrame(matrix, index=frame.columns, columns=frame.columns)


# ---------------------------------------------------------------- convergence


def _imputers(source) -> list:
    if isinstance(source, MIPooledEstimator):
        check_is_fitted(source, "imputers_")
        return list(source.imputers_)
    if isinstance(source, (list, tuple)) and source:
        return list(source)
    raise TypeError(
        f"expected a fitted MIPooledEstimator or a list of fitted imputers; got "
        f"{type(source).__name__}."
    )


def traces(source) -> pd.DataFrame:
    """The chains of the M imputations: mean and SD of the imputed values per sweep.

    mice's ``imp$chainMean`` and ``sqrt(imp$chainVar)``, from imputers fitted
    with ``keep_trace=True``.

    Parameters
    ----------
    source : fitted MIPooledEstimator or list of fitted ChainedImputer
        An estimator fitted with ``imputer=ChainedImputer(keep_trace=True)``,
        or the imputers themselves (one chain each).

    Returns
    -------
    DataFrame
        Index ``iteration`` (1..max_iter); columns a MultiIndex
        (``statistic``, ``column``, ``imputation``) with statistic ``"mean"``
        or ``"sd"`` and imputation 1..M.

    Examples
    --------
    >>> from skmipool import MIPooledEstimator
    >>> from skmipool.datasets import load_nhanes
    >>> from skmipool.explore import traces
    >>> from skmipool.impute import ChainedImputer
    >>> df = load_nhanes()
    >>> mi = MIPooledEstimator(imputer=ChainedImputer(keep_trace=True, max_iter=5),
    ...                        n_imputations=3, random_state=0)
    >>> mi = mi.fit(df[["age", "bmi", "hyp"]], df["chl"])
    >>> t = traces(mi)
    >>> t.shape
    (5, 18)
    >>> t["mean"]["bmi"].columns.tolist()
    [1, 2, 3]
    """
    imputers = _imputers(source)
    without = [i + 1 for i, imp in enumerate(imputers) if getattr(imp, "trace_", None) is None]
    if without:
        raise ValueError(
            f"imputations {without} kept no trace: fit with "
            f"imputer=ChainedImputer(keep_trace=True) (mice keeps chainMean always)."
        )
    frames = {m + 1: imp.trace_ for m, imp in enumerate(imputers)}
    out = pd.concat(frames, axis=1, names=["imputation"])
    out = out.reorder_levels(["statistic", "column", "imputation"], axis=1)
    stat_order = {"mean": 0, "sd": 1}
    columns = list(dict.fromkeys(out.columns.get_level_values("column")))
    col_order = {c: k for k, c in enumerate(columns)}
    keys = sorted(out.columns, key=lambda c: (stat_order[c[0]], col_order[c[1]], c[2]))
    return out.loc[:, keys]


def _split_chains(sims: np.ndarray) -> np.ndarray:
    """rstan's ``split_chains`` with R's dropping of dimensions.

    The first and second half of the iterations (the middle one dropped when their number
    is odd) become chains of their own. When a half is a single iteration, R drops it to a
    vector and ``cbind`` makes two chains *across* the imputations: mice's ``convergence``
    inherits this at iterations 2 and 3 (and splits the imputations at iteration 1).
    """
    n = sims.shape[0]
    if n == 1:
        return sims
    first, second = sims[: n // 2], sims[int(np.ceil(n / 2 + 1)) - 1 :]
    if first.shape[0] == 1:
        return np.column_stack([first[0], second[0]])
    return np.hstack([first, second])


def _z_scale(x: np.ndarray) -> np.ndarray:
    # rank normalisation, Vehtari et al. (2021) eq. 14: z = Phi^-1((r - 1/2) / S)
    ranks = stats.rankdata(x, method="average").reshape(x.shape)
    return stats.norm.ppf((ranks - 0.5) / x.size)


def _rhat_basic(sims: np.ndarray) -> float:
    """Gelman et al. (2013) BDA3 eq. 11.4, rstan's ``rhat_rfun``."""
    if np.isnan(sims).any():
        return np.nan
    if np.ptp(sims) < np.finfo(float).eps:
        return np.nan  # rstan's is_constant: NA
    n = sims.shape[0]
    if n < 2:
        return np.nan  # R's var of one value is NA
    between = n * np.var(sims.mean(axis=0), ddof=1)  # B = n var(chain means)
    within = np.mean(np.var(sims, axis=0, ddof=1))  # W = mean of the chain variances
    return float(np.sqrt((between / within + n - 1) / n))


def _r_median(x: np.ndarray) -> float:
    """R's median: of an even count, the two middle values averaged in long double.

    R's ``mean`` sums in extended precision; a different last bit of the median decides
    whether the two middle values tie in ``|theta - median|``, and so the tail R-hat.
    """
    values = np.sort(x, axis=None)
    half = values.size // 2
    if values.size % 2:
        return float(values[half])
    return float((np.longdouble(values[half - 1]) + np.longdouble(values[half])) / 2)


def _rhat(sims: np.ndarray) -> float:
    """rstan's ``Rhat``: the larger of the bulk and tail rank-normalised split R-hat.

    Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), Bayesian Analysis 16(2),
    section 4.3: rank-normalise the split chains (bulk), and their distances from the
    median (tail, the folded draws), and take the larger R-hat.
    """
    if sims.ndim == 1 or sims.shape[0] == 1:
        sims = np.reshape(sims, (-1, 1))  # R's param[1:1, ] is a vector: one chain of M values
    bulk = _rhat_basic(_z_scale(_split_chains(sims)))
    folded = np.abs(sims - _r_median(sims))
    tail = _rhat_basic(_z_scale(_split_chains(folded)))
    return max(bulk, tail) if not (np.isnan(bulk) or np.isnan(tail)) else np.nan


def _lag_one_autocorrelation(chain: np.ndarray) -> np.ndarray:
    """mice's ``ac``: running mean of cor(theta_{t-1}, theta_t) across the M chains.

    A correlation that R cannot compute (constant values) counts as 0 (mice's coalesce).
    """
    t = chain.shape[0]
    cors = np.zeros(max(t - 1, 0))
    for it in range(1, t):
        a, b = chain[it - 1], chain[it]
        a, b = a - a.mean(), b - b.mean()
        denom = np.sqrt((a @ a) * (b @ b))
        cors[it - 1] = (a @ b) / denom if denom > 0 else 0.0
    ac = np.full(t, np.nan)
    ac[1:] = np.cumsum(cors) / np.arange(1, t)
    return ac


def convergence(source, parameter: str = "mean") -> pd.DataFrame:
    """Convergence diagnostics of the chains per column and iteration (mice's ``convergence``).

    For each incomplete column and each iteration t, from the chain means (or
    SDs) of its M imputations over iterations 1..t:

    - ``psrf``: the potential scale reduction factor R-hat, the rank-normalised
      split R-hat of Vehtari et al. (2021) that mice takes from ``rstan::Rhat``
      (the larger of its bulk and tail versions). Near 1 (below about 1.01 to
      1.1) when the M chains mix; well above 1 while they are still drifting
      away from their starting values.
    - ``ac``: the lag-1 autocorrelation of the chains (mice's ``ac``): the
      running mean over iterations 2..t of the correlation across the M chains
      between successive iterations.

    Parameters
    ----------
    source : fitted MIPooledEstimator or list of fitted ChainedImputer
        Fitted with ``ChainedImputer(keep_trace=True)``; see :func:`traces`.
    parameter : {"mean", "sd"}, default="mean"
        The chain statistic diagnosed.

    Returns
    -------
    DataFrame
        Columns ``iteration``, ``column``, ``ac``, ``psrf``; one row per
        column and iteration (iteration varying fastest, as mice).

    Notes
    -----
    At iterations 1 to 3 mice's values are artefacts of how R drops
    dimensions: ``rstan::Rhat`` then splits the M imputations, not the
    iterations, into chains. They are reproduced so that the numbers equal
    mice's; read R-hat from iteration 4 on. A constant chain (e.g. a column
    with one missing value imputed from a constant) gives NaN, as mice's NA.

    Examples
    --------
    >>> from skmipool import MIPooledEstimator
    >>> from skmipool.datasets import load_nhanes
    >>> from skmipool.explore import convergence
    >>> from skmipool.impute import ChainedImputer
    >>> df = load_nhanes()
    >>> mi = MIPooledEstimator(imputer=ChainedImputer(keep_trace=True, max_iter=10),
    ...                        n_imputations=5, random_state=0)
    >>> diag = convergence(mi.fit(df[["age", "bmi", "hyp"]], df["chl"]))
    >>> diag.columns.tolist()
    ['iteration', 'column', 'ac', 'psrf']
    >>> bool(diag.query("iteration == 10")["psrf"].lt(1.5).all())
    True
    """
    if parameter not in ("mean", "sd"):
        raise ValueError(f'parameter must be "mean" or "sd"; got {parameter!r}.')
    chains = traces(source)[parameter]
    m = chains.columns.get_level_values("imputation").nunique()
    t = chains.shape[0]
    if m < 2:
        raise ValueError("convergence needs at least two imputations (chains).")
    if t < 3:
        raise ValueError("convergence needs at least three iterations (max_iter >= 3), as mice.")
    rows = []
    for column in dict.fromkeys(chains.columns.get_level_values("column")):
        rows.append(chain_diagnostics(chains[column].to_numpy(), column))
    return pd.concat(rows, ignore_index=True)


def chain_diagnostics(chain, column=None) -> pd.DataFrame:
    """``ac`` and ``psrf`` of one parameter's chains, as :func:`convergence` computes them.

    Parameters
    ----------
    chain : array-like of shape (n_iterations, n_chains)
        The parameter per iteration (rows) and chain (columns), e.g. mice's
        ``imp$chainMean["bmi", , ]``.
    column : str, optional
        Label put in the ``column`` column.

    Returns
    -------
    DataFrame
        Columns ``iteration`` (1..n_iterations), ``column``, ``ac``, ``psrf``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmipool.explore import chain_diagnostics
    >>> rng = np.random.default_rng(0)
    >>> drifting = np.linspace(10, 0, 20)[:, None] + rng.normal(size=(20, 5))
    >>> mixed = rng.normal(size=(20, 5))
    >>> float(chain_diagnostics(drifting)["psrf"].iloc[-1].round(2))  # drifting together
    1.64
    >>> float(chain_diagnostics(mixed)["psrf"].iloc[-1].round(2))  # chains that mix
    1.01
    """
    chain = np.asarray(chain, dtype=float)
    if chain.ndim != 2:
        raise ValueError(f"chain must be 2-d (iterations x chains); got shape {chain.shape}.")
    t = chain.shape[0]
    psrf = np.array([_rhat(chain[: it + 1]) for it in range(t)])
    return pd.DataFrame(
        {
            "iteration": np.arange(1, t + 1),
            "column": column,
            "ac": _lag_one_autocorrelation(chain),
            "psrf": psrf,
        }
    )
