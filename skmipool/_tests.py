"""Tests of several parameters after multiple imputation: D1, D2, D3, D4, and pooled R².

References
----------
Li, K. H., Raghunathan, T. E. and Rubin, D. B. (1991). Large-sample significance
levels from multiply imputed data using moment-based statistics and an F
reference distribution. *JASA* 86, 1065-1073. (D1, "LRR")
Li, K. H., Meng, X.-L., Raghunathan, T. E. and Rubin, D. B. (1991). Significance
levels from repeated p-values with multiply-imputed data. *Statistica Sinica* 1,
65-92. (D2)
Meng, X.-L. and Rubin, D. B. (1992). Performing likelihood ratio tests with
multiply-imputed data sets. *Biometrika* 79, 103-111. (D3)
Reiter, J. P. (2007). Small-sample degrees of freedom for multi-component
significance tests with multiple imputation for missing data. *Biometrika* 94,
502-508.
Chan, K. W. and Meng, X.-L. (2022). Multiple improvements of multiple imputation
likelihood ratio tests. *Statistica Sinica* 32, 1489-1514. (D4)
Harel, O. (2009). The estimation of R² and adjusted R² in incomplete data sets
using multiple imputation. *J. Applied Statistics* 36, 1109-1118.
The formulas follow mitml 0.4-4 (``testModels``, ``.D1``, ``.D2``,
``.evaluateStackedLogLik``) so that the numbers agree with R.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from skmipool._fits import check_same_model, check_same_terms, collect_estimates, pool
from skmipool._pool import rubin_moments
from skmipool._results import pool_estimates
from skmipool._validation import check_integer, real_array
from skmipool._wald import MITestResult, _f_sf, lrr_df

__all__ = ["MITestResult", "combine_chi_square", "compare", "pool_r_squared"]


def combine_chi_square(d, k: int) -> MITestResult:
    """Pool M chi-square statistics on k df with D2 (Li, Meng et al. 1991).

    Parameters
    ----------
    d : array-like of shape (M,)
        The completed-data chi-square (Wald or likelihood-ratio) statistics.
    k : int
        Their degrees of freedom.

    Returns
    -------
    MITestResult

    Examples
    --------
    >>> from skmipool._tests import combine_chi_square
    >>> round(combine_chi_square([5.1, 6.3, 4.2, 7.0, 5.5], 2).statistic, 4)
    2.5532
    """
    d = np.ravel(real_array("d", d))
    k = check_integer("k", k, 1)
    m = d.size
    if m < 2:
        raise ValueError(f"D2 needs at least 2 imputations; got {m}.")
    if np.any(d < 0) or not np.all(np.isfinite(d)):
        i = int(np.flatnonzero((d < 0) | ~np.isfinite(d))[0])
        raise ValueError(
            f"imputation {i + 1}: the chi-square statistic is {d[i]}; it must be finite and "
            f"non-negative. Are the models nested (the null model inside the full one)?"
        )
    # Li, Meng et al. (1991) eq. 2.2: (1 + 1/m) times the between-imputation variance of
    # sqrt(d), taken from rubin_moments, whose two-pass mean makes it exactly 0 for identical
    # imputations (np.var gave 1.9e-32 there, and df2 = 1.2e64 instead of the limit inf)
    _, _, b, _ = rubin_moments(np.sqrt(d)[:, None], np.zeros((m, 1)))
    r = (1.0 + 1.0 / m) * float(b[0])
    stat = (d.mean() / k - (m + 1.0) / (m - 1.0) * r) / (1.0 + r)  # eq. 2.1
    df2 = np.inf if r == 0 else k ** (-3.0 / m) * (m - 1.0) * (1.0 + 1.0 / r) ** 2  # eq. 2.3
    return MITestResult(float(stat), int(k), float(df2), _f_sf(stat, k, df2), float(r), "D2")


# -------------------------------------------------------------- likelihood helpers


def _is_ols(fit) -> bool:
    from statsmodels.regression.linear_model import OLS

    return isinstance(getattr(fit, "model", None), OLS)


def _loglike_parts(fit, where: str):
    """(loglike at own estimate, parameter vector for pooling, loglike function)."""
    model = getattr(fit, "model", None)
    rank = getattr(model, "rank", None)
    if rank is not None and rank < _n_params(fit):
        # as D1 and D2 refuse the singular covariance: a likelihood cannot tell collinear terms
        raise ValueError(
            f"{where} has collinear terms (rank {rank} for {_n_params(fit)} parameters), so "
            f"the number of restrictions tested is not known. Drop the redundant terms."
        )
    if _is_ols(fit):
        # mitml 0.4-5 .getArgsLL.lm / .logLik_lm: parameters (beta, sigma² = RSS / n)
        y, X = np.asarray(model.endog, float), np.asarray(model.exog, float)
        n = y.shape[0]
        if fit.df_resid <= 0 or not fit.ssr > 0:
            # sigma² = 0: the likelihood is unbounded and D2/D3 would be noise (R gives NaN)
            raise ValueError(
                f"{where} fits the data exactly ({n} observations, {_n_params(fit)} "
                f"parameters, residual sum of squares {fit.ssr:g}), so its likelihood is "
                f"unbounded and D2/D3 cannot use it. Fit a model with fewer parameters than "
                f"observations."
            )

        def loglike(theta):
            beta, sigma2 = theta[:-1], theta[-1]
            resid = y - X @ beta
            return -(n / 2.0) * np.log(2 * np.pi * sigma2) - resid @ resid / (2.0 * sigma2)

        theta = np.append(np.asarray(fit.params, float), fit.ssr / n)
        return loglike(theta), theta, loglike
    if model is not None and hasattr(model, "loglike") and hasattr(fit, "llf"):
        from statsmodels.genmod.generalized_linear_model import GLM

        if isinstance(model, GLM) and model.family.__class__.__name__ not in (
            "Binomial",
            "Poisson",
        ):
            raise TypeError(
                f"D3 needs a likelihood without an estimated scale; a GLM with family "
                f"{model.family.__class__.__name__} has one. Use OLS for Gaussian models, or D1/D2."
            )
        params = np.asarray(fit.params, float)
        return float(fit.llf), params, lambda theta: float(model.loglike(theta))
    raise TypeError(
        f"cannot evaluate the log-likelihood of {type(fit).__name__}; D2 with "
        f'use="likelihood" and D3 need statsmodels results with llf and model.loglike. '
        f'Use method="D1" or use="wald".'
    )


def _n_params(fit) -> int:
    return int(np.size(fit.params))


def _wald_chi_square(estimates, tested: list[str]) -> np.ndarray:
    names = list(estimates[0].names)
    idx = [names.index(t) for t in tested]
    out = []
    for i, e in enumerate(estimates, start=1):
        q = e.estimate[idx]
        u = e.covariance[np.ix_(idx, idx)]
        try:
            chi2 = float(q @ np.linalg.solve(u, q))
        except np.linalg.LinAlgError:
            chi2 = -1.0
        if chi2 < 0:  # a negative quadratic form: u is singular in rounding
            raise ValueError(
                f"imputation {i}: the covariance matrix of the tested terms {tested} is "
                f"singular, so their Wald statistic does not exist (collinear terms?). Drop "
                f"the redundant terms from the full model."
            )
        out.append(chi2)
    return np.asarray(out)


def compare(
    fits_full: Sequence,
    fits_null: Sequence,
    *,
    method: str = "D1",
    use: str = "wald",
    dfcom="auto",
    ariv: str = "default",
) -> MITestResult:
    """Compare nested models fitted to each of M completed datasets.

    The counterpart of ``mice::D1``/``D2``/``D3`` and
    ``mitml::testModels(full, null, method=..., ariv=...)``.

    Parameters
    ----------
    fits_full, fits_null : sequence of fitted models
        The larger and the nested smaller model, one fit per imputation, in the
        same imputation order. The terms of the null model must be a subset of
        the full model's.
    method : {"D1", "D2", "D3", "D4"}, default="D1"
        D1: multivariate Wald test of the extra terms (Li, Raghunathan & Rubin
        1991). D2: pooled chi-square statistics (Li, Meng, Raghunathan & Rubin
        1991). D3: pooled likelihood-ratio test with the log-likelihoods
        evaluated at the pooled parameters (Meng & Rubin 1992), as mitml does.
        D4: likelihood-ratio test of Chan & Meng (2022), with both models
        refitted to the M completed datasets stacked into one (as mitml
        ``testModels(method = "D4")``); it needs statsmodels OLS, GLM
        (binomial or Poisson family) or Logit/Probit/Poisson results that carry
        their data, or ``skmipool.models`` estimators fitted with one, without
        weights, offsets or exposure.
    use : {"wald", "likelihood"}, default="wald"
        For D2: pool Wald statistics of the extra terms or likelihood-ratio
        statistics.
    dfcom : "auto", float or None, default="auto"
        Complete-data df for D1 (Reiter's 2007 small-sample df2 when finite,
        the LRR df2 when infinite). ``"auto"`` reads it from the full model.
        D2, D3 and D4 have no small-sample form, as in mitml.
    ariv : {"default", "positive", "robust"}, default="default"
        Estimate of the average relative increase in variance for D3 and D4,
        as mitml's ``ariv``: ``"positive"`` truncates a negative estimate at
        0; ``"robust"`` (D4 only) estimates it from the full model's own
        likelihood, ``(m + 1) / (h (m - 1)) (d̄ - d̂)`` with h its number of
        parameters, which stays positive (Chan & Meng 2022).

    Returns
    -------
    MITestResult
        ``statistic`` referred to F(df1, df2).

    Warns
    -----
    UserWarning
        D3's statistic is negative (when the likelihood ratio at the pooled
        estimates is negative, e.g. under separation in a logistic model);
        it is reported as 0, with p = 1, and the warning says why.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from skmipool import compare
    >>> rng = np.random.default_rng(0)
    >>> full, null = [], []
    >>> for _ in range(5):
    ...     X = sm.add_constant(rng.normal(size=(60, 2)))
    ...     y = X @ [1.0, 0.5, 0.0] + rng.normal(size=60)
    ...     full.append(sm.OLS(y, X).fit())
    ...     null.append(sm.OLS(y, X[:, :2]).fit())
    >>> res = compare(full, null, method="D1")
    >>> res.df1, res.method
    (1, 'D1')
    """
    if method not in ("D1", "D2", "D3", "D4"):
        raise ValueError(f'method must be "D1", "D2", "D3" or "D4"; got {method!r}.')
    if use not in ("wald", "likelihood"):
        raise ValueError(f'use must be "wald" or "likelihood"; got {use!r}.')
    if ariv not in ("default", "positive", "robust"):
        raise ValueError(f'ariv must be "default", "positive" or "robust"; got {ariv!r}.')
    if ariv == "robust" and method != "D4":
        raise ValueError(f'ariv="robust" is an estimate of D4 (Chan & Meng 2022), not of {method}.')
    if ariv == "positive" and method not in ("D3", "D4"):
        raise ValueError(
            f'ariv="positive" changes D3 and D4 only ({method}\'s ARIV is never negative or '
            f"does not enter its statistic); drop it."
        )
    fits_full = [_unwrap(f) for f in fits_full]
    fits_null = [_unwrap(f) for f in fits_null]
    if len(fits_full) != len(fits_null):
        raise ValueError(
            f"the full and null models must be fitted to the same imputations; got "
            f"{len(fits_full)} full and {len(fits_null)} null fits."
        )
    est_full = collect_estimates(fits_full)
    est_null = collect_estimates(fits_null)
    check_same_model(est_full)
    check_same_model(est_null)
    names_full = list(check_same_terms(est_full))
    names_null = list(check_same_terms(est_null))
    not_nested = [n for n in names_null if n not in names_full]
    if not_nested:
        raise ValueError(
            f"the null model is not nested in the full model: terms {not_nested} are not in the "
            f"full model."
        )
    tested = [n for n in names_full if n not in names_null]
    if not tested:
        raise ValueError("the full model has no terms beyond the null model; nothing to test.")
    if method != "D1" and not (isinstance(dfcom, str) and dfcom == "auto"):
        warnings.warn(
            f"dfcom is used by D1 only; {method} has no small-sample df and ignores it.",
            UserWarning,
            stacklevel=2,
        )

    if method == "D1":
        return pool(fits_full, dfcom=dfcom).wald_test(tested)
    if method == "D2" and use == "wald":
        res = combine_chi_square(_wald_chi_square(est_full, tested), len(tested))
        return _renamed(res, "D2 (wald)")

    if method == "D4":
        return _d4(fits_full, fits_null, ariv)
    parts_full = [
        _loglike_parts(f, f"imputation {i}: the full model") for i, f in enumerate(fits_full, 1)
    ]
    parts_null = [
        _loglike_parts(f, f"imputation {i}: the null model") for i, f in enumerate(fits_null, 1)
    ]
    k = _n_params_diff(fits_full, fits_null)
    ll_full = np.array([p[0] for p in parts_full])
    ll_null = np.array([p[0] for p in parts_null])
    if method == "D2":
        diff = ll_null - ll_full
        # mitml: differences that all.equal() treats as zero are set to 0
        diff[np.abs(diff) <= 1.5e-8 * np.abs(ll_null)] = 0.0
        res = combine_chi_square(-2.0 * diff, k)
        return _renamed(res, "D2 (likelihood)")
    return _d3(parts_full, parts_null, k, ariv)


def _unwrap(fit):
    """Estimators backed by statsmodels keep their results in ``results_``."""
    inner = getattr(fit, "results_", None)
    return inner if inner is not None and hasattr(inner, "llf") else fit


def _renamed(res: MITestResult, method: str) -> MITestResult:
    return MITestResult(res.statistic, res.df1, res.df2, res.p_value, res.riv, method)


def _n_params_diff(fits_full, fits_null) -> int:
    k = _n_params(fits_full[0]) - _n_params(fits_null[0])
    if k <= 0:
        raise ValueError("the full model must have more parameters than the null model.")
    return k


def _d3(parts_full, parts_null, k: int, ariv: str = "default") -> MITestResult:
    """D3 of Meng & Rubin (1992), following mitml 0.4-4 testModels."""
    m = len(parts_full)
    theta_full = np.mean([p[1] for p in parts_full], axis=0)  # pooled parameters
    theta_null = np.mean([p[1] for p in parts_null], axis=0)
    ll_full = np.array([p[0] for p in parts_full])
    ll_null = np.array([p[0] for p in parts_null])
    ll_full_pooled = np.array([p[2](theta_full) for p in parts_full])
    ll_null_pooled = np.array([p[2](theta_null) for p in parts_null])
    d_bar = np.mean(-2.0 * (ll_null - ll_full))  # LR at the completed-data estimates
    d_tilde = np.mean(-2.0 * (ll_null_pooled - ll_full_pooled))  # LR at the pooled estimates
    r = (m + 1.0) / (k * (m - 1.0)) * (d_bar - d_tilde)  # Meng & Rubin (1992) eq. 2.8
    if ariv == "positive":
        r = max(r, 0.0)  # mitml testModels(ariv = "positive")
    stat = d_tilde / (k * (1.0 + r))  # eq. 2.9
    df2 = lrr_df(k, m, r)
    stat = _truncated_at_zero(stat, "D3", d_tilde, r)
    return MITestResult(float(stat), k, float(df2), _f_sf(stat, k, df2), float(r), "D3")


def _truncated_at_zero(stat: float, method: str, d_pooled: float, r: float) -> float:
    """An F statistic below 0 is reported as 0 (p = 1), with a warning that says why.

    mitml and mice return the negative value (mice's D3 tests carry a FIXME for it);
    an F distribution has no mass below 0, so 0 is the nearest value it can take.
    """
    if stat >= 0:
        return stat
    if d_pooled < 0:
        why = (
            f"the likelihood-ratio statistic at the pooled estimates is negative "
            f"({d_pooled:.4g}): averaged over the imputations, the null model's pooled "
            f"estimates fit the completed data better than the full model's. The "
            f"completed-data estimates differ so much between imputations that their average "
            f"is far from each imputation's maximum (RIV = {r:.4g}); in a logistic model this "
            f"is usually separation: a coefficient that diverges in some imputations"
        )
    else:
        why = (
            f"the estimated average relative increase in variance is below -1 (RIV = {r:.4g}): "
            f"the likelihood ratios at the completed-data estimates are smaller than at the "
            f"pooled ones"
        )
    warnings.warn(
        f"{method}'s F statistic is {stat:.4g} < 0, reported as 0 (p = 1): {why}. The test "
        f"carries no evidence here; check the model, or use D1 or D2.",
        UserWarning,
        stacklevel=3,
    )
    return 0.0


# ------------------------------------------------------------------------- D4

_D4_FAMILIES = ("Binomial", "Poisson")


def _d4_model(fit, i: int):
    """The statsmodels model of a fit D4 can refit on stacked data, else a clear TypeError."""
    from statsmodels.discrete.discrete_model import Logit, Poisson, Probit
    from statsmodels.genmod.generalized_linear_model import GLM
    from statsmodels.regression.linear_model import OLS

    model = getattr(fit, "model", None)
    kinds = (OLS, GLM, Logit, Probit, Poisson)
    if type(model) not in kinds or getattr(model, "exog", None) is None:
        raise TypeError(
            f"imputation {i}: D4 refits the model to the M completed datasets stacked into one, "
            f"so it needs statsmodels OLS, GLM (binomial or Poisson), Logit, Probit or Poisson "
            f"results that carry their data (or skmipool.models estimators fitted with one); "
            f"got {type(fit).__name__}"
            + (f" of {type(model).__name__}" if model is not None else "")
            + '. Use method="D1", "D2" or "D3".'
        )
    if isinstance(model, GLM) and type(model.family).__name__ not in _D4_FAMILIES:
        raise TypeError(
            f"imputation {i}: D4 needs a likelihood without an estimated scale; a GLM with "
            f"family {type(model.family).__name__} has one. Use OLS for Gaussian models, or D1/D2."
        )
    extras = [
        name
        for name in ("offset", "exposure", "freq_weights", "var_weights", "n_trials")
        if getattr(model, name, None) is not None
        and not np.all(np.asarray(getattr(model, name), dtype=float) == _neutral(name))
    ]
    if extras:
        raise TypeError(
            f"imputation {i}: D4 does not stack models with {', '.join(extras)}; fit without "
            f"them, or use D1/D2."
        )
    return model


def _neutral(name: str) -> float:
    """The value of an offset (0) or a weight (1) that changes nothing."""
    return 0.0 if name in ("offset", "exposure") else 1.0  # weights, binomial trials


def _n_loglike_params(model) -> int:
    """Parameters counted by R's logLik df: the coefficients, plus sigma for a linear model."""
    from statsmodels.regression.linear_model import OLS

    return int(model.exog.shape[1]) + (1 if isinstance(model, OLS) else 0)


def _stacked_loglike(models) -> float:
    """Log-likelihood of the model refitted to the stacked completed datasets.

    mitml 0.4-4 ``.updateStackedLL.default``: ``update(object, data = do.call(rbind,
    datalist))``, here by refitting the model's class to its stacked endog and exog.
    """
    from statsmodels.genmod.generalized_linear_model import GLM
    from statsmodels.regression.linear_model import OLS

    first = models[0]
    endog = np.concatenate([np.asarray(mod.endog, dtype=float) for mod in models])
    exog = np.concatenate([np.asarray(mod.exog, dtype=float) for mod in models])
    if isinstance(first, OLS):
        return float(OLS(endog, exog).fit().llf)
    if isinstance(first, GLM):
        return float(GLM(endog, exog, family=first.family).fit(tol=1e-12, maxiter=200).llf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a refit that did not converge is not a likelihood
        fit = type(first)(endog, exog).fit(disp=0, method="newton", tol=1e-12, maxiter=200)
    return float(fit.llf)


def _all_equal_zero(diff, target) -> np.ndarray:
    """Where R's all.equal(target, target - diff) holds: |diff| <= 1.5e-8 |target|
    (absolute 1.5e-8 when |target| is that small)."""
    scale = np.where(np.abs(target) > 1.5e-8, np.abs(target), 1.0)
    return np.abs(diff) <= 1.5e-8 * scale


def _d4(fits_full, fits_null, ariv: str) -> MITestResult:
    """D4 of Chan & Meng (2022), following mitml 0.4-4 ``testModels(method = "D4")``."""
    models_full = [_d4_model(f, i) for i, f in enumerate(fits_full, start=1)]
    models_null = [_d4_model(f, i) for i, f in enumerate(fits_null, start=1)]
    kinds = {type(mod).__name__ for mod in models_full + models_null}
    if len(kinds) > 1:
        raise TypeError(f"D4 compares two models of one kind; got {sorted(kinds)}.")
    m = len(models_full)
    ll_full = np.array([float(f.llf) for f in fits_full])
    ll_null = np.array([float(f.llf) for f in fits_null])
    # mitml: the stacked log-likelihood divided by m, the mean over the completed datasets
    ll_full_stacked = _stacked_loglike(models_full) / m
    ll_null_stacked = _stacked_loglike(models_null) / m
    h = _n_loglike_params(models_full[0])
    k = h - _n_loglike_params(models_null[0])
    if k <= 0:
        raise ValueError("the full model must have more parameters than the null model.")
    diff = ll_null - ll_full
    diff[_all_equal_zero(diff, ll_full)] = 0.0  # mitml: all.equal() per imputation
    stacked_diff = ll_null_stacked - ll_full_stacked
    if _all_equal_zero(np.array([stacked_diff]), np.array([stacked_diff]))[0]:
        stacked_diff = 0.0  # mitml: isTRUE(all.equal(ll.stacked.diff, 0))
    d_bar = np.mean(-2.0 * diff)  # mean LR statistic of the completed datasets
    d_hat = -2.0 * stacked_diff  # LR statistic of the stacked data, per dataset
    if ariv == "robust":
        # Chan & Meng (2022) robust ARIV from the full model alone, over its h parameters
        r = (m + 1.0) / (h * (m - 1.0)) * (2.0 * ll_full.mean() - 2.0 * ll_full_stacked)
        v = _d4_df(h * (m - 1.0), r)
    else:
        r = (m + 1.0) / (k * (m - 1.0)) * (d_bar - d_hat)  # Chan & Meng (2022); mitml
        if ariv == "positive":
            r = max(r, 0.0)
        v = _d4_df(k * (m - 1.0), r)
    stat = d_hat / (k * (1.0 + r))
    stat = _truncated_at_zero(stat, "D4", d_hat, r)
    name = "D4" if ariv == "default" else f"D4 ({ariv})"
    return MITestResult(float(stat), k, float(v), _f_sf(stat, k, v), float(r), name)


def _d4_df(t: float, r: float) -> float:
    """mitml's D4 df, t (1 + 1/r)^2: infinite when r = 0 (no between-imputation variance)."""
    return np.inf if r == 0 else t * (1.0 + 1.0 / r) ** 2


# -------------------------------------------------------------------- pooled R²


def pool_r_squared(fits: Sequence, adjusted: bool = False, level: float = 0.95) -> pd.DataFrame:
    """Pool R² (or adjusted R²) of M linear regressions via Fisher's z (Harel 2009).

    Parameters
    ----------
    fits : sequence of statsmodels OLS results
        One regression per completed dataset.
    adjusted : bool, default=False
        Pool the adjusted R².
    level : float, default=0.95
        Confidence level of the interval.

    Returns
    -------
    DataFrame
        One row (``"R^2"`` or ``"adj R^2"``), columns ``estimate, conf_low,
        conf_high, fmi``.

    Notes
    -----
    Each R is moved to z = atanh(R) with variance 1/(n - 3) (Harel 2009, eq. 3),
    z is pooled with Rubin's rules (large-sample df), and the estimate is
    tanh(z̄)². Unlike mice's ``pool.r.squared``, which uses 1.96 and squares
    the back-transformed limits (so a negative lower limit turns positive), the
    interval uses the t(df) quantile and the limits of R are clamped to [0, 1]
    before squaring. A negative adjusted R² enters as -sqrt(|R²|) (mice >= 3.18);
    a negative pooled z is reported as R² = 0, the lower end of its range.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from skmipool import pool_r_squared
    >>> rng = np.random.default_rng(0)
    >>> X = sm.add_constant(rng.normal(size=(80, 1)))
    >>> fits = [sm.OLS(X @ [0, 1] + rng.normal(size=80), X).fit() for _ in range(5)]
    >>> list(pool_r_squared(fits).columns)
    ['estimate', 'conf_low', 'conf_high', 'fmi']
    """
    fits = list(fits)
    for i, f in enumerate(fits, start=1):
        if not hasattr(f, "rsquared"):
            raise TypeError(
                f"imputation {i}: pool_r_squared needs linear regression results with an "
                f"rsquared attribute (statsmodels OLS/WLS); got {type(f).__name__}."
            )
    r2 = np.array([f.rsquared_adj if adjusted else f.rsquared for f in fits], dtype=float)
    n = np.array([f.nobs for f in fits], dtype=float)
    if (n <= 3).any():
        raise ValueError(
            f"pooled R² needs more than 3 observations per fit (Fisher z has variance "
            f"1 / (n - 3)); imputation {int(np.argmax(n <= 3)) + 1} has {int(n.min())}."
        )
    z = np.arctanh(np.sign(r2) * np.sqrt(np.abs(r2)))  # Fisher (1915) z; Harel (2009) eq. 3
    label = "adj R^2" if adjusted else "R^2"
    pooled = pool_estimates(
        z, 1.0 / (n - 3.0), names=[label], transform="r_squared", input_scale="inference"
    )
    ci = pooled.conf_int(level)
    return pd.DataFrame(
        {
            "estimate": pooled.estimate,
            "conf_low": ci["lower"],
            "conf_high": ci["upper"],
            "fmi": pooled.fmi,
        },
        index=pd.Index([label]),
    )
