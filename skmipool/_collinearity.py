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

from skmipool._adapters import columns_are_terms

__all__ = ["check_observed_collinearity"]

# Fewest rows in which a linear dependence counts: with k columns and an intercept, k + 1
# rows are always dependent, and a few more leave discrete columns dependent by chance.
_MIN_ROWS = 10

# An exact relation, up to the rounding of data stored with about 7 significant digits:
# singular values of the centred unit-length columns below 1e-6 of the largest, i.e.
# eigenvalues of their correlation matrix below 1e-12 of the largest. For two columns those
# are 1 -+ |r|, so the same bar is 1 - |r| <= 2e-12.
_RELATIVE_SINGULAR_VALUE = 1e-6

# Rows per block of the pass over the data: the block's buffers stay small (640 kB for
# 10 columns), and each block's products are summed in BLAS, whose rounding error grows
# with the rows summed at once.
_BLOCK = 1 << 13

# Pairs whose correlation from the moments is this close to +-1 are candidates, confirmed
# from their rows by the 2e-12 bar: the moments' rounding errors are many orders below.
_CANDIDATE = 1e-6

# The shift formula sum v^2 - (sum v)^2 / n loses the digits of its leading terms: when
# a column's variance in some rows is below this fraction of its sum of squares about
# the centre there (a far value elsewhere moved the centre), the moments are not trusted
# (rounding of the variance relative 1e-16 / 1e-6 = 1e-10, below the bars above) and
# the rows themselves decide.
_CANCELLATION = 1e-6


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
    names, values = _numeric_columns(X)
    moments = _Moments(values)
    pair = _collinear_pair(names, values, moments)
    if pair is not None:
        a, b, rows, slope, offset = pair
        shift = f" {'+' if offset > 0 else '-'} {abs(offset):.4g}" if offset else ""
        _refuse([a, b], rows, f"{b} = {slope:.4g} * {a}{shift}")
    found = _collinear_complete_cases(names, moments)
    if found is not None:
        _refuse(*found, "one is a linear combination of the others")


def _numeric_columns(X) -> tuple[list[str], np.ndarray]:
    """The numeric and boolean columns as floats (NaN missing; a view of X when it is one)."""
    if not isinstance(X, pd.DataFrame):
        values = np.asarray(X, dtype=float)
        return [f"x{i}" for i in range(values.shape[1])], values
    numeric = X.select_dtypes(include=["number", "bool", "boolean"])
    values = numeric.to_numpy(dtype=float, na_value=np.nan)
    return [str(c) for c in numeric.columns], values


class _Moments:
    """Pairwise-complete and complete-case moments of the columns, in one pass over the rows.

    The columns are centred at their observed means first (a pass of sums), so that the
    sums of products lose no digits to large means (the two-pass algorithm; Chan, Golub &
    LeVeque 1983). With v the centred values set to 0 where missing, m the indicators of
    missing values and o = 1 - m, the pair (i, j) has ``count = o'o = n - m'1 - 1'm + m'm``
    rows where both are observed, over which v_i sums to ``sums = v'o = v'1 - v'm`` and
    v_i^2 to ``squares = (v*v)'1 - (v*v)'m``; and ``cross = v'v``. Only the columns with
    missing values enter the products with m. The complete cases (c = 1 where a row is
    complete) give ``cc_cross = (c v)'(c v)`` and ``cc_sums = v'c``; a column varies in them
    when not all of its values there equal its value in the first complete case.
    """

    def __init__(self, values: np.ndarray):
        self.values = values  # read again only where the moments lost their digits
        n, k = values.shape
        rows = min(n, _BLOCK)
        # buffers reused from block to block, column-major: the sums run down the columns
        missing = np.empty((rows, k), dtype=bool, order="F")
        raw, v, cv = (np.empty((rows, k), order="F") for _ in range(3))
        total, n_missing, first = np.zeros(k), np.zeros(k), None
        for start in range(0, n, _BLOCK):
            block = raw[: min(_BLOCK, n - start)]
            np.copyto(block, values[start : start + _BLOCK])
            m, vb = missing[: len(block)], v[: len(block)]
            np.isnan(block, out=m)
            np.copyto(vb, block)
            np.putmask(vb, m, 0.0)
            total += vb.sum(axis=0)
            n_missing += m.sum(axis=0)
            if first is None and not m.any(axis=1).all():
                first = block[int(np.argmin(m.any(axis=1)))].copy()  # the first complete case
        self.centre = np.divide(total, n - n_missing, out=np.zeros(k), where=n_missing < n)
        gaps = np.flatnonzero(n_missing > 0)  # the columns with missing values
        col_sums, col_squares = np.zeros(k), np.zeros(k)
        v_m, v2_m, m_m = (
            np.zeros((k, gaps.size)),
            np.zeros((k, gaps.size)),
            np.zeros((gaps.size,) * 2),
        )
        self.cross, self.cc_cross, self.cc_sums = np.zeros((k, k)), np.zeros((k, k)), np.zeros(k)
        self.cc_rows, n_first = 0, np.zeros(k)
        for start in range(0, n, _BLOCK):
            block = raw[: min(_BLOCK, n - start)]
            np.copyto(block, values[start : start + _BLOCK])
            m, vb, cb = missing[: len(block)], v[: len(block)], cv[: len(block)]
            np.isnan(block, out=m)
            np.subtract(block, self.centre, out=vb)
            np.putmask(vb, m, 0.0)
            col_sums += vb.sum(axis=0)
            col_squares += np.einsum("ij,ij->j", vb, vb)
            self.cross += vb.T @ vb
            if gaps.size:
                mg = m[:, gaps].astype(float)
                v_m += vb.T @ mg
                v2_m += np.square(vb).T @ mg
                m_m += mg.T @ mg
            complete = ~m.any(axis=1)
            if complete.any():
                np.multiply(vb, complete[:, None], out=cb)
                self.cc_rows += int(complete.sum())
                self.cc_sums += cb.sum(axis=0)
                self.cc_cross += cb.T @ cb
                n_first += ((block == first) & complete[:, None]).sum(axis=0)
        self.cc_varying = n_first < self.cc_rows
        # pairwise counts and sums: all rows, less those where the other column is missing
        m_all = np.zeros((k, k))
        m_all[np.ix_(gaps, gaps)] = m_m
        self.count = n - n_missing[:, None] - n_missing[None, :] + m_all
        self.sums, self.squares = np.tile(col_sums[:, None], k), np.tile(col_squares[:, None], k)
        self.sums[:, gaps] -= v_m
        self.squares[:, gaps] -= v2_m

    def pairwise_correlations(self) -> np.ndarray:
        """Pearson correlations over the rows where both columns are observed.

        cov = sum v_i v_j - (sum v_i)(sum v_j) / count (the shift formula, exact for any
        centre), likewise the variances; NaN below ``_MIN_ROWS`` rows. A column constant
        in the pair's rows has a variance of rounding size and a correlation of no
        meaning (pandas: NaN): _collinear_pair confirms every candidate from its rows.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            cov = self.cross - self.sums * self.sums.T / self.count
            var = self.squares - self.sums**2 / self.count
            corr = cov / np.sqrt(var * var.T)
        corr[(self.count < _MIN_ROWS) | ~(var > 0) | ~(var.T > 0)] = np.nan
        return corr

    def untrusted_pairs(self) -> np.ndarray:
        """Pairs whose moments lost too many digits to decide (see ``_CANCELLATION``)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            var = self.squares - self.sums**2 / self.count
            lost = ~(var >= _CANCELLATION * self.squares) & (self.count >= _MIN_ROWS)
        return lost | lost.T


def _collinear_pair(names: list[str], values: np.ndarray, moments: _Moments):
    """(a, b, rows, slope, offset) of the first pair with b = offset + slope a, else None."""
    if len(names) < 2:
        return None
    # pairwise-complete correlations, as mice's find.collinear; a column constant in the
    # pair's rows is passed over (that is _check_columns' business, or identified anyway)
    corr = moments.pairwise_correlations()
    with np.errstate(invalid="ignore"):
        near = (1.0 - np.abs(corr) <= _CANDIDATE) | moments.untrusted_pairs()
    for i, j in zip(*np.nonzero(np.triu(near, k=1)), strict=True):
        both = ~np.isnan(values[:, i]) & ~np.isnan(values[:, j])
        xa, xb = values[both, i], values[both, j]
        if xa.min() == xa.max() or xb.min() == xb.max():
            continue  # constant in the pair's rows: no correlation
        r = np.corrcoef(xa, xb)[0, 1]  # from the pair's rows, centred at their means
        if 1.0 - abs(r) > 2.0 * _RELATIVE_SINGULAR_VALUE**2:
            continue
        slope, offset = np.polyfit(xa, xb, 1)
        if abs(offset) <= 1e-9 * np.abs(xb).max():
            offset = 0.0  # rounding error of the fit: no offset
        return names[i], names[j], int(both.sum()), slope, offset
    return None


def _collinear_complete_cases(names: list[str], moments: _Moments):
    """(columns, rows) of a linear dependence in the complete cases, else None."""
    varying = np.flatnonzero(moments.cc_varying)
    k, n = varying.size, moments.cc_rows
    if k < 2 or n < max(_MIN_ROWS, 2 * (k + 1)):
        return None
    # the complete cases' centred gram (the intercept's span removed): sum v v' - s s' / n
    sums = moments.cc_sums[varying]
    raw = moments.cc_cross[np.ix_(varying, varying)]
    gram = raw - np.outer(sums, sums) / n
    if not np.all(np.diag(gram) >= _CANCELLATION * np.diag(raw)):
        # digits lost to a centre far from the complete cases: their gram from their rows
        rows = moments.values[:, varying]
        rows = rows[~np.isnan(moments.values).any(axis=1)]
        rows = rows - rows.mean(axis=0)
        gram = rows.T @ rows
    scale = np.sqrt(np.diag(gram))
    if not np.all(scale > 0):  # constant in the complete cases after all: left out
        keep = scale > 0
        varying, gram, scale = varying[keep], gram[np.ix_(keep, keep)], scale[keep]
        if varying.size < 2:
            return None
    # unit columns: units do not matter. Z = U S V' gives Z'Z = V S^2 V': the eigenvalues
    # are the squared singular values of the centred unit-length columns, the eigenvectors
    # their right singular vectors, without the n x k SVD. For an exact relation among a
    # million rows the smallest comes out near 3e-16 of the largest, far below the bar.
    eig, vec = np.linalg.eigh(gram / np.outer(scale, scale))
    null = vec[:, eig <= _RELATIVE_SINGULAR_VALUE**2 * eig[-1]]
    if null.size == 0:
        return None
    # the columns the null space weighs (unit vectors: weights of rounding size are 0)
    involved = np.linalg.norm(null, axis=1) > 1e-4
    return [names[c] for c in varying[involved]], n


def _refuse(columns: list[str], rows: int, relation: str):
    raise ValueError(
        f"columns {columns} of X are collinear in the {rows} rows where they are all observed "
        f"({relation}): imputation breaks the relation only by noise, so their coefficients "
        f"are not identified and the pooled estimates would be arbitrary. Drop one of them "
        f"(fill its missing values from the others first, if the relation is exact), or "
        f"combine them into one column, before fitting."
    )
