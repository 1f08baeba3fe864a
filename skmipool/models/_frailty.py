"""Shared-frailty Cox models by penalized partial likelihood, as R's ``coxph(... + frailty())``.

One fitting engine, :func:`fit_frailty_cox`, with the frailty distribution
plugged in as a penalty object (:class:`GammaFrailty`, :class:`GaussianFrailty`),
as in R survival's ``coxpenal.fit``, where ``frailty.gamma`` and
``frailty.gaussian`` hand a penalty function and a control function for the
variance to one penalized partial-likelihood loop.

The model: the hazard of subject i in cluster g is ``h0(t) exp(x_i'beta + b_g)``.
For a fixed frailty variance theta, (beta, b) maximise the penalized partial
likelihood ``PL(beta, b) - P(b; theta)`` (inner loop, Newton-Raphson); an outer
loop chooses theta (Therneau & Grambsch 2000, chapter 9; Therneau, Grambsch &
Pankratz 2003):

- gamma frailty (``exp(b_g)`` ~ Gamma with mean 1, variance theta):
  ``P = -sum(b_g - exp(b_g)) / theta``, and theta maximises the profile
  marginal likelihood, which for the gamma frailty is the penalized likelihood
  plus a closed-form correction (Therneau, Grambsch & Pankratz 2003, section 3;
  R's ``frailty.controlgam`` and ``frailty.gammacon``);
- Gaussian frailty (``b_g`` ~ N(0, theta)): ``P = sum(b_g^2) / (2 theta)``,
  and theta solves the REML-type equation
  ``theta = sum(b_g^2) / (q - trace(H^-1_bb) / theta)`` (McGilchrist 1993;
  R's ``frailty.controlgauss``).

The outer searches are R's, step for step (starting values, bracketing,
Brent-type interpolation, tolerances, at most 10 outer iterations), so that
the variance equals R's; the inner loop converges tightly (exact Newton
steps). As R does when there are more than five clusters ("sparse"), the
covariance of the coefficients is the inverse of the penalized information
with the frailty-by-frailty block replaced by its diagonal (R's ``coxfit5``):
R's ``fit$var``, printed as ``se(coef)``.

References
----------
Therneau, T. M. and Grambsch, P. M. (2000). *Modeling Survival Data: Extending
the Cox Model*. Springer, chapter 9.
Therneau, T. M., Grambsch, P. M. and Pankratz, V. S. (2003). Penalized
survival models and frailty. *Journal of Computational and Graphical
Statistics* 12, 156-175.
McGilchrist, C. A. (1993). REML estimation for survival models with frailty.
*Biometrics* 49, 221-225.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning

__all__ = [
    "FrailtyCoxResults",
    "FrailtyFit",
    "GammaFrailty",
    "GaussianFrailty",
    "cox_derivatives",
    "fit_frailty_cox",
    "frailty_penalty",
]

OUTER_MAX = 10  # R coxph.control(outer.max = 10)
SPARSE_ABOVE = 5  # R frailty(sparse = nclass > 5)


# ------------------------------------------------------- the partial likelihood


class Derivatives(NamedTuple):
    """Log partial likelihood, its gradient and information (minus the Hessian)."""

    loglik: float
    gradient: np.ndarray
    information: np.ndarray


def cox_derivatives(time, event, Z, eta, ties="efron", strata=None) -> Derivatives:
    """Log partial likelihood of a Cox model, its gradient and information matrix.

    With risk ``r_i = exp(eta_i)``, at each distinct event time t_j with d_j
    events, Efron's approximation takes the events' risk out one fraction
    ``f = k / d_j`` at a time (k = 0..d_j-1): denominator
    ``s0 - f d0``, mean ``m = (s1 - f d1) / (s0 - f d0)``; Breslow's keeps f = 0
    (Therneau & Grambsch 2000, section 3.3; R's ``coxfit5``). Then
    ``loglik = sum_events eta - sum_jk log(s0 - f d0)``,
    ``gradient = sum_events z - sum_jk m`` and
    ``information = sum_jk [(s2 - f d2) / (s0 - f d0) - m m']``; the first term
    is collected per subject as ``Z' diag(w) Z``.

    Parameters
    ----------
    time, event : ndarray of shape (n,)
    Z : ndarray of shape (n, k)
        The design: covariates and, for a frailty model, the cluster indicators.
    eta : ndarray of shape (n,)
        Linear predictor.
    ties : {"efron", "breslow"}
    strata : ndarray of shape (n,) of int codes, optional

    Returns
    -------
    Derivatives
    """
    n, k = Z.shape
    loglik, grad, info = 0.0, np.zeros(k), np.zeros((k, k))
    codes = np.zeros(n, dtype=np.int64) if strata is None else strata
    for s in np.unique(codes):
        rows = np.flatnonzero(codes == s)
        ll, g, h = _stratum_derivatives(time[rows], event[rows], Z[rows], eta[rows], ties)
        loglik, grad, info = loglik + ll, grad + g, info + h
    return Derivatives(loglik, grad, info)


def _stratum_derivatives(t, e, z, eta, ties):
    k = z.shape[1]
    dtimes = np.unique(t[e])
    if dtimes.size == 0:
        return 0.0, np.zeros(k), np.zeros((k, k))
    shift = eta.max()
    r = np.exp(eta - shift)  # a common factor; log denominators get it back below
    order = np.argsort(t, kind="stable")
    ts = t[order]
    # risk-set sums over {time >= t_j}: reverse cumulative sums
    cs0 = np.cumsum(r[order][::-1])[::-1]
    cs1 = np.cumsum((r[order, None] * z[order])[::-1], axis=0)[::-1]
    first = np.searchsorted(ts, dtimes, side="left")
    s0, s1 = cs0[first], cs1[first]
    j_event = np.searchsorted(dtimes, t[e])
    nd = np.bincount(j_event, minlength=dtimes.size).astype(float)
    d0 = np.bincount(j_event, weights=r[e], minlength=dtimes.size)
    d1 = np.zeros((dtimes.size, k))
    np.add.at(d1, j_event, r[e, None] * z[e])
    efron = ties == "efron"
    loglik = float(eta[e].sum())
    grad = z[e].sum(axis=0)
    a = np.zeros(dtimes.size)  # sum_k 1 / denominator, weights s2
    b = np.zeros(dtimes.size)  # sum_k f / denominator, weights d2 (the events' own)
    means = []
    for step in range(int(nd.max()) if efron else 1):
        active = step < nd
        frac = np.where(active, step / nd, 0.0) if efron else np.zeros(dtimes.size)
        weight = active.astype(float) if efron else nd  # Breslow: d_j copies of one term
        denom = s0 - frac * d0
        safe = np.where(active, denom, 1.0)
        mean = (s1 - frac[:, None] * d1) / safe[:, None]
        loglik -= float(np.sum(weight * (np.log(safe) + shift)))
        grad -= (weight[:, None] * mean).sum(axis=0)
        a += weight / safe
        b += weight * frac / safe
        means.append(np.sqrt(weight)[:, None] * mean)
    # per subject: sum over event times t_j <= t_i of a_j, minus its own b_j if it fails
    cum_a = np.concatenate([[0.0], np.cumsum(a)])
    w = r * cum_a[np.searchsorted(dtimes, t, side="right")]
    w[e] -= r[e] * b[j_event]
    m = np.vstack(means)
    info = (z * w[:, None]).T @ z - m.T @ m
    return loglik, grad, info


# ------------------------------------------------------------------ penalties


class PenaltyTerms(NamedTuple):
    """A frailty penalty at b: its value, gradient and (diagonal) second derivative."""

    value: float
    first: np.ndarray
    second: np.ndarray


def gamma_correction(events_per_cluster: np.ndarray, theta: float) -> float:
    """What turns the gamma frailty's penalized likelihood into the marginal one.

    With nu = 1/theta and d_g the events of cluster g:
    ``sum_g [d_g + nu log nu - (nu + d_g) log(nu + d_g) + lgamma(nu + d_g) - lgamma(nu)]``
    (Therneau, Grambsch & Pankratz 2003, equation 8; R's ``frailty.gammacon``,
    including its series for nu > 1e7 max(d)).
    """
    if theta == 0:
        return 0.0
    d = np.asarray(events_per_cluster, dtype=float)
    nu = 1.0 / theta
    if nu > 1e7 * d.max():
        term1 = float(np.sum(d * d) / nu)
    else:
        term1 = float(np.sum(d + nu * np.log(nu / (nu + d))))
    # sum_g [lgamma(nu + d_g) - lgamma(nu) - d_g log(nu + d_g)], as R sums it:
    # log((nu + k - 1) / (nu + d_g)) over k = 1..d_g, accurate for large nu
    dd = d[d > 0].astype(np.int64)
    k = np.concatenate([np.arange(x) for x in dd]) if dd.size else np.zeros(0)
    own = np.repeat(dd, dd).astype(float)
    term2 = float(np.sum(np.log((nu + k) / (nu + own))))
    return term1 + term2


@dataclass
class GammaFrailty:
    """Gamma frailty: penalty and R's outer search for theta (``frailty.gamma``, method "em").

    theta maximises the marginal log-likelihood, evaluated as the penalized
    log partial likelihood plus :func:`gamma_correction`, found by R's
    ``frailty.controlgam``: theta = 0, then 1, then a halving or doubling, then
    parabolic steps in sqrt(theta) (``frailty.brent``) until the relative
    change of the marginal log-likelihood is below ``eps``.
    """

    eps: float = 1e-5  # frailty.gamma(eps = 1e-5)
    name: str = "gamma"
    history: list = field(default_factory=list)

    def penalty(self, b: np.ndarray, theta: float) -> PenaltyTerms:
        # log of a Gamma(1/theta, 1/theta) frailty: density of b up to a constant
        # is (b - exp(b)) / theta (Therneau & Grambsch 2000, section 9.6)
        eb = np.exp(b)
        return PenaltyTerms(-float(np.sum(b - eb)) / theta, (eb - 1.0) / theta, eb / theta)

    def start(self) -> float:
        return 0.0

    def update(self, theta, fit) -> tuple[float, bool]:
        """R's frailty.controlgam: the next theta to try, and whether to stop."""
        # R's "loglik" is PL + sum(b_c) / theta with b recentred to mean(exp(b)) = 1
        if theta == 0:
            pll = fit.loglik
        else:
            bc = fit.frail - np.log(np.mean(np.exp(fit.frail)))
            pll = fit.loglik + float(np.sum(bc)) / theta
        marginal = pll + gamma_correction(fit.events_per_cluster, theta)
        self.history.append((theta, pll, marginal))
        hist = np.array(self.history)
        it = len(self.history)
        if it == 1:
            return 1.0, False
        if it == 2:
            better = hist[1, 2] >= hist[0, 2] + 1
            return (2.0 * hist[1, 0] if better else hist[:2, 0].mean()), False
        done = abs(1.0 - hist[-1, 2] / hist[-2, 2]) < self.eps
        x, y = hist[:, 0], hist[:, 2]
        if y[-1] == y.max() and x[-1] == x.max():
            return 2.0 * x.max(), done
        return _frailty_brent(np.sqrt(x), y, lower=0.0) ** 2, done

    def at_bound(self) -> bool:
        """The marginal likelihood never rose above its value at theta = 0 (R's tolerance)."""
        hist = np.array(self.history)
        at_zero = hist[hist[:, 0] == 0, 2]
        if at_zero.size == 0:
            return False
        return bool(hist[:, 2].max() - at_zero[0] <= self.eps * abs(at_zero[0]))


@dataclass
class GaussianFrailty:
    """Gaussian frailty: penalty and R's outer search for theta (``frailty.gaussian``, "reml").

    theta solves ``resid(theta) = sum(b^2) / (q - trace(A) / theta) - theta = 0``
    with A the frailty block of the inverse penalized information (McGilchrist
    1993), found by R's ``frailty.controlgauss``: theta = 1, then a factor 3,
    then bracketing and inverse quadratic interpolation until |resid| < eps.
    R's eps is sqrt(coxph.control()$eps) = sqrt(1e-9) (``opt$eps`` partially
    matches the control list's ``eps2``).
    """

    eps: float = float(np.sqrt(1e-9))
    name: str = "gaussian"
    history: list = field(default_factory=list)

    def penalty(self, b: np.ndarray, theta: float) -> PenaltyTerms:
        # N(0, theta) log density, constant included as R's frailty.gaussian pfun
        q = b.size
        value = 0.5 * float(np.sum(b * b)) / theta + 0.5 * q * np.log(2 * np.pi * theta)
        return PenaltyTerms(value, b / theta, np.full(q, 1.0 / theta))

    def start(self) -> float:
        return 1.0

    def update(self, theta, fit) -> tuple[float, bool]:
        """R's frailty.controlgauss: the next theta to try, and whether to stop."""
        q = fit.frail.size
        fsum = float(np.sum(fit.frail**2))
        resid = fsum / (q - fit.trace_frailty / theta) - theta
        self.history.append((theta, resid, fsum, fit.trace_frailty))
        hist = np.array(self.history)
        it = len(self.history)
        if it == 1:
            return (3.0 * theta if resid > 0 else theta / 3.0), False
        if it == 2:
            if np.all(hist[:, 1] > 0):
                return 2.0 * hist[1, 0], False
            if np.all(hist[:, 1] < 0):
                return hist[1, 0] / 2.0, False
            return hist[:2, 0].mean(), False
        done = abs(resid) < self.eps
        order = np.argsort(hist[:, 0], kind="stable")
        y, x = hist[order, 1], hist[order, 0]
        if np.all(y > 0):
            return 2.0 * x.max(), done
        if np.all(y < 0):
            return 0.5 * x.min(), done
        # inverse quadratic interpolation around the newest point (1-based b1 as in R)
        b1 = int(np.flatnonzero(order == it - 1)[0]) + 1
        b1 = min(max(b1, 2), it - 1) - 1
        r_ = y[b1] / y[b1 + 1]
        s_ = y[b1] / y[b1 - 1]
        u_ = r_ / s_
        p_ = s_ * (u_ * (r_ - u_) * (x[b1 + 1] - x[b1]) - (1 - r_) * (x[b1] - x[b1 - 1]))
        q_ = (u_ - 1) * (r_ - 1) * (s_ - 1)
        new = x[b1] + p_ / q_
        if new > x[b1 + 1]:
            new = (x[b1] + x[b1 + 1]) / 2
        if new < x[b1 - 1]:
            new = (x[b1] + x[b1 - 1]) / 2
        return float(new), done

    def at_bound(self) -> bool:
        """resid < 0 at every theta tried: the equation has no root above them."""
        hist = np.array(self.history)
        return bool(np.all(hist[:, 1] < 0))


def frailty_penalty(distribution: str):
    """A fresh penalty object for ``"gamma"`` or ``"gaussian"``."""
    return {"gamma": GammaFrailty, "gaussian": GaussianFrailty}[distribution]()


def _frailty_brent(x, y, lower=None):
    """R survival's ``frailty.brent``: the next abscissa of a parabolic maximisation."""
    n = x.size
    if n < 3:
        return float(np.mean(x))
    order = np.argsort(x, kind="stable")
    xx, yy = x[order], y[order]
    best = int(np.flatnonzero(yy == y.max())[0])  # R stops on ties; the first is taken
    if best == 0:
        new = xx[0] - 3 * (xx[1] - xx[0])
        if lower is not None and new < lower:
            new = lower + (xx[xx > lower].min() - lower) / 10
        return float(new)
    if best == n - 1:
        return float(xx[-1] + 3 * (xx[-1] - xx[-2]))
    xx, yy = xx[best - 1 : best + 2], yy[best - 1 : best + 2]
    t1 = (xx[1] - xx[0]) ** 2 * (yy[1] - yy[2]) - (xx[1] - xx[2]) ** 2 * (yy[1] - yy[0])
    t2 = (xx[1] - xx[0]) * (yy[1] - yy[2]) - (xx[1] - xx[2]) * (yy[1] - yy[0])
    new = xx[1] - 0.5 * t1 / t2
    # R compares with x in the order tried (x[n], x[n-1], ...), not sorted
    if new < xx[0] or new > xx[2] or (n > 4 and (new - x[-1]) > 0.5 * abs(x[-2] - x[-3])):
        if (xx[1] - xx[0]) > (xx[2] - xx[1]):
            return float(xx[1] - 0.38 * (xx[1] - xx[0]))
        return float(xx[1] + 0.32 * (xx[2] - xx[1]))
    return float(new)


# ------------------------------------------------------------------- the engine


class InnerFit(NamedTuple):
    """The penalized fit at one frailty variance."""

    coef: np.ndarray
    frail: np.ndarray
    loglik: float  # log partial likelihood at (coef, frail), R's fit$loglik[2]
    inverse: np.ndarray  # inverse of the (sparse-approximated) penalized information
    information: np.ndarray  # that information, unpenalized
    penalty_second: np.ndarray
    trace_frailty: float
    events_per_cluster: np.ndarray
    iterations: int
    converged: bool


class FrailtyFit(NamedTuple):
    """A shared-frailty Cox fit: fixed effects apart from the frailty variance.

    ``var`` is R's ``fit$var`` (inverse penalized information, fixed-effect
    block; R prints its square roots as ``se(coef)``), ``var2`` R's
    ``fit$var2`` (the sandwich ``H^-1 I H^-1``, printed as ``se2``). ``df`` are
    the effective degrees of freedom of each covariate column and, last, of
    the frailty term (R's ``fit$df``).
    """

    coef: np.ndarray
    var: np.ndarray
    var2: np.ndarray
    frail: np.ndarray
    theta: float
    at_bound: bool
    loglik: float
    loglik_null: float
    df: np.ndarray
    history: np.ndarray
    outer_iterations: int
    newton_iterations: int
    converged: bool
    sparse: bool


def _indicators(codes: np.ndarray, q: int) -> np.ndarray:
    g = np.zeros((codes.size, q))
    g[np.arange(codes.size), codes] = 1.0
    return g


def _inner_fit(time, event, X, G, strata, ties, penalty, theta, sparse, start, tol, max_iter):
    """Maximise PL(beta, b) - P(b; theta) by Newton-Raphson with step halving.

    The Newton steps use the exact information (quadratic convergence); the
    returned inverse uses R's sparse approximation when ``sparse``.
    """
    p, q = X.shape[1], G.shape[1]
    Z = np.hstack([X, G])
    fixed_zero = theta == 0  # R: penalty flag, the frailties are held at 0

    def objective(params):
        if fixed_zero:
            params = np.concatenate([params[:p], np.zeros(q)])
        d = cox_derivatives(time, event, Z, Z @ params, ties, strata)
        if fixed_zero:
            return d, d.loglik, d.gradient[:p], d.information[:p, :p], None
        pen = penalty.penalty(params[p:], theta)
        grad = d.gradient - np.concatenate([np.zeros(p), pen.first])
        info = d.information.copy()
        info[p:, p:] += np.diag(pen.second)
        return d, d.loglik - pen.value, grad, info, pen

    params = start.copy() if not fixed_zero else np.concatenate([start[:p], np.zeros(q)])
    d, value, grad, info, pen = objective(params)
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        size = p if fixed_zero else p + q
        step = np.linalg.solve(info, grad)
        trial = params.copy()
        trial[:size] += step
        new = objective(trial)
        halvings = 0
        while not new[1] >= value - 1e-12 * abs(value) and halvings < 30:
            step /= 2
            trial = params.copy()
            trial[:size] += step
            new = objective(trial)
            halvings += 1
        params = trial
        d, value, grad, info, pen = new
        if np.max(np.abs(step)) <= tol * (1.0 + np.max(np.abs(params[:size]))):
            converged = True
            break
    frail = params[p:]
    if fixed_zero:
        # R's coxfit5: frailty rows forced to identity, no coupling to the covariates
        approx = np.eye(p + q)
        approx[:p, :p] = d.information[:p, :p]
        second = np.zeros(q)
        raw = approx.copy()
    else:
        approx = d.information.copy()
        if sparse:  # R's coxfit5 keeps only the diagonal of the frailty block
            block = approx[p:, p:]
            approx[p:, p:] = np.diag(np.diag(block))
        raw = approx.copy()
        second = pen.second
        approx[p:, p:] += np.diag(second)
    inverse = np.linalg.inv(approx)
    inverse = (inverse + inverse.T) / 2
    events = np.bincount(np.argmax(G, axis=1), weights=event.astype(float), minlength=q)
    return InnerFit(
        coef=params[:p],
        frail=frail,
        loglik=d.loglik,
        inverse=inverse,
        information=raw,
        penalty_second=second,
        trace_frailty=float(np.trace(inverse[p:, p:])),
        events_per_cluster=events,
        iterations=iterations,
        converged=converged,
    ), params


def _effective_df(fit: InnerFit, p: int, sparse: bool) -> tuple[np.ndarray, np.ndarray]:
    """R's coxpenal.df: var2 and the effective df of each covariate and of the frailty.

    ``var2 = (H^-1 I H^-1)`` fixed block, I = H - penalty; a covariate's df is
    ``var2_jj / var_jj``; the frailty's ``q - sum(diag(H^-1)_bb * P'')`` (sparse)
    or ``trace(V_bb^-1 (H^-1 I H^-1)_bb)`` (dense), as ``coxpenal.df``.
    """
    inv = fit.inverse
    q = inv.shape[0] - p
    pen = np.zeros(p + q)
    pen[p:] = fit.penalty_second
    sandwich = inv - (inv * pen) @ inv  # H^-1 (H - P) H^-1 = H^-1 - H^-1 P H^-1
    var, var2 = inv[:p, :p], sandwich[:p, :p]
    df_cov = np.diag(var2) / np.diag(var)
    if sparse or np.all(fit.penalty_second == 0):
        df_frail = q - float(np.sum(np.diag(inv)[p:] * fit.penalty_second))
    else:
        df_frail = float(np.trace(np.linalg.solve(inv[p:, p:], sandwich[p:, p:])))
    return var2, np.append(df_cov, df_frail)


def fit_frailty_cox(
    time,
    event,
    X,
    groups,
    distribution: str = "gamma",
    *,
    theta: float | None = None,
    ties: str = "efron",
    strata=None,
    sparse: bool | None = None,
    tol: float = 1e-10,
    max_iter: int = 50,
) -> FrailtyFit:
    """Fit a shared-frailty Cox model as R's ``coxph(... + frailty(groups, distribution))``.

    Parameters
    ----------
    time, event : array-like of shape (n,)
    X : array-like of shape (n, p)
        Covariates (no intercept).
    groups : array-like of shape (n,)
        Cluster labels; the clusters share a frailty.
    distribution : {"gamma", "gaussian"}
        Gamma frailty (R's default) or Gaussian (log-normal) frailty.
    theta : float, optional
        Hold the frailty variance at this value (R's ``frailty(g, theta = )``);
        None: estimate it as R does.
    ties : {"efron", "breslow"}
    strata : array-like of shape (n,) of int codes, optional
    sparse : bool, optional
        R's diagonal approximation of the frailty block of the information in
        the variance; None: as R, when there are more than 5 clusters.
    tol, max_iter : float, int
        Inner Newton loop: relative step size at convergence, iterations.

    Returns
    -------
    FrailtyFit

    Examples
    --------
    >>> import numpy as np
    >>> from skmipool.models._frailty import fit_frailty_cox
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(20), 5)
    >>> x = rng.normal(size=(100, 1))
    >>> t = rng.exponential(np.exp(-x[:, 0] - rng.normal(0, 0.7, 20)[g]))
    >>> fit = fit_frailty_cox(t, np.ones(100, bool), x, g, "gaussian")
    >>> round(float(fit.coef[0]), 3), round(fit.theta, 3)
    (1.123, 0.661)
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event).astype(bool)
    X = np.asarray(X, dtype=float)
    codes = np.unique(np.asarray(groups), return_inverse=True)[1].ravel()
    q = int(codes.max()) + 1
    p = X.shape[1]
    G = _indicators(codes, q)
    sparse = q > SPARSE_ABOVE if sparse is None else sparse
    penalty = frailty_penalty(distribution)
    fixed = theta is not None
    current = float(theta) if fixed else penalty.start()
    start = np.zeros(p + q)
    null = cox_derivatives(time, event, X, np.zeros(time.size), ties, strata).loglik
    newton = 0
    inner_ok = True
    fits, thetas = [], []
    done = False
    for _ in range(1 if fixed else OUTER_MAX):
        fit, params = _inner_fit(
            time, event, X, G, strata, ties, penalty, current, sparse, start, tol, max_iter
        )
        newton += fit.iterations
        inner_ok &= fit.converged
        fits.append(fit)
        thetas.append(current)
        if fixed:
            done = True
            break
        proposal, done = penalty.update(current, fit)
        if done:
            break
        start = params  # warm start; the inner loop converges from anywhere
        current = proposal
    final = fits[-1]
    at_bound = (not fixed) and penalty.at_bound()
    if not inner_ok:
        warnings.warn(
            "the penalized Newton iterations of the frailty model did not converge at some "
            "frailty variance; the estimates may be inaccurate.",
            ConvergenceWarning,
            stacklevel=2,
        )
    if not done and not at_bound:
        warnings.warn(
            f"the frailty variance did not converge in R's {OUTER_MAX} outer iterations; the "
            f"fit at the last variance tried ({thetas[-1]:.4g}) is returned, as R does.",
            ConvergenceWarning,
            stacklevel=2,
        )
    var2, df = _effective_df(final, p, sparse)
    history = np.array(penalty.history) if penalty.history else np.zeros((0, 3))
    return FrailtyFit(
        coef=final.coef,
        var=final.inverse[:p, :p],
        var2=var2,
        frail=final.frail,
        theta=thetas[-1],
        at_bound=at_bound,
        loglik=final.loglik,
        loglik_null=null,
        df=df,
        history=history,
        outer_iterations=len(fits),
        newton_iterations=newton,
        converged=inner_ok and (done or at_bound),
        sparse=sparse,
    )


class FrailtyCoxModel(NamedTuple):
    """What was fitted: a Cox model with a shared frailty of this distribution."""

    distribution: str


class FrailtyCoxResults:
    """The penalized fit of a frailty Cox model, as kept in ``CoxPHRegressor.results_``.

    ``params`` are the fixed effects, ``cov_params()`` R's ``fit$var``; the
    whole :class:`FrailtyFit` is ``fit``.
    """

    def __init__(self, fit: FrailtyFit, distribution: str):
        self.fit = fit
        self.model = FrailtyCoxModel(distribution)
        self.params = fit.coef

    def cov_params(self) -> np.ndarray:
        return self.fit.var
