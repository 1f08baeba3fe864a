"""Make complete data incomplete, for simulation studies: R mice's ``ampute``.

:func:`ampute` implements the multivariate amputation of Schouten, Lugtig &
Vink (2018): every row is given a missing-data pattern, and among the rows of
a pattern the probability of being made incomplete is a logistic function of a
weighted sum score of the row's values (MAR: of the columns the pattern keeps;
MNAR: of those it removes), or a constant (MCAR).
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import optimize, special, stats
from sklearn.utils import check_random_state

__all__ = ["ampute"]

_TYPES = ("LEFT", "MID", "TAIL", "RIGHT")
# mice's ampute.continuous finds the shift on scale(rnorm(10000)); the normal quantiles at
# (i - 1/2) / 10000 are the same population without the Monte Carlo noise
_TESTSET = stats.norm.ppf((np.arange(10_000) + 0.5) / 10_000)
_TESTSET = (_TESTSET - _TESTSET.mean()) / _TESTSET.std(ddof=1)


def _probability(kind: str, score: np.ndarray, shift: float) -> np.ndarray:
    """Schouten et al. (2018) section 2.3 (mice's ampute.continuous): logistic curves."""
    centred = score - score.mean()
    if kind == "LEFT":  # low scores more likely missing: logit^-1(mean(x) - x + b)
        return special.expit(-centred + shift)
    if kind == "MID":  # central scores: logit^-1(-|x - mean(x)| + 0.75 + b)
        return special.expit(-np.abs(centred) + 0.75 + shift)
    if kind == "TAIL":  # extreme scores: logit^-1(|x - mean(x)| - 0.75 + b)
        return special.expit(np.abs(centred) - 0.75 + shift)
    return special.expit(centred + shift)  # RIGHT: logit^-1(x - mean(x) + b)


@lru_cache(maxsize=64)
def _shift(kind: str, prop: float) -> float:
    """The shift b with mean probability ``prop`` over standard normal scores (mice: bin.search)."""
    return optimize.brentq(
        lambda b: _probability(kind, _TESTSET, b).mean() - prop, -60.0, 60.0, xtol=1e-10
    )


def _matrix(value, name: str, k: int, p: int, columns) -> np.ndarray:
    """A (k, p) matrix from a DataFrame, a 2-d array, or one row per pattern flattened."""
    if isinstance(value, pd.DataFrame):
        if list(value.columns) != list(columns):
            raise ValueError(
                f"{name} must have the data's columns {[str(c) for c in columns]}; got "
                f"{[str(c) for c in value.columns]}."
            )
        value = value.to_numpy()
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold numbers; got {value!r}.") from None
    if arr.ndim == 1:
        if arr.size % p:
            raise ValueError(
                f"{name} has {arr.size} values, which is not a multiple of the {p} columns of "
                f"the data: give one value per column for each pattern."
            )
        arr = arr.reshape(-1, p)
    if arr.ndim != 2 or arr.shape[1] != p or (k and arr.shape[0] != k):
        want = f"({k}, {p})" if k else f"(n_patterns, {p})"
        raise ValueError(f"{name} must have shape {want}, one row per pattern; got {arr.shape}.")
    return arr


def _scores_input(frame: pd.DataFrame, used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The data as numbers for the sum scores (factors by their codes 1..K, as mice), and
    which columns are numbers (an unweighted text column is left out as zeros)."""
    out = np.zeros(frame.shape)
    numeric = np.ones(frame.shape[1], dtype=bool)
    for j, (name, col) in enumerate(frame.items()):
        if isinstance(col.dtype, pd.CategoricalDtype):
            out[:, j] = col.cat.codes.to_numpy() + 1.0
        elif pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
            out[:, j] = col.to_numpy(dtype=float)
        elif not used[j]:
            numeric[j] = False
        else:
            raise TypeError(
                f"column {name!r} is not numeric or categorical, so it cannot enter the weighted "
                f"sum scores: give it weight 0 in weights, or encode it."
            )
    return out, numeric


def _standardize(x: np.ndarray) -> np.ndarray:
    # R's scale(): centre and divide by the SD with n - 1
    return (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)


def ampute(
    data,
    prop: float = 0.5,
    patterns=None,
    freq=None,
    mechanism: str = "MAR",
    weights=None,
    std: bool = True,
    type=None,
    random_state=None,
) -> pd.DataFrame:
    """Make missing values in complete data (Schouten, Lugtig & Vink 2018; mice's ``ampute``).

    Each row is assigned one of the missing-data ``patterns`` (with
    probabilities ``freq``); of the rows given a pattern, a proportion about
    ``prop`` become incomplete, losing the columns the pattern marks 0. Under
    MCAR every candidate row is chosen with probability ``prop``. Under MAR
    and MNAR the chance depends on a weighted sum score of the row,
    s = sum_j w_j z_j with z the standardized data and w the pattern's row of
    ``weights``, itself standardized; the probability is a logistic function
    of s shifted so that it averages ``prop`` over standard normal scores
    (Schouten et al. 2018, section 2.3): ``"RIGHT"`` makes high scores
    missing, ``"LEFT"`` low ones, ``"MID"`` central and ``"TAIL"`` extreme ones.

    Parameters
    ----------
    data : DataFrame or 2-d array-like
        Complete data (no missing values), at least two columns. Categorical
        columns enter the scores by their codes 1..K, as in mice.
    prop : float, default=0.5
        Proportion of incomplete rows, in [0, 1] (mice's ``bycases=TRUE``).
    patterns : array-like of shape (n_patterns, n_columns) or DataFrame, optional
        1 = keep, 0 = make missing. Default: one pattern per column, each
        removing that column only (mice's default). A pattern of all ones
        (removes nothing) or all zeros (removes the whole row) is refused.
    freq : array-like of shape (n_patterns,), optional
        Relative frequency of each pattern (normalised to sum 1); default equal.
    mechanism : {"MAR", "MCAR", "MNAR"}, default="MAR"
        MAR: the weights may only involve the columns each pattern keeps.
    weights : array-like of shape (n_patterns, n_columns) or DataFrame, optional
        Weights of the sum scores. Default: MAR 1 for the columns a pattern
        keeps and 0 for those it removes; MNAR the reverse. Not used with MCAR.
    std : bool, default=True
        Standardize the columns of a pattern's candidates before weighting
        them (mice skips this when a column is constant among them).
    type : str or list of str, default="RIGHT"
        ``"LEFT"``, ``"MID"``, ``"TAIL"`` or ``"RIGHT"``, for all patterns or
        one per pattern.
    random_state : int, RandomState instance or None, default=None
        Seeds the pattern assignment and the amputation.

    Returns
    -------
    DataFrame
        A copy of ``data`` with the amputed cells set to NaN (integer columns
        become float), with the data's index and columns.

    Warns
    -----
    UserWarning
        When no row was assigned to some pattern (mice's warning), or when a
        pattern's sum scores are all equal (its candidates are then amputed
        with probability ``prop``).

    Notes
    -----
    mice finds the logistic shift by a bisection, rounded to 3 decimals, on
    10,000 fresh standard normal draws; here it is solved exactly on 10,000
    normal quantiles, the same target without the noise. The discrete
    probabilities of mice (``cont=FALSE``, ``odds``) and ``bycases=FALSE``
    are not implemented.

    References
    ----------
    Schouten, R. M., Lugtig, P. & Vink, G. (2018). Generating missing values
    for simulation purposes: a multivariate amputation procedure. *Journal of
    Statistical Computation and Simulation*, 88(15), 2909-2930.

    Examples
    --------
    >>> from skmipool.datasets import load_boys
    >>> from skmipool.simulate import ampute
    >>> boys = load_boys()[["age", "hgt", "wgt", "bmi", "hc"]].dropna()
    >>> amp = ampute(boys, prop=0.4, patterns=[[1, 0, 1, 1, 1], [1, 1, 0, 0, 1]],
    ...              random_state=0)
    >>> round(float(amp.isna().any(axis=1).mean()), 2)
    0.4
    >>> amp.isna().sum().to_dict()
    {'age': 0, 'hgt': 143, 'wgt': 128, 'bmi': 128, 'hc': 0}

    Under MAR the rows with high scores lose ``hgt``, so the observed ``hgt``
    are the younger boys' (a MAR mechanism: it is driven by the columns kept):

    >>> bool(amp["age"][amp["hgt"].isna()].mean() > amp["age"][amp["hgt"].notna()].mean())
    True
    """
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(np.asarray(data))
    if not isinstance(data, pd.DataFrame):
        frame.columns = [f"x{j}" for j in range(frame.shape[1])]
    n, p = frame.shape
    if p < 2:
        raise ValueError(f"data must have at least two columns; got {p}.")
    if frame.isna().to_numpy().any():
        holes = [str(c) for c in frame.columns[frame.isna().any().to_numpy()]]
        raise ValueError(f"data must be complete; columns {holes} have missing values.")
    if not (isinstance(prop, (int, float, np.number)) and 0.0 <= float(prop) <= 1.0):
        raise ValueError(f"prop must be a proportion in [0, 1]; got {prop!r}.")
    if mechanism not in ("MAR", "MCAR", "MNAR"):
        raise ValueError(f'mechanism must be "MAR", "MCAR" or "MNAR"; got {mechanism!r}.')

    if patterns is None:  # mice's ampute.default.patterns: each column missing on its own
        pats = 1.0 - np.eye(p)
    else:
        pats = _matrix(patterns, "patterns", 0, p, frame.columns)
    k = pats.shape[0]
    if not np.isin(pats, (0.0, 1.0)).all():
        raise ValueError("patterns must hold only 0 (make missing) and 1 (keep).")
    for i, row in enumerate(pats):
        if row.all():
            raise ValueError(
                f"patterns row {i} is all ones: it makes nothing missing. Remove it and lower "
                f"prop instead (mice drops it and scales prop by 1 - its frequency)."
            )
        if not row.any():
            raise ValueError(
                f"patterns row {i} is all zeros: it would delete whole rows, leaving no "
                f"column observed in them. Keep at least one column in every pattern."
            )

    if freq is None:
        share = np.full(k, 1.0 / k)  # mice's ampute.default.freq
    else:
        share = np.asarray(freq, dtype=float).ravel()
        if share.size != k:
            raise ValueError(f"freq must have one value per pattern ({k}); got {share.size}.")
        if (share < 0).any() or share.sum() <= 0:
            raise ValueError(f"freq must be non-negative and not all 0; got {share.tolist()}.")
        share = share / share.sum()  # mice's recalculate.freq

    kinds = ["RIGHT"] * k if type is None else ([type] * k if isinstance(type, str) else list(type))
    if len(kinds) != k or any(t not in _TYPES for t in kinds):
        raise ValueError(
            f'type must be one of "LEFT", "MID", "TAIL", "RIGHT", or a list of them with one '
            f"per pattern ({k}); got {type!r}."
        )

    if mechanism == "MCAR":
        if weights is not None:
            warnings.warn("weights are not used when mechanism is MCAR.", UserWarning, stacklevel=2)
        w = np.zeros((k, p))
    elif weights is None:  # mice's ampute.default.weights
        w = (pats == 1).astype(float) if mechanism == "MAR" else (pats == 0).astype(float)
    else:
        w = _matrix(weights, "weights", k, p, frame.columns)
        if mechanism == "MAR":
            bad = [
                (i, str(frame.columns[j]))
                for i in range(k)
                for j in range(p)
                if pats[i, j] == 0 and w[i, j] != 0
            ]
            if bad:
                raise ValueError(
                    f"weights give weight to columns that their pattern makes missing "
                    f"(pattern, column): {bad}; the missingness would then depend on the "
                    f'missing values themselves. Set those weights to 0, or use mechanism="MNAR".'
                )

    rng = check_random_state(random_state)
    assigned = rng.choice(k, size=n, p=share)
    unused = [i for i in range(k) if share[i] > 0 and not (assigned == i).any()]
    if unused:
        warnings.warn(
            f"no rows were assigned to patterns {unused}, so they are not generated; use fewer "
            f"patterns or more rows.",
            UserWarning,
            stacklevel=2,
        )
    values, numeric = _scores_input(frame, (w != 0).any(axis=0))
    amputed = np.zeros(n, dtype=bool)
    for i in range(k):
        rows = np.flatnonzero(assigned == i)
        if rows.size == 0:
            continue
        if mechanism == "MCAR":  # mice's ampute.mcar
            amputed[rows] = rng.random(rows.size) < prop
            continue
        # mice's sum.scores: standardize the candidates, weight, standardize the scores
        candidates = values[rows]
        # (mice does not standardize when any column is constant among the candidates)
        if std and rows.size > 1 and (np.ptp(candidates[:, numeric], axis=0) > 0).all():
            candidates = candidates.copy()
            candidates[:, numeric] = _standardize(candidates[:, numeric])
        scores = candidates @ w[i]
        if rows.size > 1 and np.ptp(scores) > 0:
            probability = _probability(
                kinds[i], _standardize(scores), _shift(kinds[i], float(prop))
            )
        else:
            if rows.size > 1:
                warnings.warn(
                    f"the weighted sum scores of all candidates of pattern {i} are equal: they "
                    f"are made missing with probability prop.",
                    UserWarning,
                    stacklevel=2,
                )
            probability = np.full(rows.size, float(prop))
        amputed[rows] = rng.random(rows.size) < probability

    out = frame.copy()
    for j, column in enumerate(frame.columns):
        mask = amputed & (pats[assigned, j] == 0)
        if mask.any():
            out[column] = frame[column].mask(mask)
    return out
