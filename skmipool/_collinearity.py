"""Collinear predictors, found in their observed values before anything is imputed.

Two columns that obey an exact linear relation wherever both are observed
(x2 = 2 x1) make their coefficients unidentified; imputation then breaks the
relation by noise only, the design of every completed data set has full rank,
and the pooled table reports arbitrary coefficients (large, opposite, with huge
standard errors) instead of an error. mice looks for such columns in the
pairwise-complete correlations (``find.collinear`` in mice's R/internal.R,
``cor(use = "pairwise.complete.obs")``, |r| >= 0.999) and drops them from its
imputation models; here exact relations are refused for the analysis model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import linalg

from skmipool._adapters import columns_are_terms

__all__ = ["check_observed_collinearity"]

# Fewest rows in which a linear dependence counts: with k columns and an intercept, k + 1
# rows are always dependent, and a few more leave discrete columns dependent by chance.
_MIN_ROWS = 10

# An exact relation, up to the rounding of data stored with about 7 significant digits:
# singular values of the centred unit-length columns below 1e-6 of the largest. For two
# columns those are sqrt(1 -+ |r|), so the same bar is 1 - |r| <= 2e-12.
_RELATIVE_SINGULAR_VALUE = 1e-6


def check_observed_collinearity(X, estimator, estimand) -> None:
    """Refuse predictors that are collinear in the rows where they are observed.

    Checked when the estimand is the coefficients and every column of X is a
    term of the model (a scikit-learn linear model, or the default analysis),
    on the numeric and boolean columns: first each pair in the rows where
    both are observed, then all of them in the complete cases, when there are
    at least ``max(10, 2 (k + 1))`` complete cases for the k columns that vary
    there (fewer: an exact dependence is no evidence; nothing is said).

    Raises
    ------
    ValueError
        Naming the collinear columns, the rows checked and what to do.
    """
    if estimand != "coef" or not columns_are_terms(estimator):
        return
    frame = _numeric_columns(X)
    pair = _collinear_pair(frame)
    if pair is not None:
        a, b, rows, slope, offset = pair
        shift = f" {'+' if offset > 0 else '-'} {abs(offset):.4g}" if offset else ""
        _refuse([a, b], rows, f"{b} = {slope:.4g} * {a}{shift}")
    found = _collinear_complete_cases(frame)
    if found is not None:
        _refuse(*found, "one is a linear combination of the others")


def _numeric_columns(X) -> pd.DataFrame:
    """The numeric and boolean columns as floats (NaN missing), named as the terms are."""
    if not isinstance(X, pd.DataFrame):
        X = pd.DataFrame(np.asarray(X, dtype=float))
        X.columns = [f"x{i}" for i in range(X.shape[1])]
    numeric = X.select_dtypes(include=["number", "bool", "boolean"])
    values = numeric.to_numpy(dtype=float, na_value=np.nan)
    return pd.DataFrame(values, columns=[str(c) for c in numeric.columns], index=X.index)


def _collinear_pair(frame: pd.DataFrame):
    """(a, b, rows, slope, offset) of the first pair with b = offset + slope a, else None."""
    if frame.shape[1] < 2:
        return None
    # pairwise-complete correlations, as mice's find.collinear; NaN where a column is
    # constant in the pair's rows (that is _check_columns' business, or identified anyway)
    corr = frame.corr(min_periods=_MIN_ROWS).to_numpy()
    close = 1.0 - np.abs(corr) <= 2.0 * _RELATIVE_SINGULAR_VALUE**2
    i, j = np.nonzero(np.triu(close, k=1))
    if i.size == 0:
        return None
    a, b = frame.columns[i[0]], frame.columns[j[0]]
    both = frame[[a, b]].dropna()
    slope, offset = np.polyfit(both[a], both[b], 1)
    if abs(offset) <= 1e-9 * both[b].abs().max():
        offset = 0.0  # rounding error of the fit: no offset
    return a, b, len(both), slope, offset


def _collinear_complete_cases(frame: pd.DataFrame):
    """(columns, rows) of a linear dependence in the complete cases, else None."""
    complete = frame.dropna()
    varying = complete.loc[:, complete.nunique() > 1]
    k, n = varying.shape[1], varying.shape[0]
    if k < 2 or n < max(_MIN_ROWS, 2 * (k + 1)):
        return None
    Z = varying.to_numpy() - varying.to_numpy().mean(axis=0)  # the intercept's span removed
    Z /= np.linalg.norm(Z, axis=0)  # unit columns: units do not matter
    _, s, vt = linalg.svd(Z, full_matrices=False)
    null = vt[s <= _RELATIVE_SINGULAR_VALUE * s[0]]
    if null.size == 0:
        return None
    # the columns a null vector weighs (a unit vector: entries of rounding size are 0)
    involved = np.abs(null).max(axis=0) > 1e-4
    return [str(c) for c in varying.columns[involved]], n


def _refuse(columns: list[str], rows: int, relation: str):
    raise ValueError(
        f"columns {columns} of X are collinear in the {rows} rows where they are all observed "
        f"({relation}): imputation breaks the relation only by noise, so their coefficients "
        f"are not identified and the pooled estimates would be arbitrary. Drop one of them "
        f"(fill its missing values from the others first, if the relation is exact), or "
        f"combine them into one column, before fitting."
    )
