"""The D1 Wald test of several parameters on pooled estimates, and its df.

Arithmetic below the result objects: ``PooledResult.wald_test`` and
``skmipool.compare`` both call :func:`d1_test`; nonlinear constraints go through
:func:`constraint_test` (the delta method, as mitml's ``testConstraints``).

References
----------
Li, K. H., Raghunathan, T. E. and Rubin, D. B. (1991). Large-sample significance
levels from multiply imputed data using moment-based statistics and an F
reference distribution. *JASA* 86, 1065-1073. (D1, "LRR")
Reiter, J. P. (2007). Small-sample degrees of freedom for multi-component
significance tests with multiple imputation for missing data. *Biometrika* 94,
502-508.
The formulas follow mitml 0.4-4 (``testModels``, ``testConstraints``, ``.D1``)
so that the numbers agree with R.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from skmipool._constraints import parse_constraint
from skmipool._pool import adjusted_dfcom, rubin_moments
from skmipool._validation import real_array

__all__ = ["MITestResult", "constraint_test", "d1_test", "lrr_df", "reiter_df"]


@dataclass(frozen=True)
class MITestResult:
    """Result of a multi-parameter test after multiple imputation.

    Attributes
    ----------
    statistic : float
        The F statistic (D1, D2, D3 or D4).
    df1 : int
        Numerator degrees of freedom (number of restrictions).
    df2 : float
        Denominator degrees of freedom (``inf``: the F(df1, inf) = chi²/df1 limit).
    p_value : float
        Upper-tail probability of ``statistic`` under F(df1, df2).
    riv : float
        Average relative increase in variance due to nonresponse.
    method : str
        ``"D1"``, ``"D2"``, ``"D3"`` or ``"D4"`` (and for D2 the statistic used,
        for D4 the ARIV estimate).
    """

    statistic: float
    df1: int
    df2: float
    p_value: float
    riv: float
    method: str

    def __str__(self) -> str:
        return (
            f"{self.method}: F = {self.statistic:.4f} on {self.df1} and {self.df2:.4g} df, "
            f"p = {self.p_value:.4g} (RIV = {self.riv:.4g})"
        )


def _f_sf(statistic: float, df1: int, df2: float) -> float:
    """P(F(df1, df2) > statistic); df2 = inf is the chi²(df1)/df1 limit."""
    if np.isinf(df2):
        return float(stats.chi2.sf(statistic * df1, df1))
    return float(stats.f.sf(statistic, df1, df2))


def lrr_df(k: int, m: int, r: float) -> float:
    """Denominator df of Li, Raghunathan & Rubin (1991, eq. 2.16); also D3's df.

    With t = k(m - 1): ``4 + (t - 4)(1 + (1 - 2/t)/r)^2`` if t > 4, else
    ``t (1 + 1/k)(1 + 1/r)^2 / 2``. Infinite when r = 0 (B = 0). D3's r can be
    negative; the formula is used as it stands, as mitml does.
    """
    t = k * (m - 1)
    if r == 0:
        return np.inf
    if t > 4:
        return 4.0 + (t - 4.0) * (1.0 + (1.0 - 2.0 / t) / r) ** 2
    return t * (1.0 + 1.0 / k) * (1.0 + 1.0 / r) ** 2 / 2.0


def reiter_df(k: int, m: int, r: float, dfcom: float) -> float:
    """Small-sample denominator df of D1 (Reiter 2007, eq. 1-2), as in mitml's ``.D1``.

    Needs t = k(m - 1) >= 4 (t = 4 gives the limit 4); a smaller t falls back to
    the LRR df capped at the complete-data limit dfcom (dfcom + 1) / (dfcom + 3),
    with a warning (mitml returns Reiter's formula there, which breaks down).
    """
    t = k * (m - 1)
    vstar = adjusted_dfcom(dfcom)
    if t < 4:
        # LRR's t <= 4 branch grows without bound as r -> 0, while a finite dfcom bounds
        # the df of any test by the complete-data df (Barnard & Rubin 1999, eq. 4)
        fallback = min(lrr_df(k, m, r), vstar)
        warnings.warn(
            f"Reiter's small-sample df for D1 needs k(M - 1) >= 4 (here {t}); the large-sample "
            f"LRR df, capped at the complete-data limit dfcom (dfcom + 1) / (dfcom + 3) = "
            f"{vstar:.4g}, is used instead: {fallback:.4g}. Use more imputations.",
            UserWarning,
            stacklevel=4,
        )
        return fallback
    if r <= 0:
        return vstar  # B = 0: the formula's limit, v = 4 + c2 = vstar
    if t == 4:
        return 4.0  # the limit of 4 + 1/z as t -> 4 (mitml: c0 = Inf gives 4)
    a = r * t / (t - 2.0)
    c0 = 1.0 / (t - 4.0)
    c1 = vstar - 2.0 * (1.0 + a)
    c2 = vstar - 4.0 * (1.0 + a)
    # Reiter (2007) eq. 2, written as mitml 0.4-5 does
    z = (
        1.0 / c2
        + c0 * (a**2 * c1 / ((1.0 + a) ** 2 * c2))
        + c0 * (8.0 * a**2 * c1 / ((1.0 + a) * c2**2) + 4.0 * a**2 / ((1.0 + a) * c2))
        + c0 * (4.0 * a**2 / (c2 * c1) + 16.0 * a**2 * c1 / c2**3)
        + c0 * (8.0 * a**2 / c2**2)
    )
    v = 4.0 + 1.0 / z
    if not 0.0 < v <= vstar:
        # the approximation breaks down when dfcom is small next to the missing information
        # (c2 <= 0); mitml returns this value (even negative or NaN) as it stands
        fallback = min(lrr_df(k, m, r), vstar)
        warnings.warn(
            f"Reiter's small-sample df for D1 is {v:.3g}, outside (0, {vstar:.3g}] for "
            f"dfcom = {dfcom:g}: the approximation breaks down for so small a dfcom. Using "
            f"min(LRR df, dfcom-adjusted df) = {fallback:.3g}.",
            UserWarning,
            stacklevel=4,
        )
        return fallback
    return v


def _restriction(result, terms, value, restriction):
    names = list(result.terms)
    if restriction is not None:
        R = np.atleast_2d(real_array("restriction", restriction))
        if R.shape[0] == 0 or R.ndim != 2 or R.shape[1] != len(names):
            raise ValueError(
                f"restriction must be a matrix with at least one row and {len(names)} columns "
                f"(one per term); got shape {R.shape}."
            )
    else:
        terms = names if terms is None else ([terms] if isinstance(terms, str) else list(terms))
        if not terms:
            raise ValueError(
                f"terms is empty: name at least one term to test; the terms are {names}."
            )
        unknown = [t for t in terms if t not in names]
        if unknown:
            raise KeyError(f"unknown terms {unknown}; the terms are {names}.")
        R = np.zeros((len(terms), len(names)))
        R[np.arange(len(terms)), [names.index(t) for t in terms]] = 1.0
    if np.linalg.matrix_rank(R) < R.shape[0]:
        raise ValueError("the restrictions are linearly dependent; drop the redundant rows.")
    value = np.atleast_1d(real_array("value", value))
    if value.size not in (1, R.shape[0]):
        raise ValueError(
            f"value has {value.size} entries for {R.shape[0]} restrictions; give one value or "
            f"one per restriction."
        )
    return R, np.broadcast_to(value, (R.shape[0],))


def _check_poolable_by_d1(result) -> None:
    """D1 combines imputations for missing data; partially synthetic data have other rules."""
    if getattr(result, "rule", "rubin1987") != "rubin1987":
        raise ValueError(
            f"wald_test is D1, a test for multiply imputed missing data (Rubin's rules); this "
            f"result was pooled with rule={result.rule!r} (partially synthetic data), for "
            f"which skmipool has no test of several parameters. Test one term at a time with "
            f"its t statistic, or pool with rule='rubin1987' if the data are imputed."
        )


def d1_statistic(q: np.ndarray, u: np.ndarray, dfcom: float, k: int) -> MITestResult:
    """D1 from M estimates ``q`` (M, k) of the restrictions and their covariances ``u`` (M, k, k).

    mitml 0.4-4 ``.D1``: r from LRR (1991) eq. 2.15, F from eq. 2.14, df2 from
    Reiter (2007) when dfcom is finite, else LRR eq. 2.16.
    """
    m = q.shape[0]
    qbar, ubar, b, _ = rubin_moments(q, u)
    singular = ValueError(
        "the within-imputation covariance of the tested terms is singular (duplicated or "
        "linearly dependent terms); test a set of linearly independent terms."
    )
    try:
        ubar_inv_b = np.linalg.solve(ubar, b)
        ubar_inv_q = np.linalg.solve(ubar, qbar)
    except np.linalg.LinAlgError:
        raise singular from None
    r = (1.0 + 1.0 / m) * np.trace(ubar_inv_b) / k  # LRR (1991) eq. 2.15
    quadratic = float(qbar @ ubar_inv_q)
    sd = np.sqrt(np.diag(ubar))
    rank = np.linalg.matrix_rank(ubar / np.outer(sd, sd))  # of the correlations: scale-free
    if rank < k or r < 0 or quadratic < 0:  # r, quadratic >= 0 for a positive definite Ubar
        raise singular
    stat = quadratic / (k * (1.0 + r))  # eq. 2.14
    df2 = lrr_df(k, m, r) if np.isinf(dfcom) else reiter_df(k, m, r, dfcom)
    return MITestResult(stat, k, float(df2), _f_sf(stat, k, df2), float(r), "D1")


def d1_test(result, terms=None, value=0.0, restriction=None) -> MITestResult:
    """D1 (Li, Raghunathan & Rubin 1991) on a PooledResult; see PooledResult.wald_test."""
    _check_poolable_by_d1(result)
    R, c = _restriction(result, terms, value, restriction)
    k = R.shape[0]
    combines_terms = k > 1 or bool((np.count_nonzero(R, axis=1) > 1).any())
    if combines_terms and not result.has_full_covariances:
        raise ValueError(
            "a joint test or a contrast of several terms needs the full covariance matrices; "
            "this result pooled variances only. Pass (M, k, k) covariances to pool_estimates."
        )
    q = result.estimates.to_numpy() @ R.T - c
    u = R @ result.covariances @ R.T
    return d1_statistic(q, u, result.dfcom, k)


def constraint_test(result, constraints) -> MITestResult:
    """D1 of constraints g(theta) = 0 by the delta method, as mitml's ``testConstraints``.

    Each imputation's estimates are mapped by g and their covariances by the
    Jacobian, ``G U G'`` (mitml 0.4-4 ``testConstraints``, which differentiates
    numerically with ``numericDeriv``; here the derivatives are exact), and the
    M transformed sets are pooled by D1.
    """
    _check_poolable_by_d1(result)
    texts = [constraints] if isinstance(constraints, str) else constraints
    try:
        texts = list(texts)
    except TypeError:
        raise TypeError(
            f"constraints must be a string or a list of strings such as 'a / b = 1'; got "
            f"{type(constraints).__name__}."
        ) from None
    if not texts:
        raise ValueError("constraints is empty: give at least one constraint, e.g. 'a / b = 1'.")
    names = list(result.terms)
    parsed = [parse_constraint(text, names) for text in texts]
    theta = result.estimates.to_numpy()
    values, grads = zip(*(c.evaluate(theta) for c in parsed), strict=True)
    g = np.column_stack(values)  # (M, k)
    jac = np.stack(grads, axis=1)  # (M, k, p)
    bad = ~np.isfinite(g) | ~np.isfinite(jac).all(axis=2)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"constraints: {texts[j]!r} is not finite or not differentiable at the estimates of "
            f"imputation {i + 1} (a division by zero, or a power of a negative number?)."
        )
    k = len(parsed)
    combines_terms = k > 1 or bool((np.count_nonzero(jac, axis=2) > 1).any())
    if combines_terms and not result.has_full_covariances:
        raise ValueError(
            "constraints on several terms need the full covariance matrices; this result "
            "pooled variances only. Pass (M, k, k) covariances to pool_estimates."
        )
    if np.linalg.matrix_rank(jac.mean(axis=0)) < k:
        raise ValueError(
            "constraints: the constraints are linearly dependent at the pooled estimates (or "
            "one does not depend on the terms there); drop the redundant ones."
        )
    u = jac @ result.covariances @ np.swapaxes(jac, 1, 2)  # delta method, G U G'
    return d1_statistic(g, u, result.dfcom, k)
