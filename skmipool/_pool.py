"""Rubin's rules: the one implementation in skmipool.

Every pooled number in the package is computed by :func:`rubin_moments` and
:func:`rubin_pool` below; :func:`skmipool.pool_estimates` (in ``_results``), the
estimator, :func:`skmipool.pool` and the tests of several parameters all call them.
Beside them, :func:`reiter_moments` and :func:`reiter_pool` hold Reiter's (2003)
rules for partially synthetic data; :func:`combining_rule` is the one place that
chooses between the two. This module is the bottom of the layering: it imports
nothing from skmipool but the argument checks.

References
----------
Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*. Wiley.
Barnard, J. and Rubin, D. B. (1999). Small-sample degrees of freedom with
multiple imputation. *Biometrika* 86(4), 948-955.
van Buuren, S. (2018). *Flexible Imputation of Missing Data*, 2nd ed. (FIMD), 2.3.
Reiter, J. P. (2003). Inference for partially synthetic, public use microdata
sets. *Survey Methodology* 29(2), 181-188.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.linalg import lapack

from skmipool._validation import check_integer, check_names, real_array

__all__ = [
    "RULES",
    "BootstrapMIComponents",
    "barnard_rubin_df",
    "bootstrap_mi_pool",
    "combining_rule",
    "reiter_moments",
    "reiter_pool",
    "rubin_moments",
    "rubin_pool",
]


def _check_dfcom(dfcom) -> float:
    """Return dfcom as a float (``inf`` for None); reject non-positive values."""
    if dfcom is None:
        return np.inf
    try:
        value = float(dfcom)
    except (TypeError, ValueError):
        raise TypeError(
            f"dfcom must be a positive number, None or np.inf (large sample); got {dfcom!r}."
        ) from None
    if np.isnan(value) or value <= 0:
        raise ValueError(
            f"dfcom must be positive (the complete-data degrees of freedom, e.g. n - p); "
            f"got {dfcom!r}. Use None or np.inf for a large-sample analysis."
        )
    return value


def barnard_rubin_df(m: int, lambda_, dfcom=None) -> np.ndarray:
    """Degrees of freedom of the pooled t reference distribution.

    Parameters
    ----------
    m : int
        Number of imputations.
    lambda_ : array-like
        Proportion of the total variance due to missingness, (1 + 1/m) B / T.
    dfcom : float or None
        Complete-data degrees of freedom. ``None`` or ``np.inf`` gives Rubin's
        (1987) large-sample df.

    Returns
    -------
    numpy.ndarray
        Degrees of freedom, one per element of ``lambda_``. Infinite only when
        dfcom is infinite and B = 0 (then the reference distribution is normal).

    Notes
    -----
    Rubin (1987, eq. 3.1.6): ``df_old = (m - 1) / lambda^2``.
    Barnard & Rubin (1999, eq. 3-4):
    ``df_obs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lambda)`` and
    ``df = 1 / (1 / df_old + 1 / df_obs)``. Multiplying through by lambda^2
    gives ``df = (m - 1) df_obs / ((m - 1) + lambda^2 df_obs)``, which is finite
    at lambda = 0 (df = dfcom (dfcom + 1) / (dfcom + 3)) and at lambda = 1
    (df = 0). mice 3.15 floors lambda at 1e-4 instead; this is the exact limit.

    Examples
    --------
    >>> import numpy as np
    >>> from skmipool import barnard_rubin_df
    >>> barnard_rubin_df(5, np.array([0.0, 0.2]), dfcom=20).round(4)
    array([18.2609, 12.7466])
    """
    m = check_integer("m", m, 2)
    lam = real_array("lambda_", lambda_)
    if np.any(np.isnan(lam) | (lam < 0) | (lam > 1)):
        raise ValueError(
            f"lambda_ must lie in [0, 1] (the proportion of the variance due to missingness); "
            f"got {lambda_!r}."
        )
    dfcom = _check_dfcom(dfcom)
    with np.errstate(divide="ignore", over="ignore"):
        df_old = (m - 1) / lam**2  # Rubin (1987) eq. 3.1.6; inf where B = 0 (or B ~ 1e-150)
    if np.isinf(dfcom):
        return df_old
    df_obs = adjusted_dfcom(dfcom) * (1.0 - lam)  # B&R (1999) eq. 4
    return (m - 1) * df_obs / ((m - 1) + lam**2 * df_obs)  # B&R (1999) eq. 3, rearranged


def adjusted_dfcom(dfcom: float) -> float:
    """(dfcom + 1) / (dfcom + 3) * dfcom: the complete-data df of Barnard & Rubin (1999, eq. 4)."""
    return (dfcom + 1.0) / (dfcom + 3.0) * dfcom


def fraction_missing_information(riv, df) -> np.ndarray:
    """FMI as mice 3.15 computes it: ``(riv + 2 / (df + 3)) / (riv + 1)``.

    Rubin (1987, eq. 3.1.10); FIMD eq. 2.24. With df infinite it equals lambda.
    """
    riv = np.asarray(riv, dtype=float)
    return (riv + 2.0 / (np.asarray(df, dtype=float) + 3.0)) / (riv + 1.0)


@dataclass(frozen=True)
class RubinComponents:
    """The per-term quantities of Rubin's rules (all 1-D arrays of length k)."""

    m: int
    qbar: np.ndarray
    ubar: np.ndarray  # diagonal of the mean within-imputation covariance
    b: np.ndarray  # diagonal of the between-imputation covariance
    t: np.ndarray
    riv: np.ndarray
    lambda_: np.ndarray
    df: np.ndarray
    fmi: np.ndarray
    dfcom: float


def _qbar_ubar_b(q: np.ndarray, u: np.ndarray):
    """Q̄, Ū and B: the averages both combining rules start from."""
    m = q.shape[0]
    qbar = q.mean(axis=0)  # Rubin (1987) eq. 3.1.2
    # second pass, as R's mean() does: identical estimates then give exactly B = 0
    qbar = qbar + (q - qbar).mean(axis=0)
    ubar = u.mean(axis=0)  # eq. 3.1.3
    dev = q - qbar
    if u.ndim == 3:
        b = dev.T @ dev / (m - 1)  # eq. 3.1.4, matrix form
    else:
        b = (dev**2).sum(axis=0) / (m - 1)  # eq. 3.1.4, diagonal only
    return qbar, ubar, b


def rubin_moments(estimates: np.ndarray, within: np.ndarray):
    """Q̄, Ū, B and T from M completed-data estimates and (co)variances.

    ``within`` of shape (m, k) holds variances and gives Ū, B, T as length-k
    vectors (the diagonals); of shape (m, k, k) it holds covariance matrices and
    gives k x k matrices. This is the single place where Rubin's rules are
    written down; everything else calls it.
    """
    q = np.asarray(estimates, dtype=float)
    m = q.shape[0]
    qbar, ubar, b = _qbar_ubar_b(q, np.asarray(within, dtype=float))
    t = ubar + (1.0 + 1.0 / m) * b  # eq. 3.1.5
    return qbar, ubar, b, t


def rubin_pool(estimates: np.ndarray, within_var: np.ndarray, dfcom=None) -> RubinComponents:
    """Pool M estimates of k quantities with Rubin's rules, term by term.

    Parameters
    ----------
    estimates : ndarray of shape (m, k)
        The completed-data estimates Q_l.
    within_var : ndarray of shape (m, k)
        Their completed-data variances U_l (the diagonals of the covariances).
    dfcom : float or None
        Complete-data degrees of freedom; None or inf for large samples.

    Returns
    -------
    RubinComponents
    """
    q = np.asarray(estimates, dtype=float)
    m = q.shape[0]
    dfcom = _check_dfcom(dfcom)
    qbar, ubar, b, t = rubin_moments(q, within_var)
    riv = (1.0 + 1.0 / m) * b / ubar  # relative increase in variance, Rubin (1987) eq. 3.1.7
    lam = (1.0 + 1.0 / m) * b / t  # proportion of variance due to missingness, FIMD eq. 2.20
    df = barnard_rubin_df(m, lam, dfcom)
    fmi = fraction_missing_information(riv, df)
    return RubinComponents(m, qbar, ubar, b, t, riv, lam, df, fmi, dfcom)


# ------------------------------------------------------------- bootstrap then impute

# bootImpute's floor on the Satterthwaite df (bootImputeAnalyse: "prevent df from going below 3")
BOOTSTRAP_MI_MIN_DF = 3.0


@dataclass(frozen=True)
class BootstrapMIComponents:
    """The pieces of a bootstrap-then-impute analysis, term by term (length-k arrays).

    ``b`` is the variance between bootstrap resamples and ``ubar`` the variance
    between the imputations of one resample (the random-intercept and residual
    variances of the one-way ANOVA). Rubin's riv, lambda and FMI have no
    counterpart and are NaN.
    """

    n_boot: int
    n_imp: int
    qbar: np.ndarray
    ubar: np.ndarray
    b: np.ndarray
    t: np.ndarray
    df: np.ndarray
    riv: np.ndarray
    lambda_: np.ndarray
    fmi: np.ndarray
    dfcom: float = np.inf

    @property
    def m(self) -> int:
        return self.n_boot * self.n_imp


def bootstrap_mi_pool(estimates: np.ndarray) -> BootstrapMIComponents:
    """Pool B bootstrap resamples, each imputed D times (bootstrap then impute).

    von Hippel & Bartlett (2021, Statistical Science 36(3), section 4: the
    one-way random-effects ANOVA of the B x D estimates; Bartlett & Hughes 2020,
    SMMR 29(12)), written as R's ``bootImpute::bootImputeAnalyse``: the point
    estimate is the grand mean; with MSB and MSW the mean squares between and
    within resamples, the between-resample variance is (MSB - MSW) / D (set to 0,
    and the residual variance to the total mean square, when negative), the
    variance of the estimate (1 + 1/B) (MSB - MSW)/D + MSW / (BD), and its df
    Satterthwaite's, floored at 3 as bootImpute does.

    Parameters
    ----------
    estimates : ndarray of shape (B, D, k)
        The estimates of k quantities on D imputations of each of B resamples.

    Returns
    -------
    BootstrapMIComponents
    """
    q = np.asarray(estimates, dtype=float)
    if q.ndim != 3 or q.shape[0] < 2 or q.shape[1] < 2:
        raise ValueError(
            f"bootstrap then impute needs estimates of shape (B, D, k) with B >= 2 resamples "
            f"and D >= 2 imputations of each; got shape {q.shape}."
        )
    n_boot, n_imp, _ = q.shape
    qbar = q.mean(axis=(0, 1))
    means = q.mean(axis=1)
    ssw = ((q - means[:, None, :]) ** 2).sum(axis=(0, 1))
    ssb = n_imp * ((means - qbar) ** 2).sum(axis=0)
    msw = ssw / (n_boot * (n_imp - 1))
    msb = ssb / (n_boot - 1)
    between = (msb - msw) / n_imp
    negative = between < 0
    between = np.where(negative, 0.0, between)
    within = np.where(negative, (ssw + ssb) / (n_boot * n_imp - 1), msw)
    t = (1.0 + 1.0 / n_boot) * between + within / (n_boot * n_imp)
    # Satterthwaite df of (B + 1)/(BD) MSB - MSW/D, as bootImputeAnalyse computes it
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = ((n_boot + 1) / (n_boot * n_imp)) ** 2 * msb**2 / (n_boot - 1) + msw**2 / (
            n_boot * n_imp**2 * (n_imp - 1)
        )
        df = np.where(denom > 0, t**2 / denom, np.inf)
    df = np.maximum(df, BOOTSTRAP_MI_MIN_DF)
    nan = np.full_like(qbar, np.nan)
    return BootstrapMIComponents(n_boot, n_imp, qbar, within, between, t, df, nan, nan, nan)


def reiter_moments(estimates: np.ndarray, within: np.ndarray):
    """Q̄, Ū, B and T of Reiter's (2003) rules for partially synthetic data.

    As :func:`rubin_moments` (same shapes), but ``T = Ū + B / M``: the synthetic
    values are drawn given the observed data, so B estimates only the extra
    variance of M draws (Reiter 2003, Sec. 2; mice 3.15
    ``pool.scalar(rule = "reiter2003")``).
    """
    q = np.asarray(estimates, dtype=float)
    m = q.shape[0]
    qbar, ubar, b = _qbar_ubar_b(q, np.asarray(within, dtype=float))
    t = ubar + b / m  # Reiter (2003), T_p = b_m / m + ubar_m
    return qbar, ubar, b, t


def reiter_pool(estimates: np.ndarray, within_var: np.ndarray, dfcom=None) -> RubinComponents:
    """Pool M partially synthetic datasets with Reiter's (2003) rules, term by term.

    Parameters
    ----------
    estimates, within_var : ndarray of shape (m, k)
        As for :func:`rubin_pool`.
    dfcom : float or None
        Not used: Reiter's df has no small-sample form (nor in mice); accepted
        so that both rules take the same arguments.

    Returns
    -------
    RubinComponents
        ``df = (M - 1) (1 + Ū / (B / M))^2`` (Reiter 2003; infinite when B = 0),
        ``riv = (1 + 1/M) B / Ū`` as mice 3.15 reports it, and ``lambda_``,
        ``fmi`` NaN: the fraction of missing information of Rubin's rules has no
        counterpart here (mice reports NA).
    """
    q = np.asarray(estimates, dtype=float)
    m = q.shape[0]
    dfcom = _check_dfcom(dfcom)
    qbar, ubar, b, t = reiter_moments(q, within_var)
    riv = (1.0 + 1.0 / m) * b / ubar  # mice 3.15 pool.fitlist, rule = "reiter2003"
    with np.errstate(divide="ignore"):
        df = (m - 1) * (1.0 + ubar / (b / m)) ** 2  # Reiter (2003); mice pool.scalar
    nan = np.full_like(qbar, np.nan)
    return RubinComponents(m, qbar, ubar, b, t, riv, nan, df, nan.copy(), dfcom)


class CombiningRule(NamedTuple):
    """A combining rule: its moments (Q̄, Ū, B, T) and its term-by-term pooling."""

    name: str
    moments: Callable
    pool: Callable


RULES = {
    "rubin1987": CombiningRule("rubin1987", rubin_moments, rubin_pool),
    "reiter2003": CombiningRule("reiter2003", reiter_moments, reiter_pool),
}


def combining_rule(rule) -> CombiningRule:
    """The combining rule named ``rule``: the one place where the rules are chosen.

    ``"rubin1987"``: Rubin's rules for missing data (the default everywhere);
    ``"reiter2003"``: Reiter's rules for partially synthetic data (mice's
    ``pool.syn`` and ``pool.scalar(rule = "reiter2003")``).
    """
    if not isinstance(rule, str) or rule not in RULES:
        raise ValueError(
            f"rule must be one of {sorted(RULES)} (Rubin's rules for missing data, Reiter's "
            f"for partially synthetic data); got {rule!r}."
        )
    return RULES[rule]


# --------------------------------------------------------------------------- inputs


def _default_names(k: int) -> list[str]:
    return [f"x{i}" for i in range(k)]


def _coerce_estimates(estimates, names):
    """Estimates as an (m, k) float array plus term names."""
    inferred = None
    arr = real_array("estimates", estimates)
    if isinstance(estimates, pd.DataFrame):
        inferred = [str(c) for c in estimates.columns]
    elif isinstance(estimates, pd.Series):
        inferred = [str(estimates.name)] if estimates.name is not None else None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(
            f"estimates must have shape (M,) or (M, k); got an array with shape {arr.shape}."
        )
    k = arr.shape[1]
    if names is None:
        names = inferred if inferred is not None else _default_names(k)
    return arr, check_names(names, k)


def _coerce_covariances(covariances, m: int, k: int) -> tuple[np.ndarray, bool]:
    """Covariances as (m, k) variances or (m, k, k) matrices; returns (array, is_full)."""
    if isinstance(covariances, pd.DataFrame | pd.Series):
        covariances = covariances.to_numpy(dtype=float)
    elif isinstance(covariances, Sequence) and covariances and hasattr(covariances[0], "shape"):
        covariances = np.stack([np.asarray(c, dtype=float) for c in covariances])
    arr = real_array("covariances", covariances)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim == 2 and arr.shape == (m, k):
        return arr, False
    if arr.ndim == 3 and arr.shape == (m, k, k):
        return arr, True
    raise ValueError(
        f"covariances must have shape (M,) or (M, k) (variances) or (M, k, k) (matrices) "
        f"with M = {m} and k = {k}; got shape {arr.shape}."
    )


def check_representable(q: np.ndarray, variances: np.ndarray, names: list[str]) -> None:
    """B and T must be finite floats: estimates near 1e154 overflow their squares.

    Rubin's B squares the deviations of the estimates; a term measured in
    units that make it enormous gives inf (and then NaN in the table). Refuse
    with scale advice instead.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        dev = q - q.mean(axis=0)
        b = (dev**2).sum(axis=0)
        t = variances.mean(axis=0) + b
    bad = ~np.isfinite(b) | ~np.isfinite(t)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"the between-imputation variance of term {names[j]!r} overflows (its estimates "
            f"reach {np.abs(q[:, j]).max():.3g}): the numbers are too large to square in "
            f"floating point. Rescale the variables behind this term (e.g. thousands instead "
            f"of units) and refit."
        )


def check_small_sample_df(q: np.ndarray, u: np.ndarray, names: list[str], dfcom: float) -> None:
    """With a finite dfcom, Ū must not vanish next to B in floating point.

    Barnard & Rubin's df_obs is proportional to 1 - lambda = Ū / T. When Ū is
    below T's rounding error, lambda rounds to 1, the df to 0, and the p-value and
    interval come out NaN; refuse instead.
    """
    if np.isinf(dfcom):
        return  # Rubin's df is (m - 1) / lambda^2: finite at lambda = 1
    m = q.shape[0]
    within = (np.diagonal(u, axis1=1, axis2=2) if u.ndim == 3 else u).mean(axis=0)
    between = (1.0 + 1.0 / m) * rubin_moments(q, within)[2]
    lost = (between > 0) & (within + between == between)
    if lost.any():
        j = int(np.flatnonzero(lost)[0])
        raise ValueError(
            f"the within-imputation variance of term {names[j]!r} ({within[j]:.3g}) is lost "
            f"in rounding next to its between-imputation variance ({between[j]:.3g}): the "
            f"fraction of missing information is 1 and the small-sample df is 0, so there is "
            f"no p-value or interval. Check that the variances are variances (not standard "
            f"errors) on the scale of the estimates, or pass dfcom=None (large sample)."
        )


def validate_imputations(q: np.ndarray, u: np.ndarray, names: list[str], full: bool) -> None:
    """Check the inputs of Rubin's rules; each failure names the imputation (1-based)."""
    m = q.shape[0]
    if m < 2:
        raise ValueError(
            f"Rubin's rules need at least 2 imputations to estimate the between-imputation "
            f"variance; got M = {m}."
        )
    bad = ~np.isfinite(q)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"imputation {i + 1}: the estimate of term {names[j]!r} is {q[i, j]}; all "
            f"estimates must be finite. Check that analysis (did the fit converge?)."
        )
    diag = np.diagonal(u, axis1=1, axis2=2) if full else u
    bad = ~np.isfinite(diag) | (diag <= 0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"imputation {i + 1}: the variance of term {names[j]!r} is {diag[i, j]}; "
            f"variances must be finite and positive. A zero or negative variance usually "
            f"means a collinear or unidentified term in that fit: drop the term or fix the model."
        )
    check_representable(q, diag, names)
    if full:
        _check_covariance_matrices(u)


# Positive semi-definite up to rounding: smallest eigenvalue at least -1e-8 times the largest.
_PSD_TOLERANCE = 1e-8


def _check_covariance_matrices(u: np.ndarray) -> None:
    """Finite, symmetric and positive semi-definite (M, k, k) covariances; the first failure named.

    Entries and symmetry are read once per imputation (O(M k^2)). Semi-definiteness, an
    eigenvalue of U_i at least -1e-8 times the largest, is settled for each U_i by a
    Cholesky factorisation of U_i + 1e-8 max_j(u_jj) I (k^3 / 3 flops, against some 9 k^3
    for its eigenvalues): the largest eigenvalue is at least the largest variance, so a
    factor shows every eigenvalue above -1e-8 max_j(u_jj) >= -1e-8 lambda_max. Only an
    imputation without one has its eigenvalues computed, which decides it exactly as
    before.
    """
    m, k = u.shape[:2]
    low, high, asym = np.empty(m), np.empty(m), np.empty(m)
    diff = np.empty((k, k))
    for i, ui in enumerate(u):  # one pass, a matrix at a time (in cache), no temporaries
        np.copyto(diff, ui.T)  # NumPy's transposing copy, then a contiguous subtraction
        np.subtract(ui, diff, out=diff)
        asym[i] = diff.max()  # = max |u_ij - u_ji|: the difference is antisymmetric
        low[i], high[i] = ui.min(), ui.max()  # NaN propagates to all three
    bad = np.flatnonzero(~(np.isfinite(low) & np.isfinite(high)))
    if bad.size:
        raise ValueError(f"imputation {bad[0] + 1}: the covariance matrix has non-finite entries.")
    scale = np.maximum(high, -low)
    bad = np.flatnonzero(asym > 1e-6 * scale)
    if bad.size:
        raise ValueError(f"imputation {bad[0] + 1}: the covariance matrix is not symmetric.")
    for i, ui in enumerate(u):
        np.copyto(diff, ui)
        if _positive_definite(diff, _PSD_TOLERANCE):
            continue
        eig = np.linalg.eigvalsh(ui)  # ascending
        if eig[0] < -_PSD_TOLERANCE * eig[-1]:
            raise ValueError(
                f"imputation {i + 1}: the covariance matrix is not positive "
                f"semi-definite (smallest eigenvalue {eig[0]:.3g})."
            )


def _positive_definite(a: np.ndarray, shift: float) -> bool:
    """Whether a + shift max_j(a_jj) I has a Cholesky factor (is positive definite).

    Overwrites ``a`` (LAPACK's dpotrf in place: no k x k allocation).
    """
    step = a.shape[0] + 1
    a.flat[::step] += shift * max(float(a.flat[::step].max()), 0.0)
    # a C-ordered a is its transpose in Fortran order; symmetric, either triangle serves
    _, info = lapack.dpotrf(a.T, lower=False, clean=False, overwrite_a=True)
    return info == 0
