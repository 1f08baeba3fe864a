"""Estimands beyond coefficients, for ``MIPooledEstimator(estimand=...)``.

Each estimand is a callable ``estimand(estimator, X, y) -> skmipool.Estimate``
evaluated on every fitted estimator and its completed data. It returns names,
an estimate vector on an *inference scale* (where the estimate is close to
normal) and its covariance, so that Rubin's rules apply there, D1 tests work on
it, and the pooled estimate and interval are mapped back once, at the end
(van Buuren 2018, FIMD 5.2).

Examples
--------
>>> import numpy as np
>>> from sklearn.linear_model import LogisticRegression
>>> from skmipool import MIPooledEstimator
>>> from skmipool.estimands import predictions
>>> from skmipool.datasets import load_nhanes
>>> df = load_nhanes()
>>> X, y = df[["age", "bmi"]], (df["hyp"].fillna(1) == 2).astype(int)
>>> at = X.dropna().iloc[:2]
>>> mi = MIPooledEstimator(LogisticRegression(C=np.inf), estimand=predictions(at),
...                        n_imputations=3, random_state=0).fit(X, y)
>>> mi.pooled_.scale
'logit'
>>> bool(((mi.pooled_.estimate > 0) & (mi.pooled_.estimate < 1)).all())
True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import special

from skmipool._adapters import coef_estimate, design_derivative, design_matrix, link_of
from skmipool._estimate import Estimate
from skmipool._scales import get_transform

__all__ = [
    "Correlation",
    "MarginalEffect",
    "Predictions",
    "RSquared",
    "Scalar",
    "average_marginal_effect",
    "correlation",
    "link_of",
    "predictions",
    "r_squared",
    "scalar",
]


# ---------------------------------------------------------------- links


def _mean_derivatives(link: str, eta: np.ndarray):
    """First and second derivatives of the inverse link h at eta."""
    if link == "identity":
        return np.ones_like(eta), np.zeros_like(eta)
    if link == "logit":
        p = special.expit(eta)
        d1 = p * (1.0 - p)
        return d1, d1 * (1.0 - 2.0 * p)
    if link == "log":
        mu = np.exp(eta)
        return mu, mu
    raise ValueError(f"unsupported link {link!r}; use identity, logit or log.")


def _check_complete(X, what: str) -> None:
    if pd.DataFrame(X).isna().to_numpy().any():
        raise ValueError(
            f"{what} has missing values; give complete rows (the evaluation points must be the "
            f"same in every imputation)."
        )


# ------------------------------------------------------------ predictions


class Predictions:
    """Predictions at fixed rows, pooled on the link scale; see :func:`predictions`."""

    def __init__(self, X_at, scale: str = "response"):
        if scale not in ("response", "link"):
            raise ValueError(f'scale must be "response" or "link"; got {scale!r}.')
        _check_complete(X_at, "X_at")
        self.X_at = X_at
        self.scale = scale

    def __repr__(self) -> str:
        return f"predictions(<{len(self.X_at)} rows>, scale={self.scale!r})"

    def _names(self) -> list[str]:
        index = self.X_at.index if isinstance(self.X_at, pd.DataFrame) else range(len(self.X_at))
        return [f"pred[{i}]" for i in index]

    def __call__(self, estimator, X, y) -> Estimate:
        fit = coef_estimate(estimator, X, y)
        Z = design_matrix(estimator, self.X_at)
        eta = Z @ fit.estimate  # linear predictor
        cov = Z @ fit.covariance @ Z.T  # delta method: Var(Z beta) = Z V Z'
        link = link_of(estimator)
        return Estimate(
            eta,
            cov,
            names=self._names(),
            dfcom=fit.dfcom,
            nobs=fit.nobs,
            scale=link if self.scale == "response" else "identity",
        )


def predictions(X_at, scale: str = "response") -> Predictions:
    """Predictions at given rows as the estimand (Stata's ``mi predict``).

    The linear predictor eta = Z beta and its covariance Z V Z' (delta method)
    are taken from every fit, pooled on the link scale, and the pooled value
    and interval are mapped through the inverse link (``scale="response"``)
    or left on the link scale (``scale="link"``).

    Parameters
    ----------
    X_at : DataFrame or array-like of shape (n_rows, n_features)
        Complete rows at which to predict, with the model's features.
    scale : {"response", "link"}, default="response"
        Report probabilities / means (mapped back) or the linear predictor.

    Returns
    -------
    Predictions
        A callable estimand for ``MIPooledEstimator(estimand=...)``.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmipool.estimands import predictions
    >>> predictions(pd.DataFrame({"x1": [0.0], "x2": [0.0]}))
    predictions(<1 rows>, scale='response')
    """
    return Predictions(X_at, scale)


# ------------------------------------------------------- marginal effects


class MarginalEffect:
    """Average marginal effects; see :func:`average_marginal_effect`."""

    def __init__(self, features, at=None):
        self.features = [features] if isinstance(features, str | int) else list(features)
        if at is not None:
            _check_complete(at, "at")
        self.at = at

    def __repr__(self) -> str:
        where = "" if self.at is None else f", at=<{len(self.at)} rows>"
        return f"average_marginal_effect({self.features!r}{where})"

    def __call__(self, estimator, X, y) -> Estimate:
        fit = coef_estimate(estimator, X, y)
        rows = X if self.at is None else self.at
        Z = design_matrix(estimator, rows)
        beta, cov = fit.estimate, fit.covariance
        d1, d2 = _mean_derivatives(link_of(estimator), Z @ beta)
        labels, ame, grad = [], [], []
        for f in self.features:
            # D = dZ/dx: a unit column for a plain model's term, the preprocessing's
            # derivative for a pipeline's input column (design_derivative)
            label, D = design_derivative(estimator, rows, f, fit.names)
            slope = D @ beta  # d eta_i / dx_i
            # AME = mean_i h'(eta_i) d eta_i/dx; gradient (delta method, Bartus 2005):
            # d AME / d beta = mean_i [h''(eta_i) (d eta_i/dx) Z_i + h'(eta_i) D_i]
            labels.append(label)
            ame.append(np.mean(d1 * slope))
            grad.append(((d2 * slope)[:, None] * Z + d1[:, None] * D).mean(axis=0))
        ame, grad = np.asarray(ame), np.asarray(grad)
        return Estimate(
            ame,
            grad @ cov @ grad.T,
            names=[f"dydx({label})" for label in labels],
            dfcom=fit.dfcom,
            nobs=fit.nobs,
        )


def average_marginal_effect(features, at=None) -> MarginalEffect:
    """Average marginal effect (dy/dx) of one or more features as the estimand.

    In each imputation, AME_j = mean_i dmu_i/dx_ij = mean_i h'(eta_i) beta_j
    over the completed rows (or over the rows ``at``: marginal effects at
    representative values), with its delta-method covariance; then pooled,
    as pymargins' ``pool_imputations`` does for ``dydx("x1")``. For a linear
    model the AME equals the coefficient.

    Parameters
    ----------
    features : str or list of str
        Feature name(s): term names of the model, or for a Pipeline input
        columns of X (the derivative is taken through the preprocessing,
        e.g. a scaler or a spline basis, by central differences; encoded
        categorical columns have no derivative and are refused). At a spline's
        boundary knot with constant extrapolation (SplineTransformer's
        default) the central difference averages the slope inside the data
        with the flat extrapolation, i.e. gives half the one-sided slope: avoid
        ``at`` rows exactly at the data's minimum or maximum of that column.
    at : DataFrame, optional
        Rows at which to average instead of the completed data.

    Returns
    -------
    MarginalEffect
        A callable estimand for ``MIPooledEstimator(estimand=...)``.

    Examples
    --------
    >>> from skmipool.estimands import average_marginal_effect
    >>> average_marginal_effect("bmi")
    average_marginal_effect(['bmi'])
    """
    return MarginalEffect(features, at)


# ---------------------------------------------------------------- scalars


class Scalar:
    """A user's scalar statistic with its variance; see :func:`scalar`."""

    def __init__(self, func: Callable, variance: Callable, scale="identity", name="scalar"):
        if not callable(func) or not callable(variance):
            raise TypeError("func and variance must be callables (estimator, X, y) -> float.")
        self.func, self.variance, self.scale, self.name = func, variance, scale, name

    def __repr__(self) -> str:
        return f"scalar({getattr(self.func, '__name__', 'func')}, scale={self.scale!r})"

    def __call__(self, estimator, X, y) -> Estimate:
        value = float(self.func(estimator, X, y))
        var = float(self.variance(estimator, X, y))
        scale = get_transform(self.scale)
        scale.check_domain(np.array([value]), where=f"{self.name}: ")
        theta, var_theta = scale.to_inference(np.array([value]), np.array([var]))
        return Estimate(
            theta, np.atleast_2d(var_theta), names=[self.name], scale=scale, nobs=len(X)
        )


def scalar(func: Callable, variance: Callable, *, scale="identity", name="scalar") -> Scalar:
    """Any scalar computed per imputation (AUC, C-index, a correlation) as the estimand.

    Parameters
    ----------
    func : callable
        ``func(estimator, X, y) -> float``: the statistic on a completed dataset.
    variance : callable
        ``variance(estimator, X, y) -> float``: its complete-data variance on
        the reporting scale.
    scale : str or triple, default="identity"
        Inference scale. Recommended: "logit" for AUC, C-index and other
        probabilities; "fisher_z" for correlations; "log" for ratios and
        variances. The variance moves there by the delta method.
    name : str, default="scalar"
        Term name.

    Returns
    -------
    Scalar
        A callable estimand for ``MIPooledEstimator(estimand=...)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmipool.estimands import scalar
    >>> mean_y = scalar(lambda est, X, y: np.mean(y),
    ...                 lambda est, X, y: np.var(y, ddof=1) / len(y), name="mean_y")
    >>> mean_y(None, np.zeros((4, 1)), np.array([1.0, 2.0, 3.0, 4.0])).estimate
    array([2.5])
    """
    return Scalar(func, variance, scale=scale, name=name)


# ---------------------------------------------------- correlation and R²


class Correlation:
    """Pearson correlation of two columns; see :func:`correlation`."""

    def __init__(self, a: str, b: str):
        self.a, self.b = a, b

    def __repr__(self) -> str:
        return f"correlation({self.a!r}, {self.b!r})"

    def __call__(self, estimator, X, y) -> Estimate:
        frame = pd.DataFrame(X).copy()
        if y is not None and getattr(y, "name", None) is not None:
            frame[y.name] = np.asarray(y)
        missing = [c for c in (self.a, self.b) if c not in frame.columns]
        if missing:
            raise KeyError(f"columns {missing} not found; available: {list(frame.columns)}.")
        n = len(frame)
        r = float(np.corrcoef(frame[self.a], frame[self.b])[0, 1])
        # Fisher z with variance 1 / (n - 3) (FIMD 5.2, Table 5.2)
        return Estimate(
            [np.arctanh(r)],
            [[1.0 / (n - 3)]],
            names=[f"cor({self.a},{self.b})"],
            scale="fisher_z",
            nobs=n,
        )


def correlation(a: str, b: str) -> Correlation:
    """Correlation of columns ``a`` and ``b``, pooled on Fisher's z scale.

    z = atanh(r) with variance 1/(n - 3) per imputation, pooled, reported as
    r = tanh(z̄) with the interval mapped back (FIMD 5.2;
    ``miceadds::micombine.cor``). ``y`` may be one of the columns when it is a
    named Series.

    Returns
    -------
    Correlation
        A callable estimand for ``MIPooledEstimator(estimand=...)``.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmipool.estimands import correlation
    >>> df = pd.DataFrame({"a": [1.0, 2, 3, 4, 5], "b": [2.0, 1, 4, 3, 5]})
    >>> est = correlation("a", "b")(None, df, None)  # z = atanh(r) on the fisher_z scale
    >>> round(float(est.estimate[0]), 4), est.scale.name
    (1.0986, 'fisher_z')
    """
    return Correlation(a, b)


class RSquared:
    """R² of a linear regression; see :func:`r_squared`."""

    def __init__(self, adjusted: bool = False):
        self.adjusted = adjusted

    def __repr__(self) -> str:
        return f"r_squared(adjusted={self.adjusted})"

    def __call__(self, estimator, X, y) -> Estimate:
        y = np.asarray(y, dtype=float)
        n = y.size
        resid = y - estimator.predict(X)
        r2 = 1.0 - resid @ resid / np.sum((y - y.mean()) ** 2)
        if self.adjusted:
            p = np.shape(X)[1]
            r2 = 1.0 - (1.0 - r2) * (n - 1) / (n - p - 1)
        r = np.sign(r2) * np.sqrt(abs(r2))
        return Estimate(
            [np.arctanh(r)],
            [[1.0 / (n - 3)]],
            names=["adj R^2" if self.adjusted else "R^2"],
            scale="r_squared",
            nobs=n,
        )


def r_squared(adjusted: bool = False) -> RSquared:
    """R² (or adjusted R²) of each imputation's regression, pooled as Harel (2009).

    sqrt(R²) is moved to Fisher's z with variance 1/(n - 3), pooled, and
    reported as tanh(z̄)², with the interval clamped at 0 before squaring.
    Equals :func:`skmipool.pool_r_squared` on the same fits.

    Returns
    -------
    RSquared
        A callable estimand for ``MIPooledEstimator(estimand=...)``.

    Examples
    --------
    >>> from skmipool.estimands import r_squared
    >>> r_squared()
    r_squared(adjusted=False)
    """
    return RSquared(adjusted)
