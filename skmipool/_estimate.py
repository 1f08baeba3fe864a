"""The record of one completed-data analysis: an estimate vector and its covariance.

The bottom of skmipool's layering (with Rubin's arithmetic in ``_pool``): results,
adapters, fits and the estimator all build on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from skmipool._pool import _check_dfcom
from skmipool._scales import get_transform

__all__ = ["Estimate", "check_model_terms", "check_variance_components"]


@dataclass(frozen=True)
class Estimate:
    """One completed-data analysis: an estimate vector and its covariance.

    Parameters
    ----------
    estimate : array-like of shape (k,) or pandas Series
        Point estimates. A Series' index gives the term names.
    covariance : array-like of shape (k, k), (k,) or DataFrame
        Covariance matrix, or variances (then treated as a diagonal matrix).
    names : sequence of str, optional
        Term names; default the Series index, else ``x0, x1, ...``.
    dfcom : float, optional
        Complete-data degrees of freedom of this analysis (None: unknown).
    nobs : int, optional
        Number of observations used by this analysis.
    loglike : float, optional
        Log-likelihood at the estimate (kept for reference).
    scale : str or Transform, default="identity"
        The inference scale the estimate is on ("logit" for log odds of a
        predicted probability, ...). :func:`pool` pools on it and maps the
        pooled estimate and interval back.
    model_terms : mapping or sequence of (term, coefficient names) pairs, optional
        Which coefficients belong to which term of the analysis model, e.g.
        ``{"age": ["age[T.40-59]", "age[T.60-99]"], "bmi": ["bmi"]}``: a
        categorical predictor's dummies form one term. Used by
        :meth:`PooledResult.wald_test_terms`; None: every coefficient is a term.
    model : str, optional
        What kind of model produced the estimate (``"OLS"``,
        ``"GLM(Binomial, logit)"``, ``"LinearRegression"``, ...). :func:`pool`
        refuses to pool analyses whose ``model`` differs; None: unknown.
    variance_components : mapping of str to float, optional
        Variance parameters of the model that are not coefficients: a mixed
        model's random-effect variances and covariances, its residual
        variance and ICC, a frailty variance. Kept apart from ``estimate``:
        :func:`pool` averages them over the imputations and never tests them
        (as mitml's ``testEstimates(..., extra.pars = TRUE)``).

    Examples
    --------
    >>> from skmipool import Estimate
    >>> e = Estimate([1.0, 2.0], [[0.1, 0.0], [0.0, 0.2]], names=["a", "b"], dfcom=20)
    >>> e.names
    ('a', 'b')
    """

    estimate: np.ndarray
    covariance: np.ndarray
    names: tuple[str, ...] | None = None
    dfcom: float | None = None
    nobs: int | None = None
    loglike: float | None = field(default=None, compare=False)
    scale: object = "identity"
    model_terms: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    model: str | None = None
    variance_components: tuple[tuple[str, float], ...] | None = None

    def __post_init__(self):
        est = self.estimate
        names = self.names
        if isinstance(est, pd.Series):
            names = names if names is not None else tuple(str(i) for i in est.index)
        est = np.atleast_1d(np.asarray(est, dtype=float))
        if est.ndim != 1:
            raise ValueError(f"estimate must be one-dimensional; got shape {est.shape}.")
        k = est.shape[0]
        cov = np.asarray(self.covariance, dtype=float)
        if cov.ndim == 0:
            cov = cov.reshape(1, 1)
        if cov.ndim == 1:
            if cov.shape[0] != k:
                raise ValueError(f"{cov.shape[0]} variances given for {k} estimates.")
            cov = np.diag(cov)
        if cov.shape != (k, k):
            raise ValueError(
                f"covariance must have shape ({k}, {k}) for {k} estimates; got {cov.shape}."
            )
        names = (
            tuple(str(n) for n in names) if names is not None else tuple(f"x{i}" for i in range(k))
        )
        if len(names) != k:
            raise ValueError(f"{len(names)} names given for {k} estimates.")
        object.__setattr__(self, "estimate", est)
        object.__setattr__(self, "covariance", cov)
        object.__setattr__(self, "names", names)
        if self.dfcom is not None:
            object.__setattr__(self, "dfcom", _check_dfcom(self.dfcom))
        object.__setattr__(self, "scale", get_transform(self.scale))
        if self.model_terms is not None:
            object.__setattr__(self, "model_terms", check_model_terms(self.model_terms, names))
        if self.variance_components is not None:
            object.__setattr__(
                self, "variance_components", check_variance_components(self.variance_components)
            )


def check_model_terms(model_terms, names) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Model terms as ``((term, (coefficient, ...)), ...)``; each coefficient named once.

    Coefficients in no term (the intercept, usually) are allowed: they are not
    tested term by term.
    """
    pairs = model_terms.items() if isinstance(model_terms, Mapping) else model_terms
    out = []
    for pair in pairs:
        try:
            term, coefs = pair
        except (TypeError, ValueError):
            raise TypeError(
                f"model_terms must map each term to its coefficient names, e.g. "
                f'{{"age": ["age[T.40-59]", "age[T.60-99]"]}}; got the entry {pair!r}.'
            ) from None
        coefs = (coefs,) if isinstance(coefs, str) else tuple(str(c) for c in coefs)
        if not coefs:
            raise ValueError(f"model term {term!r} has no coefficients.")
        out.append((str(term), coefs))
    listed = [c for _, coefs in out for c in coefs]
    unknown = [c for c in listed if c not in names]
    if unknown:
        raise ValueError(
            f"model_terms names coefficients {unknown} that are not among the estimates' "
            f"names {list(names)}."
        )
    twice = sorted({c for c in listed if listed.count(c) > 1})
    if twice:
        raise ValueError(f"coefficients {twice} belong to more than one model term.")
    terms = [t for t, _ in out]
    if len(set(terms)) != len(terms):
        raise ValueError(f"model term names must be unique; got {terms}.")
    return tuple(out)


def check_variance_components(components) -> tuple[tuple[str, float], ...]:
    """Variance components as ``((name, value), ...)``: unique names, finite values."""
    pairs = components.items() if isinstance(components, Mapping | pd.Series) else components
    out = []
    for pair in pairs:
        try:
            name, value = pair
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"variance_components must map each component's name to a number, e.g. "
                f'{{"school: Intercept Var": 0.7, "Residual Var": 0.5}}; got the entry {pair!r}.'
            ) from None
        if not np.isfinite(value):
            raise ValueError(f"variance component {name!r} is not finite ({value}).")
        out.append((str(name), value))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"variance component names must be unique; got {names}.")
    return tuple(out)
