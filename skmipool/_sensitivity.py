"""Sensitivity to data missing not at random: delta adjustment and tipping points.

The analysis is refitted with the imputations of one column shifted by delta
(``ChainedImputer(delta=...)``, van Buuren FIMD 2nd ed., section 9.2; mice's ``post``
idiom), the same seeds for every delta, and the conclusion about one term is followed
along delta (the tipping-point analysis of Ratitch, O'Kelly & Tosiello 2013).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils import check_random_state

from skmipool._estimator import MIPooledEstimator, OutcomeOnlyImputationWarning
from skmipool._results import check_level
from skmipool._validation import real_array
from skmipool.impute import ChainedImputer

__all__ = ["TippingPointResult", "tipping_point"]


@dataclass(frozen=True)
class TippingPointResult:
    """The pooled estimate of one term along delta, and where its conclusion tips.

    Attributes
    ----------
    table : DataFrame
        Indexed by ``delta`` (sorted, 0 included); columns ``estimate``,
        ``std_error``, ``conf_low``, ``conf_high``, ``p_value`` and
        ``significant`` (p below 1 - level).
    column : str
        The column whose imputations were shifted.
    term : str
        The term followed.
    level : float
        Confidence level of the intervals; the test is at 1 - level.
    tipping_delta : float or None
        The delta of smallest absolute value whose conclusion (significant
        or not) differs from that at delta = 0; None when no delta tried
        changes it.
    random_state : int
        The seed every fit used.
    """

    table: pd.DataFrame
    column: str
    term: str
    level: float
    tipping_delta: float | None
    random_state: int

    def __str__(self) -> str:
        where = (
            f"the conclusion changes at delta = {self.tipping_delta:g}"
            if self.tipping_delta is not None
            else "no delta tried changes the conclusion"
        )
        body = self.table.to_string(float_format=lambda v: f"{v:.4g}")
        return (
            f"Tipping point for {self.term!r}, imputations of {self.column!r} shifted by delta "
            f"(test at {1 - self.level:g}): {where}\n{body}"
        )


def _deltas(values) -> np.ndarray:
    """The grid of shifts: finite numbers, sorted, with 0 (missing at random) the reference."""
    grid = np.atleast_1d(real_array("deltas", values))
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(
            f"deltas must be a non-empty list of shifts, e.g. [-2, -1, 0, 1, 2]; got {values!r}."
        )
    if not np.isfinite(grid).all():
        raise ValueError(f"deltas must be finite numbers; got {list(values)!r}.")
    return np.unique(np.append(grid, 0.0))


def tipping_point(estimator, X, y, column, deltas, *, term, level: float = 0.95):
    """Refit with the imputations of ``column`` shifted by each delta: where does the result tip?

    For every delta (and 0, the missing-at-random analysis), a clone of
    ``estimator`` is fitted with its ``ChainedImputer`` given
    ``delta={column: delta}`` and the same ``random_state``, so that the fits
    differ by the shift only (delta = 0 reproduces the plain fit bit for bit).
    The pooled estimate, interval and p-value of ``term`` are tabulated
    (van Buuren FIMD 2nd ed., section 9.2; Ratitch, O'Kelly & Tosiello 2013).

    Parameters
    ----------
    estimator : MIPooledEstimator
        The analysis; fitted or not (it is cloned). Its imputer must be a
        :class:`skmipool.impute.ChainedImputer` (the default); a ``delta`` it
        has for other columns is kept.
    X, y : as for :meth:`MIPooledEstimator.fit`
    column : str or int
        The incomplete column whose imputations are shifted (numeric:
        values; imputed by a logistic model: log odds).
    deltas : sequence of float
        The shifts to try; 0 is added when absent.
    term : str
        The pooled term whose conclusion is followed.
    level : float, default=0.95
        Confidence level of the intervals; the test is at 1 - level.

    Returns
    -------
    TippingPointResult

    Examples
    --------
    >>> from skmipool import MIPooledEstimator, tipping_point
    >>> from skmipool.datasets import load_nhanes2
    >>> df = load_nhanes2()
    >>> mi = MIPooledEstimator(n_imputations=5, random_state=1)
    >>> tp = tipping_point(mi, df[["age", "bmi"]], df["chl"], "bmi", [-4, -2, 2, 4], term="bmi")
    >>> tp.table.index.tolist()
    [-4.0, -2.0, 0.0, 2.0, 4.0]
    >>> list(tp.table.columns)
    ['estimate', 'std_error', 'conf_low', 'conf_high', 'p_value', 'significant']
    """
    if not isinstance(estimator, MIPooledEstimator):
        raise TypeError(
            f"estimator must be a MIPooledEstimator (the analysis to refit); got "
            f"{type(estimator).__name__}."
        )
    level = check_level(level)
    grid = _deltas(deltas)
    imputer = estimator.imputer if estimator.imputer is not None else ChainedImputer()
    if not isinstance(imputer, ChainedImputer):
        raise TypeError(
            f"tipping_point shifts imputations with ChainedImputer(delta=...); the estimator's "
            f"imputer is {type(imputer).__name__}. Use imputer=ChainedImputer(...)."
        )
    rs = estimator.random_state
    seed = rs if isinstance(rs, int) else int(check_random_state(rs).randint(2**31 - 1))
    rows = {}
    for delta in grid:
        shifted = clone(imputer).set_params(delta={**(imputer.delta or {}), column: delta})
        with warnings.catch_warnings():
            # shifted outcomes carry the MNAR assumption, which is the point here
            warnings.simplefilter("ignore", OutcomeOnlyImputationWarning)
            fit = clone(estimator).set_params(imputer=shifted, random_state=seed).fit(X, y)
        if term not in fit.terms_:
            raise ValueError(
                f"term {term!r} is not a term of the analysis; its terms are {list(fit.terms_)}."
            )
        row = fit.pooled_.to_frame(level=level).loc[term]
        rows[delta] = {
            "estimate": row["estimate"],
            "std_error": row["std_error"],
            "conf_low": row["conf_low"],
            "conf_high": row["conf_high"],
            "p_value": row["p_value"],
            "significant": bool(row["p_value"] < 1.0 - level),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "delta"
    reference = table.loc[0.0, "significant"]
    changed = table.index[table["significant"] != reference]
    tipping = None
    if len(changed):
        order = np.lexsort((changed.to_numpy(), np.abs(changed.to_numpy())))
        tipping = float(changed[order[0]])
    return TippingPointResult(table, str(column), str(term), level, tipping, seed)
