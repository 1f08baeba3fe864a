"""The conditional models of the chain: norm, pmm, midastouch, logreg, polyreg and polr.

Each model is fitted to the observed rows of one column (``fit``), draws its
parameters from their posterior once per fit, and imputes the missing rows
(``impute``) with those parameters plus fresh noise. The design matrix passed
in holds the predictor columns only; the models centre it and carry the
intercept themselves.

References
----------
McCullagh, P. (1980). Regression models for ordinal data. *Journal of the
Royal Statistical Society, Series B* 42, 109-142.
Pratt, J. W. (1981). Concavity of the log likelihood. *Journal of the American
Statistical Association* 76, 103-106.
van Buuren, S. (2018). *Flexible Imputation of Missing Data*, 2nd ed. (FIMD),
sections 3.2 (Algorithm 3.1, ``norm``), 3.4 (predictive mean matching) and 3.6
(categorical data, ``polr``).
van Buuren, S. and Groothuis-Oudshoorn, K. (2011). mice: Multivariate
Imputation by Chained Equations in R. *Journal of Statistical Software* 45(3).
Gaffert, P., Meinfelder, F. and Bosch, V. (2016). Towards an MI-proper predictive
mean matching. Discussion paper, University of Bamberg (``midastouch``).
Siddique, J. and Belin, T. R. (2008). Using an approximate Bayesian bootstrap to
multiply impute nonignorable missing data. *Computational Statistics & Data
Analysis* 53, 405-415.
Schenker, N. and Taylor, J. M. G. (1996). Partially parametric techniques for
multiple imputation. *Computational Statistics & Data Analysis* 22, 425-446.
Morris, T. P., White, I. R. and Royston, P. (2014). Tuning multiple imputation by
predictive mean matching and local residual draws. *BMC Medical Research
Methodology* 14, 75.
Rubin, D. B. and Schenker, N. (1986). Multiple imputation for interval
estimation from simple random samples with ignorable nonresponse. *Journal
of the American Statistical Association* 81, 366-374.
White, I. R., Daniel, R. and Royston, P. (2010). Avoiding bias due to perfect
prediction in multiple imputation of incomplete categorical variables.
*Computational Statistics & Data Analysis* 54, 2267-2275.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError, cho_solve
from scipy.linalg.lapack import dpotrs, dtrtrs
from scipy.special import expit, softmax
from sklearn.exceptions import ConvergenceWarning

__all__ = [
    "LogitModel",
    "MidastouchModel",
    "Moments",
    "NormModel",
    "PmmModel",
    "PolrModel",
    "block_starts",
    "bootstrap_rows",
    "compose",
    "draw_from_blocks",
    "match_donors",
    "midpoints",
    "nearest_block",
    "select_predictors",
    "sort_order",
    "submatrix",
]

# mice remove.lindep: drop predictors while the smallest / largest eigenvalue of their
# correlation matrix is below this ratio
COLLINEARITY_EPS = 1e-4
# a predictor whose centred sum of squares is below this fraction of its uncentred one
# is constant in the observed rows (up to rounding) and is left out
CONSTANT_EPS = 1e-10
# logreg / polyreg prior on each slope: N(0, (4 / sd(x))^2), i.e. 4 logits per SD of x.
# Its information, var(x) / 16, is that of mice's augmentation (White, Daniel & Royston
# 2010): (p + 1) pseudo-observations at mean(x) +- sd(x) / 2, half in each class.
PRIOR_SD_LOGIT = 4.0
# polr: total weight of the pseudo-observations at the predictors' mean, 1 / K of each
# level, which keep the thresholds finite when a level is empty (the centre records of
# mice's augmentation, White, Daniel & Royston 2010, with a lighter weight than its p + 1)
POLR_PSEUDO = 1.0
# midastouch weighs each recipient's this many donors with the nearest predictions
MIDASTOUCH_WINDOW = 256
# rows per block of a pass over n rows that forms temporaries (2 MB at 8 columns)
ROW_BLOCK = 1 << 15


@dataclass(frozen=True)
class Moments:
    """Moments of the observed rows of one column and its predictors.

    The sufficient statistics of a linear model: ``n`` rows, predictor means,
    mean of y, centred cross-products ``sxx = Xc'Xc``, ``sxy = Xc'yc``,
    ``syy = yc'yc``, and the uncentred sums of squares of the predictors
    (``x_square``, for the constant test).
    """

    n: int
    x_mean: np.ndarray
    y_mean: float
    sxx: np.ndarray
    sxy: np.ndarray
    syy: float
    x_square: np.ndarray


def select_predictors(sxx: np.ndarray, x_square: np.ndarray) -> np.ndarray:
    """Indices of the predictors that vary and are not collinear in the observed rows.

    Constant columns (for example a dummy whose level is absent from the
    observed rows) are dropped; then, as mice's ``remove.lindep``, the column
    with the largest loading on the smallest eigenvector of the correlation
    matrix is dropped while that eigenvalue is below ``COLLINEARITY_EPS``
    times the largest.
    """
    var = np.diag(sxx)
    cols = np.flatnonzero(var > CONSTANT_EPS * x_square)
    if cols.size > 1:
        sd = np.sqrt(var[cols])
        R = submatrix(sxx, cols) / np.outer(sd, sd)
        keep = np.arange(cols.size)
        while keep.size > 1:
            sub = submatrix(R, keep)
            eigval = np.linalg.eigvalsh(sub)  # the vectors only when a column must go
            if eigval[0] >= COLLINEARITY_EPS * eigval[-1]:
                break
            eigval, eigvec = np.linalg.eigh(sub)
            keep = np.delete(keep, np.argmax(np.abs(eigvec[:, 0])))
        cols = cols[keep]
    return cols


def submatrix(A: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``A[np.ix_(index, index)]`` (a copy), by two ``take``: no open mesh built."""
    return A.take(index, axis=0).take(index, axis=1)


def _cholesky(A: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor; adds a vanishing jitter if A is numerically singular."""
    jitter = 0.0
    for _ in range(10):
        try:
            return np.linalg.cholesky(A + jitter * np.eye(A.shape[0]))
        except (np.linalg.LinAlgError, LinAlgError):
            if jitter == 0.0:
                scale = float(np.max(np.diag(A), initial=1.0)) or 1.0
            jitter = 1e-12 * scale if jitter == 0.0 else 10 * jitter
    raise np.linalg.LinAlgError("the imputation model's normal equations are singular")


def _normal_draw(chol_lower: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A draw from N(0, A^-1) given the lower Cholesky factor L of A (A = L L').

    ``u = L'^-1 z`` has covariance ``L'^-1 L^-1 = A^-1``, so A is never inverted.
    """
    z = rng.standard_normal(chol_lower.shape[0])
    if z.size == 0:
        return z
    # scipy's solve_triangular(L, z, lower=True, trans="T", check_finite=False) without its
    # wrapper: the same LAPACK call (LAPACK reads Fortran order; a C-ordered L, as
    # _cholesky returns it, is read as L', the upper factor)
    if chol_lower.flags.f_contiguous:
        u, info = dtrtrs(chol_lower, z, lower=1, trans=1)
    else:
        u, info = dtrtrs(chol_lower.T, z, lower=0, trans=0)
    if info:
        raise LinAlgError(f"singular matrix: resolution failed at diagonal {info - 1}")
    return u


def _cho_solve(chol_lower: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``A^-1 b`` from the lower Cholesky factor of A: scipy's
    ``cho_solve((L, True), b, check_finite=False)`` without its wrapper (the same LAPACK
    call); ``b`` not empty."""
    x, info = dpotrs(chol_lower, b, lower=1)
    if info:
        raise ValueError(f"illegal value in {-info}th argument of internal potrs")
    return x


# --------------------------------------------------------------------- linear models


def _full_width(data, kept, coef, intercept, mean):
    """Coefficients of the kept predictors placed at their design columns, and the constant.

    ``intercept + (X[:, kept] - mean) @ coef`` equals ``constant + D @ weights`` for
    rows D of the design matrix, whose columns ``data.cols`` are the predictors X.
    ``coef`` may have one column per logit.
    """
    weights = np.zeros((data.design_width, *np.shape(coef)[1:]))
    weights[data.cols[kept]] = coef
    return weights, intercept - mean @ coef


class NormModel:
    """Bayesian linear regression, parameters drawn from their posterior (FIMD Algorithm 3.1).

    From the centred moments of the observed rows (:class:`Moments`):
    ``V = (Xc'Xc + ridge diag(Xc'Xc))^-1``, ``b = V Xc'y`` (steps 1-2, mice's ridge);
    ``sigma*^2 = RSS / g`` with ``g ~ chi^2(n_obs - p)`` (steps 3-4);
    ``b* = b + sigma* V^{1/2} z`` (step 5); intercept ``a* = ybar + sigma* z0 / sqrt(n)``
    (independent of b because the predictors are centred);
    ``y_mis = a* + (X_mis - mean) b* + sigma* z'`` (step 6).

    ``fit`` takes the column's data as an object with a ``moments()`` method
    and the design columns ``cols`` of its predictors (and, for
    :class:`PmmModel`, ``fitted(weights)`` and ``y_obs``); ``impute`` takes
    rows of the whole design matrix, which ``weights_`` (the coefficients at
    the predictors' design columns, zero elsewhere) and ``constant_`` predict.
    """

    method = "norm"

    def __init__(self, ridge: float):
        self.ridge = ridge

    def _fit_moments(self, m: Moments, rng, draw: bool, data) -> np.ndarray:
        """Store (a*, b*, sigma*) and the kept predictors; return the fitted b-hat."""
        cols = select_predictors(m.sxx, m.x_square)
        k = cols.size
        S, sxy = submatrix(m.sxx, cols), m.sxy[cols]
        # mice .norm.fix: pen <- ridge * diag(xtx)
        L = _cholesky(S + np.diag(self.ridge * np.diag(S))) if k else np.zeros((0, 0))
        b = _cho_solve(L, sxy) if k else np.zeros(0)
        rss = max(m.syy - 2 * b @ sxy + b @ S @ b, 0.0)  # ||yc - Xc b||^2 from the moments
        df = max(m.n - k - 1, 1)  # mice: max(length(y) - ncol(x), 1), x with intercept
        if draw:
            sigma = np.sqrt(rss / rng.chisquare(df))  # FIMD Algorithm 3.1, steps 3-4
            self.coef_ = b + sigma * _normal_draw(L, rng)  # step 5
            self.intercept_ = m.y_mean + sigma * rng.standard_normal() / np.sqrt(m.n)
        else:
            sigma = np.sqrt(rss / df)
            self.coef_, self.intercept_ = b, m.y_mean
        self.sigma_ = float(sigma)
        self.cols_, self.mean_ = cols, m.x_mean[cols]
        self.weights_, self.constant_ = _full_width(
            data, cols, self.coef_, self.intercept_, self.mean_
        )
        return b

    def predict(self, D: np.ndarray) -> np.ndarray:
        """``a* + (X - mean) b*`` with the drawn (or, without draws, the fitted) parameters,
        from rows D of the whole design matrix."""
        pred = D @ self.weights_
        pred += self.constant_
        return pred

    def fit(self, data, rng, draw):
        self._fit_moments(data.moments(), rng, draw, data)
        return self

    def impute(self, D, rng, draw):
        pred = self.predict(D)
        if draw:
            noise = rng.standard_normal(pred.size)
            noise *= self.sigma_
            pred += noise  # step 6
        return pred


def sort_order(x: np.ndarray, overwrite: bool = False) -> np.ndarray:
    """The order that sorts the floats x (no NaN), by one in-place integer sort.

    ``np.argsort`` of floats is about twice as slow as sorting integers. Read
    as int64, a double keeps its order once the negative ones have their 63
    lower bits flipped; the lowest b bits, b enough to number the n values,
    are replaced by each value's position, and the sorted keys' low bits give
    the order. As in a stable argsort, equal values keep their input order,
    and so do values that agree in all but those b bits, that is within
    2**b units in the last place (a relative difference below 2**(b - 52),
    4e-12 for n = 16 000, for normal numbers).

    With ``overwrite`` a contiguous float64 x is made into the keys in place (and
    returned as the order): no array of n is allocated. The keys are formed by
    blocks of rows, so that the temporaries stay in cache.
    """
    n = x.size
    low = np.int64((1 << max(int(n - 1).bit_length(), 1)) - 1)
    if overwrite and x.dtype == np.float64 and x.flags.c_contiguous:
        key = x.view(np.int64)
    else:
        key = np.array(x, dtype=np.float64).view(np.int64)
    for start in range(0, n, ROW_BLOCK):
        part = key[start : start + ROW_BLOCK]
        number = part.view(np.float64)
        number += 0.0  # -0.0 == 0.0
        flip = part >> np.int64(63)
        flip &= np.int64(0x7FFFFFFFFFFFFFFF)
        part ^= flip
        part &= ~low
        part |= np.arange(start, start + part.size, dtype=np.int64)
    key.sort()
    key &= low
    return key


def compose(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``first[second]`` written over ``second`` (an integer array), by blocks: the
    composition of two orders without a new array of n."""
    for start in range(0, second.size, ROW_BLOCK):
        part = second[start : start + ROW_BLOCK]
        part[...] = first.take(part)
    return second


def match_donors(
    sorted_pred: np.ndarray, query: np.ndarray, donors: int, rng, draw: bool
) -> np.ndarray:
    """For each query, the index of a donor drawn among the ``donors`` nearest predictions.

    ``sorted_pred`` (s) must be sorted. The d nearest of a query q are a block
    ``s[c:c + d]`` of consecutive values. Moving the block one place right
    makes it strictly worse exactly when ``|s[c + d] - q| > |s[c] - q|``, that
    is when q lies below the midpoint ``(s[c] + s[c + d]) / 2``; the midpoints
    are sorted, so the best block starts at the number of midpoints <= q: one
    ``searchsorted`` for all queries (sorted first, which makes the search
    cache-friendly). A donor is then drawn uniformly from the block. Without
    draws the nearest prediction is taken (d = 1).
    """
    d = min(donors, sorted_pred.size) if draw else 1
    return draw_from_blocks(nearest_block(sorted_pred, query, d), d, rng)


def draw_from_blocks(first: np.ndarray, d: int, rng) -> np.ndarray:
    """For each block start c, a donor drawn uniformly from ``c, ..., c + d - 1``."""
    if d == 1:
        return first
    return first + rng.integers(0, d, size=first.size)


def nearest_block(sorted_pred: np.ndarray, query: np.ndarray, d: int) -> np.ndarray:
    """For each query, the start c of the block ``sorted_pred[c:c + d]`` of its d nearest
    values (``d <= sorted_pred.size``; see :func:`match_donors`)."""
    return block_starts(midpoints(sorted_pred, d), query)


def midpoints(sorted_pred: np.ndarray, d: int, out: np.ndarray | None = None) -> np.ndarray:
    """``(s[c] + s[c + d]) / 2`` for c = 0, ..., n - d - 1 (into ``out`` if given): the
    points where the best block of d moves one place right (see :func:`match_donors`)."""
    out = np.add(sorted_pred[:-d], sorted_pred[d:], out=out)
    out /= 2
    return out


def block_starts(midpoints: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The number of ``midpoints`` (sorted) <= each query: the start of its block of
    nearest donors (:func:`match_donors`). The queries are searched in sorted order,
    which keeps the search in cache."""
    order = sort_order(query)
    first = np.empty(query.size, dtype=np.intp)
    first[order] = np.searchsorted(midpoints, query[order], side="right")
    return first


def bootstrap_rows(n: int, rng) -> np.ndarray:
    """The rows of a bootstrap resample of n rows: n draws with replacement.

    As 32-bit integers where they number the rows (half the memory of int64; NumPy
    draws the same numbers for both types below 2**32)."""
    return rng.integers(0, n, size=n, dtype=np.int32 if n <= 2**31 else np.int64)


class PmmModel(NormModel):
    """Predictive mean matching (FIMD section 3.4, type 1 matching), with bootstrapped donors.

    The parameters are drawn as in :class:`NormModel`. Observed rows are
    predicted with the fitted coefficients, missing rows with the drawn ones;
    each missing row takes the observed value of a donor drawn at random from
    the ``donors`` closest predictions. Ties between observed predictions are
    broken at random. Without draws each missing row takes its nearest donor;
    among donors with equal predictions, the last observed row.

    With ``bootstrap`` (and draws) the donors are an approximate Bayesian
    bootstrap of the observed rows, drawn anew at every fit: a resample of
    size n_obs with replacement, a row drawn k times entering the pool k
    times (Rubin & Schenker 1986). Matching among the same
    observed rows in every imputation (mice's ``pmm``: ``bootstrap=False``)
    leaves out the uncertainty about the distribution of the donors' values,
    as a simple hot deck does, and its between-imputation variance comes out
    too small (see ``ChainedImputer``'s Notes).
    """

    method = "pmm"

    def __init__(self, ridge: float, donors: int, bootstrap: bool = True):
        super().__init__(ridge)
        self.donors = donors
        self.bootstrap = bootstrap

    def fit(self, data, rng, draw):
        self._fit_donors(data, rng, draw, residuals=False)
        return self

    def _fit_donors(self, data, rng, draw, residuals: bool) -> None:
        """Fit; keep the donors' values (with ``residuals``, minus their predictions) in
        the order of their predictions, the block size and the midpoints of the blocks."""
        m = data.moments()
        b = self._fit_moments(m, rng, draw, data)
        # observed rows predicted with b-hat (type 1 matching), as y_mean + (X - mean) b
        weights, constant = _full_width(data, self.cols_, b, m.y_mean, self.mean_)
        fitted = data.fitted(weights)
        fitted += constant
        n = fitted.size
        if draw and self.bootstrap:
            # approximate Bayesian bootstrap of the donors (Rubin & Schenker 1986): n_obs rows
            # drawn with replacement, in random order, so that the sort below (which keeps
            # the input order of ties) leaves ties between distinct donors in random order
            rows = bootstrap_rows(n, rng)
            key = fitted.take(rows, out=data.buffer("sort keys", n), mode="clip")
            order = compose(rows, sort_order(key, overwrite=True))
        else:
            order = sort_order(fitted)
            if draw and n > 1:
                pred = fitted[order]
                if np.any(pred[1:] == pred[:-1]):
                    perm = rng.permutation(n)  # ties in random order
                    order = perm[sort_order(fitted[perm])]
        # the model's arrays: into those of the previous fit when they fit (the chain refits
        # each column on the same rows), so that they are not made anew at each visit
        values = data.y_obs.take(order, out=self._reused("donor_values_", n), mode="clip")
        d = self.block_ = min(self.donors, n) if draw else 1  # without draws: the nearest
        mids = self._reused("midpoints_", n - d)
        for start in range(0, n, ROW_BLOCK):  # the sorted predictions, by blocks of rows
            stop = min(start + ROW_BLOCK, n)
            pred = fitted.take(order[start : min(stop + d, n)], mode="clip")
            if residuals:
                values[start:stop] -= pred[: stop - start]
            if start < n - d:
                midpoints(pred, d, out=mids[start : min(stop, n - d)])
        self.donor_values_, self.midpoints_ = values, mids

    def _reused(self, name: str, size: int) -> np.ndarray:
        """The float array ``name`` of the previous fit if it has ``size`` entries, else a
        new one."""
        held = getattr(self, name, None)
        return held if held is not None and held.shape == (size,) else np.empty(size)

    def _donors(self, pred: np.ndarray, rng) -> np.ndarray:
        """For each prediction, a donor drawn from its block of nearest donors."""
        return draw_from_blocks(block_starts(self.midpoints_, pred), self.block_, rng)

    def impute(self, D, rng, draw):
        return self.donor_values_[self._donors(self.predict(D), rng)]


class LrdModel(PmmModel):
    """Local residual draws: pmm's donors give their residual, not their value.

    Schenker & Taylor (1996), "partially parametric" imputation: the donor is
    matched as in :class:`PmmModel` (drawn parameters, bootstrapped donors),
    and the missing row gets its own prediction plus the donor's residual,
    ``x_j'b~ + (y_i - x_i'b^)``, instead of the donor's value ``y_i``. Where
    donors are scarce (a tail of x that holds most of the missing values
    under MAR) pmm's donor pool reaches toward the centre and biases the
    imputations toward it; the donor's residual carries the local shape of
    the error distribution without that pull (Morris, White & Royston 2014
    compare both). The imputation is then clipped to the range of the observed
    values, so that bounded or skewed columns keep their support (a value
    above the largest observed one becomes that value). Imputations are not
    observed values, unlike pmm's: ask for ``"pmm"`` when they must be.
    """

    method = "lrd"

    def fit(self, data, rng, draw):
        self._fit_donors(data, rng, draw, residuals=True)  # the donors' residuals
        self.range_ = (float(data.y_obs.min()), float(data.y_obs.max()))
        return self

    def impute(self, D, rng, draw):
        pred = self.predict(D)
        donor = self._donors(pred, rng)
        # Schenker & Taylor (1996): own prediction plus the donor's residual, clipped to the
        # observed range
        return np.clip(pred + self.donor_values_[donor], *self.range_)


class MidastouchModel:
    """MIDAStouch: predictive mean matching with distance-weighted donors (Gaffert,
    Meinfelder & Bosch 2016; mice's ``midastouch``).

    One fit: the observed rows get approximate Bayesian bootstrap weights
    ``omega`` (the number of times each is drawn in a resample of n_obs rows,
    Rubin & Schenker 1986; this is the P-step, there is no separate parameter
    draw), the regression is fitted by weighted least squares, and the match
    of donor i and recipient j uses the coefficients fitted without donor i
    (the paper's leave-one-out, mice's ``outout = TRUE``): the distance
    ``d_ij = x_i'b(-i) - x_j'b(-i)``. The recipient draws donor i with
    probability proportional to ``omega_i |d_ij|^-kappa`` (Siddique & Belin
    2008), with ``kappa = (50 R^2 / (1 - R^2))^(3/8)`` from the weighted R^2
    of the fit, at most 100 (Gaffert et al. 2016; mice's ``midas.kappa``).

    Differences from mice: each recipient weighs its ``window`` donors with the
    nearest predictions ``x_i'b`` (all donors when there are fewer, as in the
    simulations of the tests; the donors left out carry little weight unless
    kappa is small or the recipient lies in a sparse tail, where even 16
    donors instead of all moved the MAR simulation's bias from -0.43 to -0.31
    SD), and the weights have no floor
    (mice raises ``|d|^-kappa`` to at least ``sqrt(eps)``). The ridge is that of
    :class:`NormModel`. Imputed values are observed values. Without draws the
    weights are 1 and each recipient takes its nearest donor in ``d``.
    """

    method = "midastouch"

    def __init__(self, ridge: float, window: int = MIDASTOUCH_WINDOW):
        self.ridge = ridge
        self.window = window

    def fit(self, data, rng, draw):
        X, y = data.X_obs, data.y_obs
        n = y.size
        # mice bootfunc.plain: omega = counts of a resample of the n_obs rows
        omega = np.bincount(bootstrap_rows(n, rng), minlength=n) if draw else np.ones(n)
        donors = np.flatnonzero(omega)  # a donor's probability is proportional to omega
        X, y, w = X[donors], y[donors], omega[donors].astype(float)
        total = float(n)  # sum of the weights
        mean, y_mean = w @ X / total, w @ y / total
        Xc, yc = X - mean, y - y_mean
        Xw = Xc * w[:, None]
        sxx = Xw.T @ Xc
        cols = select_predictors(sxx, w @ (X * X))
        Xc, Xw, S = Xc[:, cols], Xw[:, cols], submatrix(sxx, cols)
        k = cols.size
        # weighted least squares with mice's ridge: b = (Xc'W Xc + ridge diag)^-1 Xc'W y
        L = _cholesky(S + np.diag(self.ridge * np.diag(S))) if k else np.zeros((0, 0))
        b = _cho_solve(L, Xw.T @ yc) if k else np.zeros(0)
        resid = yc - Xc @ b
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = 1 - (w @ resid**2) / (w @ yc**2)  # weighted R^2 (mice: omega-weighted)
            # Gaffert et al. 2016 (after Siddique & Belin 2008), mice midas.kappa: from R^2
            kappa = min((50 * r2 / (1 - r2)) ** (3 / 8), 100.0)
        self.kappa_ = 3.0 if np.isnan(kappa) else float(kappa)  # mice: 3 if undefined
        # Leave donor i out (Sherman-Morrison on the weighted normal equations, with the
        # intercept in z_i = (1, xc_i), M = diag(sum w, Xc'W Xc)):
        # theta(-i) = theta - c_i M^-1 z_i, c_i = w_i e_i / (1 - w_i h_i), h_i = z_i'M^-1 z_i.
        # Then d_ij = z_i'theta(-i) - z_j'theta(-i)
        #           = (yhat_i - c_i g_i'xc_i) - yhat_j + c_i g_i'xc_j,  g_i = A^-1 xc_i.
        G = _cho_solve(L, Xc.T).T if k else np.zeros((y.size, 0))
        q = np.einsum("ij,ij->i", G, Xc)
        c = w * resid / np.maximum(1 - w * (1 / total + q), np.finfo(float).eps)
        fitted = y_mean + Xc @ b
        order = sort_order(fitted)
        self.sorted_pred_ = fitted[order]
        self.own_ = (fitted - c * q)[order]  # yhat_i - c_i g_i'xc_i
        self.slope_ = (c[:, None] * G)[order]  # c_i g_i
        self.log_weight_ = np.log(w[order])
        self.donor_values_ = y[order]
        self.coef_, self.intercept_, self.mean_ = b, float(y_mean), mean[cols]
        self.design_cols_ = data.cols[cols]
        self.weights_, self.constant_ = _full_width(data, cols, b, y_mean, self.mean_)
        return self

    def impute(self, D, rng, draw):
        m, d = D.shape[0], min(self.window, self.sorted_pred_.size)
        pred = self.constant_ + D @ self.weights_  # yhat_j = x_j'b
        first = nearest_block(self.sorted_pred_, pred, d)
        out = np.empty(m)
        xc = D[:, self.design_cols_] - self.mean_
        size = m * d * max(xc.shape[1], 1)
        for rows in np.array_split(np.arange(m), max(1, size // 2**20)):  # ~8 MB a chunk
            cand = first[rows, None] + np.arange(d)  # candidate donors of each recipient
            dist = self.own_[cand] - pred[rows, None]
            dist += np.einsum("mdk,mk->md", self.slope_[cand], xc[rows])  # + c_i g_i'xc_j
            # Siddique & Belin 2008; mice delta.mat * omega: P(i | j) ~ omega_i |d_ij|^-kappa
            logp = self.log_weight_[cand] - self.kappa_ * np.log(
                np.maximum(np.abs(dist), np.finfo(float).tiny)
            )
            if draw:
                prob = np.exp(logp - logp.max(axis=1, keepdims=True))
                cum = np.cumsum(prob, axis=1)
                u = rng.random(rows.size) * cum[:, -1]
                pick = np.minimum((cum < u[:, None]).sum(axis=1), d - 1)
            else:
                pick = np.argmax(logp, axis=1)
            out[rows] = self.donor_values_[cand[np.arange(rows.size), pick]]
        return out


# --------------------------------------------------------------------- logit models


def _logit_predictors(X: np.ndarray):
    """Centred predictors, their means, the columns kept and the slopes' prior precision.

    Shared by the logit models (logreg/polyreg and polr): predictors constant or
    collinear in the observed rows are left out (mice's ``remove.lindep``), and each
    slope gets the prior precision var(x) / PRIOR_SD_LOGIT^2 described above.
    """
    mean = X.mean(axis=0)
    Xc = X - mean
    sxx = Xc.T @ Xc
    cols = select_predictors(sxx, np.einsum("ij,ij->j", X, X))
    return Xc, mean, cols, np.diag(sxx)[cols] / X.shape[0] / PRIOR_SD_LOGIT**2


def _multinomial_newton(Xd, y, n_classes, prior, start, max_iter=100, tol=1e-10):
    """Penalised maximum likelihood of a multinomial logit, class 0 the reference.

    Parameters are ``B`` of shape (k + 1, K - 1), flattened class by class.
    Newton-Raphson with step halving on the penalised log-likelihood
    ``sum_i [eta_{i, y_i} - log sum_c exp(eta_ic)] - 1/2 sum prior * B^2``.
    Returns ``B`` and the lower Cholesky factor of the negative Hessian at B
    (the inverse of the approximate posterior covariance).
    """
    n, q = Xd.shape
    J = n_classes - 1
    onehot = (y[:, None] == np.arange(1, n_classes)).astype(float)
    prec = np.tile(prior, J)

    def objective(B):
        eta = np.column_stack([np.zeros(n), Xd @ B])
        ll = eta[np.arange(n), y].sum() - np.logaddexp.reduce(eta, axis=1).sum()
        return ll - 0.5 * np.sum(prec * B.ravel(order="F") ** 2), eta

    def hessian(eta):
        p = softmax(eta, axis=1)[:, 1:]
        H = np.empty((q * J, q * J))
        for a in range(J):
            for b in range(a, J):
                w = p[:, a] * ((a == b) - p[:, b])
                block = (Xd * w[:, None]).T @ Xd
                H[a * q : (a + 1) * q, b * q : (b + 1) * q] = block
                H[b * q : (b + 1) * q, a * q : (a + 1) * q] = block.T
        H[np.diag_indices_from(H)] += prec
        return H, p

    B = start
    obj, eta = objective(B)
    for _ in range(max_iter):
        H, p = hessian(eta)
        L = _cholesky(H)
        grad = (Xd.T @ (onehot - p)).ravel(order="F") - prec * B.ravel(order="F")
        step = cho_solve((L, True), grad).reshape((q, J), order="F")
        t = 1.0
        while True:
            B_new = B + t * step
            obj_new, eta_new = objective(B_new)
            if obj_new >= obj - 1e-12 * abs(obj) or t < 1e-6:
                break
            t /= 2
        converged = np.max(np.abs(t * step)) <= tol * (1 + np.max(np.abs(B_new)))
        B, obj, eta = B_new, obj_new, eta_new
        if converged:
            break
    H, _ = hessian(eta)
    return B, _cholesky(H)


class LogitModel:
    """Logistic (``logreg``, 2 levels) or multinomial logistic (``polyreg``) regression.

    The coefficients are the penalised maximum-likelihood estimate under a
    weakly informative normal prior on the slopes (``PRIOR_SD_LOGIT``, against
    perfect prediction as mice's augmentation); they are drawn from the normal
    approximation of their posterior, ``B* ~ N(B-hat, H^-1)`` with H the
    negative Hessian (mice ``logreg``: ``beta.star <- coef + t(chol(vcov)) %*%
    rnorm``), and each missing row's level is drawn from its predicted
    probabilities. Without draws: B-hat and the most probable level.

    ``levels`` are the values imputed for codes 0..K-1 (None: the codes themselves).
    ``logit_shift`` is added to the log odds of every level against the first
    when imputing (a delta adjustment for MNAR sensitivity, FIMD 9.2).
    """

    def __init__(self, method: str, n_levels: int, levels=None, logit_shift: float = 0.0):
        self.method = method
        self.n_levels = n_levels
        self.levels = levels
        self.logit_shift = logit_shift
        self._start = None

    def _codes(self, y):
        if self.levels is None:
            return y.astype(np.intp)
        return np.searchsorted(self.levels, y)

    def _values(self, codes):
        return codes.astype(float) if self.levels is None else self.levels[codes]

    def fit(self, data, rng, draw):
        if self.n_levels < 2:
            return self
        Xc, mean, cols, slope_prior = _logit_predictors(data.X_obs)
        n = Xc.shape[0]
        Xd = np.column_stack([np.ones(n), Xc[:, cols]])
        codes = self._codes(data.y_obs)
        prior = np.concatenate([[0.0], slope_prior])
        J = self.n_levels - 1
        start = self._start
        if start is None or start[0].shape != cols.shape or np.any(start[0] != cols):
            freq = np.bincount(codes, minlength=self.n_levels) + 0.5
            B0 = np.zeros((Xd.shape[1], J))
            B0[0] = np.log(freq[1:] / freq[0])
        else:
            B0 = start[1]
        B, L = _multinomial_newton(Xd, codes, self.n_levels, prior, B0)
        self._start = (cols, B)  # warm start for the next iteration of the chain
        if draw:
            B = B + _normal_draw(L, rng).reshape(B.shape, order="F")
        self.coef_, self.cols_, self.mean_ = B, cols, mean[cols]
        self.weights_, self.constant_ = _full_width(data, cols, B[1:], B[0], self.mean_)
        return self

    def impute(self, D, rng, draw):
        """Levels for rows D of the whole design matrix."""
        m = D.shape[0]
        if self.n_levels < 2:
            return self._values(np.zeros(m, dtype=np.intp))
        eta = np.column_stack([np.zeros(m), self.constant_ + D @ self.weights_ + self.logit_shift])
        if not draw:
            return self._values(np.argmax(eta, axis=1))
        cum = np.cumsum(softmax(eta, axis=1), axis=1)
        codes = np.minimum((cum < rng.random(m)[:, None]).sum(axis=1), self.n_levels - 1)
        return self._values(codes)


# --------------------------------------------------------------------- ordered logit


def _log_expit(z):
    """log F(z) for the logistic F, without overflow (log F(z) = -log(1 + e^-z))."""
    return -np.logaddexp(0.0, -z)


def _polr_terms(theta, beta, X, y):
    """Log-likelihood of the proportional-odds model and its first and second derivatives.

    Row i has P(Y_i = y_i) = F(u_i) - F(l_i), u_i = theta_{y_i} - x_i'beta and
    l_i = theta_{y_i - 1} - x_i'beta (theta_{-1} = -inf, theta_{K-1} = +inf;
    McCullagh 1980). Returns each row's log-likelihood, its derivatives by u_i
    and l_i (``gu``, ``gl``) and the second derivatives (``huu``, ``hll``, ``hul``).
    """
    eta = X @ beta
    cuts = np.concatenate([[-np.inf], theta, [np.inf]])
    u, low = cuts[y + 1] - eta, cuts[y] - eta
    # F(u) - F(l) = F(u) F(-l) (1 - e^(l - u)): accurate when both are in the same tail
    log_p = _log_expit(u) + _log_expit(-low) + np.log(-np.expm1(low - u))
    p = np.exp(log_p)
    fu = expit(u) * expit(-u)  # density f = F (1 - F); 0 at +-inf
    fl = expit(low) * expit(-low)
    gu, gl = fu / p, -fl / p  # d log P / du, d log P / dl
    # f' = f (1 - 2F); d2 log P / du2 = f'(u) / P - (f(u) / P)^2, and likewise for l
    huu = fu * (expit(-u) - expit(u)) / p - gu**2
    hll = -fl * (expit(-low) - expit(low)) / p - gl**2
    hul = -gu * gl  # d2 log P / du dl = f(u) f(l) / P^2
    return log_p, gu, gl, huu, hll, hul


def _polr_newton(X, y, n_levels, prior, start, pseudo=POLR_PSEUDO, max_iter=100, tol=1e-10):
    """Penalised maximum likelihood of the proportional-odds (cumulative logit) model.

    ``P(Y <= k | x) = F(theta_k - x'beta)``, k = 0..K-2, F logistic
    (McCullagh 1980), with the prior ``-1/2 sum prior * beta^2`` on the slopes
    and ``pseudo / K`` pseudo-observations of each level at x = 0 (the mean
    of the centred predictors), which keep the thresholds finite when a level
    is empty. The log-likelihood is concave in ``(theta, beta)`` (Pratt
    1981), so Newton-Raphson with step halving converges; steps are halved
    too until the thresholds stay increasing.

    Parameters
    ----------
    X : ndarray of shape (n, k)
        Centred predictors.
    y : ndarray of int
        Levels 0..K-1.
    prior : ndarray of shape (k,)
        Prior precision of each slope.
    start : tuple (theta, beta)
    pseudo : float
        Total weight of the pseudo-observations (0: plain maximum likelihood).

    Returns
    -------
    theta, beta : ndarray
    H : ndarray of shape (K - 1 + k, K - 1 + k)
        Negative Hessian of the penalised log-likelihood in ``(theta, beta)``.

    Raises
    ------
    numpy.linalg.LinAlgError
        If the Hessian is singular, the objective not finite, or Newton does not converge.
    """
    J = n_levels - 1
    w = np.ones(y.size)
    if pseudo > 0:  # augmentation: pseudo / K observations of each level at the centre
        X = np.vstack([X, np.zeros((n_levels, X.shape[1]))])
        y = np.concatenate([y, np.arange(n_levels)])
        w = np.concatenate([w, np.full(n_levels, pseudo / n_levels)])
    upper = (y[:, None] == np.arange(J)).astype(float)  # row i: d u_i / d theta
    lower = (y[:, None] - 1 == np.arange(J)).astype(float)  # row i: d l_i / d theta

    def objective(theta, beta):
        if np.any(np.diff(theta) <= 0):
            return -np.inf, None
        log_p, *derivs = _polr_terms(theta, beta, X, y)
        return w @ log_p - 0.5 * np.sum(prior * beta**2), [w * d for d in derivs]

    def derivatives(theta, beta, terms):
        gu, gl, huu, hll, hul = terms
        # chain rule through u = A theta - X beta and l = B theta - X beta, A and B the
        # 0/1 matrices upper and lower, of the row derivatives from _polr_terms
        grad = np.concatenate([upper.T @ gu + lower.T @ gl, -X.T @ (gu + gl) - prior * beta])
        Htt = (upper.T * huu) @ upper + (lower.T * hll) @ lower
        Htt += (upper.T * hul) @ lower + (lower.T * hul) @ upper
        Htb = -((upper.T * (huu + hul)) @ X + (lower.T * (hll + hul)) @ X)
        Hbb = (X.T * (huu + 2 * hul + hll)) @ X
        H = -np.block([[Htt, Htb], [Htb.T, Hbb]])
        H[J:, J:] += np.diag(prior)
        return grad, H

    theta, beta = start
    obj, terms = objective(theta, beta)
    if not np.isfinite(obj):
        raise np.linalg.LinAlgError("the proportional-odds likelihood is not finite at the start")
    for _ in range(max_iter):
        grad, H = derivatives(theta, beta, terms)
        step = cho_solve((_cholesky(H), True), grad)
        t = 1.0
        while True:
            theta_new, beta_new = theta + t * step[:J], beta + t * step[J:]
            obj_new, terms_new = objective(theta_new, beta_new)
            if obj_new >= obj - 1e-12 * abs(obj) or t < 1e-6:
                break
            t /= 2
        if not np.isfinite(obj_new):
            raise np.linalg.LinAlgError("the proportional-odds likelihood is not finite")
        change = np.max(np.abs(t * step), initial=0.0)
        scale = 1 + max(np.max(np.abs(theta_new)), np.max(np.abs(beta_new), initial=0.0))
        theta, beta, obj, terms = theta_new, beta_new, obj_new, terms_new
        if change <= tol * scale:
            return theta, beta, derivatives(theta, beta, terms)[1]
    raise np.linalg.LinAlgError(f"Newton-Raphson did not converge in {max_iter} iterations")


def _thresholds(psi):
    """theta from psi = (theta_0, log(theta_1 - theta_0), ...): increasing by construction."""
    return psi[0] + np.concatenate([[0.0], np.cumsum(np.exp(psi[1:]))])


def _polr_draw(theta, beta, H, rng):
    """A draw of (theta, beta) from the normal approximation of their posterior.

    The thresholds are drawn on the scale ``psi = (theta_0, log increments)``,
    which keeps them ordered: ``psi* ~ N(psi-hat, (G' H G)^-1)`` with G the
    Jacobian d(theta, beta) / d(psi, beta) (the delta method; exact for the
    observed information at the maximum, where the gradient is zero).
    """
    J = theta.size
    psi = np.concatenate([[theta[0]], np.log(np.diff(theta))])
    G = np.eye(H.shape[0])
    steps = np.diff(theta)
    for j in range(1, J):  # theta_k = psi_0 + sum_{j <= k} exp(psi_j)
        G[j:J, j] = steps[j - 1]
    G[:J, 0] = 1.0
    delta = _normal_draw(_cholesky(G.T @ H @ G), rng)
    return _thresholds(psi + delta[:J]), beta + delta[J:]


class PolrModel:
    """Proportional-odds (ordered logit) model for ordered categories (``polr``).

    ``P(Y <= k | x) = F(theta_k - x'beta)`` with F logistic (McCullagh 1980),
    as mice's ``polr`` (FIMD section 3.6; MASS ``polr``). The parameters are
    the penalised maximum-likelihood estimate, with the slope prior of
    :class:`LogitModel` (``PRIOR_SD_LOGIT``, which plays the role of mice's
    augmentation against perfect prediction, White, Daniel & Royston 2010)
    and flat priors on the thresholds; the levels are those observed, so
    every threshold is identified. With draws the parameters are drawn from
    the normal approximation of their posterior (thresholds as theta_0 and
    log increments, see :func:`_polr_draw`), which mice's ``polr`` does not
    do (it imputes from the fitted parameters, an improper imputation), and
    each missing row's level is drawn from its predicted probabilities.
    Without draws: the estimates and the most probable level.

    If the fit fails (singular Hessian, no convergence) the column is imputed
    by ``polyreg`` for that iteration, with a warning that names it, as mice
    falls back to ``multinom``.
    """

    method = "polr"

    def __init__(self, n_levels: int, name=None, logit_shift: float = 0.0):
        self.n_levels = n_levels
        self.name = name
        self.logit_shift = logit_shift  # added to x'beta: toward higher levels (delta adjustment)
        self._start = None
        self._fallback = None
        self._warned = False

    def fit(self, data, rng, draw):
        self._fallback = None
        if self.n_levels < 2:
            return self
        Xc, mean, cols, prior = _logit_predictors(data.X_obs)  # as LogitModel's slopes
        codes = np.asarray(data.y_obs).astype(np.intp)
        start = self._start
        if start is None or start[0].shape != cols.shape or np.any(start[0] != cols):
            # thresholds at the logits of the observed cumulative proportions (+ 1/2 counts)
            freq = np.bincount(codes, minlength=self.n_levels) + 0.5
            cum = np.cumsum(freq)[:-1] / freq.sum()
            start = (cols, np.log(cum / (1 - cum)), np.zeros(cols.size))
        try:
            theta, beta, H = _polr_newton(
                Xc[:, cols], codes, self.n_levels, prior, (start[1], start[2])
            )
            self._start = (cols, theta, beta)  # warm start for the next iteration of the chain
            if draw:
                theta, beta = _polr_draw(theta, beta, H, rng)
        except (np.linalg.LinAlgError, LinAlgError) as exc:
            if not self._warned:
                warnings.warn(
                    f"method 'polr' failed for column {self.name!r} ({exc}); it is imputed "
                    f"by 'polyreg' (multinomial logit) in the sweeps where the fit fails, as "
                    f"mice does.",
                    ConvergenceWarning,
                    stacklevel=2,
                )
                self._warned = True
            self._start = None
            self._fallback = LogitModel("polyreg", self.n_levels, logit_shift=self.logit_shift)
            self._fallback.fit(data, rng, draw)
            return self
        self.thresholds_, self.coef_, self.cols_, self.mean_ = theta, beta, cols, mean[cols]
        # eta = (x - mean)'beta = constant + D @ weights for rows D of the whole design
        self.weights_, self.constant_ = _full_width(data, cols, beta, 0.0, self.mean_)
        return self

    def predict_proba(self, D):
        """Level probabilities for rows D of the whole design matrix (n x K)."""
        eta = self.constant_ + D @ self.weights_ + self.logit_shift
        cum = expit(self.thresholds_[None, :] - eta[:, None])  # P(Y <= k | x)
        ones = np.ones((eta.size, 1))
        return np.diff(np.hstack([np.zeros_like(ones), cum, ones]), axis=1)

    def impute(self, D, rng, draw):
        """Level codes for rows D of the whole design matrix."""
        m = D.shape[0]
        if self._fallback is not None:
            return self._fallback.impute(D, rng, draw)
        if self.n_levels < 2:
            return np.zeros(m)
        if not draw:
            return np.argmax(self.predict_proba(D), axis=1).astype(float)
        eta = self.constant_ + D @ self.weights_ + self.logit_shift
        cum = expit(self.thresholds_[None, :] - eta[:, None])
        # the level is the number of cumulative probabilities below a uniform draw
        return (cum < rng.random(m)[:, None]).sum(axis=1).astype(float)
