"""Cox proportional hazards regression on statsmodels' PHReg, with R's robust variance.

statsmodels' ``PHReg.fit(groups=...)`` builds its sandwich from Breslow-type
score residuals whatever the ``ties`` method, so with Efron's ties (R's
default) its cluster-robust standard errors differ from R's ``coxph`` by a
fraction of a percent. Here the score residuals follow the ties method, as
R's ``residuals(coxph, type = "score")`` do, and the robust covariance is
``V D'D V`` with ``V`` the inverse information and ``D`` the score residuals
summed within clusters (Lin & Wei 1989; Therneau & Grambsch 2000, section
7.2). It agrees with R's ``coxph(..., cluster = )`` to rounding error.

References
----------
Efron, B. (1977). The efficiency of Cox's likelihood function for censored
data. *JASA* 72, 557-565.
Lin, D. Y. and Wei, L. J. (1989). The robust inference for the Cox
proportional hazards model. *JASA* 84, 1074-1078.
Therneau, T. M. and Grambsch, P. M. (2000). *Modeling Survival Data:
Extending the Cox Model*. Springer.
Harrell, F. E., Lee, K. L. and Mark, D. B. (1996). Multivariable prognostic
models. *Statistics in Medicine* 15, 361-387. (the C index)
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from statsmodels.base.model import LikelihoodModel
from statsmodels.duration.hazard_regression import PHReg, PHRegResults

from skmipool._adapters import _check_full_rank
from skmipool.models._design import (
    FittedModelMixin,
    build_design,
    check_identified,
    cluster_codes,
)
from skmipool.models._frailty import FrailtyCoxResults, fit_frailty_cox

__all__ = ["CoxPHRegressor", "concordance_index", "cox_score_residuals", "survival_target"]

_TIME_NAMES = ("time", "duration", "futime", "stop")
_EVENT_NAMES = ("event", "status", "death", "dead", "fail", "failure")


# ------------------------------------------------------------------ the outcome


def _as_event(values, label: str) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype == bool:
        return values
    try:
        num = values.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"the event indicator {label} must be boolean or 0/1; got values of dtype "
            f"{values.dtype}."
        ) from None
    bad = ~np.isin(num, [0.0, 1.0])
    if bad.any():
        raise ValueError(
            f"the event indicator {label} must be boolean or 0/1 (1 = event, 0 = censored); "
            f"found {np.unique(num[bad])[:5].tolist()}. Is the (time, event) order swapped?"
        )
    return num == 1.0


def _as_time(values, label: str) -> np.ndarray:
    try:
        time = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"the survival times {label} must be numbers.") from None
    if not np.all(np.isfinite(time)):
        raise ValueError(
            f"the survival times {label} contain NaN or infinite values; every row needs a "
            f"finite follow-up time."
        )
    if np.any(time < 0):
        raise ValueError(f"the survival times {label} must be non-negative.")
    return time


def _pick(names: list[str], wanted: tuple[str, ...]) -> str | None:
    lower = {str(n).lower(): n for n in names}
    return next((lower[w] for w in wanted if w in lower), None)


def survival_target(y, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Times and event indicators from the accepted forms of a survival outcome.

    Parameters
    ----------
    y : structured array, DataFrame or array of shape (n, 2)
        A numpy structured array with an event field and a time field, as
        scikit-survival's ``Surv.from_arrays(event, time)`` makes (fields named
        ``event``/``status`` and ``time``, else taken in scikit-survival's order
        (event, time)); or a two-column DataFrame (columns ``time`` and
        ``event`` or ``status``, else R's ``Surv(time, event)`` order: time
        first); or an (n, 2) array (time, event).
    n : int, optional
        The number of rows X has.

    Returns
    -------
    time : ndarray of float
    event : ndarray of bool

    Examples
    --------
    >>> import numpy as np
    >>> from skmipool.models._cox import survival_target
    >>> y = np.array([(True, 5.0), (False, 8.0)], dtype=[("event", "?"), ("time", "f8")])
    >>> survival_target(y)
    (array([5., 8.]), array([ True, False]))
    """
    if y is None:
        raise ValueError(
            "CoxPHRegressor requires y to be passed, but the target y is None. Pass the "
            "(event, time) structured array or a (time, event) frame."
        )
    if isinstance(y, np.ndarray) and y.dtype.names is not None:
        names = list(y.dtype.names)
        if len(names) != 2:
            raise ValueError(f"a structured y needs exactly two fields (event, time); got {names}.")
        ev, tm = _pick(names, _EVENT_NAMES), _pick(names, _TIME_NAMES)
        if ev is None or tm is None or ev == tm:
            ev, tm = names  # scikit-survival's order: (event, time)
        time, event = _as_time(y[tm], f"(field {tm!r})"), _as_event(y[ev], f"(field {ev!r})")
    elif isinstance(y, pd.DataFrame):
        if y.shape[1] != 2:
            raise ValueError(
                f"a DataFrame y needs exactly two columns (time, event); got {list(y.columns)}."
            )
        names = list(y.columns)
        tm, ev = _pick(names, _TIME_NAMES), _pick(names, _EVENT_NAMES)
        if tm is None or ev is None or tm == ev:
            tm, ev = names  # R's Surv(time, event) order
        time = _as_time(y[tm].to_numpy(), f"(column {tm!r})")
        event = _as_event(y[ev].to_numpy(), f"(column {ev!r})")
    else:
        arr = np.asarray(y)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(
                f"y must give both the survival time and the event indicator: a structured "
                f"array (event, time), a two-column DataFrame (time, event) or an (n, 2) array; "
                f"got shape {arr.shape}."
            )
        time, event = _as_time(arr[:, 0], "(column 0)"), _as_event(arr[:, 1], "(column 1)")
    if n is not None and time.shape[0] != n:
        raise ValueError(f"y has {time.shape[0]} rows but X has {n}.")
    if not event.any():
        raise ValueError(
            "y has no events (all observations censored): the partial likelihood is flat and "
            "the Cox model has no estimate."
        )
    return time, event


# -------------------------------------------------------------- score residuals


def cox_score_residuals(time, event, X, beta, ties="efron", strata=None) -> np.ndarray:
    """Score residuals of a Cox model, matching R's ``residuals(coxph, type = "score")``.

    For subject i with covariates x_i and risk r_i = exp(x_i b), summed over the
    distinct event times t_j <= t_i of its stratum:
    ``U_i = delta_i (x_i - xbar(t_i)) - sum_j r_i w_ij (x_i - xbar_j) dLambda_j``.
    Breslow: one risk-set mean xbar_j and hazard step d_j / S0_j. Efron: the d_j
    tied events are taken one fraction at a time, k = 0..d_j - 1, with the
    events' risk down-weighted by k/d_j in the denominator and mean; a subject
    that fails at t_j carries the weight 1 - k/d_j in step k and its event term
    uses the average of the d_j means (Therneau & Grambsch 2000, sections 3.3
    and 4.6; survival's ``coxscore2``).

    Parameters
    ----------
    time, event : array-like of shape (n,)
        Follow-up times and event indicators.
    X : array-like of shape (n, p)
        Design matrix.
    beta : array-like of shape (p,)
        Coefficients (the estimates, for residuals).
    ties : {"efron", "breslow"}, default="efron"
    strata : array-like of shape (n,), optional
        Stratum labels; risk sets are formed within strata.

    Returns
    -------
    ndarray of shape (n, p)
        At the maximum partial likelihood estimate the columns sum to zero.

    Examples
    --------
    >>> import numpy as np
    >>> from skmipool.models import cox_score_residuals
    >>> time, event = np.array([1.0, 2.0, 2.0, 3.0]), np.array([1, 1, 1, 0])
    >>> x = np.array([[0.5], [1.0], [0.0], [2.0]])
    >>> cox_score_residuals(time, event, x, np.array([0.0])).round(4).ravel().tolist()
    [-0.2812, -0.0938, -0.2604, -0.9896]
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event).astype(bool)
    X = np.asarray(X, dtype=float)
    beta = np.asarray(beta, dtype=float)
    strata = np.zeros(time.shape[0]) if strata is None else cluster_codes(np.asarray(strata))
    out = np.zeros_like(X)
    for s in np.unique(strata):
        rows = np.flatnonzero(strata == s)
        out[rows] = _stratum_score_residuals(time[rows], event[rows], X[rows], beta, ties)
    return out


def _stratum_score_residuals(t, e, x, beta, ties) -> np.ndarray:
    n, p = x.shape
    dtimes = np.unique(t[e])
    if dtimes.size == 0:
        return np.zeros((n, p))  # no event in the stratum: no information, as in R
    eta = x @ beta
    r = np.exp(eta - eta.max())  # a common factor cancels in every ratio below
    order = np.argsort(t, kind="stable")
    ts, rs, rxs = t[order], r[order], r[order, None] * x[order]
    # risk-set sums S0(t_j), S1(t_j) over {time >= t_j}: reverse cumulative sums
    cs0 = np.cumsum(rs[::-1])[::-1]
    cs1 = np.cumsum(rxs[::-1], axis=0)[::-1]
    first = np.searchsorted(ts, dtimes, side="left")
    s0, s1 = cs0[first], cs1[first]
    # the tied events at each t_j
    j_event = np.searchsorted(dtimes, t[e])
    nd = np.bincount(j_event, minlength=dtimes.size).astype(float)
    s0d = np.bincount(j_event, weights=r[e], minlength=dtimes.size)
    s1d = np.column_stack(
        [np.bincount(j_event, weights=r[e] * x[e, k], minlength=dtimes.size) for k in range(p)]
    ).reshape(dtimes.size, p)
    if ties == "breslow":
        xbar = s1 / s0[:, None]
        h = nd / s0  # hazard step; events and survivors weighted alike
        h_at, a_at = h, xbar * h[:, None]
        h_ev, a_ev, xbar_ev = h_at, a_at, xbar
    else:
        h_at = np.zeros(dtimes.size)
        a_at = np.zeros((dtimes.size, p))
        h_ev = np.zeros(dtimes.size)
        a_ev = np.zeros((dtimes.size, p))
        xbar_sum = np.zeros((dtimes.size, p))
        for k in range(int(nd.max())):
            active = k < nd
            frac = np.where(active, k / nd, 0.0)
            denom = s0 - frac * s0d
            step = np.where(active, 1.0 / denom, 0.0)
            xbar_k = (s1 - frac[:, None] * s1d) / denom[:, None]
            h_at += step
            a_at += step[:, None] * xbar_k
            h_ev += step * (1.0 - frac)
            a_ev += (step * (1.0 - frac))[:, None] * xbar_k
            xbar_sum += np.where(active[:, None], xbar_k, 0.0)
        xbar_ev = xbar_sum / nd[:, None]
    # hazard accrued at event times strictly before t_i, then at t_i itself
    cum_h = np.concatenate([[0.0], np.cumsum(h_at)])
    cum_a = np.vstack([np.zeros((1, p)), np.cumsum(a_at, axis=0)])
    before = np.searchsorted(dtimes, t, side="left")
    h_i, a_i = cum_h[before].copy(), cum_a[before].copy()
    own = (before < dtimes.size) & (dtimes[np.minimum(before, dtimes.size - 1)] == t)
    survivor = own & ~e
    h_i[survivor] += h_at[before[survivor]]
    a_i[survivor] += a_at[before[survivor]]
    h_i[e] += h_ev[j_event]
    a_i[e] += a_ev[j_event]
    resid = -r[:, None] * (x * h_i[:, None] - a_i)
    resid[e] += x[e] - xbar_ev[j_event]
    return resid


# ---------------------------------------------------------------- fitting


def fit_phreg(model: PHReg, groups: np.ndarray | None, strata: np.ndarray | None):
    """Fit a PHReg model; with ``groups``, R's robust (sandwich) covariance.

    Returns
    -------
    results : PHRegResults
        With the robust covariance when ``groups`` is given.
    naive : ndarray
        The model-based covariance, the inverse of the information matrix.
    """
    exog = np.asarray(model.exog, dtype=float)
    names = [str(n) for n in (model.exog_names or range(exog.shape[1]))]
    constant = [n for n, spread in zip(names, np.ptp(exog, axis=0), strict=True) if spread == 0]
    if constant:
        raise ValueError(
            f"columns {constant} are constant: a Cox model has no intercept (the baseline "
            f"hazard absorbs it), so their coefficients are not identified. Drop them."
        )
    # collinearity up to a constant is what the baseline hazard cannot separate
    _check_full_rank(exog - exog.mean(axis=0), names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is checked below
        raw = LikelihoodModel.fit(model, disp=False)
    params = np.asarray(raw.params, dtype=float)
    converged = raw.mle_retvals.get("converged", True) if raw.mle_retvals else True
    if not converged or not np.all(np.isfinite(params)):
        warnings.warn(
            "the Cox model's Newton iterations did not converge: an estimate may be infinite "
            "(monotone likelihood, e.g. a covariate that separates events from censored "
            "observations). Check the covariates.",
            ConvergenceWarning,
            stacklevel=3,
        )
    naive = np.linalg.inv(-model.hessian(params))
    naive = (naive + naive.T) / 2.0
    if groups is None:
        return PHRegResults(model, params, naive), naive
    resid = cox_score_residuals(model.endog, model.status, model.exog, params, model.ties, strata)
    codes = cluster_codes(groups)
    scores = np.zeros((codes.max() + 1, params.size))
    np.add.at(scores, codes, resid)
    # R coxph: var = D'D with D = dfbeta summed by cluster = (sum of U) V (Lin & Wei 1989)
    robust = naive @ (scores.T @ scores) @ naive
    model.groups = np.asarray(groups)
    return PHRegResults(model, params, robust, covariance_type="robust"), naive


def cox_dfcom(n_events: int, n_params: int) -> float:
    """Complete-data df of a Cox model: max(events - p, 1), as mice 3.15 ``get.dfcom``."""
    return float(max(n_events - n_params, 1))


def concordance_index(time, event, risk, strata=None) -> float:
    """Harrell's C: the share of comparable pairs ordered correctly by the risk score.

    A pair is comparable when the earlier time is an event (a censored time
    tied with an event time counts as later); it is concordant when the
    earlier failure has the higher risk; tied risks count one half. Pairs are
    formed within strata. This is R's ``concordance(coxph)`` (Harrell et al.
    1996).

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
    strata : array-like of shape (n,), optional

    Returns
    -------
    float

    Examples
    --------
    >>> from skmipool.models._cox import concordance_index
    >>> concordance_index([1, 2, 3], [1, 1, 0], [3.0, 2.0, 1.0])
    1.0
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event).astype(bool)
    risk = np.asarray(risk, dtype=float)
    strata = np.zeros(time.shape[0]) if strata is None else cluster_codes(np.asarray(strata))
    concordant = comparable = 0.0
    for s in np.unique(strata):
        rows = np.flatnonzero(strata == s)
        t, e, r = time[rows], event[rows], risk[rows]
        for start in range(0, rows.size, 2048):  # blocks of rows keep memory at O(2048 n)
            i = slice(start, start + 2048)
            later = (t[i, None] < t[None, :]) | ((t[i, None] == t[None, :]) & ~e[None, :])
            pair = e[i, None] & later
            comparable += pair.sum()
            concordant += (pair & (r[i, None] > r[None, :])).sum()
            concordant += 0.5 * (pair & (r[i, None] == r[None, :])).sum()
    if comparable == 0:
        raise ValueError("no comparable pairs: the C index is undefined (no events?).")
    return float(concordant / comparable)


class CoxPHRegressor(RegressorMixin, FittedModelMixin, BaseEstimator):
    """Cox proportional hazards model on statsmodels' PHReg, with R's covariances.

    Parameters
    ----------
    ties : {"efron", "breslow"}, default="efron"
        Handling of tied event times; Efron's is R ``coxph``'s default.
    strata : str or int, default=None
        The column of X (name, or position for arrays) with stratum labels:
        a separate baseline hazard per stratum, as R's ``strata()``. Excluded
        from the design matrix.
    cov_type : {"nonrobust", "robust", "cluster"}, default="nonrobust"
        ``"nonrobust"``: inverse information, R's ``vcov(coxph)``.
        ``"robust"``: the sandwich with each row its own cluster (Lin & Wei
        1989), R's ``coxph(robust = TRUE)``. ``"cluster"``: the sandwich over
        the clusters in the ``cluster`` column, R's ``coxph(... + cluster(id))``.
        The score residuals follow ``ties``, so these equal R's numbers.
    cluster : str or int, default=None
        The column of X holding the cluster ids for ``cov_type="cluster"``.
        Excluded from the design matrix.
    time, event : str or int, default=None
        Columns of X with the follow-up times and event indicators (1 or True
        = event). Set both to fit with ``y=None``, the outcome read from X:
        then ``MIPooledEstimator(CoxPHRegressor(time=..., event=...)).fit(X, None)``
        imputes with the outcome in the imputation model. Excluded from the
        design matrix.
    frailty : {"gamma", "gaussian"}, default=None
        A shared frailty for the clusters in the ``groups`` column: the hazard
        of subject i in cluster g is ``h0(t) exp(x_i'b + u_g)`` with
        ``exp(u_g)`` gamma (mean 1, variance theta; R's default) or ``u_g``
        normal (mean 0, variance theta). Fitted by penalized partial
        likelihood with theta chosen as R's
        ``coxph(... + frailty(g, distribution = ))`` chooses it (see
        :mod:`skmipool.models._frailty`); the standard errors are R's
        ``se(coef)``, from ``fit$var``, the inverse of the penalized
        information. None: no frailty.
    groups : str or int, default=None
        The column of X with the cluster labels that share a frailty (R's
        ``frailty(g)``). Excluded from the design matrix. Required with
        ``frailty``.
    frailty_variance : float, default=None
        Hold theta at this value instead of estimating it (R's
        ``frailty(g, theta = )``). None: estimate it.

    Attributes
    ----------
    coef_ : ndarray of shape (n_terms,)
        Log hazard ratios (no intercept: the baseline hazard absorbs it).
    params_ : pandas.Series
        ``coef_`` labelled with the term names.
    cov_ : pandas.DataFrame
        Covariance of ``params_`` of the chosen ``cov_type``.
    naive_cov_ : pandas.DataFrame
        The model-based covariance (inverse information), R's ``naive.var``.
    std_error_ : pandas.Series
        Standard errors from ``cov_``.
    nobs_ : int
        Number of observations.
    n_events_ : int
        Number of events.
    dfcom_ : float
        Complete-data df ``max(events - p, 1)``, as mice 3.15 uses for coxph.
    loglike_ : float
        Log partial likelihood at the estimates (R's ``logLik(coxph)``; with a
        frailty, at the fixed effects and frailties, R's ``fit$loglik[2]``).
    results_ : statsmodels PHRegResults or FrailtyCoxResults
        The statsmodels fit (its covariance is ``cov_``); used by
        :func:`skmipool.compare` for D2 and D3. With a frailty, the penalized
        fit (:class:`~skmipool.models._frailty.FrailtyCoxResults`).
    frailty_variance_ : float
        With ``frailty``: the variance theta of the frailty, as R prints it
        ("Variance of random effect"). Also in ``get_estimate()`` as the
        variance component ``"frailty variance"``.
    frailty_at_bound_ : bool
        With ``frailty``: True when theta is at its lower bound 0: the
        marginal likelihood (gamma) never rose above its value at 0, or the
        REML equation (Gaussian) was negative at every theta tried. Then
        ``frailty_variance_`` is the small value R stops at (R reports it
        without comment); read it as 0. This is not a convergence failure.
    frailties_ : pandas.Series
        With ``frailty``: the predicted log frailty of each cluster (R's
        ``fit$frail``), indexed by the cluster labels.
    effective_df_ : pandas.Series
        With ``frailty``: R's ``fit$df``, the effective degrees of freedom of
        each term of the penalized model, the frailty last. Not a
        complete-data df: ``dfcom_`` stays events - p.
    variance_components_ : pandas.Series
        With ``frailty``: ``{"frailty variance": frailty_variance_}``, what
        :func:`skmipool.pool` averages over the imputations into
        ``PooledResult.variance_components``.
    n_features_in_ : int
        Number of columns of X seen in fit (strata and cluster included).
    feature_names_in_ : ndarray of str
        Column names of X (DataFrame input only).

    Notes
    -----
    ``predict`` returns the linear predictor x'b (not centred; R's
    ``predict(type = "lp")`` subtracts the mean); ``exp(predict(X))`` is the
    relative risk. ``score`` is Harrell's C index. With a frailty, ``predict``
    leaves the frailties out (the prediction for a new cluster).

    With a frailty, ``cov_`` is R's ``fit$var``: the inverse of the
    penalized information, with the frailty block diagonal when there are
    more than five clusters, as R computes it. R's ``fit$var2`` (the
    sandwich ``H^-1 I H^-1``, printed as ``se2``) is not used.
    ``get_estimate()`` returns the fixed effects only, with ``dfcom =
    events - p`` (p fixed effects; as mice uses for ``coxph``), and the
    frailty variance as a variance component, which :func:`skmipool.pool`
    averages over the imputations.

    Examples
    --------
    >>> from skmipool.datasets import load_stanford2
    >>> from skmipool.models import CoxPHRegressor
    >>> df = load_stanford2().dropna()
    >>> df["cid"] = (df["id"] / 10).round() + 1
    >>> y = df[["time", "status"]]
    >>> cox = CoxPHRegressor(cov_type="cluster", cluster="cid").fit(df[["age", "t5", "cid"]], y)
    >>> cox.params_.round(4)
    age    0.0296
    t5     0.1704
    Name: estimate, dtype: float64
    >>> cox.dfcom_
    100.0

    A Gaussian (log-normal) shared frailty for the clusters, as R's
    ``coxph(Surv(time, status) ~ age + t5 + frailty(cid, distribution = "gaussian"))``:

    >>> frail = CoxPHRegressor(frailty="gaussian", groups="cid").fit(df[["age", "t5", "cid"]], y)
    >>> frail.params_.round(4)
    age    0.0296
    t5     0.1709
    Name: estimate, dtype: float64
    >>> round(frail.frailty_variance_, 4), frail.frailty_at_bound_
    (0.0013, True)
    """

    _parameter_constraints: ClassVar[dict] = {
        "ties": [StrOptions({"efron", "breslow"})],
        "strata": [str, Integral, None],
        "cov_type": [StrOptions({"nonrobust", "robust", "cluster"})],
        "cluster": [str, Integral, None],
        "time": [str, Integral, None],
        "event": [str, Integral, None],
        "frailty": [StrOptions({"gamma", "gaussian"}), None],
        "groups": [str, Integral, None],
        "frailty_variance": [Interval(Real, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        ties="efron",
        strata=None,
        cov_type="nonrobust",
        cluster=None,
        time=None,
        event=None,
        frailty=None,
        groups=None,
        frailty_variance=None,
    ):
        self.ties = ties
        self.strata = strata
        self.cov_type = cov_type
        self.cluster = cluster
        self.time = time
        self.event = event
        self.frailty = frailty
        self.groups = groups
        self.frailty_variance = frailty_variance

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = self.time is None  # else the outcome is read from X
        return tags

    def _design(self, X, reset: bool):
        special = {"strata": self.strata, "cluster": self.cluster, "groups": self.groups}
        special.update({"time": self.time, "event": self.event})
        return build_design(self, X, reset=reset, special=special)

    def _outcome(self, design, y):
        """(time, event) from y, or from the time and event columns of X."""
        if self.time is None:
            return survival_target(y, design.matrix.shape[0])
        time = _as_time(design.special["time"], f"(column {self.time!r})")
        event = _as_event(design.special["event"], f"(column {self.event!r})")
        if not event.any():
            raise ValueError(f"column {self.event!r} has no events: the Cox model has no estimate.")
        return time, event

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Maximise the partial likelihood.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Covariates, plus the strata and cluster columns when set. No NaN.
        y : structured array, DataFrame or array of shape (n_samples, 2)
            Survival outcome: a structured array (event, time) as
            scikit-survival's ``Surv.from_arrays``, a DataFrame with columns
            ``time`` and ``event`` (or ``status``; unnamed: time first), or an
            (n, 2) array (time, event). See :func:`survival_target`. None
            when ``time`` and ``event`` name columns of X.

        Returns
        -------
        self : CoxPHRegressor
        """
        if (self.time is None) != (self.event is None):
            raise ValueError(
                f"time={self.time!r} and event={self.event!r}: set both (the outcome is then "
                f"read from X) or neither (the outcome is y)."
            )
        if self.time is not None and y is not None:
            raise ValueError(
                f"time={self.time!r} and event={self.event!r} read the outcome from X; call "
                f"fit(X, None), or unset them to pass y."
            )
        if self.cov_type == "cluster" and self.cluster is None:
            raise ValueError(
                'cov_type="cluster" needs the cluster ids: set cluster=<name or position of the '
                "column of X holding them>."
            )
        if self.cluster is not None and self.cov_type != "cluster":
            raise ValueError(
                f"cluster={self.cluster!r} is set but cov_type={self.cov_type!r}. Set "
                f'cov_type="cluster" for cluster-robust standard errors, or drop cluster.'
            )
        self._check_frailty_arguments()
        for stale in ("frailty_variance_", "frailty_at_bound_", "frailties_", "effective_df_"):
            self.__dict__.pop(stale, None)
        design = self._design(X, reset=True)
        time, event = self._outcome(design, y)
        check_identified(design)
        strata = design.special.get("strata")
        if self.frailty is not None:
            return self._fit_frailty(design, time, event, strata)
        model = PHReg(
            time,
            design.matrix,
            status=event.astype(float),
            ties=self.ties,
            strata=None if strata is None else cluster_codes(strata),
        )
        groups = {
            "nonrobust": None,
            "robust": np.arange(time.shape[0]),
            "cluster": design.special.get("cluster"),
        }[self.cov_type]
        results, naive = fit_phreg(model, groups, strata)
        n_events = int(event.sum())
        p = design.matrix.shape[1]
        self._set_fitted(
            results,
            design.names,
            results.cov_params(),
            cox_dfcom(n_events, p),
            time.shape[0],
            results.llf,
            intercept=None,
        )
        self.naive_cov_ = pd.DataFrame(naive, index=design.names, columns=design.names)
        self.n_events_ = n_events
        return self

    def _check_frailty_arguments(self) -> None:
        if self.frailty is None:
            unused = {"groups": self.groups, "frailty_variance": self.frailty_variance}
            unused = {k: v for k, v in unused.items() if v is not None}
            if unused:
                raise ValueError(
                    f"{unused} only apply to a frailty model: set frailty='gamma' or "
                    f"'gaussian', or drop them (for cluster-robust standard errors use "
                    f'cluster= with cov_type="cluster").'
                )
            return
        if self.groups is None:
            raise ValueError(
                f"frailty={self.frailty!r} needs the clusters that share a frailty: set "
                f"groups=<name or position of the column of X holding the cluster labels>."
            )
        if self.cov_type != "nonrobust":
            raise ValueError(
                f"cov_type={self.cov_type!r} with frailty={self.frailty!r}: a frailty model "
                f"reports R's model-based covariance (fit$var); the frailty already accounts "
                f'for the clusters. Use cov_type="nonrobust".'
            )

    def _fit_frailty(self, design, time, event, strata):
        labels = design.special["groups"]
        uniques, codes = np.unique(labels, return_inverse=True)
        if uniques.size < 2:
            raise ValueError(
                f"the groups column {self.groups!r} has a single cluster ({uniques[0]!r}): a "
                f"frailty shared by everyone is absorbed by the baseline hazard and its variance "
                f"is not identified. Use a column with several clusters, or drop the frailty."
            )
        if uniques.size == codes.size:
            warnings.warn(
                f"every cluster of the groups column {self.groups!r} has one observation: the "
                f"frailty is then an individual frailty (overdispersion), which a Cox model "
                f"barely identifies. Check that {self.groups!r} is the cluster id.",
                UserWarning,
                stacklevel=3,
            )
        fit = fit_frailty_cox(
            time,
            event,
            design.matrix.to_numpy(),
            codes,
            self.frailty,
            theta=self.frailty_variance,
            ties=self.ties,
            strata=None if strata is None else cluster_codes(strata),
        )
        names = design.names
        results = FrailtyCoxResults(fit, self.frailty)
        n_events = int(event.sum())
        self._set_fitted(
            results,
            names,
            fit.var,
            cox_dfcom(n_events, len(names)),
            time.shape[0],
            fit.loglik,
            intercept=None,
            variance_components={"frailty variance": float(fit.theta)},
            model_label=f"{self.frailty} frailty",
        )
        self.naive_cov_ = self.cov_.copy()
        self.n_events_ = n_events
        self.frailty_variance_ = float(fit.theta)
        self.frailty_at_bound_ = bool(fit.at_bound)
        self.frailties_ = pd.Series(fit.frail, index=uniques, name="frailty")
        self.effective_df_ = pd.Series(
            fit.df, index=[*names, f"frailty({self.groups})"], name="effective df"
        )
        return self

    def predict(self, X):
        """Linear predictor x'b (log relative risk, not centred).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The columns seen in fit (strata and cluster columns are ignored).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "results_")
        design = self._design(X, reset=False)
        return design.matrix.to_numpy() @ self.coef_

    def score(self, X, y=None, sample_weight=None):
        """Harrell's C index of :meth:`predict` against the survival outcome y.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        y : structured array, DataFrame, array of shape (n_samples, 2) or None
            As in :meth:`fit`.
        sample_weight : None
            Not supported (must be None).

        Returns
        -------
        float
            Within strata when ``strata`` is set.
        """
        if sample_weight is not None:
            raise ValueError("CoxPHRegressor.score does not support sample_weight.")
        risk = self.predict(X)
        design = self._design(X, reset=False)
        time, event = self._outcome(design, y)
        strata = design.special.get("strata")
        return concordance_index(time, event, risk, strata)
